//! Datasets, loaded once into tensors on the chosen device and normalised as usual:
//! Fashion-MNIST (the default), MNIST, CIFAR-10, and synthetic tasks for fast tests.

pub mod cifar;
pub mod idx;
pub mod synthetic;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Fashion-MNIST, 60k/10k 28x28 grey images (Debian's dataset-fashion-mnist).
    FashionMnist,
    /// MNIST digits in the same IDX format.
    Mnist,
    /// CIFAR-10 binary batches (cifar-10-batches-bin), 3x32x32.
    Cifar10,
    /// Gaussian-mixture classification, 10 classes, 1x28x28 inputs, generated from the seed.
    Synthetic,
    /// Linear regression with a known least-squares optimum, generated from the seed.
    Regression,
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(clap::ValueEnum::to_possible_value(self).unwrap().get_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Classification,
    Regression,
}

/// A dataset in memory: inputs N x C x H x W (or N x F) f32, targets i64 labels
/// (classification) or f32 N x 1 values (regression).
pub struct Dataset {
    pub kind: DatasetKind,
    pub task: Task,
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    /// Number of classes, or 1 output for regression.
    pub outputs: i64,
    /// Shape of one input, without the batch dimension.
    pub input_shape: Vec<i64>,
}

impl Dataset {
    pub fn train_len(&self) -> i64 {
        self.train_x.size()[0]
    }
    pub fn test_len(&self) -> i64 {
        self.test_x.size()[0]
    }
}

/// Where datasets live: `--data-dir`, else $SOLON_DATA, else ./data.
pub fn default_root() -> PathBuf {
    std::env::var_os("SOLON_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Loads a dataset by name. `seed` only matters for the synthetic tasks.
pub fn load(kind: DatasetKind, root: &Path, device: Device, seed: u64) -> Result<Dataset> {
    match kind {
        DatasetKind::FashionMnist => load_idx(kind, &root.join("fashion-mnist"), 0.2860, 0.3530, device),
        DatasetKind::Mnist => load_idx(kind, &root.join("mnist"), 0.1307, 0.3081, device),
        DatasetKind::Cifar10 => load_cifar(&root.join("cifar-10-batches-bin"), device),
        DatasetKind::Synthetic => Ok(synthetic::gaussian_mixture(seed, device)),
        DatasetKind::Regression => Ok(synthetic::linear_regression(seed, device).0),
    }
}

fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn missing(kind: DatasetKind, dir: &Path, what: &str) -> anyhow::Error {
    let fetch = match kind {
        DatasetKind::FashionMnist => "run `make data` (fetches Debian's dataset-fashion-mnist)".to_string(),
        DatasetKind::Cifar10 => "unpack the CIFAR-10 binary version (cifar-10-batches-bin) there".to_string(),
        _ => "place the four IDX files (train/t10k images and labels, .gz or raw) there".to_string(),
    };
    anyhow::anyhow!(
        "{kind} data not found: no {what} in {} (set --data-dir or SOLON_DATA, or {fetch})",
        dir.display()
    )
}

fn load_idx(kind: DatasetKind, dir: &Path, mean: f64, std: f64, device: Device) -> Result<Dataset> {
    let read_pair = |images: &str, labels: &str| -> Result<(Tensor, Tensor)> {
        let ip = find_file(dir, images).ok_or_else(|| missing(kind, dir, images))?;
        let lp = find_file(dir, labels).ok_or_else(|| missing(kind, dir, labels))?;
        let im = idx::read(&ip)?;
        let lb = idx::read(&lp)?;
        if im.dims.len() != 3 || lb.dims.len() != 1 || im.dims[0] != lb.dims[0] {
            bail!(
                "{} ({:?}) and {} ({:?}) do not form an image/label pair",
                ip.display(),
                im.dims,
                lp.display(),
                lb.dims
            );
        }
        let (n, h, w) = (im.dims[0] as i64, im.dims[1] as i64, im.dims[2] as i64);
        let x = Tensor::from_slice(&im.data)
            .view([n, 1, h, w])
            .to_kind(Kind::Float)
            / 255.0;
        let x = ((x - mean) / std).to_device(device);
        let y = Tensor::from_slice(&lb.data)
            .to_kind(Kind::Int64)
            .to_device(device);
        Ok((x, y))
    };
    let (train_x, train_y) = read_pair("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let (test_x, test_y) = read_pair("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let input_shape = train_x.size()[1..].to_vec();
    Ok(Dataset {
        kind,
        task: Task::Classification,
        train_x,
        train_y,
        test_x,
        test_y,
        outputs: 10,
        input_shape,
    })
}

fn load_cifar(dir: &Path, device: Device) -> Result<Dataset> {
    let (train_files, test_files) = cifar::batch_files(dir);
    for f in train_files.iter().chain(&test_files) {
        if !f.is_file() {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            return Err(missing(DatasetKind::Cifar10, dir, &name));
        }
    }
    let to_tensors = |b: cifar::CifarBatch| {
        let n = b.labels.len() as i64;
        let x = Tensor::from_slice(&b.images)
            .view([n, 3, 32, 32])
            .to_kind(Kind::Float)
            / 255.0;
        let mean = Tensor::from_slice(&[0.4914f32, 0.4822, 0.4465]).view([1, 3, 1, 1]);
        let std = Tensor::from_slice(&[0.2470f32, 0.2435, 0.2616]).view([1, 3, 1, 1]);
        let x = ((x - mean) / std).to_device(device);
        let y = Tensor::from_slice(&b.labels)
            .to_kind(Kind::Int64)
            .to_device(device);
        (x, y)
    };
    let (train_x, train_y) =
        to_tensors(cifar::read_files(&train_files).context("reading CIFAR-10 training batches")?);
    let (test_x, test_y) = to_tensors(cifar::read_files(&test_files).context("reading CIFAR-10 test batch")?);
    Ok(Dataset {
        kind: DatasetKind::Cifar10,
        task: Task::Classification,
        train_x,
        train_y,
        test_x,
        test_y,
        outputs: 10,
        input_shape: vec![3, 32, 32],
    })
}

//! One run's configuration: every field is a `solon train` flag and a key of the
//! `--config run.json` file, with one set of defaults (clap's), validated once with
//! errors that name the constraint and the values.

use crate::data::DatasetKind;
use crate::model::ModelKind;
use crate::train::{OptimConfig, Schedule};
use anyhow::{bail, Context, Result};
use clap::{parser::ValueSource, ArgMatches, Args, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<tch::Device> {
        Ok(match self {
            DeviceChoice::Auto => tch::Device::cuda_if_available(),
            DeviceChoice::Cpu => tch::Device::Cpu,
            DeviceChoice::Cuda => {
                if !tch::Cuda::is_available() {
                    bail!("--device cuda: libtorch sees no CUDA device (run `solon info`); use --device cpu or auto");
                }
                tch::Device::Cuda(0)
            }
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Network to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Lenet)]
    pub model: ModelKind,
    /// Dataset to train on.
    #[arg(long, value_enum, default_value_t = DatasetKind::FashionMnist)]
    pub dataset: DatasetKind,
    /// Directory holding the datasets (default: $SOLON_DATA, else ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Number of workers P; the global batch is cut into P equal partitions.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Global batch size B (all workers together); must be divisible by --workers.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Training iterations (SGD steps).
    #[arg(long, default_value_t = 500)]
    pub iterations: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Heavy-ball momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    pub schedule: Schedule,
    /// Iterations between learning-rate drops (--schedule step).
    #[arg(long, default_value_t = 1000)]
    pub lr_step: usize,
    /// Factor of each learning-rate drop (--schedule step).
    #[arg(long, default_value_t = 0.1)]
    pub lr_gamma: f64,
    /// Evaluate on the test set every this many iterations (and at the end).
    #[arg(long, default_value_t = 50)]
    pub eval_every: usize,
    /// Evaluate on the first N test samples only (0 = the whole test set).
    #[arg(long, default_value_t = 0)]
    pub test_samples: usize,
    /// Seed of everything random: initialisation, batches, synthetic data, attacks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Intra-op CPU threads for libtorch (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Per-iteration CSV to write (default: results/<model>-<dataset>.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    config: RunConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        DefaultsOnly::parse_from(["solon"]).config
    }
}

impl RunConfig {
    /// The configuration of a command line: the `--config` file when given, with
    /// every flag that was typed on the command line taking precedence over it.
    pub fn from_matches(matches: &ArgMatches, file: Option<&Path>) -> Result<Self> {
        let cli = RunConfig::from_arg_matches(matches)?;
        let Some(file) = file else { return Ok(cli) };
        let mut value = load_json(file)?;
        let cli_value = serde_json::to_value(&cli)?;
        for id in matches.ids() {
            let id = id.as_str();
            if matches.value_source(id) == Some(ValueSource::CommandLine) {
                if let Some(v) = cli_value.get(id) {
                    value[id] = v.clone();
                }
            }
        }
        serde_json::from_value(value).with_context(|| format!("in {}", file.display()))
    }

    pub fn data_root(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(crate::data::default_root)
    }

    pub fn optim(&self) -> OptimConfig {
        OptimConfig {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            schedule: self.schedule,
            lr_step: self.lr_step,
            lr_gamma: self.lr_gamma,
            iterations: self.iterations,
        }
    }

    pub fn out_path(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/{}-{}.csv", self.model, self.dataset)))
    }

    /// Every constraint between fields, checked before anything is loaded or trained.
    pub fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            bail!("--workers 0: need at least one worker");
        }
        if self.batch_size == 0 || self.batch_size % self.workers != 0 {
            let up = self.batch_size.div_ceil(self.workers).max(1) * self.workers;
            bail!(
                "--batch-size {} is not divisible by --workers {}: every worker's partition must have the same size (try --batch-size {up})",
                self.batch_size,
                self.workers
            );
        }
        if self.iterations == 0 {
            bail!("--iterations 0: nothing to train");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr {} must be a positive number", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum {} must be in [0, 1)", self.momentum);
        }
        if self.eval_every == 0 {
            bail!("--eval-every 0: must be at least 1");
        }
        Ok(())
    }
}

/// Reads a JSON object, refusing anything else with the file's name.
pub fn load_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    if !value.is_object() {
        bail!("{} must hold a JSON object of run settings", path.display());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: RunConfig,
    }

    #[test]
    fn defaults_are_clap_defaults_and_validate() {
        let c = RunConfig::default();
        assert_eq!(c.workers, 8);
        assert_eq!(c.model, ModelKind::Lenet);
        c.validate().unwrap();
    }

    #[test]
    fn file_values_apply_and_typed_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, r#"{"workers": 4, "batch_size": 40, "model": "mlp"}"#).unwrap();
        let m = Cli::command().get_matches_from(["solon", "--batch-size", "64"]);
        let c = RunConfig::from_matches(&m, Some(&path)).unwrap();
        assert_eq!((c.workers, c.batch_size, c.model), (4, 64, ModelKind::Mlp));
        std::fs::write(&path, r#"{"wokers": 4}"#).unwrap();
        let err = format!("{:#}", RunConfig::from_matches(&m, Some(&path)).unwrap_err());
        assert!(err.contains("wokers"), "{err}");
    }

    #[test]
    fn constraint_errors_name_the_values() {
        let mut c = RunConfig {
            workers: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("--workers 0"));
        c.workers = 4;
        c.batch_size = 7;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("--batch-size 7") && e.contains("--workers 4") && e.contains("8"),
            "{e}"
        );
    }
}

//! Synthetic tasks generated from a seed, for fast tests and smoke runs: a
//! Gaussian-mixture classification shaped like MNIST (so every model accepts it),
//! and a linear regression whose least-squares optimum is known in closed form.

use super::{Dataset, DatasetKind, Task};
use tch::{Device, Kind, Tensor};

pub const MIXTURE_TRAIN: i64 = 4096;
pub const MIXTURE_TEST: i64 = 1024;
pub const REGRESSION_FEATURES: i64 = 16;

/// Ten Gaussian classes in 1x28x28: class means N(0, 1) scaled by 0.15, unit noise.
/// Separable enough that a linear model reaches high accuracy in a few hundred steps.
pub fn gaussian_mixture(seed: u64, device: Device) -> Dataset {
    crate::train::with_torch_seed(seed, || mixture(device))
}

fn mixture(device: Device) -> Dataset {
    let _guard = tch::no_grad_guard();
    let classes = 10;
    let features = 28 * 28;
    let means = Tensor::randn([classes, features], (Kind::Float, Device::Cpu)) * 0.15;
    let make = |n: i64| {
        let y = Tensor::randint(classes, [n], (Kind::Int64, Device::Cpu));
        let x = means.index_select(0, &y) + Tensor::randn([n, features], (Kind::Float, Device::Cpu));
        (x.view([n, 1, 28, 28]).to_device(device), y.to_device(device))
    };
    let (train_x, train_y) = make(MIXTURE_TRAIN);
    let (test_x, test_y) = make(MIXTURE_TEST);
    Dataset {
        kind: DatasetKind::Synthetic,
        task: Task::Classification,
        train_x,
        train_y,
        test_x,
        test_y,
        outputs: classes,
        input_shape: vec![1, 28, 28],
    }
}

/// y = X w* + b* + 0.1 noise with N x 16 Gaussian inputs. Also returns the minimum
/// mean-squared error over the training set of any affine model (least squares),
/// the floor that training can approach but never beat.
pub fn linear_regression(seed: u64, device: Device) -> (Dataset, f64) {
    crate::train::with_torch_seed(seed, || regression(device))
}

fn regression(device: Device) -> (Dataset, f64) {
    let _guard = tch::no_grad_guard();
    let f = REGRESSION_FEATURES;
    let w = Tensor::randn([f, 1], (Kind::Double, Device::Cpu));
    let make = |n: i64| {
        let x = Tensor::randn([n, f], (Kind::Double, Device::Cpu));
        let y = x.matmul(&w) + 0.5 + Tensor::randn([n, 1], (Kind::Double, Device::Cpu)) * 0.1;
        (x, y)
    };
    let (train_x, train_y) = make(2048);
    let (test_x, test_y) = make(512);
    // Least squares with an intercept column, in f64.
    let design = Tensor::cat(
        &[
            train_x.shallow_clone(),
            Tensor::ones([2048, 1], (Kind::Double, Device::Cpu)),
        ],
        1,
    );
    let solution = design.linalg_lstsq(&train_y, None::<f64>, "gelsd").0;
    let residual = design.matmul(&solution) - &train_y;
    let optimum = f64::try_from(residual.square().mean(Kind::Double)).unwrap();
    let to = |t: Tensor| t.to_kind(Kind::Float).to_device(device);
    let data = Dataset {
        kind: DatasetKind::Regression,
        task: Task::Regression,
        train_x: to(train_x),
        train_y: to(train_y),
        test_x: to(test_x),
        test_y: to(test_y),
        outputs: 1,
        input_shape: vec![f],
    };
    (data, optimum)
}

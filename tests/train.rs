//! End-to-end training on synthetic tasks: SGD through the cluster loop reaches the
//! known least-squares optimum, and learns the Gaussian mixture.

use solon::config::RunConfig;
use solon::data::{synthetic, DatasetKind};
use solon::model::ModelKind;
use solon::train::{Schedule, Trainer};
use tch::Device;

#[test]
fn regression_loss_approaches_the_least_squares_optimum() {
    let (data, optimum) = synthetic::linear_regression(11, Device::Cpu);
    let config = RunConfig {
        model: ModelKind::Logreg,
        dataset: DatasetKind::Regression,
        device: solon::config::DeviceChoice::Cpu,
        workers: 4,
        batch_size: 64,
        iterations: 600,
        lr: 0.05,
        momentum: 0.9,
        schedule: Schedule::Cosine,
        eval_every: 600,
        seed: 11,
        ..Default::default()
    };
    let outcome = solon::cluster::run(&config, &data, |_, _| {}).unwrap();
    assert!(!outcome.diverged);
    let mut t = Trainer::new(ModelKind::Logreg, &data, config.optim(), Device::Cpu, 0).unwrap();
    t.set_flat_params(&outcome.final_params).unwrap();
    let (train_mse, _) = t.evaluate(&data.train_x, &data.train_y, 4096);
    assert!(
        optimum > 0.005 && optimum < 0.02,
        "noise 0.1 gives an optimum near 0.01, got {optimum}"
    );
    // Never below the optimum (it is the minimum), and within 2% of it.
    assert!(
        train_mse >= optimum * (1.0 - 1e-6),
        "{train_mse} < optimum {optimum}"
    );
    assert!(
        train_mse <= optimum * 1.02,
        "train MSE {train_mse} vs optimum {optimum}"
    );
}

#[test]
fn gaussian_mixture_is_learned() {
    let data = synthetic::gaussian_mixture(2, Device::Cpu);
    let config = RunConfig {
        model: ModelKind::Logreg,
        dataset: DatasetKind::Synthetic,
        device: solon::config::DeviceChoice::Cpu,
        workers: 4,
        batch_size: 64,
        iterations: 150,
        eval_every: 50,
        seed: 2,
        ..Default::default()
    };
    let outcome = solon::cluster::run(&config, &data, |_, _| {}).unwrap();
    let first = &outcome.records[0];
    let last = outcome.records.last().unwrap();
    assert_eq!(outcome.records.len(), 3);
    assert!(last.test_acc > 0.9, "accuracy {}", last.test_acc);
    assert!(last.train_loss < first.train_loss);
}

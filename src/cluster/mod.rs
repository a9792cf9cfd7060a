//! The cluster: runs one configuration in process, iteration by iteration, and
//! records what happened at every evaluation point.

use crate::config::RunConfig;
use crate::data::{self, Dataset};
use crate::train::{BatchSampler, Trainer};
use anyhow::Result;
use serde::Serialize;
use std::time::Instant;

/// One CSV row per evaluation point.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    pub iteration: usize,
    pub epoch: f64,
    pub elapsed_s: f64,
    pub train_loss: f64,
    pub test_loss: f64,
    pub test_acc: f64,
}

pub struct RunOutcome {
    pub records: Vec<Record>,
    pub final_params: tch::Tensor,
    pub diverged: bool,
}

/// Loads the data the configuration names on its device.
pub fn load_data(config: &RunConfig) -> Result<Dataset> {
    let device = config.device.resolve()?;
    data::load(config.dataset, &config.data_root(), device, config.seed)
}

/// Plain data-parallel SGD: P partition gradients, their mean, one step.
/// `on_iteration` is called after every step (progress bars).
pub fn run(
    config: &RunConfig,
    data: &Dataset,
    mut on_iteration: impl FnMut(usize, Option<&Record>),
) -> Result<RunOutcome> {
    config.validate()?;
    if config.threads > 0 {
        tch::set_num_threads(config.threads as i32);
    }
    let device = data.train_x.device();
    let mut trainer = Trainer::new(config.model, data, config.optim(), device, config.seed)?;
    let mut sampler = BatchSampler::new(data.train_len(), config.batch_size, config.seed, device)?;
    let (test_x, test_y) = if config.test_samples > 0 && (config.test_samples as i64) < data.test_len() {
        (
            data.test_x.narrow(0, 0, config.test_samples as i64),
            data.test_y.narrow(0, 0, config.test_samples as i64),
        )
    } else {
        (data.test_x.shallow_clone(), data.test_y.shallow_clone())
    };
    let start = Instant::now();
    let mut records = Vec::new();
    let mut loss_window = (0.0, 0usize);
    let mut diverged = false;
    for iteration in 1..=config.iterations {
        let idx = sampler.next_indices();
        let (x, y) = (
            data.train_x.index_select(0, &idx),
            data.train_y.index_select(0, &idx),
        );
        let (grads, loss) = trainer.partition_gradients(&x, &y, config.workers as i64)?;
        let aggregate = grads.mean_dim(0, false, tch::Kind::Float);
        trainer.apply(&aggregate)?;
        loss_window.0 += loss;
        loss_window.1 += 1;
        diverged = !loss.is_finite();
        let record = if iteration % config.eval_every == 0 || iteration == config.iterations || diverged {
            let (test_loss, test_acc) = trainer.evaluate(&test_x, &test_y, 1000);
            let r = Record {
                iteration,
                epoch: sampler.epochs(),
                elapsed_s: start.elapsed().as_secs_f64(),
                train_loss: loss_window.0 / loss_window.1 as f64,
                test_loss,
                test_acc,
            };
            loss_window = (0.0, 0);
            records.push(r);
            records.last()
        } else {
            None
        };
        on_iteration(iteration, record);
        if diverged {
            break;
        }
    }
    Ok(RunOutcome {
        records,
        final_params: trainer.flat_params(),
        diverged,
    })
}

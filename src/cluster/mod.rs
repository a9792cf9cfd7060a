//! The cluster: runs one configuration in process, iteration by iteration. Every
//! partition gradient is computed once and shared by the workers that hold it; the
//! cost model charges each worker for its r partitions. One CSV row per evaluation.

pub mod cost;
pub mod mpi;
pub mod params;
pub mod scheme;

use crate::config::{RunConfig, Scheme};
use crate::data::{self, Dataset};
use crate::train::{BatchSampler, Trainer};
use anyhow::Result;
use cost::{IterationCost, Network};
use scheme::SchemeRunner;
use serde::Serialize;
use std::time::Instant;

/// One CSV row per evaluation point: the configuration, then what was measured.
/// Time columns are cumulative seconds since the start of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    /// The run's name inside a sweep (its grid values); empty for a single run.
    pub run_id: String,
    pub scheme: String,
    pub aggregator: String,
    pub attack: String,
    pub workers: usize,
    pub adversaries: usize,
    pub redundancy: usize,
    pub compression: usize,
    pub model: String,
    pub dataset: String,
    pub bandwidth_gbps: f64,
    pub latency_ms: f64,
    pub seed: u64,
    pub iteration: usize,
    pub epoch: f64,
    pub samples_seen: usize,
    pub sim_time_s: f64,
    pub wall_time_s: f64,
    pub compute_s: f64,
    pub encode_s: f64,
    pub comm_s: f64,
    pub decode_s: f64,
    pub bytes_to_ps: u64,
    pub train_loss: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub faults_detected: usize,
    pub decode_failures: usize,
    pub diverged: bool,
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

/// The simulated cost of one iteration from its measured parts.
fn iteration_cost(
    config: &RunConfig,
    network: &Network,
    runner: &SchemeRunner,
    partition_s: f64,
    out: &scheme::StepOutput,
    update_s: f64,
    d: usize,
) -> IterationCost {
    let bytes_each = cost::message_bytes(runner.floats_per_worker, runner.sends_signs);
    IterationCost {
        compute_s: config.redundancy_r() as f64 * partition_s,
        encode_s: out.encode_s,
        comm_s: network.upload_s(config.workers, bytes_each) + network.broadcast_s(config.workers, d),
        decode_s: out.decode_s,
        update_s,
        bytes_to_ps: bytes_each * config.workers as u64,
    }
}

/// Trains `config` on `data`. `on_iteration` is called after every step (progress bars).
pub fn run(
    config: &RunConfig,
    data: &Dataset,
    on_iteration: impl FnMut(usize, Option<&Record>),
) -> Result<RunOutcome> {
    let mut outcomes = run_networks(config, data, &[config.network()], on_iteration)?;
    Ok(outcomes.remove(0))
}

/// Trains `config` once and costs it on each of `networks` (the network changes the
/// simulated time, never the training): one outcome per network, in order, whose
/// records differ only in the network columns, `comm_s` and `sim_time_s`.
pub fn run_networks(
    config: &RunConfig,
    data: &Dataset,
    networks: &[Network],
    mut on_iteration: impl FnMut(usize, Option<&Record>),
) -> Result<Vec<RunOutcome>> {
    config.validate()?;
    anyhow::ensure!(!networks.is_empty(), "no network to cost the run on");
    if config.backend == crate::config::Backend::Mpi {
        anyhow::bail!("--backend mpi runs one configuration under mpirun through `solon train`");
    }
    if config.threads > 0 {
        tch::set_num_threads(config.threads as i32);
    }
    let device = data.train_x.device();
    let mut optim = config.optim();
    if config.aggregator == crate::aggregate::Rule::Signum {
        optim.momentum = 0.0; // Signum's momentum lives with the workers.
    }
    let mut trainer = Trainer::new(config.model, data, optim, device, config.seed)?;
    let d = trainer.dim() as usize;
    let mut runner = SchemeRunner::new(config, d)?;
    let mut sampler = BatchSampler::new(data.train_len(), config.batch_size, config.seed, device)?;
    let test_n = if config.test_samples > 0 {
        (config.test_samples as i64).min(data.test_len())
    } else {
        data.test_len()
    };
    let (test_x, test_y) = (data.test_x.narrow(0, 0, test_n), data.test_y.narrow(0, 0, test_n));
    let parts = config.workers as i64;
    let start = Instant::now();
    let mut totals = vec![IterationCost::default(); networks.len()];
    let mut records: Vec<Vec<Record>> = vec![Vec::new(); networks.len()];
    let mut loss_window = (0.0, 0usize);
    let (mut faults, mut failures) = (0usize, 0usize);
    let mut diverged = false;
    for iteration in 1..=config.iterations {
        let idx = sampler.next_indices();
        let (x, y) = (
            data.train_x.index_select(0, &idx),
            data.train_y.index_select(0, &idx),
        );
        let compute_start = Instant::now();
        let (grads, loss) = trainer.partition_gradients(&x, &y, parts)?;
        let partition_s = compute_start.elapsed().as_secs_f64() / parts as f64;
        let byzantine = runner.byzantine(iteration);
        let flipped = if runner.flips_labels() && !byzantine.is_empty() {
            let y_bad = crate::attack::flip_labels(&y, data.outputs);
            Some(trainer.partition_gradients(&x, &y_bad, parts)?.0)
        } else {
            None
        };
        let out = runner.step(&grads, flipped.as_ref(), &byzantine, iteration)?;
        faults += out.faults;
        let update_start = Instant::now();
        match &out.gradient {
            Some(g) if crate::aggregate::all_finite(g) => trainer.apply(g)?,
            Some(_) => diverged = true,
            None if out.diverged => diverged = true,
            None => failures += 1,
        }
        let update_s = update_start.elapsed().as_secs_f64();
        for (total, network) in totals.iter_mut().zip(networks) {
            total.add(&iteration_cost(
                config,
                network,
                &runner,
                partition_s,
                &out,
                update_s,
                d,
            ));
        }
        loss_window.0 += loss;
        loss_window.1 += 1;
        let record = if iteration % config.eval_every == 0 || iteration == config.iterations || diverged {
            let (test_loss, test_acc) = trainer.evaluate(&test_x, &test_y, 1000);
            diverged |= !test_loss.is_finite();
            let record = Record {
                run_id: String::new(),
                scheme: config.scheme.to_string(),
                aggregator: if matches!(config.scheme, Scheme::Plain | Scheme::Detox) {
                    config.aggregator.to_string()
                } else {
                    "decode".into()
                },
                attack: config.attack.to_string(),
                workers: config.workers,
                adversaries: config.adversaries,
                redundancy: config.redundancy_r(),
                compression: config.compression_m(),
                model: config.model.to_string(),
                dataset: config.dataset.to_string(),
                bandwidth_gbps: networks[0].bandwidth_gbps,
                latency_ms: networks[0].latency_ms,
                seed: config.seed,
                iteration,
                epoch: sampler.epochs(),
                samples_seen: iteration * config.batch_size,
                sim_time_s: totals[0].total_s(),
                wall_time_s: start.elapsed().as_secs_f64(),
                compute_s: totals[0].compute_s,
                encode_s: totals[0].encode_s,
                comm_s: totals[0].comm_s,
                decode_s: totals[0].decode_s,
                bytes_to_ps: totals[0].bytes_to_ps,
                train_loss: loss_window.0 / loss_window.1 as f64,
                test_loss,
                test_acc,
                faults_detected: faults,
                decode_failures: failures,
                diverged,
            };
            for ((list, total), network) in records.iter_mut().zip(&totals).zip(networks) {
                list.push(Record {
                    bandwidth_gbps: network.bandwidth_gbps,
                    latency_ms: network.latency_ms,
                    sim_time_s: total.total_s(),
                    comm_s: total.comm_s,
                    ..record.clone()
                });
            }
            loss_window = (0.0, 0);
            records[0].last()
        } else {
            None
        };
        on_iteration(iteration, record);
        if diverged {
            break;
        }
    }
    let final_params = trainer.flat_params();
    Ok(records
        .into_iter()
        .map(|records| RunOutcome {
            records,
            final_params: final_params.shallow_clone(),
            diverged,
        })
        .collect())
}

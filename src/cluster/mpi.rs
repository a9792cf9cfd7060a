//! The MPI backend, `mpirun -np P+1 solon train --backend mpi ...`: rank 0 is the PS,
//! rank k is worker k-1. Every rank derives the model, the batches and the Byzantine set
//! from the seed, so only messages and models cross the network. Needs feature `mpi`.

use crate::config::RunConfig;
use anyhow::{bail, Result};

/// Parses the hidden `--mpi-stall RANK:ITERATION` (a worker rank, 1..=P, stops
/// responding when that iteration's model arrives).
pub fn parse_stall(text: &str, workers: usize) -> Result<(usize, usize)> {
    let parsed = text
        .split_once(':')
        .and_then(|(rank, iteration)| Some((rank.parse().ok()?, iteration.parse().ok()?)));
    let Some((rank, iteration)) = parsed else {
        bail!("--mpi-stall {text}: expected RANK:ITERATION, e.g. 2:3");
    };
    if !(1..=workers).contains(&rank) || iteration == 0 {
        bail!("--mpi-stall {text}: RANK must be a worker rank in 1..={workers} and ITERATION at least 1");
    }
    Ok((rank, iteration))
}

/// The MPI-only flags, checked before MPI starts.
pub fn validate(config: &RunConfig) -> Result<()> {
    if !(config.mpi_timeout_s.is_finite() && config.mpi_timeout_s > 0.0) {
        bail!(
            "--mpi-timeout-s {} must be a positive number of seconds",
            config.mpi_timeout_s
        );
    }
    if let Some(stall) = &config.mpi_stall {
        parse_stall(stall, config.workers)?;
    }
    Ok(())
}

#[cfg(not(feature = "mpi"))]
pub fn train(config: &RunConfig) -> Result<()> {
    config.validate()?;
    validate(config)?;
    bail!(
        "--backend mpi: this solon was built without MPI support; rebuild with \
         `cargo build --release --features mpi` (needs Open MPI and libclang, see the README)"
    )
}

#[cfg(feature = "mpi")]
pub use imp::train;

#[cfg(feature = "mpi")]
mod imp {
    use super::*;
    use crate::aggregate::Rule;
    use crate::cluster::scheme::{to_host, SchemeRunner};
    use crate::cluster::{load_data, params, Record};
    use crate::coding::Code;
    use crate::config::Scheme;
    use crate::data::Dataset;
    use crate::train::{BatchSampler, Trainer};
    use anyhow::Context;
    use mpi::ffi;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::os::raw::{c_int, c_void};
    use std::time::{Duration, Instant};
    use tch::{Kind, Tensor};

    const TAG_MODEL: i32 = 1;
    const TAG_STOP: i32 = 2;
    const TAG_MESSAGE: i32 = 3;
    /// Numbers a worker appends to its message: compute seconds, encode seconds, mean loss.
    const TRAILER: usize = 3;
    /// Exit status of the job when a worker fails beyond what the scheme tolerates.
    const EXIT_WORKER_FAILED: c_int = 3;
    /// Training finished, but only by tolerating workers that stopped responding.
    const EXIT_WORKERS_TOLERATED: c_int = 4;

    /// What every rank builds identically from the configuration.
    struct Shared<'a> {
        config: &'a RunConfig,
        data: &'a Dataset,
        trainer: Trainer,
        runner: SchemeRunner,
        sampler: BatchSampler,
        d: usize,
        /// f32 numbers in one worker's message (without the trailer).
        len: usize,
    }

    pub fn train(config: &RunConfig) -> Result<()> {
        config.validate()?;
        validate(config)?;
        let stall = config
            .mpi_stall
            .as_deref()
            .map(|s| parse_stall(s, config.workers))
            .transpose()?;
        let universe = mpi::initialize().context("MPI was already initialised")?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        if size != config.workers + 1 {
            bail!(
                "--backend mpi with --workers {} needs mpirun -np {} (the PS and {} workers), got {size} ranks",
                config.workers,
                config.workers + 1,
                config.workers
            );
        }
        // P+1 ranks share the machine's cores: one intra-op thread each unless told otherwise.
        tch::set_num_threads(if config.threads > 0 {
            config.threads as i32
        } else {
            1
        });
        let data = load_data(config)?;
        let device = data.train_x.device();
        let mut optim = config.optim();
        if config.aggregator == Rule::Signum {
            optim.momentum = 0.0; // Signum's momentum lives with the workers.
        }
        let trainer = Trainer::new(config.model, &data, optim, device, config.seed)?;
        let d = trainer.dim() as usize;
        let runner = SchemeRunner::new(config, d)?;
        let len = runner.floats_per_worker;
        let sampler = BatchSampler::new(data.train_len(), config.batch_size, config.seed, device)?;
        let shared = Shared {
            config,
            data: &data,
            trainer,
            runner,
            sampler,
            d,
            len,
        };
        if rank == 0 {
            parameter_server(&world, shared)
        } else {
            worker(&world, rank - 1, shared, stall)
        }
    }

    /// The partitions `worker` computes: its code assignment, its DETOX group, or its own.
    fn partitions_of(config: &RunConfig, code: Option<&Code>, worker: usize) -> Vec<usize> {
        match (code, config.scheme) {
            (Some(code), _) => code.assignment(worker).to_vec(),
            (None, Scheme::Detox) => {
                let r = config.redundancy_r();
                let group = worker / r;
                (group * r..group * r + r).collect()
            }
            _ => vec![worker],
        }
    }

    /// The adversary's picture of all P messages: the Byzantine workers' honest messages
    /// in their own rows and, in every other row, one of them in turn. Omniscient attacks
    /// thus estimate the honest statistics from gradients the adversary computes itself
    /// (ALIE's practical form); attacks on a worker's own message see the exact message.
    fn adversary_view(own: &Tensor, byzantine: &[usize], workers: usize) -> Tensor {
        let rows: Vec<i64> = (0..workers)
            .map(|w| {
                byzantine
                    .iter()
                    .position(|&b| b == w)
                    .unwrap_or(w % byzantine.len()) as i64
            })
            .collect();
        own.index_select(0, &Tensor::from_slice(&rows).to_device(own.device()))
    }

    fn worker(
        world: &SimpleCommunicator,
        me: usize,
        mut s: Shared,
        stall: Option<(usize, usize)>,
    ) -> Result<()> {
        let config = s.config;
        let ps = world.process_at_rank(0);
        let code = config.code_spec().map(Code::new).transpose()?;
        let p = config.workers;
        let per = (config.batch_size / p) as i64;
        let device = s.trainer.device();
        let mut model = vec![0f32; s.d];
        let mut out = vec![0f32; s.len + TRAILER];
        let grads = Tensor::zeros([p as i64, s.d as i64], (Kind::Float, device));
        let mut flipped_grads: Option<Tensor> = None;
        let own = partitions_of(config, code.as_ref(), me);
        for iteration in 1.. {
            let status = ps.receive_into(&mut model[..]);
            if status.tag() == TAG_STOP {
                return Ok(());
            }
            s.trainer
                .set_flat_params(&Tensor::from_slice(&model).to_device(device))?;
            if stall == Some((me + 1, iteration)) {
                // A worker that stopped responding: never sends, never exits on its own.
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            let idx = s.sampler.next_indices();
            let (x, y) = (
                s.data.train_x.index_select(0, &idx),
                s.data.train_y.index_select(0, &idx),
            );
            let byzantine = s.runner.byzantine(iteration);
            let compute_start = Instant::now();
            let mut loss = 0.0;
            let fill = |rows: &Tensor, labels: &Tensor, parts: &[usize], trainer: &mut Trainer| -> f64 {
                let mut sum = 0.0;
                for &j in parts {
                    let at = j as i64 * per;
                    let (g, l) = trainer.gradient(&x.narrow(0, at, per), &labels.narrow(0, at, per));
                    tch::no_grad(|| rows.get(j as i64).copy_(&g));
                    sum += l;
                }
                sum
            };
            loss += fill(&grads, &y, &own, &mut s.trainer);
            let compute_s = compute_start.elapsed().as_secs_f64();
            let (message, encode_s) = if let Some(position) = byzantine.iter().position(|&b| b == me) {
                // The colluding adversary computes the honest messages of all its workers.
                let needed: BTreeSet<usize> = byzantine
                    .iter()
                    .flat_map(|&w| partitions_of(config, code.as_ref(), w))
                    .collect();
                let extra: Vec<usize> = needed.iter().copied().filter(|j| !own.contains(j)).collect();
                fill(&grads, &y, &extra, &mut s.trainer);
                let flipped = if s.runner.flips_labels() {
                    let y_bad = crate::attack::flip_labels(&y, s.data.outputs);
                    let rows = flipped_grads.get_or_insert_with(|| grads.zeros_like());
                    let needed: Vec<usize> = needed.into_iter().collect();
                    fill(rows, &y_bad, &needed, &mut s.trainer);
                    Some(rows.shallow_clone())
                } else {
                    None
                };
                let (honest, encode_s) =
                    s.runner
                        .worker_messages(&grads, flipped.as_ref(), &byzantine, &byzantine)?;
                let view = adversary_view(&honest, &byzantine, p);
                let sent = s
                    .runner
                    .byzantine_messages(&view, &grads, &byzantine, iteration)?;
                (sent.get(position as i64), encode_s)
            } else {
                let (message, encode_s) = s.runner.worker_messages(&grads, None, &byzantine, &[me])?;
                (message.get(0), encode_s)
            };
            out[..s.len].copy_from_slice(&to_host(&message));
            out[s.len] = compute_s as f32;
            out[s.len + 1] = encode_s as f32;
            out[s.len + 2] = (loss / own.len() as f64) as f32;
            ps.send_with_tag(&out[..], TAG_MESSAGE);
        }
        Ok(())
    }

    /// One iteration's nonblocking receives of the live workers' messages, polled until all
    /// arrive or the deadline passes. Returns the workers that missed it (their receives
    /// are cancelled, so their buffers are free again).
    fn receive_all(
        comm: ffi::MPI_Comm,
        buffers: &mut [Vec<f32>],
        alive: &[bool],
        timeout: Duration,
    ) -> Vec<usize> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<(usize, ffi::MPI_Request)> = Vec::new();
        for (worker, buffer) in buffers.iter_mut().enumerate().filter(|(w, _)| alive[*w]) {
            // SAFETY: the buffer outlives the request: every request below is completed
            // or cancelled and waited for before this function returns.
            unsafe {
                let mut request = ffi::RSMPI_REQUEST_NULL;
                ffi::MPI_Irecv(
                    buffer.as_mut_ptr() as *mut c_void,
                    buffer.len() as c_int,
                    ffi::RSMPI_FLOAT,
                    (worker + 1) as c_int,
                    TAG_MESSAGE,
                    comm,
                    &mut request,
                );
                pending.push((worker, request));
            }
        }
        let mut missing = Vec::new();
        while !pending.is_empty() {
            pending.retain_mut(|(_, request)| {
                let mut done: c_int = 0;
                // SAFETY: `request` is an active receive posted above.
                unsafe { ffi::MPI_Test(request, &mut done, ffi::RSMPI_STATUS_IGNORE) };
                done == 0
            });
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for (worker, mut request) in pending.drain(..) {
                    // SAFETY: cancelling a receive completes it locally; the wait returns.
                    unsafe {
                        ffi::MPI_Cancel(&mut request);
                        ffi::MPI_Wait(&mut request, ffi::RSMPI_STATUS_IGNORE);
                    }
                    missing.push(worker);
                }
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        missing
    }

    /// Sends the model to every live worker without blocking: a worker that stopped
    /// receiving must not stall the PS.
    struct ModelSends {
        model: Vec<f32>,
        requests: Vec<(usize, ffi::MPI_Request)>,
    }

    impl ModelSends {
        fn post(comm: ffi::MPI_Comm, model: Vec<f32>, alive: &[bool]) -> Self {
            let mut requests = Vec::new();
            for worker in (0..alive.len()).filter(|&w| alive[w]) {
                // SAFETY: `model` lives in the returned struct until `finish` completes or
                // leaks it together with the requests that read it.
                unsafe {
                    let mut request = ffi::RSMPI_REQUEST_NULL;
                    ffi::MPI_Isend(
                        model.as_ptr() as *const c_void,
                        model.len() as c_int,
                        ffi::RSMPI_FLOAT,
                        (worker + 1) as c_int,
                        TAG_MODEL,
                        comm,
                        &mut request,
                    );
                    requests.push((worker, request));
                }
            }
            ModelSends { model, requests }
        }

        /// Completes the sends to workers still alive (each has sent its message, so it
        /// has received the model); abandons those to dead ones, leaking the model buffer
        /// they may still read.
        fn finish(mut self, alive: &[bool]) {
            let mut abandoned = false;
            for (worker, mut request) in self.requests.drain(..) {
                // SAFETY: each request is an active send of `self.model`.
                unsafe {
                    if alive[worker] {
                        ffi::MPI_Wait(&mut request, ffi::RSMPI_STATUS_IGNORE);
                    } else {
                        ffi::MPI_Request_free(&mut request);
                        abandoned = true;
                    }
                }
            }
            if abandoned {
                std::mem::forget(std::mem::take(&mut self.model));
            }
        }
    }

    fn parameter_server(world: &SimpleCommunicator, mut s: Shared) -> Result<()> {
        let config = s.config;
        let comm = world.as_raw();
        let p = config.workers;
        let timeout = Duration::from_secs_f64(config.mpi_timeout_s);
        let test_n = if config.test_samples > 0 {
            (config.test_samples as i64).min(s.data.test_len())
        } else {
            s.data.test_len()
        };
        let (test_x, test_y) = (
            s.data.test_x.narrow(0, 0, test_n),
            s.data.test_y.narrow(0, 0, test_n),
        );
        let device = s.trainer.device();
        let mut alive = vec![true; p];
        let mut buffers = vec![vec![0f32; s.len + TRAILER]; p];
        let start = Instant::now();
        let mut totals = crate::cluster::cost::IterationCost::default();
        let mut records: Vec<Record> = Vec::new();
        let mut loss_window = (0.0, 0usize);
        let (mut faults, mut failures) = (0usize, 0usize);
        let mut diverged = false;
        let mut failure: Option<String> = None;
        for iteration in 1..=config.iterations {
            let _ = s.sampler.next_indices(); // keeps the epoch count
            let model = to_host(&s.trainer.flat_params());
            let round_start = Instant::now();
            let sends = ModelSends::post(comm, model, &alive);
            let missing = receive_all(comm, &mut buffers, &alive, timeout);
            let receive_s = round_start.elapsed().as_secs_f64();
            for &w in &missing {
                alive[w] = false;
                eprintln!(
                    "warning: worker rank {} sent no message within --mpi-timeout-s {} at iteration {iteration}; treating it as failed",
                    w + 1,
                    config.mpi_timeout_s
                );
            }
            sends.finish(&alive);
            let dead: Vec<usize> = (0..p).filter(|&w| !alive[w]).map(|w| w + 1).collect();
            let arrived: Vec<usize> = (0..p).filter(|&w| alive[w]).collect();
            let mut received = vec![f32::NAN; p * s.len];
            for &w in &arrived {
                received[w * s.len..(w + 1) * s.len].copy_from_slice(&buffers[w][..s.len]);
            }
            let trailer = |w: usize, k: usize| buffers[w][s.len + k] as f64;
            let compute_s = arrived.iter().map(|&w| trailer(w, 0)).fold(0.0, f64::max);
            let encode_s = arrived.iter().map(|&w| trailer(w, 1)).sum::<f64>() / arrived.len().max(1) as f64;
            let worker_s = arrived
                .iter()
                .map(|&w| trailer(w, 0) + trailer(w, 1))
                .fold(0.0, f64::max);
            if !dead.is_empty() && !config.scheme.is_coded() {
                failure = Some(format!(
                    "worker rank(s) {dead:?} stopped responding (iteration {iteration}); --scheme {} aggregates every worker's message and cannot continue without them (coded schemes decode around missing messages)",
                    config.scheme
                ));
                break;
            }
            let messages = Tensor::from_slice(&received)
                .view([p as i64, s.len as i64])
                .to_device(device);
            let out = s.runner.combine(&messages, s.d)?;
            faults += out.faults;
            let update_start = Instant::now();
            match &out.gradient {
                Some(g) if crate::aggregate::all_finite(g) => s.trainer.apply(g)?,
                Some(_) => diverged = true,
                None if !dead.is_empty() => {
                    failure = Some(format!(
                        "worker rank(s) {dead:?} stopped responding and the decoder cannot tolerate their missing messages at iteration {iteration} (the code corrects s = {} faults)",
                        config.adversaries
                    ));
                }
                None => failures += 1,
            }
            let update_s = update_start.elapsed().as_secs_f64();
            if failure.is_some() {
                break;
            }
            totals.add(&crate::cluster::cost::IterationCost {
                compute_s,
                encode_s,
                comm_s: (receive_s - worker_s).max(0.0),
                decode_s: out.decode_s,
                update_s,
                bytes_to_ps: (arrived.len() * (s.len + TRAILER) * 4) as u64,
            });
            loss_window.0 +=
                arrived.iter().map(|&w| trailer(w, 2)).sum::<f64>() / arrived.len().max(1) as f64;
            loss_window.1 += 1;
            if iteration % config.eval_every == 0 || iteration == config.iterations || diverged {
                let (test_loss, test_acc) = s.trainer.evaluate(&test_x, &test_y, 1000);
                diverged |= !test_loss.is_finite();
                let record = Record {
                    latency_ms: s.config.latency_ms,
                    run_id: String::new(),
                    scheme: config.scheme.to_string(),
                    aggregator: if config.scheme.is_coded() {
                        "decode".into()
                    } else {
                        config.aggregator.to_string()
                    },
                    attack: config.attack.to_string(),
                    workers: p,
                    adversaries: config.adversaries,
                    redundancy: config.redundancy_r(),
                    compression: config.compression_m(),
                    model: config.model.to_string(),
                    dataset: config.dataset.to_string(),
                    bandwidth_gbps: config.bandwidth_gbps,
                    seed: config.seed,
                    iteration,
                    epoch: s.sampler.epochs(),
                    samples_seen: iteration * config.batch_size,
                    sim_time_s: totals.total_s(),
                    wall_time_s: start.elapsed().as_secs_f64(),
                    compute_s: totals.compute_s,
                    encode_s: totals.encode_s,
                    comm_s: totals.comm_s,
                    decode_s: totals.decode_s,
                    bytes_to_ps: totals.bytes_to_ps,
                    train_loss: loss_window.0 / loss_window.1 as f64,
                    test_loss,
                    test_acc,
                    faults_detected: faults,
                    decode_failures: failures,
                    diverged,
                };
                records.push(record);
                loss_window = (0.0, 0);
            }
            if diverged {
                break;
            }
        }
        for w in (0..p).filter(|&w| alive[w]) {
            world
                .process_at_rank((w + 1) as i32)
                .send_with_tag(&[0f32; 0][..], TAG_STOP);
        }
        let out = config.out_path();
        crate::experiment::write_csv_atomic(&out, &records)?;
        if let Some(path) = &config.save_params {
            params::save(path, &s.trainer.flat_params())?;
        }
        let dead: Vec<usize> = (0..p).filter(|&w| !alive[w]).map(|w| w + 1).collect();
        if let Some(last) = records.last() {
            println!(
                "{} on {} over MPI ({} workers): test accuracy {:.2}% (test loss {:.4}) after {} iterations, {:.1}s; {} faults detected; wrote {}",
                config.model,
                config.dataset,
                p,
                100.0 * last.test_acc,
                last.test_loss,
                last.iteration,
                last.wall_time_s,
                last.faults_detected,
                out.display()
            );
        }
        if let Some(message) = failure {
            eprintln!("error: {message}; wrote {}", out.display());
            let _ = std::io::stderr().flush();
            let _ = std::io::stdout().flush();
            world.abort(EXIT_WORKER_FAILED);
        }
        if !dead.is_empty() {
            // Finalize would wait for the dead ranks: end the job instead. The status is
            // not 0 (Open MPI has been seen to hang reaping a job aborted with 0) but a
            // code of its own, so scripts can tell a tolerated failure from a real one.
            eprintln!(
                "worker rank(s) {dead:?} stopped responding; the decoder tolerated their missing messages and training finished (wrote {}). Ending the job with MPI_Abort({EXIT_WORKERS_TOLERATED}) so that they do not hold it open.",
                out.display()
            );
            let _ = std::io::stderr().flush();
            let _ = std::io::stdout().flush();
            world.abort(EXIT_WORKERS_TOLERATED);
        }
        Ok(())
    }
}

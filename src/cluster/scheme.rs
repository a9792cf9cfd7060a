//! What happens between the partition gradients and the PS's update, per scheme:
//! build every worker's message (identity, group gradient, encoder or signs), let
//! the attack replace the Byzantine messages, then decode or aggregate. Timings of
//! encode and decode are measured here; the cost model charges the rest.

use crate::aggregate::{self, Aggregator, Rule};
use crate::attack::{self, Attack, AttackContext, ByzantineSelector};
use crate::coding::Code;
use crate::config::{RunConfig, Scheme};
use anyhow::{Context, Result};
use rand::{rngs::StdRng, SeedableRng};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// What one iteration's PS produced.
pub struct StepOutput {
    /// The mean gradient (or, for Signum, the sign vector) to step with; None when
    /// the decoder refused the messages (more faults than the code corrects).
    pub gradient: Option<Tensor>,
    /// Seconds one worker spends encoding (the mean over workers).
    pub encode_s: f64,
    pub decode_s: f64,
    /// Workers the decoder or majority vote flagged this iteration.
    pub faults: usize,
    /// The aggregate could not be formed from finite numbers.
    pub diverged: bool,
}

pub struct SchemeRunner {
    scheme: Scheme,
    workers: usize,
    group: usize,
    code: Option<Code>,
    aggregator: Option<Box<dyn Aggregator>>,
    attack: Box<dyn Attack>,
    selector: ByzantineSelector,
    assumed_f: usize,
    rule: Option<Rule>,
    /// Signum: each worker's own momentum, the thing whose sign it sends.
    worker_momentum: Option<Tensor>,
    momentum: f64,
    rng: StdRng,
    /// f32 numbers in one worker's message.
    pub floats_per_worker: usize,
    pub sends_signs: bool,
}

impl SchemeRunner {
    pub fn new(config: &RunConfig, d: usize) -> Result<Self> {
        let code = config.code_spec().map(Code::new).transpose()?;
        let aggregator = match config.scheme {
            Scheme::Plain | Scheme::Detox => Some(aggregate::build(
                &config.aggregator_config(),
                config.aggregator_inputs(),
            )?),
            _ => None,
        };
        let floats_per_worker = code.as_ref().map_or(d, |c| c.message_len(d));
        let signs = config.aggregator == Rule::Signum;
        Ok(SchemeRunner {
            scheme: config.scheme,
            workers: config.workers,
            group: config.redundancy_r(),
            code,
            aggregator,
            attack: attack::build(&config.attack_config())?,
            selector: ByzantineSelector::new(
                config.workers,
                config.adversaries,
                config.redraw_byzantine,
                config.seed,
            )?,
            assumed_f: config.aggregator_config().f.max(config.adversaries),
            rule: matches!(config.scheme, Scheme::Plain | Scheme::Detox).then_some(config.aggregator),
            worker_momentum: None,
            momentum: config.momentum,
            rng: StdRng::seed_from_u64(config.seed ^ 0xdec0de),
            floats_per_worker,
            sends_signs: signs,
        })
    }

    pub fn flips_labels(&self) -> bool {
        self.attack.flips_labels()
    }

    pub fn byzantine(&mut self, iteration: usize) -> Vec<usize> {
        self.selector.select(iteration)
    }

    /// One iteration, in process. `grads`: P x d honest partition gradients (of each
    /// partition's mean loss); `flipped`: the same on flipped labels, for label-flip.
    /// The worker, adversary and PS sides below, composed.
    pub fn step(
        &mut self,
        grads: &Tensor,
        flipped: Option<&Tensor>,
        byzantine: &[usize],
        iteration: usize,
    ) -> Result<StepOutput> {
        let all: Vec<usize> = (0..self.workers).collect();
        let (honest, encode_s) = self.worker_messages(grads, flipped, byzantine, &all)?;
        let received = if byzantine.is_empty() {
            honest
        } else {
            let bad = self.byzantine_messages(&honest, grads, byzantine, iteration)?;
            let rows = aggregate::index_tensor(byzantine, honest.device());
            honest.index_copy(0, &rows, &bad.to_kind(honest.kind()).to_device(honest.device()))
        };
        let mut out = self.combine(&received, grads.size()[1] as usize)?;
        out.encode_s = encode_s;
        Ok(out)
    }

    /// DETOX's vote inside each group: the message that more than half of the group sent
    /// (equal within 1e-6 of its norm). Without such a majority the group's coordinate-wise
    /// median stands in. Returns the winners and the number of dissenting workers.
    fn group_majority(&self, messages: &Tensor) -> (Tensor, usize) {
        let r = self.group as i64;
        let groups = self.workers as i64 / r;
        let mut winners = Vec::with_capacity(groups as usize);
        let mut faults = 0;
        for g in 0..groups {
            let rows = messages.narrow(0, g * r, r);
            let (winner, dissent) = majority(&rows);
            faults += dissent;
            winners.push(winner);
        }
        (Tensor::stack(&winners, 0), faults)
    }
}

/// The messages the PS receives: `ctx.honest` with the Byzantine rows replaced by
/// what the attack sends.
fn attacked(attack: &mut dyn Attack, ctx: &AttackContext) -> Result<Tensor> {
    if ctx.byzantine.is_empty() {
        return Ok(ctx.honest.shallow_clone());
    }
    let bad = attack.apply(ctx).context("attack")?;
    let rows = aggregate::index_tensor(ctx.byzantine, ctx.honest.device());
    Ok(ctx.honest.index_copy(
        0,
        &rows,
        &bad.to_kind(ctx.honest.kind()).to_device(ctx.honest.device()),
    ))
}

/// A tensor's values as one contiguous f32 host vector.
pub fn to_host(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view(-1),
    )
    .expect("f32 tensor")
}

/// Majority vote among the rows of `rows` (r x d): a row that more than half of the rows
/// equal within 1e-6 of its norm, and how many rows disagree with it. Non-finite rows never
/// win. Without a majority: the coordinate-wise median and all r rows counted as dissent.
pub fn majority(rows: &Tensor) -> (Tensor, usize) {
    let r = rows.size()[0];
    let finite = rows.isfinite().all_dims(1, false);
    for i in 0..r {
        if !bool::try_from(finite.get(i)).unwrap_or(false) {
            continue;
        }
        let candidate = rows.get(i);
        let tol = 1e-6 * f64::try_from(candidate.norm()).unwrap_or(0.0).max(1e-30);
        let distance = (rows - &candidate)
            .square()
            .sum_dim_intlist(1, false, Kind::Double)
            .sqrt();
        let agree = distance
            .le(tol)
            .logical_and(&finite)
            .sum(Kind::Int64)
            .int64_value(&[]);
        if 2 * agree > r {
            return (candidate, (r - agree) as usize);
        }
    }
    (
        crate::aggregate::median_of_sorted(&crate::aggregate::sort_coordinates(rows)),
        r as usize,
    )
}

/// The same iteration cut where messages cross a real network (the MPI backend): the
/// worker side builds messages, the Byzantine side replaces them, the PS side combines.
/// Given the same inputs, the three together compute what `step` computes.
impl SchemeRunner {
    /// Worker side: the messages `workers` honestly send, one row each in that order, and
    /// the encode seconds per worker. `grads` is P x d; only the rows of the partitions
    /// these workers hold are read. Byzantine workers' rows come from `flipped` when the
    /// attack flips labels. Signum: each listed worker's momentum advances once per call.
    /// Encode seconds exclude copying the partition gradients to the host, as in `step`.
    pub fn worker_messages(
        &mut self,
        grads: &Tensor,
        flipped: Option<&Tensor>,
        byzantine: &[usize],
        workers: &[usize],
    ) -> Result<(Tensor, f64)> {
        let source = |worker: usize| match flipped {
            Some(bad) if byzantine.contains(&worker) => bad,
            _ => grads,
        };
        if let Some(code) = self.code.as_ref() {
            let d = grads.size()[1] as usize;
            let len = self.floats_per_worker;
            let honest_host = to_host(grads);
            let flipped_host = flipped.map(to_host);
            let mut messages = vec![0f32; workers.len() * len];
            let mut encode_s = 0.0;
            for (&worker, out) in workers.iter().zip(messages.chunks_exact_mut(len)) {
                let host = match &flipped_host {
                    Some(bad) if byzantine.contains(&worker) => bad,
                    _ => &honest_host,
                };
                let parts: Vec<&[f32]> = code
                    .assignment(worker)
                    .iter()
                    .map(|&j| &host[j * d..(j + 1) * d])
                    .collect();
                let encode_start = Instant::now();
                code.encode_into(worker, &parts, out);
                encode_s += encode_start.elapsed().as_secs_f64();
            }
            let messages = Tensor::from_slice(&messages).view([workers.len() as i64, len as i64]);
            return Ok((
                messages.to_device(grads.device()),
                encode_s / workers.len() as f64,
            ));
        }
        let encode_start = Instant::now();
        let r = self.group as i64;
        let rows: Vec<Tensor> = workers
            .iter()
            .map(|&worker| match self.scheme {
                Scheme::Detox => {
                    source(worker)
                        .narrow(0, (worker as i64 / r) * r, r)
                        .mean_dim(0, false, Kind::Float)
                }
                _ => source(worker).get(worker as i64),
            })
            .collect();
        let mut messages = Tensor::stack(&rows, 0);
        if self.sends_signs {
            let (p, d) = (self.workers as i64, grads.size()[1]);
            let index = aggregate::index_tensor(workers, messages.device());
            let all = self
                .worker_momentum
                .take()
                .unwrap_or_else(|| Tensor::zeros([p, d], (Kind::Float, messages.device())));
            let m = all.index_select(0, &index) * self.momentum + &messages;
            messages = m.sign();
            self.worker_momentum = Some(all.index_copy(0, &index, &m));
        }
        let encode_s = encode_start.elapsed().as_secs_f64() / workers.len() as f64;
        Ok((messages, encode_s))
    }

    /// Byzantine side: what the Byzantine workers send, in the order of `byzantine`.
    /// `honest` (P x message length) holds every worker's honest message, or the
    /// adversary's estimate of the ones it cannot see; `grads` (P x d) the partition
    /// gradients, of which the targeted attack reads the partition it perturbs.
    pub fn byzantine_messages(
        &mut self,
        honest: &Tensor,
        grads: &Tensor,
        byzantine: &[usize],
        iteration: usize,
    ) -> Result<Tensor> {
        let Some(code) = self.code.as_ref() else {
            let ctx = AttackContext {
                honest,
                byzantine,
                n: self.workers,
                f: self.assumed_f,
                rule: self.rule,
                iteration,
                partition_shift: None,
                target_gradient: None,
            };
            return attacked(self.attack.as_mut(), &ctx)
                .map(|all| all.index_select(0, &aggregate::index_tensor(byzantine, honest.device())));
        };
        let d = grads.size()[1] as usize;
        let target = byzantine.first().map(|&w| code.assignment(w)[0]);
        let target_gradient = target.map(|j| grads.get(j as i64).to_device(Device::Cpu));
        let shift = |worker: usize, delta: &Tensor| -> Tensor {
            let delta = to_host(delta);
            let zeros = vec![0f32; d];
            let parts: Vec<&[f32]> = code
                .assignment(worker)
                .iter()
                .map(|&j| if Some(j) == target { &delta[..] } else { &zeros[..] })
                .collect();
            Tensor::from_slice(&code.encode(worker, &parts))
        };
        let ctx = AttackContext {
            honest,
            byzantine,
            n: self.workers,
            f: self.assumed_f,
            rule: None,
            iteration,
            partition_shift: Some(&shift),
            target_gradient: target_gradient.as_ref(),
        };
        let all = attacked(self.attack.as_mut(), &ctx)?;
        Ok(all.index_select(0, &aggregate::index_tensor(byzantine, honest.device())))
    }

    /// PS side: decodes or aggregates the P received messages (P x message length). A
    /// message that never arrived is a row of NaN: decoders mark it faulty (an erasure).
    /// `d` is the gradient length; `encode_s` of the output is 0 (workers measure theirs).
    pub fn combine(&mut self, received: &Tensor, d: usize) -> Result<StepOutput> {
        let decode_start = Instant::now();
        let Some(code) = self.code.as_ref() else {
            let (inputs, faults) = match self.scheme {
                Scheme::Detox => self.group_majority(received),
                _ => (received.shallow_clone(), 0),
            };
            // The configuration was validated up front, so a failing aggregate means the
            // inputs overwhelmed the rule (e.g. mean over 1e30): the run has diverged.
            let aggregate = self.aggregator.as_mut().expect("aggregator").aggregate(&inputs);
            return Ok(StepOutput {
                diverged: aggregate.is_err(),
                gradient: aggregate.ok(),
                encode_s: 0.0,
                decode_s: decode_start.elapsed().as_secs_f64(),
                faults,
            });
        };
        let device = received.device();
        let len = self.floats_per_worker;
        let host = to_host(received);
        let slices: Vec<&[f32]> = host.chunks_exact(len).collect();
        let decoded = code.decode(&slices, d, &mut self.rng);
        let decode_s = decode_start.elapsed().as_secs_f64();
        Ok(match decoded {
            Ok(out) => StepOutput {
                gradient: Some(Tensor::from_slice(&out.sum).to_device(device) / self.workers as f64),
                encode_s: 0.0,
                decode_s,
                faults: out.faulty.len(),
                diverged: false,
            },
            Err(_) => StepOutput {
                gradient: None,
                encode_s: 0.0,
                decode_s,
                faults: slices.iter().filter(|m| m.iter().any(|v| !v.is_finite())).count(),
                diverged: false,
            },
        })
    }
}

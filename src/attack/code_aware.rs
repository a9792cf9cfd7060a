//! Attacks aimed at coded schemes, applied to what each Byzantine worker would
//! honestly send (SOLON.md section 6): `shift`, colluding workers all adding the
//! same random vector (a consistent wrong codeword when the code is a repetition);
//! `tiny`, errors too small to stand out; `targeted`, one partition's gradient
//! perturbed and the resulting change sent by every Byzantine worker holding it.

use super::{random_unit, row_norms, standard_normal, Attack, AttackContext};
use anyhow::{ensure, Result};
use rand::{rngs::StdRng, SeedableRng};
use tch::Tensor;

/// Every Byzantine worker adds the same vector v, drawn afresh each iteration,
/// |v| = scale * (mean honest norm of the Byzantine workers' messages).
pub struct ConsistentShift {
    scale: f64,
    rng: StdRng,
}

impl ConsistentShift {
    pub fn new(scale: f64, seed: u64) -> Self {
        ConsistentShift {
            scale,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Attack for ConsistentShift {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        let (_, d) = ctx.check()?;
        let messages = ctx.byzantine_messages();
        if ctx.byzantine.is_empty() {
            return Ok(messages);
        }
        let norms = row_norms(&messages);
        let mean_norm = norms.iter().sum::<f64>() / norms.len() as f64;
        let direction = random_unit(&mut self.rng, d, messages.kind(), messages.device());
        Ok(messages + (direction * (self.scale * mean_norm)).unsqueeze(0))
    }
}

/// Each Byzantine worker adds its own Gaussian-direction error of norm
/// scale * |its honest message| (scale = 1e-3 by default).
pub struct TinyError {
    scale: f64,
    rng: StdRng,
}

impl TinyError {
    pub fn new(scale: f64, seed: u64) -> Self {
        TinyError {
            scale,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Attack for TinyError {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        let (_, d) = ctx.check()?;
        let messages = ctx.byzantine_messages();
        let rows = ctx.byzantine.len();
        if rows == 0 {
            return Ok(messages);
        }
        let noise = standard_normal(&mut self.rng, rows, d, messages.kind(), messages.device());
        let noise_norms = row_norms(&noise);
        let factors: Vec<f64> = row_norms(&messages)
            .iter()
            .zip(&noise_norms)
            .map(|(&message, &noise)| {
                if noise > 0.0 {
                    self.scale * message / noise
                } else {
                    0.0
                }
            })
            .collect();
        let factors = Tensor::from_slice(&factors)
            .to_kind(messages.kind())
            .to_device(messages.device())
            .unsqueeze(1);
        Ok(messages + noise * factors)
    }
}

/// One partition's gradient g is perturbed by delta (random direction,
/// |delta| = scale * |g|, the same for all colluders, fresh each iteration);
/// Byzantine worker i sends its honest message plus partition_shift(i, delta),
/// the change delta makes to its message (zero if it does not hold the
/// partition). Without a code (partition_shift None) the message is the
/// gradient, delta lives in message space sized by the mean Byzantine message
/// norm, and every Byzantine worker adds it.
pub struct TargetedPartition {
    scale: f64,
    rng: StdRng,
}

impl TargetedPartition {
    pub fn new(scale: f64, seed: u64) -> Self {
        TargetedPartition {
            scale,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Attack for TargetedPartition {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        let (_, d) = ctx.check()?;
        let messages = ctx.byzantine_messages();
        if ctx.byzantine.is_empty() {
            return Ok(messages);
        }
        let (kind, device) = (messages.kind(), messages.device());
        let Some(shift) = ctx.partition_shift else {
            let norms = row_norms(&messages);
            let size = self.scale * norms.iter().sum::<f64>() / norms.len() as f64;
            let delta = random_unit(&mut self.rng, d, kind, device) * size;
            return Ok(messages + delta.unsqueeze(0));
        };
        let Some(gradient) = ctx.target_gradient else {
            anyhow::bail!("targeted: a coded scheme (partition_shift set) must also give target_gradient");
        };
        let gradient_dim = gradient.numel();
        ensure!(gradient_dim >= 1, "targeted: the target gradient is empty");
        let size = self.scale * gradient.norm().double_value(&[]);
        let delta = random_unit(&mut self.rng, gradient_dim, gradient.kind(), gradient.device()) * size;
        let rows = ctx
            .byzantine
            .iter()
            .enumerate()
            .map(|(row, &worker)| {
                let change = shift(worker, &delta);
                ensure!(
                    change.size() == [d as i64],
                    "targeted: partition_shift for worker {worker} returned shape {:?}, expected [{d}]",
                    change.size()
                );
                Ok(messages.get(row as i64) + change.to_kind(kind).to_device(device))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(&rows, 0))
    }
}

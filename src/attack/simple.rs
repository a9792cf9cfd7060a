//! Attacks that need no statistics of the other workers (SOLON.md section 6):
//! none, reverse gradient -c*g (Draco, c = 100), constant c in every coordinate
//! (Draco, c = -100), gaussian N(0, sigma^2) noise, sign flip -g, and the
//! corruptions nan / inf / huge (a fraction of coordinates set to NaN, +Inf or 1e30).

use super::{standard_normal, Attack, AttackContext, AttackKind};
use anyhow::Result;
use rand::{rngs::StdRng, seq::index::sample, SeedableRng};
use tch::Tensor;

/// Byzantine workers behave honestly (the control run).
pub struct NoAttack;

impl Attack for NoAttack {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        Ok(ctx.byzantine_messages())
    }
}

/// Reverse gradient: -scale * g_i, where g_i is the worker's honest message.
pub struct Reverse {
    scale: f64,
}

impl Reverse {
    pub fn new(scale: f64) -> Self {
        Reverse { scale }
    }
}

impl Attack for Reverse {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        Ok(ctx.byzantine_messages() * (-self.scale))
    }
}

/// Every coordinate equals `value`.
pub struct Constant {
    value: f64,
}

impl Constant {
    pub fn new(value: f64) -> Self {
        Constant { value }
    }
}

impl Attack for Constant {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        Ok(ctx.byzantine_messages().full_like(self.value))
    }
}

/// Each coordinate of each Byzantine message is an independent N(0, sigma^2) draw.
pub struct Gaussian {
    sigma: f64,
    rng: StdRng,
}

impl Gaussian {
    pub fn new(sigma: f64, seed: u64) -> Self {
        Gaussian {
            sigma,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Attack for Gaussian {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        let (_, d) = ctx.check()?;
        let noise = standard_normal(
            &mut self.rng,
            ctx.byzantine.len(),
            d,
            ctx.honest.kind(),
            ctx.honest.device(),
        );
        Ok(noise * self.sigma)
    }
}

/// Sign flip: -g_i.
pub struct SignFlip;

impl Attack for SignFlip {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        Ok(-ctx.byzantine_messages())
    }
}

/// nan / inf / huge: the honest message with a random fraction of its
/// coordinates (drawn per worker and iteration, at least one) set to `value`.
pub struct Corrupt {
    kind: AttackKind,
    value: f64,
    fraction: f64,
    rng: StdRng,
}

impl Corrupt {
    pub fn new(kind: AttackKind, value: f64, fraction: f64, seed: u64) -> Self {
        Corrupt {
            kind,
            value,
            fraction,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn kind(&self) -> AttackKind {
        self.kind
    }
}

impl Attack for Corrupt {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        let (_, d) = ctx.check()?;
        let messages = ctx.byzantine_messages();
        if self.fraction >= 1.0 {
            return Ok(messages.full_like(self.value));
        }
        let count = ((self.fraction * d as f64).round() as usize).clamp(1, d);
        let rows: Vec<Tensor> = (0..ctx.byzantine.len())
            .map(|row| {
                let coordinates: Vec<usize> = sample(&mut self.rng, d, count).into_vec();
                let coordinates = super::index_tensor(&coordinates, messages.device());
                messages.get(row as i64).index_fill(0, &coordinates, self.value)
            })
            .collect();
        if rows.is_empty() {
            return Ok(messages);
        }
        Ok(Tensor::stack(&rows, 0))
    }
}

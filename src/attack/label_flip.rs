//! Label flipping, a data attack: Byzantine workers compute honest gradients on
//! labels y -> C - 1 - y. The caller does the computing (it owns the data and
//! the model) and passes those gradients as the Byzantine rows of ctx.honest;
//! the attack then sends them unchanged.

use super::{Attack, AttackContext};
use anyhow::Result;
use tch::Tensor;

pub struct LabelFlip;

impl Attack for LabelFlip {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        Ok(ctx.byzantine_messages())
    }

    fn flips_labels(&self) -> bool {
        true
    }
}

/// y -> classes - 1 - y, keeping the labels' kind and device.
pub fn flip_labels(labels: &Tensor, classes: i64) -> Tensor {
    labels.neg() + (classes - 1)
}

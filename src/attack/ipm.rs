//! Inner-product manipulation (Xie, Koyejo and Gupta 2019): every Byzantine
//! worker sends -eps * (mean of the honest workers' messages), the honest
//! workers being the rows the adversary does not control. eps = 0.1 (small:
//! slips past distance-based rules) or 100 (large).

use super::{Attack, AttackContext, AttackKind};
use anyhow::Result;
use tch::{Kind, Tensor};

pub struct InnerProductManipulation {
    eps: f64,
}

impl InnerProductManipulation {
    pub fn new(eps: f64) -> Self {
        InnerProductManipulation { eps }
    }
}

impl Attack for InnerProductManipulation {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        let honest_mean = ctx
            .honest_messages(AttackKind::Ipm)?
            .mean_dim(0, true, None::<Kind>);
        let message = honest_mean * (-self.eps);
        Ok(message.expand([ctx.byzantine.len() as i64, -1], false).copy())
    }
}

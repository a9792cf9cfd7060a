//! The designed attack on Signum (SOLON.md section 6). Messages are signs. Let
//! S = sum of the honest workers' signs (rows the adversary does not control).
//! Where |S| < 2f the honest majority is narrow: every Byzantine worker votes
//! -sign(S) (and -1 where S = 0); elsewhere it votes sign(S) to look honest.
//! f is ctx.f, the number the defence assumes.

use super::{Attack, AttackContext, AttackKind};
use anyhow::Result;
use tch::{Kind, Tensor};

pub struct SignumAttack;

impl Attack for SignumAttack {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        let honest_sum = ctx
            .honest_messages(AttackKind::SignumAttack)?
            .nan_to_num(0.0, None, None)
            .sign()
            .sum_dim_intlist(0, false, None::<Kind>);
        let majority = honest_sum.sign();
        // -sign(S), with the exact ties (S = 0) pushed to -1.
        let against = (-&majority).where_scalarother(&majority.ne(0.0), -1.0);
        let narrow = honest_sum.abs().lt(2.0 * ctx.f as f64);
        let vote = against.where_self(&narrow, &majority);
        Ok(vote
            .unsqueeze(0)
            .expand([ctx.byzantine.len() as i64, -1], false)
            .copy())
    }
}

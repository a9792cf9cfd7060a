//! Majority vote of signs (signSGD with majority vote, Bernstein et al. 2019):
//! workers send sign(momentum); the result is sign(sum of the n signs), 0 on a
//! tie. Each entry counts by its sign, so +Inf votes +1 and NaN abstains (0).

use super::{check_inputs, Aggregator};
use anyhow::Result;
use tch::Tensor;

pub struct Signum;

impl Aggregator for Signum {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        check_inputs(inputs)?;
        let votes = inputs.nan_to_num(0.0, None, None).sign();
        Ok(votes.sum_dim_intlist(0, false, None::<tch::Kind>).sign())
    }

    fn name(&self) -> String {
        "signum".into()
    }
}

//! Plain average, the non-robust baseline (one bad input moves it arbitrarily).
//! Rows containing NaN or Inf are dropped before averaging, so that a
//! non-finite message cannot reach the model; finite outliers still count fully.

use super::{check_inputs, finite_rows, mean_of_rows, Aggregator};
use anyhow::{ensure, Result};
use tch::Tensor;

pub struct Mean;

impl Aggregator for Mean {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let kept: Vec<usize> = finite_rows(inputs)
            .into_iter()
            .enumerate()
            .filter_map(|(row, finite)| finite.then_some(row))
            .collect();
        ensure!(!kept.is_empty(), "mean: all {n} inputs are non-finite");
        Ok(mean_of_rows(inputs, &kept))
    }

    fn name(&self) -> String {
        "mean".into()
    }
}

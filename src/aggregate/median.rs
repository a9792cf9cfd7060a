//! Coordinate-wise median: per coordinate, the middle of the n values (the
//! mean of the two middle values when n is even). Tolerates f < n/2 (n >= 2f+1).
//! NaN sorts as +Inf, so up to f non-finite inputs only fill the extremes.

use super::{check_inputs, median_of_sorted, sort_coordinates, Aggregator};
use anyhow::Result;
use tch::Tensor;

pub struct Median;

impl Aggregator for Median {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        check_inputs(inputs)?;
        Ok(median_of_sorted(&sort_coordinates(inputs)))
    }

    fn name(&self) -> String {
        "median".into()
    }
}

//! Coordinate-wise trimmed mean: per coordinate, drop the f largest and the f
//! smallest values and average the n - 2f left; needs n > 2f. NaN sorts as
//! +Inf, so up to f non-finite inputs are among the trimmed values.

use super::{check_inputs, finite_safe_mean, sort_coordinates, Aggregator};
use anyhow::{ensure, Result};
use tch::Tensor;

pub struct TrimmedMean {
    f: usize,
}

impl TrimmedMean {
    pub fn new(f: usize) -> Self {
        TrimmedMean { f }
    }
}

impl Aggregator for TrimmedMean {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let f = self.f;
        ensure!(
            n > 2 * f,
            "trimmed-mean needs n >= 2f+1: n={n}, f={f} (needs {})",
            2 * f + 1
        );
        let kept = sort_coordinates(inputs).narrow(0, f as i64, (n - 2 * f) as i64);
        Ok(finite_safe_mean(&kept))
    }

    fn name(&self) -> String {
        format!("trimmed-mean(f={})", self.f)
    }
}

//! Centered clipping (Karimireddy et al. 2021, "Learning from History"):
//! v <- v + (1/n) sum_i clip(x_i - v, tau), clip(u, tau) = u * min(1, tau/|u|),
//! repeated for a few iterations. Parameters: tau, iterations. v starts from the
//! previous aggregate (the rule's state, like server momentum); on the first
//! call, or when d changes, from the coordinate-wise median. Inputs with NaN or
//! Inf contribute nothing (infinitely far); any other input moves v by at most tau/n.

use super::geomed::distances_to;
use super::{check_inputs, finite_rows, median_of_sorted, sort_coordinates, zero_rows, Aggregator};
use anyhow::Result;
use tch::Tensor;

pub struct CenteredClipping {
    tau: f64,
    iterations: usize,
    previous: Option<Tensor>,
}

impl CenteredClipping {
    pub fn new(tau: f64, iterations: usize) -> Self {
        CenteredClipping {
            tau,
            iterations,
            previous: None,
        }
    }
}

impl Aggregator for CenteredClipping {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, d) = check_inputs(inputs)?;
        let finite = finite_rows(inputs);
        let clean = zero_rows(inputs, &finite);
        let mut center = match &self.previous {
            Some(previous)
                if previous.size() == [d as i64]
                    && previous.device() == inputs.device()
                    && previous.kind() == inputs.kind() =>
            {
                previous.shallow_clone()
            }
            _ => median_of_sorted(&sort_coordinates(inputs)),
        };
        for _ in 0..self.iterations {
            let distances = distances_to(&clean, &center);
            let scales: Vec<f64> = distances
                .iter()
                .zip(&finite)
                .map(|(&distance, &finite)| {
                    if !finite || distance.is_nan() {
                        0.0
                    } else {
                        // distance = +Inf (overflow) gives 0: the input is as far as it gets.
                        (self.tau / distance).min(1.0)
                    }
                })
                .collect();
            let scales = Tensor::from_slice(&scales)
                .to_kind(inputs.kind())
                .to_device(inputs.device())
                .unsqueeze(1);
            // An overflowed difference (Inf) has scale 0; Inf * 0 is NaN, which must count as 0.
            let clipped = ((&clean - center.unsqueeze(0)) * scales).nan_to_num(0.0, None, None);
            let step = clipped.sum_dim_intlist(0, false, None::<tch::Kind>) / n as f64;
            center = &center + step;
        }
        self.previous = Some(center.copy());
        Ok(center)
    }

    fn name(&self) -> String {
        format!("cclip(tau={}, iters={})", self.tau, self.iterations)
    }
}

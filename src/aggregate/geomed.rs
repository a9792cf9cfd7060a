//! Geometric median by smoothed Weiszfeld iterations (RFA, Pillutla et al. 2022):
//! z <- sum_i w_i x_i / sum_i w_i with w_i = 1 / max(nu, |z - x_i|). Parameters:
//! iterations (stops early once z stops moving) and nu. Unlike RFA, which starts
//! at the mean, we start at the coordinate-wise median: a mean dragged to 1e30
//! by one input would need dozens of iterations to come back. Inputs with NaN
//! or Inf get weight 0 (infinitely far). Breakdown point 1/2, so n >= 2f+1.

use super::{check_inputs, finite_rows, median_of_sorted, sort_coordinates, zero_rows, Aggregator};
use anyhow::Result;
use tch::{Device, Kind, Tensor};

pub struct GeometricMedian {
    iterations: usize,
    nu: f64,
}

impl GeometricMedian {
    pub fn new(iterations: usize, nu: f64) -> Self {
        GeometricMedian { iterations, nu }
    }
}

/// Euclidean distance from every row of `rows` to `point`, in f64 on the CPU
/// (+Inf where the f32 computation overflows).
pub(crate) fn distances_to(rows: &Tensor, point: &Tensor) -> Vec<f64> {
    let norms = (rows - point.unsqueeze(0))
        .norm_scalaropt_dim(2.0, [1i64], false)
        .to_device(Device::Cpu);
    Vec::<f64>::try_from(&norms.to_kind(Kind::Double)).unwrap_or_default()
}

impl Aggregator for GeometricMedian {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        check_inputs(inputs)?;
        let finite = finite_rows(inputs);
        let clean = zero_rows(inputs, &finite);
        let mut estimate = median_of_sorted(&sort_coordinates(inputs));
        for _ in 0..self.iterations {
            let distances = distances_to(&clean, &estimate);
            let weights: Vec<f64> = distances
                .iter()
                .zip(&finite)
                .map(|(&distance, &finite)| {
                    if finite && distance.is_finite() {
                        1.0 / distance.max(self.nu)
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = weights.iter().sum();
            if !(total > 0.0 && total.is_finite()) {
                break;
            }
            let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
            let weights = Tensor::from_slice(&weights)
                .to_kind(inputs.kind())
                .to_device(inputs.device());
            let next = weights.unsqueeze(0).mm(&clean).squeeze_dim(0);
            if !super::all_finite(&next) {
                break;
            }
            let moved = (&next - &estimate).norm().double_value(&[]);
            let scale = next.norm().double_value(&[]);
            estimate = next;
            // Converged to float precision: further iterations cannot change z.
            if moved <= 1e-7 * scale {
                break;
            }
        }
        Ok(estimate)
    }

    fn name(&self) -> String {
        format!("geomed(iters={}, nu={})", self.iterations, self.nu)
    }
}

//! Nearest-neighbour mixing (Allouah et al. 2023, "Fixing by Mixing"): replace
//! each input by the average of its n - f nearest inputs (itself included;
//! squared Euclidean distance, exact ties to the smaller coordinate sum), then
//! hand the n mixed vectors to the rule. Inputs with NaN or Inf are nobody's
//! neighbour while n - f finite inputs exist; their own mixed vector averages
//! n - f finite inputs (smallest coordinate sums first).

use super::{check_inputs, finite_rows, pairwise_squared_distances, zero_rows};
use anyhow::{ensure, Result};
use tch::Tensor;

pub struct NearestNeighbourMixing {
    f: usize,
}

impl NearestNeighbourMixing {
    pub fn new(f: usize) -> Self {
        NearestNeighbourMixing { f }
    }

    /// The n x n row-stochastic mixing matrix, row-major.
    pub fn mixing_weights(&self, inputs: &Tensor) -> Result<Vec<f64>> {
        let (n, _) = check_inputs(inputs)?;
        ensure!(self.f < n, "nnm needs f < n: n={n}, f={}", self.f);
        let neighbours = n - self.f;
        let finite = finite_rows(inputs);
        let distances = pairwise_squared_distances(inputs);
        let mut weights = vec![0.0; n * n];
        for i in 0..n {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| {
                distances
                    .get(i, a)
                    .total_cmp(&distances.get(i, b))
                    .then(finite[b].cmp(&finite[a]))
                    .then(distances.keys[a].total_cmp(&distances.keys[b]))
                    .then(a.cmp(&b))
            });
            for &j in order.iter().take(neighbours) {
                weights[i * n + j] = 1.0 / neighbours as f64;
            }
        }
        Ok(weights)
    }

    /// The n mixed vectors (n x d, same kind and device as the inputs).
    pub fn aggregate_rows(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let weights = self.mixing_weights(inputs)?;
        let weights = Tensor::from_slice(&weights)
            .reshape([n as i64, n as i64])
            .to_kind(inputs.kind())
            .to_device(inputs.device());
        let clean = zero_rows(inputs, &finite_rows(inputs));
        Ok(weights.mm(&clean))
    }
}

//! Bulyan (El Mhamdi et al. 2018), as SOLON.md section 5 defines it: select
//! theta = n - 2f inputs by repeated Krum (each pick leaves the pool; scores use
//! squared distances to the |pool| - f - 2 nearest others in the pool, at least
//! one), then per coordinate average the beta = theta - 2f selected values
//! closest to their median (ties: the smaller value). Needs n >= 4f+3.
//! Exact Krum ties go to the smaller coordinate sum; they are certain in the
//! last rounds, where one neighbour makes the closest pair tie.

use super::krum::krum_scores;
use super::{
    check_inputs, finite_safe_mean, index_tensor, median_of_sorted, pairwise_squared_distances,
    sort_coordinates, Aggregator,
};
use anyhow::{ensure, Result};
use tch::Tensor;

pub struct Bulyan {
    f: usize,
}

impl Bulyan {
    pub fn new(f: usize) -> Self {
        Bulyan { f }
    }

    /// The theta inputs chosen by repeated Krum, in the order they were picked.
    pub fn select(&self, inputs: &Tensor) -> Vec<usize> {
        let n = inputs.size()[0] as usize;
        let f = self.f;
        let theta = n - 2 * f;
        let distances = pairwise_squared_distances(inputs);
        let mut pool: Vec<usize> = (0..n).collect();
        let mut selected = Vec::with_capacity(theta);
        while selected.len() < theta {
            // The pool shrinks below Krum's own n >= 2f+3 in the last rounds;
            // keeping at least one neighbour still prefers central inputs.
            let neighbours = pool.len().saturating_sub(f + 2).max(1);
            let scores = krum_scores(&distances, &pool, neighbours);
            let best = distances.order_by_score(&pool, &scores)[0];
            pool.retain(|&row| row != best);
            selected.push(best);
        }
        selected
    }
}

impl Aggregator for Bulyan {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let f = self.f;
        ensure!(
            n >= 4 * f + 3,
            "bulyan needs n >= 4f+3: n={n}, f={f} (needs {})",
            4 * f + 3
        );
        let theta = n - 2 * f;
        let beta = theta - 2 * f;
        let selected = self.select(inputs);
        let chosen = inputs.index_select(0, &index_tensor(&selected, inputs.device()));
        let sorted = sort_coordinates(&chosen);
        let median = median_of_sorted(&sorted);
        // A stable sort of the distances over ascending values breaks ties
        // towards the smaller value, the same on every device.
        let closest = (&sorted - median.unsqueeze(0))
            .abs()
            .argsort_stable(true, 0, false)
            .narrow(0, 0, beta as i64);
        Ok(finite_safe_mean(&sorted.gather(0, &closest, false)))
    }

    fn name(&self) -> String {
        format!("bulyan(f={})", self.f)
    }
}

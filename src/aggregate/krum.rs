//! Krum and Multi-Krum (Blanchard et al. 2017). score(i) = sum of the SQUARED
//! distances from x_i to its n - f - 2 nearest other inputs; Krum returns the
//! input with the lowest score, Multi-Krum the average of the q lowest-scored
//! inputs (q = n - f by default). Both need n >= 2f+3. Exact score ties go to
//! the smaller coordinate sum, so the workers' order never changes the result.
//! Inputs with NaN or Inf are infinitely far from all others, so they score +Inf.

use super::{check_inputs, mean_of_rows, pairwise_squared_distances, Aggregator, Distances};
use anyhow::{ensure, Result};
use tch::Tensor;

/// Krum scores of `candidates`, counting neighbours only among `candidates`.
/// Summing the sorted distances makes equal neighbourhoods score exactly equal.
pub(crate) fn krum_scores(distances: &Distances, candidates: &[usize], neighbours: usize) -> Vec<f64> {
    candidates
        .iter()
        .map(|&i| {
            let mut others: Vec<f64> = candidates
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| distances.get(i, j))
                .collect();
            others.sort_by(f64::total_cmp);
            others.iter().take(neighbours).sum()
        })
        .collect()
}

fn check_krum_inputs(rule: &str, n: usize, f: usize) -> Result<()> {
    ensure!(
        n >= 2 * f + 3,
        "{rule} needs n >= 2f+3: n={n}, f={f} (needs {})",
        2 * f + 3
    );
    Ok(())
}

/// All n inputs ordered by Krum score (n - f - 2 neighbours), best first;
/// exact ties go to the smaller coordinate sum, never to the earlier position.
fn ranked(inputs: &Tensor, f: usize) -> Vec<usize> {
    let n = inputs.size()[0] as usize;
    let distances = pairwise_squared_distances(inputs);
    let candidates: Vec<usize> = (0..n).collect();
    let scores = krum_scores(&distances, &candidates, n - f - 2);
    distances.order_by_score(&candidates, &scores)
}

pub struct Krum {
    f: usize,
}

impl Krum {
    pub fn new(f: usize) -> Self {
        Krum { f }
    }
}

impl Aggregator for Krum {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        check_krum_inputs("krum", n, self.f)?;
        let best = ranked(inputs, self.f)[0];
        Ok(inputs.get(best as i64).copy())
    }

    fn name(&self) -> String {
        format!("krum(f={})", self.f)
    }
}

pub struct MultiKrum {
    f: usize,
    q: Option<usize>,
}

impl MultiKrum {
    pub fn new(f: usize, q: Option<usize>) -> Self {
        MultiKrum { f, q }
    }
}

impl Aggregator for MultiKrum {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let f = self.f;
        check_krum_inputs("multi-krum", n, f)?;
        let q = self.q.unwrap_or(n - f);
        ensure!(
            q >= 1 && q <= n - f,
            "multi-krum needs 1 <= q <= n-f: q={q}, n={n}, f={f}"
        );
        let mut chosen = ranked(inputs, f);
        chosen.truncate(q);
        chosen.sort_unstable();
        Ok(mean_of_rows(inputs, &chosen))
    }

    fn name(&self) -> String {
        match self.q {
            Some(q) => format!("multi-krum(f={}, q={q})", self.f),
            None => format!("multi-krum(f={})", self.f),
        }
    }
}

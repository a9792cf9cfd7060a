//! Sparse-recovery error location for any linear block code: the syndrome H z = H e has
//! an s-sparse e. Exhaustive support search while C(n, s) is small, orthogonal matching
//! pursuit (scored by least-squares residual, with a small beam) beyond.

use nalgebra::DMatrix;

use super::block::Block;
use super::C64;

/// Largest number of supports the exhaustive search may visit.
pub(crate) const EXHAUSTIVE_LIMIT: u128 = 5000;

/// Supports kept at each step of the greedy search: the code's columns are coherent
/// (neighbouring roots of unity), so the single best greedy choice is sometimes wrong.
const BEAM: usize = 8;

pub(crate) fn binomial(n: usize, k: usize) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    (0..k).fold(1u128, |acc, i| acc * (n - i) as u128 / (i + 1) as u128)
}

/// Scores supports by the distance of z from the code once the support's rows are free:
/// ||P_perp(H_S) H z_{not S}||. With orthonormal parity rows that equals the least-squares
/// residual on the complement; the rows of S are left out of the syndrome rather than
/// subtracted, so a 1e30 error in S cannot swamp the rest. The score is absolute: among
/// supports of one size the smallest residual is the best explanation, and the relative
/// acceptance test is the caller's.
pub(crate) struct SupportSearch<'a> {
    block: &'a Block,
    z: &'a DMatrix<C64>,
    erased: Vec<usize>,
    free: Vec<usize>,
}

impl<'a> SupportSearch<'a> {
    pub fn new(block: &'a Block, z: &'a DMatrix<C64>, erased: &[bool]) -> Self {
        let n = block.n();
        SupportSearch {
            block,
            z,
            erased: (0..n).filter(|&t| erased[t]).collect(),
            free: (0..n).filter(|&t| !erased[t]).collect(),
        }
    }

    pub fn exhaustive_fits(&self, max_size: usize) -> bool {
        binomial(self.free.len(), max_size) <= EXHAUSTIVE_LIMIT
    }

    fn score(&self, support: &[usize]) -> f64 {
        let h = &self.block.parity;
        let (rows, n) = h.shape();
        let columns = self.z.ncols();
        let mut excluded = vec![false; n];
        for &t in self.erased.iter().chain(support) {
            excluded[t] = true;
        }
        let mut syndrome = DMatrix::<C64>::zeros(rows, columns);
        for t in (0..n).filter(|&t| !excluded[t]) {
            for c in 0..columns {
                let value = self.z[(t, c)];
                for row in 0..rows {
                    syndrome[(row, c)] += h[(row, t)] * value;
                }
            }
        }
        // Project out the columns of H on the support and the erasures (Gram-Schmidt, twice
        // for stability); what is left cannot be explained by errors there.
        let mut basis: Vec<Vec<C64>> = Vec::new();
        for &t in self.erased.iter().chain(support) {
            let mut v: Vec<C64> = (0..rows).map(|row| h[(row, t)]).collect();
            for _ in 0..2 {
                for b in &basis {
                    let dot: C64 = b.iter().zip(&v).map(|(x, y)| x.conj() * y).sum();
                    for (vi, bi) in v.iter_mut().zip(b) {
                        *vi -= dot * bi;
                    }
                }
            }
            let norm = v.iter().map(|x| x.norm_sqr()).sum::<f64>().sqrt();
            if norm > 1e-12 {
                basis.push(v.iter().map(|x| x / norm).collect());
            }
        }
        for c in 0..columns {
            for b in &basis {
                let dot: C64 = (0..rows).map(|row| b[row].conj() * syndrome[(row, c)]).sum();
                for row in 0..rows {
                    syndrome[(row, c)] -= dot * b[row];
                }
            }
        }
        syndrome.norm()
    }

    /// The best support of exactly `size` positions outside the erasures.
    pub fn best_support(&self, size: usize, exhaustive: bool) -> Option<Vec<usize>> {
        if size > self.free.len() {
            return None;
        }
        if exhaustive {
            self.exhaustive(size)
        } else {
            self.greedy(size)
        }
    }

    fn exhaustive(&self, size: usize) -> Option<Vec<usize>> {
        let mut best: Option<(f64, Vec<usize>)> = None;
        let mut index: Vec<usize> = (0..size).collect();
        let count = self.free.len();
        loop {
            let support: Vec<usize> = index.iter().map(|&q| self.free[q]).collect();
            let score = self.score(&support);
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, support));
            }
            // Next combination in lexicographic order.
            let mut q = size;
            loop {
                if q == 0 {
                    return best.map(|(_, s)| s);
                }
                q -= 1;
                if index[q] < count - size + q {
                    index[q] += 1;
                    for later in q + 1..size {
                        index[later] = index[later - 1] + 1;
                    }
                    break;
                }
            }
        }
    }

    fn greedy(&self, size: usize) -> Option<Vec<usize>> {
        let mut beam: Vec<Vec<usize>> = vec![Vec::new()];
        for _ in 0..size {
            let mut next: Vec<(f64, Vec<usize>)> = Vec::new();
            for support in &beam {
                for &t in &self.free {
                    if support.contains(&t) {
                        continue;
                    }
                    let mut grown = support.clone();
                    grown.push(t);
                    grown.sort();
                    if next.iter().any(|(_, s)| *s == grown) {
                        continue;
                    }
                    let score = self.score(&grown);
                    next.push((score, grown));
                }
            }
            next.sort_by(|a, b| a.0.total_cmp(&b.0));
            beam = next.into_iter().take(BEAM).map(|(_, s)| s).collect();
            if beam.is_empty() {
                return None;
            }
        }
        beam.into_iter().next()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(24, 3), 2024);
        assert_eq!(binomial(64, 4), 635_376);
        assert_eq!(binomial(3, 5), 0);
    }

    #[test]
    fn exhaustive_and_greedy_find_adjacent_errors() {
        // Neighbouring positions are the hard case for greedy pursuit on a Fourier code.
        let block = Block::fourier((0..40).collect(), 32);
        let a = DMatrix::from_fn(32, 2, |l, c| C64::new(((l * 7 + c) % 5) as f64, l as f64 * 0.1));
        let mut z = &block.generator * &a;
        for (t, e) in [(10, 3.0), (11, -2.0), (12, 1.5)] {
            z[(t, 0)] += C64::new(e, 0.5);
            z[(t, 1)] += C64::new(-e, 1.0);
        }
        let erased = vec![false; 40];
        let search = SupportSearch::new(&block, &z, &erased);
        assert_eq!(search.best_support(3, true), Some(vec![10, 11, 12]));
        assert_eq!(search.best_support(3, false), Some(vec![10, 11, 12]));
        assert!(search.score(&[10, 11, 12]) < 1e-12);
    }
}

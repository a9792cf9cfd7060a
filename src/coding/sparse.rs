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
const BEAM: usize = 16;

/// Best beam supports refined by local search at each size.
const REFINED: usize = 4;

/// Coherent alternatives per position tried in double swaps.
const ALTERNATIVES: usize = 4;

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

    /// Column t of the parity check.
    fn column(&self, t: usize) -> Vec<C64> {
        self.block.parity.column(t).iter().cloned().collect()
    }

    /// The exact state of a support: an orthonormal basis of the parity columns of the
    /// erasures and the support, and the syndrome of the other rows with that span
    /// projected out. Recomputed from z, never updated by subtraction.
    fn state(&self, support: &[usize]) -> State {
        let h = &self.block.parity;
        let (rows, n) = h.shape();
        let columns = self.z.ncols();
        let mut excluded = vec![false; n];
        for &t in self.erased.iter().chain(support) {
            excluded[t] = true;
        }
        let mut residual = DMatrix::<C64>::zeros(rows, columns);
        for t in (0..n).filter(|&t| !excluded[t]) {
            for c in 0..columns {
                let value = self.z[(t, c)];
                for row in 0..rows {
                    residual[(row, c)] += h[(row, t)] * value;
                }
            }
        }
        let mut basis: Vec<Vec<C64>> = Vec::new();
        for &t in self.erased.iter().chain(support) {
            let (v, norm) = orthogonalize(self.column(t), &basis);
            if norm > 1e-12 {
                basis.push(v.iter().map(|x| x / norm).collect());
            }
        }
        for c in 0..columns {
            for b in &basis {
                let dot: C64 = (0..rows).map(|row| b[row].conj() * residual[(row, c)]).sum();
                for row in 0..rows {
                    residual[(row, c)] -= dot * b[row];
                }
            }
        }
        State {
            support: support.to_vec(),
            norm: residual.norm(),
            basis,
            residual,
        }
    }

    /// The best support of exactly `size` free positions, by trying them all.
    pub fn exhaustive(&self, size: usize) -> Option<Vec<usize>> {
        let count = self.free.len();
        if size > count {
            return None;
        }
        let mut best: Option<(f64, Vec<usize>)> = None;
        let mut index: Vec<usize> = (0..size).collect();
        loop {
            let support: Vec<usize> = index.iter().map(|&q| self.free[q]).collect();
            let score = self.state(&support).norm;
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

    /// The support after local search from `support` (see `refine`): used to settle
    /// which of two neighbouring positions holds a small error once a candidate passed.
    pub fn polish(&self, support: &[usize]) -> Vec<usize> {
        self.refine(self.state(support)).support
    }

    /// Greedy pursuit, one support size at a time.
    pub fn greedy(&self) -> Greedy<'_, 'a> {
        Greedy {
            search: self,
            beam: vec![self.state(&[])],
        }
    }

    /// Local search: the best swap of one support position for any free one, or of two
    /// positions each for one of its most coherent free columns, while it lowers the
    /// residual. Greedy growth tends to land next to the true position on coherent
    /// columns, and two such misses need a double swap to leave the local minimum.
    fn refine(&self, mut current: State) -> State {
        let alternatives = self.coherent_alternatives();
        loop {
            let mut candidates: Vec<Vec<usize>> = Vec::new();
            let size = current.support.len();
            for out in 0..size {
                for &t in &self.free {
                    if !current.support.contains(&t) {
                        let mut support = current.support.clone();
                        support[out] = t;
                        candidates.push(support);
                    }
                }
                for second in out + 1..size {
                    for &a in &alternatives[current.support[out]] {
                        for &b in &alternatives[current.support[second]] {
                            if a != b && !current.support.contains(&a) && !current.support.contains(&b) {
                                let mut support = current.support.clone();
                                support[out] = a;
                                support[second] = b;
                                candidates.push(support);
                            }
                        }
                    }
                }
            }
            let best = candidates
                .into_iter()
                .map(|mut support| {
                    support.sort();
                    self.state(&support)
                })
                .min_by(|a, b| a.norm.total_cmp(&b.norm));
            match best {
                Some(better) if better.norm < current.norm * (1.0 - 1e-9) => current = better,
                _ => return current,
            }
        }
    }

    /// For each position, the free positions whose parity columns are most nearly parallel
    /// to its own.
    fn coherent_alternatives(&self) -> Vec<Vec<usize>> {
        let n = self.block.n();
        let columns: Vec<Vec<C64>> = (0..n).map(|t| self.column(t)).collect();
        let norms: Vec<f64> = columns
            .iter()
            .map(|c| c.iter().map(|x| x.norm_sqr()).sum::<f64>().sqrt())
            .collect();
        (0..n)
            .map(|t| {
                let mut scored: Vec<(f64, usize)> = self
                    .free
                    .iter()
                    .filter(|&&u| u != t)
                    .map(|&u| {
                        let dot: C64 = columns[t]
                            .iter()
                            .zip(&columns[u])
                            .map(|(a, b)| a.conj() * b)
                            .sum();
                        (dot.norm() / (norms[t] * norms[u]).max(f64::MIN_POSITIVE), u)
                    })
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.into_iter().take(ALTERNATIVES).map(|(_, u)| u).collect()
            })
            .collect()
    }
}

/// Orthogonal least squares with a beam: grow each kept support by every free column,
/// rank the grown supports by the residual they leave, keep the best BEAM.
pub(crate) struct Greedy<'s, 'a> {
    search: &'s SupportSearch<'a>,
    beam: Vec<State>,
}

impl Greedy<'_, '_> {
    /// Advances to supports one larger and returns the best of them.
    pub fn grow(&mut self) -> Option<Vec<usize>> {
        let search = self.search;
        let mut seen = std::collections::HashSet::new();
        let mut grown: Vec<(f64, Vec<usize>)> = Vec::new();
        for state in &self.beam {
            let energy = state.norm * state.norm;
            for &t in &search.free {
                if state.support.contains(&t) {
                    continue;
                }
                let mut support = state.support.clone();
                support.push(t);
                support.sort();
                if !seen.insert(support.clone()) {
                    continue;
                }
                let (v, norm) = orthogonalize(search.column(t), &state.basis);
                if norm <= 1e-12 {
                    continue;
                }
                let mut drop = 0.0;
                for c in 0..state.residual.ncols() {
                    let dot: C64 = v
                        .iter()
                        .zip(state.residual.column(c).iter())
                        .map(|(a, b)| a.conj() * b)
                        .sum();
                    drop += dot.norm_sqr() / (norm * norm);
                }
                // An estimate only (it subtracts); the kept supports are rescored exactly.
                grown.push((energy - drop, support));
            }
        }
        grown.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.beam = grown
            .into_iter()
            .take(BEAM)
            .map(|(_, support)| search.state(&support))
            .collect();
        self.beam.sort_by(|a, b| a.norm.total_cmp(&b.norm));
        self.beam.first().map(|state| state.support.clone())
    }

    /// The best of the current beam's leaders after local search (see `refine`).
    pub fn refined(&self) -> Option<Vec<usize>> {
        self.beam
            .iter()
            .take(REFINED)
            .map(|state| self.search.refine(state.clone()))
            .min_by(|a, b| a.norm.total_cmp(&b.norm))
            .map(|state| state.support)
    }
}

#[derive(Clone)]
struct State {
    support: Vec<usize>,
    basis: Vec<Vec<C64>>,
    residual: DMatrix<C64>,
    norm: f64,
}

/// v minus its projection on an orthonormal basis (twice, for stability), and its norm.
fn orthogonalize(mut v: Vec<C64>, basis: &[Vec<C64>]) -> (Vec<C64>, f64) {
    for _ in 0..2 {
        for b in basis {
            let dot: C64 = b.iter().zip(&v).map(|(x, y)| x.conj() * y).sum();
            for (vi, bi) in v.iter_mut().zip(b) {
                *vi -= dot * bi;
            }
        }
    }
    let norm = v.iter().map(|x| x.norm_sqr()).sum::<f64>().sqrt();
    (v, norm)
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
        assert_eq!(search.exhaustive(3), Some(vec![10, 11, 12]));
        let mut greedy = search.greedy();
        greedy.grow();
        greedy.grow();
        let grown = greedy.grow();
        assert!(grown == Some(vec![10, 11, 12]) || greedy.refined() == Some(vec![10, 11, 12]));
        assert!(search.state(&[10, 11, 12]).norm < 1e-12 * z.norm());
    }
}

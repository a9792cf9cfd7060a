//! One independent linear code inside a gradient code: its workers, generator G
//! (messages = G a, with a_0..a_{m-1} the chunk sums it contributes) and parity check,
//! plus the least-squares fit on a candidate honest set that every decoder ends with.

use nalgebra::DMatrix;

use super::C64;

#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// Global worker index of each local position.
    pub workers: Vec<usize>,
    /// n x K generator: honest projected messages z satisfy z = G a.
    pub generator: DMatrix<C64>,
    /// (n - K) x n with orthonormal rows and parity * generator = 0.
    pub parity: DMatrix<C64>,
    /// G[t][l] = exp(2 pi i t l / n): a Reed-Solomon code at the n-th roots of unity,
    /// which the spectral decoder needs.
    pub fourier: bool,
}

/// The outcome of fitting the code to the rows outside a candidate faulty set.
pub(crate) struct Fit {
    /// ||Z_H - G_H a|| / ||Z_H|| over the candidate honest rows H.
    pub residual: f64,
    /// m x n decoding weights (zero on the candidate faulty rows): chunk sum k is
    /// sum_t weights[k, t] * message_t.
    pub weights: DMatrix<C64>,
    /// For each candidate faulty row, ||z_t - G_t a|| / ||Z_H||: how far off it is.
    pub error_sizes: Vec<(usize, f64)>,
}

impl Block {
    /// A Reed-Solomon block at the n-th roots of unity with message length K.
    pub fn fourier(workers: Vec<usize>, k: usize) -> Block {
        let n = workers.len();
        let root = |e: i64| {
            C64::from_polar(
                1.0,
                2.0 * std::f64::consts::PI * (e.rem_euclid(n as i64)) as f64 / n as f64,
            )
        };
        let generator = DMatrix::from_fn(n, k, |t, l| root((t * l) as i64));
        // The top n - K inverse-DFT rows annihilate every polynomial of degree < K.
        let scale = 1.0 / (n as f64).sqrt();
        let parity = DMatrix::from_fn(n - k, n, |row, t| root(-((t * (k + row)) as i64)) * scale);
        Block {
            workers,
            generator,
            parity,
            fourier: true,
        }
    }

    /// A block with an arbitrary full-rank generator; the parity check comes from the SVD.
    pub fn generic(workers: Vec<usize>, generator: DMatrix<C64>) -> Block {
        let (n, k) = generator.shape();
        let mut padded = DMatrix::<C64>::zeros(n, n);
        padded.view_mut((0, 0), (n, k)).copy_from(&generator);
        let svd = padded.svd(true, false);
        let u = svd.u.expect("SVD was asked for U");
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| svd.singular_values[a].total_cmp(&svd.singular_values[b]));
        // The n - K smallest singular directions span the orthogonal complement of col(G).
        let parity = DMatrix::from_fn(n - k, n, |row, t| u[(t, order[row])].conj());
        Block {
            workers,
            generator,
            parity,
            fourier: false,
        }
    }

    pub fn n(&self) -> usize {
        self.generator.nrows()
    }

    /// Message length K (number of code coefficients).
    pub fn k(&self) -> usize {
        self.generator.ncols()
    }

    /// Least squares on the rows not marked faulty; None when those rows cannot
    /// determine the K coefficients.
    pub fn fit(&self, z: &DMatrix<C64>, faulty: &[bool], m: usize) -> Option<Fit> {
        let n = self.n();
        let k = self.k();
        let honest: Vec<usize> = (0..n).filter(|&t| !faulty[t]).collect();
        if honest.len() < k {
            return None;
        }
        let a = DMatrix::from_fn(honest.len(), k, |row, l| self.generator[(honest[row], l)]);
        let zh = DMatrix::from_fn(honest.len(), z.ncols(), |row, c| z[(honest[row], c)]);
        let qr = a.qr();
        let q = qr.q();
        let r = qr.r();
        let diag: Vec<f64> = (0..k).map(|l| r[(l, l)].norm()).collect();
        let largest = diag.iter().cloned().fold(0.0, f64::max);
        // NaN-safe: a NaN diagonal fails `x > ...` and counts as rank deficient.
        if k > 0
            && diag
                .iter()
                .any(|&x| x.partial_cmp(&(1e-10 * largest)) != Some(std::cmp::Ordering::Greater))
        {
            return None;
        }
        let q_adjoint = q.adjoint();
        let pinv = r.solve_upper_triangular(&q_adjoint)?;
        let coefficients = &pinv * &zh;
        let residual_matrix = &zh - &q * (&q_adjoint * &zh);
        let scale = zh.norm();
        let residual = relative(residual_matrix.norm(), scale);
        let mut weights = DMatrix::<C64>::zeros(m, n);
        for (col, &t) in honest.iter().enumerate() {
            for chunk in 0..m.min(k) {
                weights[(chunk, t)] = pinv[(chunk, col)];
            }
        }
        let error_sizes = (0..n)
            .filter(|&t| faulty[t])
            .map(|t| {
                let predicted = self.generator.row(t) * &coefficients;
                let off = (z.row(t) - predicted).norm();
                (t, relative(off, scale))
            })
            .collect();
        Some(Fit {
            residual,
            weights,
            error_sizes,
        })
    }
}

/// value / scale, with 0/0 = 0 (all-zero messages fit exactly).
pub(crate) fn relative(value: f64, scale: f64) -> f64 {
    if value == 0.0 {
        0.0
    } else if scale == 0.0 {
        f64::INFINITY
    } else {
        value / scale
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parity_annihilates_generator_and_is_orthonormal() {
        let fourier = Block::fourier((0..12).collect(), 7);
        let g = DMatrix::from_fn(9, 4, |i, j| {
            C64::new((i * 7 + j * 3) as f64 % 5.0 - 2.0, (i + 2 * j) as f64 % 3.0)
        });
        let generic = Block::generic((0..9).collect(), g);
        for block in [fourier, generic] {
            let hg = &block.parity * &block.generator;
            assert!(hg.norm() < 1e-12 * block.generator.norm(), "H G = {}", hg.norm());
            let hh = &block.parity * block.parity.adjoint();
            let eye = DMatrix::<C64>::identity(block.n() - block.k(), block.n() - block.k());
            assert!((hh - eye).norm() < 1e-12);
        }
    }

    #[test]
    fn fit_recovers_coefficients_and_flags_the_bad_row() {
        let block = Block::fourier((0..8).collect(), 3);
        let a = DMatrix::from_fn(3, 2, |l, c| C64::new(l as f64 + 1.0, c as f64 - 0.5));
        let mut z = &block.generator * &a;
        z[(5, 0)] += C64::new(3.0, 0.0);
        let none = vec![false; 8];
        assert!(block.fit(&z, &none, 2).unwrap().residual > 0.1);
        let mut flagged = none.clone();
        flagged[5] = true;
        let fit = block.fit(&z, &flagged, 2).unwrap();
        assert!(fit.residual < 1e-14);
        // Weights applied to the messages give back a_0, a_1.
        let decoded = &fit.weights * &z;
        assert!((decoded - a.rows(0, 2)).norm() < 1e-12);
        assert_eq!(fit.error_sizes.len(), 1);
        assert!(fit.error_sizes[0].1 > 0.1);
    }
}

//! Spectral error location for Reed-Solomon blocks at the n-th roots of unity (Prony /
//! Peterson-Gorenstein-Zierler): syndromes from the inverse DFT, erasures removed with
//! Forney's modified syndromes, the locator from a stacked Hankel least-squares system.

use nalgebra::DMatrix;

use super::block::Block;
use super::encode::root_of_unity;
use super::C64;

/// The `nu` positions (outside `erased`) whose locators are the roots of the Prony
/// polynomial fitted to the syndromes; None when the system has too few equations.
pub(crate) fn locate(block: &Block, z: &DMatrix<C64>, erased: &[bool], nu: usize) -> Option<Vec<usize>> {
    let n = block.n();
    let k = block.k();
    let columns = z.ncols();
    if nu == 0 {
        return Some(Vec::new());
    }
    let erased_positions: Vec<usize> = (0..n).filter(|&t| erased[t]).collect();
    let syndrome_count = n - k;
    let modified_count = syndrome_count.checked_sub(erased_positions.len())?;
    if modified_count < 2 * nu {
        return None;
    }
    // Locator of position t is X_t = w^-t; z at erased rows is zero so that their
    // (unknown) errors stay of message size and the erasure locator cancels them exactly.
    let locator = |t: usize, power: usize| root_of_unity(t * power, n).conj();
    let mut syndromes = DMatrix::<C64>::zeros(syndrome_count, columns);
    for l in 0..syndrome_count {
        for t in (0..n).filter(|&t| !erased[t]) {
            let x = locator(t, k + l);
            for c in 0..columns {
                syndromes[(l, c)] += z[(t, c)] * x;
            }
        }
    }
    // Erasure locator Gamma(x) = prod (x - X_e), monic, coefficients low to high.
    let mut gamma = vec![C64::new(1.0, 0.0)];
    for &e in &erased_positions {
        let root = locator(e, 1);
        let mut next = vec![C64::new(0.0, 0.0); gamma.len() + 1];
        for (q, &g) in gamma.iter().enumerate() {
            next[q + 1] += g;
            next[q] -= g * root;
        }
        gamma = next;
    }
    // T_l = sum_q gamma_q S_{l+q} no longer sees the erased positions.
    let modified = DMatrix::from_fn(modified_count, columns, |l, c| {
        gamma
            .iter()
            .enumerate()
            .map(|(q, &g)| g * syndromes[(l + q, c)])
            .sum::<C64>()
    });
    // sum_{q<nu} sigma_q T_{l+q} = -T_{l+nu}, stacked over every l and every projection.
    let rows_per_column = modified_count - nu;
    let hankel = DMatrix::from_fn(rows_per_column * columns, nu, |row, q| {
        let (c, l) = (row / rows_per_column, row % rows_per_column);
        modified[(l + q, c)]
    });
    let rhs = DMatrix::from_fn(rows_per_column * columns, 1, |row, _| {
        let (c, l) = (row / rows_per_column, row % rows_per_column);
        -modified[(l + nu, c)]
    });
    let largest = hankel.iter().map(|x| x.norm()).fold(0.0, f64::max);
    if largest.is_nan() || largest <= 0.0 || !largest.is_finite() {
        return None;
    }
    let svd = hankel.svd(true, true);
    let sigma = svd.solve(&rhs, 1e-13 * svd.singular_values.max()).ok()?;
    let mut scored: Vec<(f64, usize)> = (0..n)
        .filter(|&t| !erased[t])
        .map(|t| {
            let x = locator(t, 1);
            let mut value = C64::new(1.0, 0.0);
            for q in (0..nu).rev() {
                value = value * x + sigma[q];
            }
            (value.norm(), t)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut positions: Vec<usize> = scored.iter().take(nu).map(|&(_, t)| t).collect();
    positions.sort();
    Some(positions)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn finds_errors_next_to_erasures() {
        let block = Block::fourier((0..16).collect(), 10);
        let a = DMatrix::from_fn(10, 2, |l, c| C64::new((l + c) as f64, 1.0 - l as f64));
        let mut z = &block.generator * &a;
        z[(3, 0)] += C64::new(5.0, -2.0);
        z[(3, 1)] += C64::new(-1.0, 1.0);
        z[(4, 1)] += C64::new(0.0, 7.0);
        let mut erased = vec![false; 16];
        erased[9] = true;
        z[(9, 0)] = C64::new(0.0, 0.0);
        z[(9, 1)] = C64::new(0.0, 0.0);
        assert_eq!(locate(&block, &z, &erased, 2), Some(vec![3, 4]));
        // Three errors plus one erasure need 7 syndromes; there are 6.
        assert_eq!(locate(&block, &z, &erased, 3), None);
    }
}

//! Majority vote inside a repetition group with m = 1 (Draco): honest workers of a group
//! send the same vector, so the largest class of messages equal within a relative
//! tolerance (compared through their projections) is the group's gradient.

use nalgebra::DMatrix;

use super::C64;

/// The positions outside the largest agreeing class, or None when no class holds a
/// strict majority of the group.
pub(crate) fn locate(z: &DMatrix<C64>, erased: &[bool], tolerance: f64) -> Option<Vec<usize>> {
    let n = z.nrows();
    let row_norm = |t: usize| z.row(t).norm();
    let agree = |a: usize, b: usize| {
        let gap = (z.row(a) - z.row(b)).norm();
        gap <= tolerance * row_norm(a).max(row_norm(b))
    };
    let live: Vec<usize> = (0..n).filter(|&t| !erased[t]).collect();
    let (_, leader) = live
        .iter()
        .map(|&a| (live.iter().filter(|&&b| agree(a, b)).count(), a))
        .max_by_key(|&(count, a)| (count, std::cmp::Reverse(a)))?;
    let class: Vec<bool> = (0..n).map(|t| !erased[t] && agree(leader, t)).collect();
    let members = class.iter().filter(|&&x| x).count();
    if 2 * members <= n {
        return None;
    }
    Some((0..n).filter(|&t| !class[t]).collect())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn outvotes_a_colluding_minority() {
        let honest = C64::new(1.0, -2.0);
        let liar = C64::new(5.0, 5.0);
        let values = [honest, liar, honest, liar, honest];
        let z = DMatrix::from_fn(5, 1, |t, _| values[t]);
        assert_eq!(locate(&z, &[false; 5], 1e-6), Some(vec![1, 3]));
        // With two erased honest copies, no strict majority of the group remains.
        assert_eq!(locate(&z, &[true, false, true, false, false], 1e-6), None);
    }
}

//! Which partitions each worker computes: consecutive groups for the repetition layout,
//! the circulant rule "worker i holds partitions i - T (mod P)" for the cyclic layout.

use super::spec::{CodeSpec, Layout, Offsets};

/// The offset set T of the cyclic layout, increasing, r distinct values in 0..P.
pub(crate) fn offsets(spec: &CodeSpec) -> Vec<usize> {
    let (p, r) = (spec.workers, spec.redundancy);
    match spec.offsets {
        Offsets::Contiguous => (0..r).collect(),
        Offsets::Spread => (0..r).map(|t| t * p / r).collect(),
    }
}

/// (assignment per worker, holders per partition); partition j is held by the workers
/// that list it, and every worker lists exactly r partitions.
pub(crate) fn assign(spec: &CodeSpec) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let (p, r) = (spec.workers, spec.redundancy);
    let assignments: Vec<Vec<usize>> = match spec.layout {
        Layout::Repetition => (0..p)
            .map(|i| {
                let group = i / r;
                (group * r..group * r + r).collect()
            })
            .collect(),
        Layout::Cyclic => {
            let t = offsets(spec);
            (0..p)
                .map(|i| t.iter().map(|&o| (i + p - o) % p).collect())
                .collect()
        }
    };
    let mut holders = vec![Vec::with_capacity(r); p];
    for (worker, parts) in assignments.iter().enumerate() {
        for &j in parts {
            holders[j].push(worker);
        }
    }
    (assignments, holders)
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::coding::spec::DecoderKind;

    fn spec(p: usize, r: usize, layout: Layout, offsets: Offsets) -> CodeSpec {
        CodeSpec {
            workers: p,
            adversaries: 1,
            redundancy: r,
            compression: 1,
            layout,
            offsets,
            decoder: DecoderKind::Spectral,
        }
    }

    #[test]
    fn every_partition_has_r_distinct_holders() {
        for (p, r, layout, off) in [
            (15, 5, Layout::Cyclic, Offsets::Spread),
            (15, 5, Layout::Cyclic, Offsets::Contiguous),
            (24, 7, Layout::Cyclic, Offsets::Spread),
            (12, 4, Layout::Repetition, Offsets::Spread),
        ] {
            let (a, h) = assign(&spec(p, r, layout, off));
            for parts in &a {
                let mut sorted = parts.clone();
                sorted.dedup();
                assert_eq!(sorted.len(), r);
            }
            for (j, hs) in h.iter().enumerate() {
                let mut sorted = hs.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), r, "partition {j}");
            }
        }
    }

    #[test]
    fn contiguous_is_dracos_cyclic_code() {
        // Worker i holds partitions i, i-1, ..., i-r+1, so partition j is held by j..j+r-1.
        let (a, h) = assign(&spec(7, 3, Layout::Cyclic, Offsets::Contiguous));
        assert_eq!(a[1], vec![1, 0, 6]);
        assert_eq!(h[5], vec![0, 5, 6]);
        assert_eq!(
            offsets(&spec(24, 8, Layout::Cyclic, Offsets::Spread)),
            vec![0, 3, 6, 9, 12, 15, 18, 21]
        );
    }
}

//! Encoder coefficients of each layout and the encoding of one worker's message.
//! Cyclic layout (SOLON.md 3.2): c_jk(x) = Z_j(x) q_jk(x), evaluated at b_i = w^i with
//! Z_j in product form; repetition layout: an [r, m] Reed-Solomon code per group.

use nalgebra::DMatrix;
use rand::Rng;

use super::block::Block;
use super::kernels;
use super::spec::CodeSpec;
use super::{complex_chunk_len, Code, C64};

/// exp(2 pi i e / n) with the exponent reduced first, so equal roots are bitwise equal.
pub(crate) fn root_of_unity(e: usize, n: usize) -> C64 {
    C64::from_polar(1.0, 2.0 * std::f64::consts::PI * (e % n) as f64 / n as f64)
}

/// Coefficients for the cyclic layout and its single Reed-Solomon block of length P and
/// message length K = P - r + m (deg f <= P - r + m - 1, so r - m >= 2s syndromes).
pub(crate) fn cyclic_code(
    spec: &CodeSpec,
    assignments: &[Vec<usize>],
    holders: &[Vec<usize>],
) -> (Vec<C64>, Vec<Block>) {
    let (p, r, m) = (spec.workers, spec.redundancy, spec.compression);
    let points: Vec<C64> = (0..p).map(|i| root_of_unity(i, p)).collect();
    let mut coefficients = vec![C64::new(0.0, 0.0); p * r * m];
    for (j, partition_holders) in holders.iter().enumerate() {
        let mut holds = vec![false; p];
        for &i in partition_holders {
            holds[i] = true;
        }
        let roots: Vec<usize> = (0..p).filter(|&i| !holds[i]).collect();
        let inverse = inverse_series(&roots, &points, m);
        for &i in partition_holders {
            // Z_j(b_i) in product form: no expanded coefficients, so no cancellation.
            let z_at: C64 = roots.iter().map(|&root| points[i] - points[root]).product();
            let slot = assignments[i]
                .iter()
                .position(|&x| x == j)
                .expect("holder lists the partition");
            for k in 0..m {
                // q_jk(x) = x^k / Z_j(x) mod x^m makes the low m coefficients of c_jk = e_k.
                let q_at: C64 = (k..m).map(|l| inverse[l - k] * points[i].powu(l as u32)).sum();
                coefficients[(i * r + slot) * m + k] = z_at * q_at;
            }
        }
    }
    let block = Block::fourier((0..p).collect(), p - r + m);
    (coefficients, vec![block])
}

/// The first m power-series coefficients of 1 / prod_{i in roots} (x - b_i).
/// Written as prod(-1/b_i) * prod 1/(1 - x/b_i), each factor a geometric series with
/// unit-modulus coefficients, so the truncated product is accurate.
fn inverse_series(roots: &[usize], points: &[C64], m: usize) -> Vec<C64> {
    let mut series = vec![C64::new(0.0, 0.0); m];
    series[0] = C64::new(1.0, 0.0);
    let mut prefactor = C64::new(1.0, 0.0);
    for &root in roots {
        let inv = points[root].conj();
        prefactor *= -inv;
        // Multiplying by 1/(1 - inv x): s'_l = s_l + inv s'_{l-1}.
        for l in 1..m {
            let prev = series[l - 1];
            series[l] += inv * prev;
        }
    }
    series.iter().map(|&c| c * prefactor).collect()
}

/// Coefficients for the repetition layout: worker t of a group sends
/// sum_k w_r^(t k) h^(k), where h is the group's gradient; each group is a block.
pub(crate) fn repetition_code(spec: &CodeSpec) -> (Vec<C64>, Vec<Block>) {
    let (p, r, m) = (spec.workers, spec.redundancy, spec.compression);
    let mut coefficients = vec![C64::new(0.0, 0.0); p * r * m];
    for i in 0..p {
        let t = i % r;
        for slot in 0..r {
            for k in 0..m {
                coefficients[(i * r + slot) * m + k] = root_of_unity(t * k, r);
            }
        }
    }
    let blocks = (0..p / r)
        .map(|group| Block::fourier((group * r..group * r + r).collect(), m))
        .collect();
    (coefficients, blocks)
}

/// Standard complex Gaussian by Box-Muller (keeps the dependency list short).
pub(crate) fn complex_gaussian<R: Rng>(rng: &mut R) -> C64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    C64::from_polar((-u1.ln()).sqrt(), 2.0 * std::f64::consts::PI * u2)
}

/// Dense random code: y = G a with G a P x (P - 2s) complex Gaussian matrix, a_k (k < m)
/// the chunk sums and a_{m+q} = sum_j R[q, j] g_j^(q mod m) random mixtures.
pub(crate) fn random_gaussian_code<R: Rng>(spec: &CodeSpec, rng: &mut R) -> (Vec<C64>, Vec<Block>) {
    let (p, s, m) = (spec.workers, spec.adversaries, spec.compression);
    let k_total = p - 2 * s;
    let generator = DMatrix::from_fn(p, k_total, |_, _| complex_gaussian(rng));
    let mixing = DMatrix::from_fn(k_total - m, p, |_, _| complex_gaussian(rng));
    // Worker i holds partition (i - slot) mod P in slot `slot` (contiguous offsets, r = P).
    let mut coefficients = vec![C64::new(0.0, 0.0); p * p * m];
    for i in 0..p {
        for slot in 0..p {
            let j = (i + p - slot) % p;
            for k in 0..m {
                let mut c = generator[(i, k)];
                for q in (k..k_total - m).step_by(m) {
                    c += generator[(i, m + q)] * mixing[(q, j)];
                }
                coefficients[(i * p + slot) * m + k] = c;
            }
        }
    }
    (coefficients, vec![Block::generic((0..p).collect(), generator)])
}

impl Code {
    /// Worker `worker`'s message from its partition gradients, given in the order of
    /// `assignment(worker)`, each of length d.
    pub fn encode(&self, worker: usize, partition_grads: &[&[f32]]) -> Vec<f32> {
        let d = partition_grads.first().map_or(0, |g| g.len());
        let mut out = vec![0.0; self.message_len(d)];
        self.encode_into(worker, partition_grads, &mut out);
        out
    }

    /// Allocation-free `encode`; `out` must have length `message_len(d)`.
    ///
    /// Panics when the inputs do not match the code (wrong number of gradients, unequal
    /// lengths, wrong output length): those are programming errors, not data.
    pub fn encode_into(&self, worker: usize, partition_grads: &[&[f32]], out: &mut [f32]) {
        let (r, m) = (self.spec.redundancy, self.spec.compression);
        assert_eq!(partition_grads.len(), r, "worker {worker} holds r={r} partitions");
        let d = partition_grads.first().map_or(0, |g| g.len());
        assert!(
            partition_grads.iter().all(|g| g.len() == d),
            "partition gradients must have equal lengths"
        );
        assert_eq!(
            out.len(),
            self.message_len(d),
            "output must have message_len(d) floats"
        );
        let chunk = complex_chunk_len(d, m);
        let mut terms = Vec::with_capacity(r * m);
        for (slot, grad) in partition_grads.iter().enumerate() {
            for k in 0..m {
                let lo = (2 * k * chunk).min(d);
                let hi = (2 * (k + 1) * chunk).min(d);
                terms.push((self.coefficient(worker, slot, k), &grad[lo..hi]));
            }
        }
        kernels::linear_combination(&terms, out);
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::coding::spec::{DecoderKind, Layout, Offsets};

    fn cyclic(p: usize, s: usize, m: usize, offsets: Offsets) -> Code {
        Code::new(CodeSpec {
            workers: p,
            adversaries: s,
            redundancy: 2 * s + m,
            compression: m,
            layout: Layout::Cyclic,
            offsets,
            decoder: DecoderKind::Spectral,
        })
        .unwrap()
    }

    /// The defining property: the messages of scalar gradients are evaluations of a
    /// polynomial of degree < K whose low m coefficients are the chunk sums.
    #[test]
    fn cyclic_messages_are_a_codeword_with_the_sums_on_top() {
        for (p, s, m, off) in [
            (15, 2, 3, Offsets::Spread),
            (15, 2, 1, Offsets::Contiguous),
            (24, 3, 2, Offsets::Spread),
        ] {
            let code = cyclic(p, s, m, off);
            let r = code.spec.redundancy;
            // One complex number per chunk: g_j^(k) = a made-up value per (j, k).
            let g = |j: usize, k: usize| C64::new(j as f64 + 0.5 * k as f64, 1.0 - (j * k) as f64 * 0.1);
            let y: Vec<C64> = (0..p)
                .map(|i| {
                    (0..r)
                        .flat_map(|slot| (0..m).map(move |k| (slot, k)))
                        .map(|(slot, k)| code.coefficient(i, slot, k) * g(code.assignment(i)[slot], k))
                        .sum()
                })
                .collect();
            // Inverse DFT gives the coefficients of f.
            let coeffs: Vec<C64> = (0..p)
                .map(|l| (0..p).map(|i| y[i] * root_of_unity(i * l, p).conj()).sum::<C64>() / p as f64)
                .collect();
            let scale = code.max_encoder_coefficient() * p as f64;
            for (l, c) in coeffs.iter().enumerate() {
                if l < m {
                    let expect: C64 = (0..p).map(|j| g(j, l)).sum();
                    assert!(
                        (c - expect).norm() < 1e-12 * scale,
                        "P={p} l={l}: {c} vs {expect}"
                    );
                } else if l >= p - r + m {
                    assert!(
                        c.norm() < 1e-12 * scale,
                        "P={p} coefficient {l} should vanish: {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn spread_coefficients_stay_small_contiguous_grow() {
        // SOLON.md 3.2: contiguous 1.3e2 at P=15 r=5 and 1.3e4 at P=24 r=8; spread about P/r.
        let c15 = cyclic(15, 2, 1, Offsets::Contiguous).max_encoder_coefficient();
        let c24 = cyclic(24, 3, 2, Offsets::Contiguous).max_encoder_coefficient();
        let s24 = cyclic(24, 3, 2, Offsets::Spread).max_encoder_coefficient();
        let s64 = cyclic(64, 4, 2, Offsets::Spread).max_encoder_coefficient();
        assert!((50.0..500.0).contains(&c15), "{c15}");
        assert!((5e3..5e4).contains(&c24), "{c24}");
        assert!(s24 < 6.0 && s64 < 15.0, "{s24} {s64}");
    }

    #[test]
    fn encode_pads_and_packs() {
        let code = cyclic(7, 1, 2, Offsets::Spread);
        let d = 7;
        let grads: Vec<Vec<f32>> = (0..4)
            .map(|q| (0..d).map(|f| (q * 10 + f) as f32).collect())
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        let y = code.encode(3, &refs);
        assert_eq!(y.len(), code.message_len(d));
        assert_eq!(y.len(), 4); // ceil(7 / 4) = 2 complex numbers
                                // Complex entry 1 of chunk 1 would be floats 6, 7 of the padded gradient: only 6 exists.
        let expect: C64 = (0..4)
            .map(|slot| {
                let c0 = code.coefficient(3, slot, 0);
                let c1 = code.coefficient(3, slot, 1);
                c0 * C64::new(grads[slot][2] as f64, grads[slot][3] as f64)
                    + c1 * C64::new(grads[slot][6] as f64, 0.0)
            })
            .sum();
        assert!((y[2] as f64 - expect.re).abs() < 1e-4 && (y[3] as f64 - expect.im).abs() < 1e-4);
    }
}

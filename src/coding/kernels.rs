//! The long-vector passes, O(P d) in total: encoding, the random projection of each
//! message to a few complex numbers, and the final weighted sum. Arithmetic is f64 on
//! f32 data; on x86-64 with AVX2+FMA the same code is compiled a second time for it.

use nalgebra::DMatrix;
use rand::Rng;

use super::C64;

/// Complex numbers per block of the blocked loops: the f64 accumulators of one block
/// stay in L1 cache while the f32 messages stream through once.
pub(crate) const BLOCK: usize = 256;

/// Independent random projections per decode. Two make a tiny error that happens to
/// project near zero in one of them (probability about 1e-3 at 1e-3 relative size)
/// still visible in the other.
pub(crate) const PROJECTIONS: usize = 2;

#[inline(always)]
fn madd<const FUSED: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// acc_re[f] += cr * y[f], acc_im[f] += ci * y[f] over interleaved (re, im) floats;
/// the caller combines the two into a complex product, which keeps this loop free of
/// shuffles so it vectorizes.
#[inline(always)]
fn scale_add_kernel<const FUSED: bool>(acc_re: &mut [f64], acc_im: &mut [f64], cr: f64, ci: f64, y: &[f32]) {
    let n = y.len();
    let (acc_re, acc_im) = (&mut acc_re[..n], &mut acc_im[..n]);
    for ((a, b), &x) in acc_re.iter_mut().zip(acc_im.iter_mut()).zip(y) {
        let x = x as f64;
        *a = madd::<FUSED>(cr, x, *a);
        *b = madd::<FUSED>(ci, x, *b);
    }
}

/// Four dot products of y with w[0..4], eight lanes each so the sums vectorize without
/// reassociating floating point.
#[inline(always)]
fn dots_kernel<const FUSED: bool>(y: &[f32], w: [&[f64]; 4]) -> [f64; 4] {
    const LANES: usize = 8;
    let n = y.len();
    let w = [&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]];
    let mut acc = [[0.0f64; LANES]; 4];
    let whole = n / LANES * LANES;
    for start in (0..whole).step_by(LANES) {
        let ys: &[f32; LANES] = y[start..start + LANES].try_into().unwrap();
        for (acc_q, w_q) in acc.iter_mut().zip(&w) {
            let ws: &[f64; LANES] = w_q[start..start + LANES].try_into().unwrap();
            for lane in 0..LANES {
                acc_q[lane] = madd::<FUSED>(ys[lane] as f64, ws[lane], acc_q[lane]);
            }
        }
    }
    let mut out = [0.0; 4];
    for q in 0..4 {
        let mut total: f64 = acc[q].iter().sum();
        for f in whole..n {
            total = madd::<FUSED>(y[f] as f64, w[q][f], total);
        }
        out[q] = total;
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scale_add_avx2(acc_re: &mut [f64], acc_im: &mut [f64], cr: f64, ci: f64, y: &[f32]) {
    scale_add_kernel::<true>(acc_re, acc_im, cr, ci, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dots_avx2(y: &[f32], w: [&[f64]; 4]) -> [f64; 4] {
    dots_kernel::<true>(y, w)
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn scale_add(fast: bool, acc_re: &mut [f64], acc_im: &mut [f64], cr: f64, ci: f64, y: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is true only when has_avx2_fma() found both features.
        return unsafe { scale_add_avx2(acc_re, acc_im, cr, ci, y) };
    }
    let _ = fast;
    scale_add_kernel::<false>(acc_re, acc_im, cr, ci, y)
}

fn dots(fast: bool, y: &[f32], w: [&[f64]; 4]) -> [f64; 4] {
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is true only when has_avx2_fma() found both features.
        return unsafe { dots_avx2(y, w) };
    }
    let _ = fast;
    dots_kernel::<false>(y, w)
}

/// Accumulates c * y (complex c, interleaved complex y) into split accumulators.
pub(crate) struct ComplexAccumulator {
    re_part: Vec<f64>,
    im_part: Vec<f64>,
    fast: bool,
}

impl ComplexAccumulator {
    pub fn new(complex_len: usize) -> Self {
        ComplexAccumulator {
            re_part: vec![0.0; 2 * complex_len],
            im_part: vec![0.0; 2 * complex_len],
            fast: has_avx2_fma(),
        }
    }

    pub fn clear(&mut self) {
        self.re_part.fill(0.0);
        self.im_part.fill(0.0);
    }

    /// Adds c * y; y may be shorter than the accumulator (zero padding) and may end on
    /// a lone real part.
    pub fn add(&mut self, c: C64, y: &[f32]) {
        scale_add(self.fast, &mut self.re_part, &mut self.im_part, c.re, c.im, y);
    }

    /// Writes the first `out.len()` floats of the accumulated interleaved vector.
    pub fn write(&self, out: &mut [f32]) {
        for (f, o) in out.iter_mut().enumerate() {
            let t = f & !1;
            *o = if f % 2 == 0 {
                self.re_part[t] - self.im_part[t + 1]
            } else {
                self.re_part[t + 1] + self.im_part[t]
            } as f32;
        }
    }
}

/// Encoder pass: out = sum_q coefficient_q * chunk_q over interleaved complex vectors,
/// where chunk_q is the float range `ranges[q]` of `sources[q]` (shorter ranges are
/// zero padded). `out.len()` is 2L.
pub(crate) fn linear_combination(terms: &[(C64, &[f32])], out: &mut [f32]) {
    let complex_len = out.len() / 2;
    let mut acc = ComplexAccumulator::new(BLOCK.min(complex_len.max(1)));
    for start in (0..complex_len).step_by(BLOCK) {
        let len = BLOCK.min(complex_len - start);
        acc.clear();
        for &(c, source) in terms {
            let lo = (2 * start).min(source.len());
            let hi = (2 * (start + len)).min(source.len());
            if lo < hi && c != C64::new(0.0, 0.0) {
                acc.add(c, &source[lo..hi]);
            }
        }
        acc.write(&mut out[2 * start..2 * (start + len)]);
    }
}

/// A random complex projection p = v (x) u of vectors of L complex numbers: u has one
/// entry per position inside a block, v one per block. Drawing O(sqrt L) numbers instead
/// of L keeps the draw cheap, and a fixed nonzero vector still projects to zero with
/// probability zero (the projection is a nonzero polynomial in u and v).
pub(crate) struct Projection {
    block: usize,
    /// Per projection: u as two real weight vectors over interleaved floats, so that
    /// re <p, y> = sum_f y_f u_re[f] and im <p, y> = sum_f y_f u_im[f].
    u_real: [Vec<f64>; PROJECTIONS],
    u_imag: [Vec<f64>; PROJECTIONS],
    v: [Vec<C64>; PROJECTIONS],
    fast: bool,
}

impl Projection {
    pub fn draw<R: Rng>(complex_len: usize, rng: &mut R) -> Self {
        let block = BLOCK.min(complex_len).max(1);
        let blocks = complex_len.div_ceil(block);
        let mut uniform = || C64::new(rng.gen::<f64>() * 2.0 - 1.0, rng.gen::<f64>() * 2.0 - 1.0);
        let mut u_real: [Vec<f64>; PROJECTIONS] = Default::default();
        let mut u_imag: [Vec<f64>; PROJECTIONS] = Default::default();
        let mut v: [Vec<C64>; PROJECTIONS] = Default::default();
        for q in 0..PROJECTIONS {
            for _ in 0..block {
                let u = uniform();
                u_real[q].extend([u.re, -u.im]);
                u_imag[q].extend([u.im, u.re]);
            }
            v[q] = (0..blocks).map(|_| uniform()).collect();
        }
        Projection {
            block,
            u_real,
            u_imag,
            v,
            fast: has_avx2_fma(),
        }
    }

    /// <p_q, y> for each projection q; non-finite entries of y make the result non-finite.
    pub fn project(&self, y: &[f32]) -> [C64; PROJECTIONS] {
        let mut z = [C64::new(0.0, 0.0); PROJECTIONS];
        let weights = [
            &self.u_real[0][..],
            &self.u_imag[0][..],
            &self.u_real[1][..],
            &self.u_imag[1][..],
        ];
        for (b, piece) in y.chunks(2 * self.block).enumerate() {
            let [re0, im0, re1, im1] = dots(self.fast, piece, weights);
            z[0] += self.v[0][b] * C64::new(re0, im0);
            z[1] += self.v[1][b] * C64::new(re1, im1);
        }
        z
    }
}

/// The final pass: out[chunk k] = sum_i weights[k, i] * messages[i], unpacked into
/// d reals (chunk k occupies floats 2kL .. 2(k+1)L of the padded gradient). Messages
/// whose weights are all zero are never read.
pub(crate) fn weighted_sum(
    messages: &[&[f32]],
    weights: &DMatrix<C64>,
    complex_len: usize,
    d: usize,
) -> Vec<f32> {
    let m = weights.nrows();
    let mut out = vec![0.0f32; d];
    let zero = C64::new(0.0, 0.0);
    let used: Vec<usize> = (0..messages.len())
        .filter(|&i| (0..m).any(|k| weights[(k, i)] != zero))
        .collect();
    let mut acc: Vec<ComplexAccumulator> = (0..m)
        .map(|_| ComplexAccumulator::new(BLOCK.min(complex_len.max(1))))
        .collect();
    for start in (0..complex_len).step_by(BLOCK) {
        let len = BLOCK.min(complex_len - start);
        for a in acc.iter_mut() {
            a.clear();
        }
        for &i in &used {
            let piece = &messages[i][2 * start..2 * (start + len)];
            for (k, a) in acc.iter_mut().enumerate() {
                let w = weights[(k, i)];
                if w != zero {
                    a.add(w, piece);
                }
            }
        }
        for (k, a) in acc.iter().enumerate() {
            let lo = (2 * (k * complex_len + start)).min(d);
            let hi = (2 * (k * complex_len + start + len)).min(d);
            a.write(&mut out[lo..hi]);
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn projection_is_complex_linear() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let len = 1000;
        let p = Projection::draw(len, &mut rng);
        let x: Vec<f32> = (0..2 * len).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        // i * x as an interleaved vector: (re, im) -> (-im, re).
        let ix: Vec<f32> = x.chunks(2).flat_map(|c| [-c[1], c[0]]).collect();
        let zx = p.project(&x);
        let zix = p.project(&ix);
        for q in 0..PROJECTIONS {
            let expected = C64::new(0.0, 1.0) * zx[q];
            assert!((zix[q] - expected).norm() < 1e-9 * zx[q].norm());
        }
        let mut bad = x.clone();
        bad[17] = f32::NAN;
        assert!(!p.project(&bad)[0].is_finite());
    }

    #[test]
    fn both_kernel_paths_agree() {
        let y: Vec<f32> = (0..203).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<Vec<f64>> = (0..4)
            .map(|q| (0..203).map(|i| ((i + q) as f64 * 0.11).cos()).collect())
            .collect();
        let refs = [&w[0][..], &w[1][..], &w[2][..], &w[3][..]];
        let plain = dots_kernel::<false>(&y, refs);
        let best = dots(has_avx2_fma(), &y, refs);
        for q in 0..4 {
            let direct: f64 = y.iter().zip(&w[q]).map(|(&a, &b)| a as f64 * b).sum();
            assert!((plain[q] - direct).abs() < 1e-12 && (best[q] - direct).abs() < 1e-12);
        }
    }

    #[test]
    fn weighted_sum_multiplies_complex_weights() {
        // Two messages of 3 complex numbers, m = 2 chunks, d = 11 (last chunk padded).
        let a: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b: Vec<f32> = vec![0.5, -1.0, 0.0, 1.0, 2.0, 2.0];
        let mut w = DMatrix::<C64>::zeros(2, 2);
        w[(0, 0)] = C64::new(0.0, 1.0);
        w[(0, 1)] = C64::new(2.0, 0.0);
        w[(1, 1)] = C64::new(1.0, -1.0);
        let out = weighted_sum(&[&a, &b], &w, 3, 11);
        let expect_chunk = |k: usize| -> Vec<C64> {
            (0..3)
                .map(|t| {
                    let ya = C64::new(a[2 * t] as f64, a[2 * t + 1] as f64);
                    let yb = C64::new(b[2 * t] as f64, b[2 * t + 1] as f64);
                    w[(k, 0)] * ya + w[(k, 1)] * yb
                })
                .collect()
        };
        let flat: Vec<f64> = [expect_chunk(0), expect_chunk(1)]
            .concat()
            .iter()
            .flat_map(|c| [c.re, c.im])
            .collect();
        assert_eq!(out.len(), 11);
        for f in 0..11 {
            assert!(
                (out[f] as f64 - flat[f]).abs() < 1e-6,
                "float {f}: {} vs {}",
                out[f],
                flat[f]
            );
        }
    }
}

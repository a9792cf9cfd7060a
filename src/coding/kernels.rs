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

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
    if fast && has_avx512() {
        // SAFETY: has_avx512() found the feature.
        return unsafe { x86::dots4_avx512(y, w) };
    }
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is true only when has_avx2_fma() found both features.
        return unsafe { x86::dots4(y, w) };
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

    /// project() of every message, block by block across the messages: reading
    /// many streams at once draws more memory bandwidth than one message after another.
    /// Each message's blocks still add up in order, so the result is project()'s.
    /// Messages of the wrong length get None.
    pub fn project_all(&self, messages: &[&[f32]], len: usize) -> Vec<Option<[C64; PROJECTIONS]>> {
        let mut z: Vec<Option<[C64; PROJECTIONS]>> = messages
            .iter()
            .map(|y| (y.len() == len).then_some([C64::new(0.0, 0.0); PROJECTIONS]))
            .collect();
        let weights = [
            &self.u_real[0][..],
            &self.u_imag[0][..],
            &self.u_real[1][..],
            &self.u_imag[1][..],
        ];
        let piece = 2 * self.block;
        for b in 0..len.div_ceil(piece) {
            let range = b * piece..len.min((b + 1) * piece);
            for (y, z) in messages.iter().zip(z.iter_mut()) {
                if let Some(z) = z {
                    let [re0, im0, re1, im1] = dots(self.fast, &y[range.clone()], weights);
                    z[0] += self.v[0][b] * C64::new(re0, im0);
                    z[1] += self.v[1][b] * C64::new(re1, im1);
                }
            }
        }
        z
    }

    /// <p_q, y> for each projection q; non-finite entries of y make the result non-finite.
    #[cfg(test)]
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
/// whose weights are all zero are never read. None when a float of the sum is not
/// finite.
pub(crate) fn weighted_sum(
    messages: &[&[f32]],
    weights: &DMatrix<C64>,
    complex_len: usize,
    d: usize,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        assert!(
            2 * weights.nrows() * complex_len >= d,
            "the chunks cover the gradient"
        );
        let mut out = Vec::with_capacity(d);
        let target = &mut out.spare_capacity_mut()[..d];
        // SAFETY: has_avx2_fma() and has_avx512() found the features.
        let finite = unsafe { x86::weighted_sum(messages, weights, complex_len, target, has_avx512()) };
        // SAFETY: the m chunks cover [0, d) (asserted above) and the kernel writes every
        // float of every chunk that lies inside the gradient.
        unsafe { out.set_len(d) };
        return finite.then_some(out);
    }
    let out = weighted_sum_portable(messages, weights, complex_len, d);
    out.iter().all(|x| x.is_finite()).then_some(out)
}

/// weighted_sum without SIMD intrinsics: blocked split accumulators.
fn weighted_sum_portable(
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

/// AVX2 + FMA kernels of the decoder's two passes, f64 lanes fed from f32 loads.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use nalgebra::DMatrix;

    use super::C64;

    /// How far ahead of the weighted sum's reads the prefetch hints go.
    const PREFETCH_FLOATS: usize = 512;

    /// Four dot products of y with w[0..4] (each at least y.len() long): two
    /// accumulators per product, eight floats per step.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dots4(y: &[f32], w: [&[f64]; 4]) -> [f64; 4] {
        let n = y.len();
        assert!(w.iter().all(|w| w.len() >= n));
        let whole = n / 8 * 8;
        let mut acc = [[_mm256_setzero_pd(); 2]; 4];
        let yp = y.as_ptr();
        let wp = [w[0].as_ptr(), w[1].as_ptr(), w[2].as_ptr(), w[3].as_ptr()];
        let mut f = 0;
        while f < whole {
            // SAFETY: f + 8 <= n <= every slice's length.
            unsafe {
                let y0 = _mm256_cvtps_pd(_mm_loadu_ps(yp.add(f)));
                let y1 = _mm256_cvtps_pd(_mm_loadu_ps(yp.add(f + 4)));
                for q in 0..4 {
                    let w0 = _mm256_loadu_pd(wp[q].add(f));
                    let w1 = _mm256_loadu_pd(wp[q].add(f + 4));
                    acc[q][0] = _mm256_fmadd_pd(y0, w0, acc[q][0]);
                    acc[q][1] = _mm256_fmadd_pd(y1, w1, acc[q][1]);
                }
            }
            f += 8;
        }
        let mut out = [0.0; 4];
        for q in 0..4 {
            let v = _mm256_add_pd(acc[q][0], acc[q][1]);
            let pair = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
            let mut total = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
            for f in whole..n {
                total = (y[f] as f64).mul_add(w[q][f], total);
            }
            out[q] = total;
        }
        out
    }

    /// dots4 with eight f64 lanes: two accumulators per product, sixteen floats per step.
    #[target_feature(enable = "avx512f")]
    pub(super) fn dots4_avx512(y: &[f32], w: [&[f64]; 4]) -> [f64; 4] {
        let n = y.len();
        assert!(w.iter().all(|w| w.len() >= n));
        let whole = n / 16 * 16;
        let mut acc = [[_mm512_setzero_pd(); 2]; 4];
        let yp = y.as_ptr();
        let wp = [w[0].as_ptr(), w[1].as_ptr(), w[2].as_ptr(), w[3].as_ptr()];
        let mut f = 0;
        while f < whole {
            // project_all reads this message's next block after the other messages'
            // blocks: a hint (it never faults) into L2 one block ahead.
            _mm_prefetch::<_MM_HINT_T1>(yp.wrapping_add(f + 2 * super::BLOCK) as *const i8);
            // SAFETY: f + 16 <= n <= every slice's length.
            unsafe {
                let y0 = _mm512_cvtps_pd(_mm256_loadu_ps(yp.add(f)));
                let y1 = _mm512_cvtps_pd(_mm256_loadu_ps(yp.add(f + 8)));
                for q in 0..4 {
                    let w0 = _mm512_loadu_pd(wp[q].add(f));
                    let w1 = _mm512_loadu_pd(wp[q].add(f + 8));
                    acc[q][0] = _mm512_fmadd_pd(y0, w0, acc[q][0]);
                    acc[q][1] = _mm512_fmadd_pd(y1, w1, acc[q][1]);
                }
            }
            f += 16;
        }
        let mut out = [0.0; 4];
        for q in 0..4 {
            let mut total = _mm512_reduce_add_pd(_mm512_add_pd(acc[q][0], acc[q][1]));
            for f in whole..n {
                total = (y[f] as f64).mul_add(w[q][f], total);
            }
            out[q] = total;
        }
        out
    }

    /// out[chunk k] = sum_i weights[k, i] * messages[i] (see super::weighted_sum), all m
    /// chunks from one pass over the messages: per group of floats every used message is
    /// read once and all chunk sums accumulate in registers.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn weighted_sum(
        messages: &[&[f32]],
        weights: &DMatrix<C64>,
        complex_len: usize,
        out: &mut [MaybeUninit<f32>],
        avx512: bool,
    ) -> bool {
        let m = weights.nrows();
        let mut finite = true;
        let mut k0 = 0;
        while k0 < m {
            // Chunks k0 .. k0 + group in one pass; groups of more than four would spill
            // the accumulators.
            let group = (m - k0).min(4);
            finite &= match group {
                _ if !avx512 => match group {
                    1 => chunks::<1, 4>(messages, weights, k0, complex_len, out),
                    2 => chunks::<2, 2>(messages, weights, k0, complex_len, out),
                    3 => chunks::<3, 1>(messages, weights, k0, complex_len, out),
                    _ => chunks::<4, 1>(messages, weights, k0, complex_len, out),
                },
                // SAFETY: avx512 is true only when has_avx512() found the feature.
                1 => unsafe { chunks512::<1, 4>(messages, weights, k0, complex_len, out) },
                2 => unsafe { chunks512::<2, 2>(messages, weights, k0, complex_len, out) },
                3 => unsafe { chunks512::<3, 1>(messages, weights, k0, complex_len, out) },
                _ => unsafe { chunks512::<4, 1>(messages, weights, k0, complex_len, out) },
            };
            k0 += group;
        }
        finite
    }

    /// The messages a block of M chunks reads (those with a nonzero weight), their
    /// weights split into real and imaginary parts, and how many floats of each chunk
    /// lie inside the gradient.
    struct Used<const M: usize> {
        used: Vec<*const f32>,
        wr: Vec<[f64; M]>,
        wi: Vec<[f64; M]>,
        limit: [usize; M],
    }

    impl<const M: usize> Used<M> {
        fn gather(
            messages: &[&[f32]],
            weights: &DMatrix<C64>,
            k0: usize,
            complex_len: usize,
            d: usize,
        ) -> Self {
            let zero = C64::new(0.0, 0.0);
            let n = 2 * complex_len;
            let mut used: Vec<*const f32> = Vec::new();
            let mut wr: Vec<[f64; M]> = Vec::new();
            let mut wi: Vec<[f64; M]> = Vec::new();
            for (i, message) in messages.iter().enumerate() {
                if (0..M).all(|k| weights[(k0 + k, i)] == zero) {
                    continue;
                }
                assert!(message.len() >= n, "message {i} is shorter than the code's");
                used.push(message.as_ptr());
                wr.push(std::array::from_fn(|k| weights[(k0 + k, i)].re));
                wi.push(std::array::from_fn(|k| weights[(k0 + k, i)].im));
            }
            let limit = std::array::from_fn(|k| d.saturating_sub(2 * (k0 + k) * complex_len).min(n));
            Used { used, wr, wi, limit }
        }
    }

    /// The floats from `f` to the end of each chunk (fewer than one vector step),
    /// scalar, pair by pair; false if any written value is not finite.
    ///
    /// # Safety
    /// Every pointer in `used` must point to at least 2 * complex_len floats.
    #[allow(clippy::too_many_arguments)]
    unsafe fn scalar_tail<const M: usize>(
        used: &[*const f32],
        wr: &[[f64; M]],
        wi: &[[f64; M]],
        limit: &[usize; M],
        k0: usize,
        complex_len: usize,
        mut f: usize,
        out: &mut [MaybeUninit<f32>],
    ) -> bool {
        let n = 2 * complex_len;
        let mut finite = true;
        while f < n {
            let mut a = [[0.0f64; 2]; M];
            let mut b = [[0.0f64; 2]; M];
            for (j, &p) in used.iter().enumerate() {
                // SAFETY: f + 1 < n <= every used message's length (n is even).
                let y = unsafe { [*p.add(f) as f64, *p.add(f + 1) as f64] };
                for k in 0..M {
                    for h in 0..2 {
                        a[k][h] = wr[j][k].mul_add(y[h], a[k][h]);
                        b[k][h] = wi[j][k].mul_add(y[h], b[k][h]);
                    }
                }
            }
            for k in 0..M {
                let base = 2 * (k0 + k) * complex_len + f;
                let values = [(a[k][0] - b[k][1]) as f32, (a[k][1] + b[k][0]) as f32];
                for (h, &x) in values.iter().enumerate() {
                    if f + h < limit[k] {
                        out[base + h].write(x);
                        finite &= x.is_finite();
                    }
                }
            }
            f += 2;
        }
        finite
    }

    /// Chunks k0 .. k0 + M, V vectors of four floats per step (2 M V accumulators).
    /// For weight w = (wr, wi) and interleaved y, A += wr y and B += wi y per lane;
    /// w y = (A_even - B_odd, A_odd + B_even), one addsub per output vector.
    #[target_feature(enable = "avx2,fma")]
    fn chunks<const M: usize, const V: usize>(
        messages: &[&[f32]],
        weights: &DMatrix<C64>,
        k0: usize,
        complex_len: usize,
        out: &mut [MaybeUninit<f32>],
    ) -> bool {
        let n = 2 * complex_len;
        let Used { used, wr, wi, limit } = Used::<M>::gather(messages, weights, k0, complex_len, out.len());
        let step = 4 * V;
        let whole = n / step * step;
        let mut check = _mm_setzero_ps();
        let mut finite = true;
        let mut f = 0;
        while f < whole {
            let mut a = [[_mm256_setzero_pd(); V]; M];
            let mut b = [[_mm256_setzero_pd(); V]; M];
            for (j, &p) in used.iter().enumerate() {
                // The messages are P streams at once, more than the hardware prefetcher
                // keeps ahead of; a hint 2 KiB ahead (only a hint: never faults).
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(f + PREFETCH_FLOATS) as *const i8);
                let mut y = [_mm256_setzero_pd(); V];
                for (v, y) in y.iter_mut().enumerate() {
                    // SAFETY: f + step <= n <= every used message's length.
                    *y = _mm256_cvtps_pd(unsafe { _mm_loadu_ps(p.add(f + 4 * v)) });
                }
                for k in 0..M {
                    let cr = _mm256_set1_pd(wr[j][k]);
                    let ci = _mm256_set1_pd(wi[j][k]);
                    for v in 0..V {
                        a[k][v] = _mm256_fmadd_pd(cr, y[v], a[k][v]);
                        b[k][v] = _mm256_fmadd_pd(ci, y[v], b[k][v]);
                    }
                }
            }
            for k in 0..M {
                let base = 2 * (k0 + k) * complex_len + f;
                let mut values = [_mm_setzero_ps(); V];
                for (v, value) in values.iter_mut().enumerate() {
                    let swapped = _mm256_permute_pd(b[k][v], 0b0101);
                    *value = _mm256_cvtpd_ps(_mm256_addsub_pd(a[k][v], swapped));
                }
                if f + step <= limit[k] {
                    let target = &mut out[base..base + step];
                    for (v, &value) in values.iter().enumerate() {
                        // 0 * x is 0 for finite x and NaN otherwise.
                        check = _mm_add_ps(check, _mm_mul_ps(value, _mm_setzero_ps()));
                        // SAFETY: 4 v + 4 <= step = target.len().
                        unsafe { _mm_storeu_ps(target.as_mut_ptr().add(4 * v).cast(), value) };
                    }
                } else if f < limit[k] {
                    let mut floats = [0.0f32; 16];
                    for (v, &value) in values.iter().enumerate() {
                        // SAFETY: 4 v + 4 <= 4 V <= 16.
                        unsafe { _mm_storeu_ps(floats.as_mut_ptr().add(4 * v), value) };
                    }
                    let len = limit[k] - f;
                    for (o, &x) in out[base..base + len].iter_mut().zip(&floats[..len]) {
                        o.write(x);
                    }
                    finite &= floats[..len].iter().all(|x| x.is_finite());
                }
            }
            f += step;
        }
        // The last floats (fewer than one step), scalar, pair by pair.
        // SAFETY: every used message holds at least n floats.
        finite &= unsafe { scalar_tail(&used, &wr, &wi, &limit, k0, complex_len, f, out) };
        let mut lanes = [0.0f32; 4];
        // SAFETY: lanes holds four floats.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), check) };
        finite && lanes == [0.0; 4]
    }

    /// chunks() with eight f64 lanes: V vectors of eight floats per step.
    /// For weight w = (wr, wi) and interleaved y, A += wr y and B += wi y per lane;
    /// w y = (A_even - B_odd, A_odd + B_even), one addsub per output vector.
    #[target_feature(enable = "avx512f")]
    fn chunks512<const M: usize, const V: usize>(
        messages: &[&[f32]],
        weights: &DMatrix<C64>,
        k0: usize,
        complex_len: usize,
        out: &mut [MaybeUninit<f32>],
    ) -> bool {
        let n = 2 * complex_len;
        let Used { used, wr, wi, limit } = Used::<M>::gather(messages, weights, k0, complex_len, out.len());
        let step = 8 * V;
        let whole = n / step * step;
        let mut check = _mm256_setzero_ps();
        let mut finite = true;
        let mut f = 0;
        while f < whole {
            let mut a = [[_mm512_setzero_pd(); V]; M];
            let mut b = [[_mm512_setzero_pd(); V]; M];
            for (j, &p) in used.iter().enumerate() {
                // The messages are P streams at once, more than the hardware prefetcher
                // keeps ahead of; a hint 2 KiB ahead (only a hint: never faults).
                for line in (0..step).step_by(16) {
                    let ahead = p.wrapping_add(f + line + PREFETCH_FLOATS);
                    _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
                }
                let mut y = [_mm512_setzero_pd(); V];
                for (v, y) in y.iter_mut().enumerate() {
                    // SAFETY: f + step <= n <= every used message's length.
                    *y = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(p.add(f + 8 * v)) });
                }
                for k in 0..M {
                    let cr = _mm512_set1_pd(wr[j][k]);
                    let ci = _mm512_set1_pd(wi[j][k]);
                    for v in 0..V {
                        a[k][v] = _mm512_fmadd_pd(cr, y[v], a[k][v]);
                        b[k][v] = _mm512_fmadd_pd(ci, y[v], b[k][v]);
                    }
                }
            }
            for k in 0..M {
                let base = 2 * (k0 + k) * complex_len + f;
                let mut values = [_mm256_setzero_ps(); V];
                for (v, value) in values.iter_mut().enumerate() {
                    let swapped = _mm512_permute_pd(b[k][v], 0b0101_0101);
                    // 1 * a -+ swapped: a - b on even lanes, a + b on odd ones, exactly.
                    let sum = _mm512_fmaddsub_pd(_mm512_set1_pd(1.0), a[k][v], swapped);
                    *value = _mm512_cvtpd_ps(sum);
                }
                if f + step <= limit[k] {
                    let target = &mut out[base..base + step];
                    for (v, &value) in values.iter().enumerate() {
                        // 0 * x is 0 for finite x and NaN otherwise.
                        check = _mm256_add_ps(check, _mm256_mul_ps(value, _mm256_setzero_ps()));
                        // SAFETY: 8 v + 8 <= step = target.len().
                        unsafe { _mm256_storeu_ps(target.as_mut_ptr().add(8 * v).cast(), value) };
                    }
                } else if f < limit[k] {
                    let mut floats = [0.0f32; 32];
                    for (v, &value) in values.iter().enumerate() {
                        // SAFETY: 8 v + 8 <= 8 V <= 32.
                        unsafe { _mm256_storeu_ps(floats.as_mut_ptr().add(8 * v), value) };
                    }
                    let len = limit[k] - f;
                    for (o, &x) in out[base..base + len].iter_mut().zip(&floats[..len]) {
                        o.write(x);
                    }
                    finite &= floats[..len].iter().all(|x| x.is_finite());
                }
            }
            f += step;
        }
        // The last floats (fewer than one step), scalar, pair by pair.
        // SAFETY: every used message holds at least n floats.
        finite &= unsafe { scalar_tail(&used, &wr, &wi, &limit, k0, complex_len, f, out) };
        let mut lanes = [0.0f32; 8];
        // SAFETY: lanes holds eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), check) };
        finite && lanes == [0.0; 8]
    }
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
    fn project_all_is_project_per_message() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for len in [1, 300, 1000] {
            let p = Projection::draw(len, &mut rng);
            let messages: Vec<Vec<f32>> = (0..4)
                .map(|i| {
                    (0..2 * len - i % 2)
                        .map(|f| ((f * 7 + i) % 13) as f32 - 6.0)
                        .collect()
                })
                .collect();
            let views: Vec<&[f32]> = messages.iter().map(|x| &x[..]).collect();
            let all = p.project_all(&views, 2 * len);
            for (i, z) in all.iter().enumerate() {
                if i % 2 == 1 {
                    assert!(z.is_none(), "wrong length");
                } else {
                    assert_eq!(z.unwrap(), p.project(&messages[i]));
                }
            }
        }
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
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: has_avx2_fma() found both features.
            let avx2 = unsafe { x86::dots4(&y, refs) };
            for q in 0..4 {
                assert!((avx2[q] - plain[q]).abs() < 1e-12);
            }
        }
        for q in 0..4 {
            let direct: f64 = y.iter().zip(&w[q]).map(|(&a, &b)| a as f64 * b).sum();
            assert!((plain[q] - direct).abs() < 1e-12 && (best[q] - direct).abs() < 1e-12);
        }
    }

    #[test]
    fn weighted_sum_paths_agree() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for m in 1..=6 {
            for complex_len in [1usize, 2, 7, 8, 9, 33, 300] {
                for d in [
                    2 * m * complex_len,
                    2 * m * complex_len - 1,
                    2 * (m - 1) * complex_len + 1,
                ] {
                    if d.div_ceil(2 * m) != complex_len {
                        continue;
                    }
                    let messages: Vec<Vec<f32>> = (0..5)
                        .map(|_| (0..2 * complex_len).map(|_| rng.gen::<f32>() - 0.5).collect())
                        .collect();
                    let views: Vec<&[f32]> = messages.iter().map(|x| &x[..]).collect();
                    let mut w = DMatrix::<C64>::from_fn(m, 5, |_, _| {
                        C64::new(rng.gen::<f64>() - 0.5, rng.gen::<f64>() - 0.5)
                    });
                    w.column_mut(2).fill(C64::new(0.0, 0.0));
                    let portable = weighted_sum_portable(&views, &w, complex_len, d);
                    let best = weighted_sum(&views, &w, complex_len, d).unwrap();
                    assert_eq!(best.len(), d);
                    for (x, y) in best.iter().zip(&portable) {
                        assert!((x - y).abs() <= 1e-6, "m={m} L={complex_len} d={d}: {x} vs {y}");
                    }
                    #[cfg(target_arch = "x86_64")]
                    if has_avx2_fma() {
                        // The AVX2 kernel too, where AVX-512 took over above.
                        let mut out = vec![std::mem::MaybeUninit::new(f32::NAN); d];
                        // SAFETY: has_avx2_fma() found both features.
                        let finite = unsafe { x86::weighted_sum(&views, &w, complex_len, &mut out, false) };
                        assert!(finite);
                        for (x, y) in out.iter().zip(&portable) {
                            // SAFETY: initialised above.
                            let x = unsafe { x.assume_init() };
                            assert!((x - y).abs() <= 1e-6, "avx2 m={m} L={complex_len} d={d}");
                        }
                    }
                    // A non-finite float fails, except in a message that is never read.
                    for (i, read) in [(0, true), (2, false)] {
                        let mut bad = messages.clone();
                        bad[i][2 * complex_len - 1] = f32::INFINITY;
                        let views: Vec<&[f32]> = bad.iter().map(|x| &x[..]).collect();
                        assert_eq!(weighted_sum(&views, &w, complex_len, d).is_none(), read);
                    }
                }
            }
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
        let out = weighted_sum(&[&a, &b], &w, 3, 11).unwrap();
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

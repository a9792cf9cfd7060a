//! "A little is enough" (Baruch, Baruch and Goldberg 2019): every Byzantine
//! worker sends mu - z * sigma, coordinate-wise mean and standard deviation
//! (unbiased, n_h - 1; 0 for a single honest worker) of the honest workers'
//! messages, z = Phi^-1((n - f - k)/(n - f)) with k = floor(n/2 + 1) - f, or a given z.

use super::{Attack, AttackContext, AttackKind};
use anyhow::{ensure, Result};
use tch::Kind;
use tch::Tensor;

pub struct Alie {
    z: Option<f64>,
}

impl Alie {
    pub fn new(z: Option<f64>) -> Self {
        Alie { z }
    }
}

impl Attack for Alie {
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor> {
        ctx.check()?;
        let z = self.z.unwrap_or_else(|| alie_z(ctx.n, ctx.f));
        ensure!(
            z.is_finite(),
            "alie's z = Phi^-1((n-f-k)/(n-f)), k = floor(n/2+1)-f, is not finite for n={}, f={} (needs n >= 3 and f <= floor(n/2)); set alie_z",
            ctx.n,
            ctx.f
        );
        let honest = ctx.honest_messages(AttackKind::Alie)?;
        let mean = honest.mean_dim(0, false, None::<Kind>);
        let deviation = if honest.size()[0] > 1 {
            honest.std_dim(0, true, false)
        } else {
            mean.zeros_like()
        };
        let message = mean - deviation * z;
        Ok(message
            .unsqueeze(0)
            .expand([ctx.byzantine.len() as i64, -1], false)
            .copy())
    }
}

/// ALIE's z for n workers of which f are Byzantine: Phi^-1((n - f - k)/(n - f)),
/// k = floor(n/2 + 1) - f. -Inf when n <= 2, +Inf when f > n/2, NaN when f >= n.
pub fn alie_z(n: usize, f: usize) -> f64 {
    if f >= n {
        return f64::NAN;
    }
    let supporters = (n / 2 + 1) as f64 - f as f64;
    let honest = (n - f) as f64;
    inverse_normal_cdf((honest - supporters) / honest)
}

/// Phi^-1(p) for the standard normal: Acklam's rational approximation
/// (relative error 1.15e-9) refined by one Halley step on an accurate Phi.
/// p <= 0 gives -Inf, p >= 1 gives +Inf, NaN gives NaN.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    // The series for Phi is accurate to ~1e-16 absolute for |x| <= 5; beyond,
    // Acklam's 1e-9 relative accuracy is already better than a refinement could give.
    if x.abs() > 5.0 {
        return x;
    }
    let error = normal_cdf(x) - p;
    let u = error * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

/// Phi(x) by Marsaglia's series (2004): 1/2 + phi(x) (x + x^3/3 + x^5/15 + ...),
/// whose terms all share x's sign, so it is accurate for moderate |x|.
fn normal_cdf(x: f64) -> f64 {
    let square = x * x;
    let mut sum = x;
    let mut term = x;
    let mut previous = 0.0;
    let mut odd = 1.0;
    while sum != previous {
        previous = sum;
        odd += 2.0;
        term *= square / odd;
        sum += term;
    }
    // ln(sqrt(2 pi)) = 0.918938533204672741780...
    0.5 + sum * (-0.5 * square - 0.918_938_533_204_672_7).exp()
}

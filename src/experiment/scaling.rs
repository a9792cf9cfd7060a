//! The scaling table: PS-side decode/aggregate time and bytes to the PS against P and
//! d, measured on random messages (no training), for the coded schemes and the robust
//! aggregators they compete with. Each cell is the median of a few timed repeats.
//! The m = 1 cyclic code (Draco's bound) uses spread offsets here: decode time does not
//! depend on the offsets, and contiguous ones lose f32 precision at large P - r.

use crate::aggregate::{self, AggregatorConfig, Rule};
use crate::cluster::cost::message_bytes;
use crate::coding::{tradeoff, Code, CodeSpec, DecoderKind, Layout, Offsets};
use anyhow::Result;
use rand::{rngs::StdRng, SeedableRng};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Serialize)]
pub struct ScalingRow {
    pub method: String,
    pub workers: usize,
    pub adversaries: usize,
    pub d: usize,
    pub seconds: f64,
    pub bytes_to_ps: u64,
}

/// Median seconds of `repeats` calls after one warm-up; the first error stops it.
fn median_time(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

/// Measures every method at every (P, d); s = `adversaries` Byzantine workers.
pub fn measure(
    workers: &[usize],
    dims: &[usize],
    adversaries: usize,
    repeats: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ScalingRow>> {
    let mut rows = Vec::new();
    let mut rng = StdRng::seed_from_u64(7);
    for &p in workers {
        for &d in dims {
            progress(&format!("P={p} d={d}"));
            let s = adversaries;
            for (name, m, offsets) in [
                ("solon-cyclic m=2", 2, Offsets::Spread),
                ("solon-cyclic m=3", 3, Offsets::Spread),
                ("draco-cyclic", 1, Offsets::Spread),
            ] {
                let spec = CodeSpec {
                    workers: p,
                    adversaries: s,
                    redundancy: 2 * s + m,
                    compression: m,
                    layout: Layout::Cyclic,
                    offsets,
                    decoder: DecoderKind::Spectral,
                };
                let Ok(code) = Code::new(spec) else { continue };
                let grads = tradeoff::random_gradients(p, d, &mut rng);
                let messages = tradeoff::honest_messages(&code, &grads);
                let mut corrupted = messages.clone();
                for msg in corrupted.iter_mut().take(s) {
                    msg.iter_mut().for_each(|v| *v *= -100.0);
                }
                let slices: Vec<&[f32]> = corrupted.iter().map(|m| &m[..]).collect();
                let mut drng = StdRng::seed_from_u64(1);
                let seconds = median_time(repeats, || {
                    code.decode(&slices, d, &mut drng).map(|_| ()).map_err(|e| {
                        anyhow::anyhow!("{name} at P={p}, d={d} failed to decode {s} faults: {e}")
                    })
                })?;
                let bytes = message_bytes(code.message_len(d), false) * p as u64;
                rows.push(ScalingRow {
                    method: name.into(),
                    workers: p,
                    adversaries: s,
                    d,
                    seconds,
                    bytes_to_ps: bytes,
                });
            }
            let inputs = Tensor::randn([p as i64, d as i64], (Kind::Float, Device::Cpu));
            for rule in [
                Rule::Mean,
                Rule::Median,
                Rule::MultiKrum,
                Rule::Bulyan,
                Rule::Geomed,
            ] {
                let config = AggregatorConfig::new(rule, s);
                if config.validate(p).is_err() {
                    continue;
                }
                let mut agg = aggregate::build(&config, p)?;
                let seconds = median_time(repeats, || agg.aggregate(&inputs).map(|_| ()))?;
                let bytes = message_bytes(d, false) * p as u64;
                rows.push(ScalingRow {
                    method: rule.to_string(),
                    workers: p,
                    adversaries: s,
                    d,
                    seconds,
                    bytes_to_ps: bytes,
                });
            }
        }
    }
    Ok(rows)
}

//! The scaling table: PS-side decode/aggregate time and bytes to the PS against P and
//! d, measured on random messages (no training), for the coded schemes and the robust
//! aggregators they compete with. Each cell is the median of a few timed repeats.

use crate::aggregate::{self, AggregatorConfig, Rule};
use crate::cluster::cost::message_bytes;
use crate::coding::{Code, CodeSpec, DecoderKind, Layout, Offsets};
use anyhow::Result;
use rand::{rngs::StdRng, Rng, SeedableRng};
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

fn median_time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[times.len() / 2]
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
                let grads: Vec<Vec<f32>> = (0..p)
                    .map(|_| (0..d).map(|_| rng.gen::<f32>() - 0.5).collect())
                    .collect();
                let messages: Vec<Vec<f32>> = (0..p)
                    .map(|i| {
                        let parts: Vec<&[f32]> = code.assignment(i).iter().map(|&j| &grads[j][..]).collect();
                        code.encode(i, &parts)
                    })
                    .collect();
                let mut corrupted = messages.clone();
                for msg in corrupted.iter_mut().take(s) {
                    msg.iter_mut().for_each(|v| *v = -100.0 * *v);
                }
                let slices: Vec<&[f32]> = corrupted.iter().map(|m| &m[..]).collect();
                let mut drng = StdRng::seed_from_u64(1);
                let seconds = median_time(repeats, || {
                    code.decode(&slices, d, &mut drng)
                        .expect("decodes within s faults");
                });
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
                let seconds = median_time(repeats, || {
                    let _ = agg.aggregate(&inputs).expect("aggregates");
                });
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

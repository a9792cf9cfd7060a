//! Encode and decode time of the Solon cyclic code (spread offsets, s = 1, m = 1 and 2)
//! for P in {8, 16, 32} and d in {1e5, 1e6, 1e7}, and the floor a decoder is compared
//! with: one pass summing the P messages (P = 16, d = 1e6), both as a plain pass per
//! message and blocked (output block in L1). examples/decode_timing.rs measures decode
//! and floors interleaved, which is steadier on a shared machine.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use solon::coding::{Code, CodeSpec, DecoderKind, Layout, Offsets};
use std::hint::black_box;
use std::time::Duration;

fn code(p: usize, m: usize) -> Code {
    Code::new(CodeSpec {
        workers: p,
        adversaries: 1,
        redundancy: 2 + m,
        compression: m,
        layout: Layout::Cyclic,
        offsets: Offsets::Spread,
        decoder: DecoderKind::Spectral,
    })
    .expect("valid code")
}

fn messages(code: &Code, d: usize, rng: &mut StdRng) -> Vec<Vec<f32>> {
    let p = code.spec().workers;
    let grads: Vec<Vec<f32>> = (0..p)
        .map(|_| (0..d).map(|_| rng.gen::<f32>() - 0.5).collect())
        .collect();
    let mut out: Vec<Vec<f32>> = (0..p)
        .map(|i| {
            let held: Vec<&[f32]> = code.assignment(i).iter().map(|&j| &grads[j][..]).collect();
            code.encode(i, &held)
        })
        .collect();
    // One Byzantine worker, so the decoder has something to locate.
    out[1].iter_mut().for_each(|x| *x += 1.0);
    out
}

/// The floor with the output block kept in L1 while the messages stream: the same
/// reads as `sum_messages` without re-streaming the output once per message.
fn sum_messages_blocked(messages: &[&[f32]], out: &mut [f32]) {
    const BLOCK: usize = 2048;
    for (b, o) in out.chunks_mut(BLOCK).enumerate() {
        o.fill(0.0);
        for message in messages {
            for (o, &x) in o.iter_mut().zip(&message[b * BLOCK..]) {
                *o += x;
            }
        }
    }
}

/// The floor: out = sum of the P messages, one pass over each.
fn sum_messages(messages: &[&[f32]], out: &mut [f32]) {
    out.fill(0.0);
    for message in messages {
        for (o, &x) in out.iter_mut().zip(message.iter()) {
            *o += x;
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group("coding");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for d in [100_000usize, 1_000_000, 10_000_000] {
        for p in [8usize, 16, 32] {
            if d == 10_000_000 && p == 32 {
                // 32 messages of 1e7 floats plus the gradients exceed what this bench should hold.
                continue;
            }
            for m in [1usize, 2] {
                let code = code(p, m);
                let msgs = messages(&code, d, &mut rng);
                let views: Vec<&[f32]> = msgs.iter().map(|m| &m[..]).collect();
                let id = format!("P={p}/m={m}/d={d}");
                group.throughput(Throughput::Elements((p * d) as u64));
                group.bench_function(BenchmarkId::new("decode", &id), |b| {
                    let mut rng = StdRng::seed_from_u64(2);
                    b.iter(|| black_box(code.decode(&views, d, &mut rng).expect("decodes")))
                });
                let grads: Vec<Vec<f32>> = (0..code.spec().redundancy).map(|_| vec![0.25f32; d]).collect();
                let held: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
                let mut out = vec![0.0f32; code.message_len(d)];
                group.bench_function(BenchmarkId::new("encode_one_worker", &id), |b| {
                    b.iter(|| code.encode_into(0, black_box(&held), &mut out))
                });
                if p == 16 && d == 1_000_000 {
                    let mut sum = vec![0.0f32; code.message_len(d)];
                    group.bench_function(BenchmarkId::new("floor_sum_messages", &id), |b| {
                        b.iter(|| sum_messages(black_box(&views), &mut sum))
                    });
                    group.bench_function(BenchmarkId::new("floor_sum_messages_blocked", &id), |b| {
                        b.iter(|| sum_messages_blocked(black_box(&views), &mut sum))
                    });
                }
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

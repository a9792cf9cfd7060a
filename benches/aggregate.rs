//! Time of each aggregation rule on CPU for n in {15, 25, 50} inputs of
//! d in {1e5, 1e6} coordinates (median of a few runs), printed as a table,
//! then how Krum and Bulyan grow with n against the n^2 d of their Gram product.
//! One libtorch thread by default: on a busy machine the threads of a parallel
//! op wait on each other and timings swing tenfold. Options (after `--`):
//! `--quick` runs a small size only, `--threads K` uses K threads.

use solon::aggregate::{build, AggregatorConfig, Rule};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const REPEATS: usize = 3;

/// f as large as Bulyan allows (n >= 4f+3), so every rule runs with the same f.
fn largest_f(n: usize) -> usize {
    (n - 3) / 4
}

fn median_seconds(config: &AggregatorConfig, inputs: &Tensor) -> f64 {
    let n = inputs.size()[0] as usize;
    let mut aggregator = build(config, n).expect("valid benchmark configuration");
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            let output = aggregator.aggregate(inputs).expect("aggregation succeeds");
            // Reading one value forces any lazy work to finish inside the timing.
            let _ = output.double_value(&[0]);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPEATS / 2]
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let quick = arguments.iter().any(|arg| arg == "--quick");
    let threads = arguments
        .iter()
        .position(|arg| arg == "--threads")
        .and_then(|at| arguments.get(at + 1))
        .and_then(|value| value.parse::<i32>().ok())
        .unwrap_or(1);
    tch::set_num_threads(threads);
    let sizes_n = [15usize, 25, 50];
    let sizes_d: &[i64] = if quick { &[10_000] } else { &[100_000, 1_000_000] };
    tch::manual_seed(0);
    // Other processes on the machine distort timings; the load average says how much.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "aggregation time on CPU, median of {REPEATS} runs, f = floor((n-3)/4), libtorch threads = {}, load average at start: {}",
        tch::get_num_threads(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    print!("{:>7} {:>3} {:>9}", "n", "f", "d");
    for rule in Rule::ALL {
        print!(" {:>12}", rule.as_str());
    }
    println!();
    // times[rule][(n, d)] for the scaling note.
    let mut measured: Vec<(usize, i64, Vec<f64>)> = Vec::new();
    for &d in sizes_d {
        for &n in &sizes_n {
            let f = largest_f(n);
            let inputs = Tensor::randn([n as i64, d], (Kind::Float, Device::Cpu));
            print!("{n:>7} {f:>3} {d:>9}");
            let mut row = Vec::new();
            for rule in Rule::ALL {
                let seconds = median_seconds(&AggregatorConfig::new(rule, f), &inputs);
                print!(" {:>10.1}ms", seconds * 1e3);
                row.push(seconds);
            }
            println!();
            measured.push((n, d, row));
        }
    }
    println!();
    for (rule_index, rule) in Rule::ALL.iter().enumerate() {
        if !matches!(rule, Rule::Krum | Rule::Bulyan) {
            continue;
        }
        for &d in sizes_d {
            let at = |n: usize| {
                measured
                    .iter()
                    .find(|(m, e, _)| *m == n && *e == d)
                    .map(|(_, _, row)| row[rule_index])
                    .unwrap_or(f64::NAN)
            };
            let (small, large) = (sizes_n[0], sizes_n[2]);
            let ratio = at(large) / at(small);
            let linear = large as f64 / small as f64;
            println!(
                "{rule} d={d}: time(n={large}) / time(n={small}) = {ratio:.1}; n d predicts {linear:.1}, n^2 d predicts {:.1}",
                linear * linear
            );
        }
    }
}

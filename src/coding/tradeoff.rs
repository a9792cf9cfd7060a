//! The `tradeoff` experiment: for each (P, s, m, offsets), the smallest redundancy r at
//! which every trial (random gradients, every kind of Byzantine error) decodes exactly,
//! next to the bound r = 2s + m and the encoder's precision cost.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::encode::complex_gaussian;
use super::sparse::binomial;
use super::spec::{CodeSpec, DecoderKind, Layout, Offsets};
use super::Code;

/// Relative error of the decoded sum below which a decode counts as exact.
pub const EXACT_RELATIVE_ERROR: f64 = 1e-5;

/// What a Byzantine worker does to the message it would honestly send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Adds Gaussian noise of about the message's own size.
    Gaussian,
    /// Every entry 1e30.
    Huge,
    /// One entry NaN.
    NotANumber,
    /// One entry infinite.
    Infinite,
    /// All faulty workers add the same vector (a colluding, consistent shift).
    ConsistentShift,
    /// Adds an error of 1e-3 of the message norm.
    Tiny,
    /// Sends zeros.
    Zeroed,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Gaussian,
        ErrorKind::Huge,
        ErrorKind::NotANumber,
        ErrorKind::Infinite,
        ErrorKind::ConsistentShift,
        ErrorKind::Tiny,
        ErrorKind::Zeroed,
    ];
}

fn gaussian<R: Rng>(rng: &mut R) -> f32 {
    complex_gaussian(rng).re as f32 * std::f32::consts::SQRT_2
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

/// Replaces the messages of `faulty` as `kind` says.
pub fn corrupt<R: Rng>(messages: &mut [Vec<f32>], faulty: &[usize], kind: ErrorKind, rng: &mut R) {
    let len = messages.first().map_or(0, |m| m.len());
    let shift: Vec<f32> = {
        let typical = faulty.iter().map(|&i| norm(&messages[i])).fold(0.0, f64::max);
        let direction: Vec<f32> = (0..len).map(|_| gaussian(rng)).collect();
        let scale = typical / norm(&direction).max(f64::MIN_POSITIVE);
        direction.iter().map(|&v| (v as f64 * scale) as f32).collect()
    };
    for &i in faulty {
        let message = &mut messages[i];
        if message.is_empty() {
            continue;
        }
        let own = norm(message);
        let spot = rng.gen_range(0..message.len());
        match kind {
            ErrorKind::Gaussian => {
                let rms = (own / (message.len() as f64).sqrt()).max(1e-30) as f32;
                message.iter_mut().for_each(|v| *v += rms * gaussian(rng));
            }
            ErrorKind::Huge => message.fill(1e30),
            ErrorKind::NotANumber => message[spot] = f32::NAN,
            ErrorKind::Infinite => {
                message[spot] = if rng.gen() {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                }
            }
            ErrorKind::ConsistentShift => message.iter_mut().zip(&shift).for_each(|(v, s)| *v += s),
            ErrorKind::Tiny => {
                let direction: Vec<f32> = (0..message.len()).map(|_| gaussian(rng)).collect();
                let scale = 1e-3 * own / norm(&direction).max(f64::MIN_POSITIVE);
                message
                    .iter_mut()
                    .zip(&direction)
                    .for_each(|(v, e)| *v += (*e as f64 * scale) as f32);
            }
            ErrorKind::Zeroed => message.fill(0.0),
        }
    }
}

/// Random partition gradients whose scales differ by up to 100x across partitions, so
/// that relative tolerances are exercised.
pub fn random_gradients<R: Rng>(partitions: usize, d: usize, rng: &mut R) -> Vec<Vec<f32>> {
    (0..partitions)
        .map(|_| {
            let scale = 10f32.powf(rng.gen_range(-1.0..1.0));
            (0..d).map(|_| scale * gaussian(rng)).collect()
        })
        .collect()
}

/// Every worker's honest message.
pub fn honest_messages(code: &Code, gradients: &[Vec<f32>]) -> Vec<Vec<f32>> {
    (0..code.spec().workers)
        .map(|i| {
            let held: Vec<&[f32]> = code.assignment(i).iter().map(|&j| &gradients[j][..]).collect();
            code.encode(i, &held)
        })
        .collect()
}

/// The sum the decoder should return, in f64.
pub fn true_sum(gradients: &[Vec<f32>], d: usize) -> Vec<f64> {
    let mut sum = vec![0.0f64; d];
    for g in gradients {
        for (s, &v) in sum.iter_mut().zip(g) {
            *s += v as f64;
        }
    }
    sum
}

/// ||decoded - truth|| / max(||truth||, sqrt(sum_j ||g_j||^2)): relative to the sum, or
/// to the summands when they cancel. For a scalar (d = 1) the true sum can be far smaller
/// than its terms, and then even an honest f32 sum has a large error relative to it; the
/// summands' norm is the scale f32 rounding works on. For random gradients with d >= 7
/// the two denominators agree.
pub fn relative_error(decoded: &[f32], truth: &[f64], gradients: &[Vec<f32>]) -> f64 {
    let diff: f64 = decoded
        .iter()
        .zip(truth)
        .map(|(&a, &b)| (a as f64 - b).powi(2))
        .sum();
    let sum_norm: f64 = truth.iter().map(|b| b * b).sum();
    let summands: f64 = gradients.iter().flatten().map(|&g| (g as f64).powi(2)).sum();
    if diff == 0.0 {
        0.0
    } else {
        (diff / sum_norm.max(summands)).sqrt()
    }
}

/// The grid and effort of the experiment.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TradeoffConfig {
    pub workers: Vec<usize>,
    pub adversaries: Vec<usize>,
    pub compressions: Vec<usize>,
    pub offsets: Vec<Offsets>,
    /// Trials per (P, s, m, offsets, r); raised to cover every s-subset of faulty
    /// workers when there are at most `exhaustive_subsets` of them.
    pub trials: usize,
    pub exhaustive_subsets: usize,
    pub seed: u64,
    /// Gradient length in each trial.
    pub d: usize,
}

impl Default for TradeoffConfig {
    fn default() -> Self {
        TradeoffConfig {
            workers: vec![12, 16, 24],
            adversaries: vec![1, 2, 3],
            compressions: vec![1, 2, 3, 4],
            offsets: vec![Offsets::Spread, Offsets::Contiguous],
            trials: 70,
            exhaustive_subsets: 70,
            seed: 1,
            d: 64,
        }
    }
}

/// One line of the table / CSV.
#[derive(Debug, Clone, Serialize)]
pub struct TradeoffRow {
    #[serde(rename = "P")]
    pub workers: usize,
    pub s: usize,
    pub m: usize,
    pub offsets: Offsets,
    /// Smallest r (from 2s + m - 1 upward) at which every trial decoded exactly; None
    /// when no r <= P did.
    pub r_min_found: Option<usize>,
    pub r_bound: usize,
    /// Floats each worker sends per gradient of `d` floats: 2 ceil(d / 2m).
    pub floats_per_worker: usize,
    pub trials: usize,
    /// Largest relative error of the decoded sum over the trials at r = r_bound
    /// (infinite when a trial there failed to decode).
    pub max_rel_error: f64,
    /// Largest |encoder coefficient| at r = r_bound.
    pub max_encoder_coefficient: f64,
}

/// Outcome of all trials at one r.
struct Attempt {
    all_exact: bool,
    max_rel_error: f64,
}

fn attempt(code: &Code, config: &TradeoffConfig, trials: usize, rng: &mut rand::rngs::StdRng) -> Attempt {
    let p = code.spec().workers;
    let s = code.spec().adversaries;
    let subsets = if binomial(p, s) <= config.exhaustive_subsets as u128 {
        all_subsets(p, s)
    } else {
        Vec::new()
    };
    let mut all_exact = true;
    let mut max_rel_error: f64 = 0.0;
    for trial in 0..trials {
        let gradients = random_gradients(p, config.d, rng);
        let truth = true_sum(&gradients, config.d);
        let mut messages = honest_messages(code, &gradients);
        let faulty = if subsets.is_empty() {
            let mut all: Vec<usize> = (0..p).collect();
            all.shuffle(rng);
            let mut chosen = all[..s].to_vec();
            chosen.sort();
            chosen
        } else {
            subsets[trial % subsets.len()].clone()
        };
        corrupt(
            &mut messages,
            &faulty,
            ErrorKind::ALL[trial % ErrorKind::ALL.len()],
            rng,
        );
        let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
        match code.decode(&views, config.d, rng) {
            Ok(decoded) => {
                let error = relative_error(&decoded.sum, &truth, &gradients);
                max_rel_error = max_rel_error.max(error);
                if error > EXACT_RELATIVE_ERROR || decoded.faulty != faulty {
                    all_exact = false;
                }
            }
            Err(_) => {
                all_exact = false;
                max_rel_error = f64::INFINITY;
            }
        }
    }
    Attempt {
        all_exact,
        max_rel_error,
    }
}

pub(crate) fn all_subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    fn walk(start: usize, n: usize, k: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if current.len() == k {
            out.push(current.clone());
            return;
        }
        for next in start..n {
            current.push(next);
            walk(next + 1, n, k, current, out);
            current.pop();
        }
    }
    walk(0, n, k, &mut current, &mut out);
    out
}

/// Runs the experiment on the cyclic layout with the spectral decoder. For each grid
/// point it tries r = 2s + m - 1 (which must fail), then r = 2s + m, 2s + m + 1, ...
/// until every trial decodes exactly.
pub fn tradeoff(config: &TradeoffConfig) -> Vec<TradeoffRow> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut rows = Vec::new();
    for &p in &config.workers {
        for &s in &config.adversaries {
            for &m in &config.compressions {
                for &offsets in &config.offsets {
                    let bound = 2 * s + m;
                    if bound > p {
                        continue;
                    }
                    let subsets = binomial(p, s);
                    let trials = if subsets <= config.exhaustive_subsets as u128 {
                        config.trials.max(subsets as usize)
                    } else {
                        config.trials
                    };
                    let spec = |r: usize| CodeSpec {
                        workers: p,
                        adversaries: s,
                        redundancy: r,
                        compression: m,
                        layout: Layout::Cyclic,
                        offsets,
                        decoder: DecoderKind::Spectral,
                    };
                    let mut r_min_found = None;
                    let mut at_bound = (f64::INFINITY, f64::NAN);
                    for r in bound.saturating_sub(1).max(m)..=p {
                        let Ok(code) = Code::new_unchecked(spec(r)) else {
                            continue;
                        };
                        let result = attempt(&code, config, trials, &mut rng);
                        if r == bound {
                            at_bound = (result.max_rel_error, code.max_encoder_coefficient());
                        }
                        // Success at 2s + m - 1 would contradict the necessity argument
                        // and shows up as r_min_found < r_bound.
                        if result.all_exact {
                            r_min_found = Some(r);
                            break;
                        }
                    }
                    rows.push(TradeoffRow {
                        workers: p,
                        s,
                        m,
                        offsets,
                        r_min_found,
                        r_bound: bound,
                        floats_per_worker: 2 * config.d.div_ceil(2 * m),
                        trials,
                        max_rel_error: at_bound.0,
                        max_encoder_coefficient: at_bound.1,
                    });
                }
            }
        }
    }
    rows
}

/// The rows as an aligned text table.
pub fn format_table(rows: &[TradeoffRow]) -> String {
    let mut out = String::from("  P  s  m  offsets     r_min_found  r_bound  floats/worker  trials  max_rel_error  max_coefficient\n");
    for row in rows {
        let offsets = match row.offsets {
            Offsets::Spread => "spread",
            Offsets::Contiguous => "contiguous",
        };
        let found = row.r_min_found.map_or("none".to_string(), |r| r.to_string());
        out.push_str(&format!(
            "{:>3} {:>2} {:>2}  {:<10}  {:>11}  {:>7}  {:>13}  {:>6}  {:>13.2e}  {:>15.2e}\n",
            row.workers,
            row.s,
            row.m,
            offsets,
            found,
            row.r_bound,
            row.floats_per_worker,
            row.trials,
            row.max_rel_error,
            row.max_encoder_coefficient
        ));
    }
    out
}

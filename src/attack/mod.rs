//! Byzantine behaviours: given what every worker would honestly send, the
//! adversary returns the messages of the workers it controls (SOLON.md section 6).
//! Attacks are omniscient: they see all honest messages, n, f and the rule in use.

mod alie;
mod code_aware;
mod ipm;
mod label_flip;
mod signum_attack;
mod simple;

#[cfg(test)]
mod tests;

pub use alie::{alie_z, inverse_normal_cdf, Alie};
pub use code_aware::{ConsistentShift, TargetedPartition, TinyError};
pub use ipm::InnerProductManipulation;
pub use label_flip::{flip_labels, LabelFlip};
pub use signum_attack::SignumAttack;
pub use simple::{Constant, Corrupt, Gaussian, NoAttack, Reverse, SignFlip};

use crate::aggregate::Rule;
use anyhow::{ensure, Context, Result};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use std::fmt;
use tch::{Device, Kind, Tensor};

/// The attacks, named as the CLI, JSON specs and CSV name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[clap(rename_all = "kebab-case")]
pub enum AttackKind {
    None,
    Reverse,
    Constant,
    Gaussian,
    SignFlip,
    LabelFlip,
    Alie,
    Ipm,
    SignumAttack,
    Nan,
    Inf,
    Huge,
    Shift,
    Tiny,
    Targeted,
}

impl AttackKind {
    pub const ALL: [AttackKind; 15] = [
        AttackKind::None,
        AttackKind::Reverse,
        AttackKind::Constant,
        AttackKind::Gaussian,
        AttackKind::SignFlip,
        AttackKind::LabelFlip,
        AttackKind::Alie,
        AttackKind::Ipm,
        AttackKind::SignumAttack,
        AttackKind::Nan,
        AttackKind::Inf,
        AttackKind::Huge,
        AttackKind::Shift,
        AttackKind::Tiny,
        AttackKind::Targeted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::None => "none",
            AttackKind::Reverse => "reverse",
            AttackKind::Constant => "constant",
            AttackKind::Gaussian => "gaussian",
            AttackKind::SignFlip => "sign-flip",
            AttackKind::LabelFlip => "label-flip",
            AttackKind::Alie => "alie",
            AttackKind::Ipm => "ipm",
            AttackKind::SignumAttack => "signum-attack",
            AttackKind::Nan => "nan",
            AttackKind::Inf => "inf",
            AttackKind::Huge => "huge",
            AttackKind::Shift => "shift",
            AttackKind::Tiny => "tiny",
            AttackKind::Targeted => "targeted",
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for AttackKind {
    type Err = anyhow::Error;
    fn from_str(name: &str) -> Result<Self> {
        AttackKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .with_context(|| {
                let names: Vec<_> = AttackKind::ALL.iter().map(|kind| kind.as_str()).collect();
                format!("unknown attack '{name}' (known: {})", names.join(", "))
            })
    }
}

/// One attack's configuration; only the fields of the chosen kind matter.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AttackConfig {
    pub kind: AttackKind,
    /// reverse: send -c * g.
    pub reverse_scale: f64,
    /// constant: every coordinate equals this value.
    pub constant: f64,
    /// gaussian: standard deviation of each coordinate.
    pub sigma: f64,
    /// alie: overrides z = Phi^-1((n - f - k)/(n - f)).
    pub alie_z: Option<f64>,
    /// ipm: send -eps * mean(honest); 0.1 small, 100 large.
    pub ipm_eps: f64,
    /// nan, inf, huge: fraction of coordinates corrupted (1 = all, at least one).
    pub corrupt_fraction: f64,
    /// huge: the finite value written into the corrupted coordinates.
    pub huge_value: f64,
    /// shift: norm of the common shift relative to the mean message norm.
    pub shift_scale: f64,
    /// tiny: norm of each error relative to that worker's message norm.
    pub tiny_scale: f64,
    /// targeted: norm of the partition perturbation relative to that partition's gradient norm.
    pub target_scale: f64,
    pub seed: u64,
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            kind: AttackKind::None,
            reverse_scale: 100.0,
            constant: -100.0,
            sigma: 1.0,
            alie_z: None,
            ipm_eps: 0.1,
            corrupt_fraction: 1.0,
            huge_value: 1e30,
            shift_scale: 1.0,
            tiny_scale: 1e-3,
            target_scale: 1.0,
            seed: 0,
        }
    }
}

impl AttackConfig {
    pub fn new(kind: AttackKind) -> Self {
        AttackConfig {
            kind,
            ..Default::default()
        }
    }

    /// Parameter ranges of the chosen kind, with the offending value named.
    pub fn validate(&self) -> Result<()> {
        let finite = |name: &str, value: f64| -> Result<()> {
            ensure!(
                value.is_finite(),
                "{} needs a finite {name}: got {value}",
                self.kind
            );
            Ok(())
        };
        match self.kind {
            AttackKind::Reverse => finite("reverse_scale", self.reverse_scale)?,
            AttackKind::Constant => finite("constant", self.constant)?,
            AttackKind::Gaussian => {
                finite("sigma", self.sigma)?;
                ensure!(self.sigma >= 0.0, "gaussian needs sigma >= 0: got {}", self.sigma);
            }
            AttackKind::Alie => {
                if let Some(z) = self.alie_z {
                    finite("alie_z", z)?;
                }
            }
            AttackKind::Ipm => finite("ipm_eps", self.ipm_eps)?,
            AttackKind::Nan | AttackKind::Inf | AttackKind::Huge => {
                ensure!(
                    self.corrupt_fraction > 0.0 && self.corrupt_fraction <= 1.0,
                    "{} needs 0 < corrupt_fraction <= 1: got {}",
                    self.kind,
                    self.corrupt_fraction
                );
                if self.kind == AttackKind::Huge {
                    finite("huge_value", self.huge_value)?;
                }
            }
            AttackKind::Shift => finite("shift_scale", self.shift_scale)?,
            AttackKind::Tiny => finite("tiny_scale", self.tiny_scale)?,
            AttackKind::Targeted => finite("target_scale", self.target_scale)?,
            AttackKind::None | AttackKind::SignFlip | AttackKind::LabelFlip | AttackKind::SignumAttack => {}
        }
        Ok(())
    }
}

/// What the adversary sees in one iteration.
pub struct AttackContext<'a> {
    /// n x d': what every worker would honestly send, Byzantine rows included
    /// (for label-flip, those rows are already computed on flipped labels).
    pub honest: &'a Tensor,
    /// Rows controlled by the adversary.
    pub byzantine: &'a [usize],
    pub n: usize,
    /// The number of Byzantine workers the defence assumes.
    pub f: usize,
    /// The aggregation rule, when messages are aggregated rather than decoded.
    pub rule: Option<Rule>,
    pub iteration: usize,
    /// Coded schemes: maps a perturbation of the targeted partition's gradient
    /// (gradient space) to the change it makes to `worker`'s message (d'). The
    /// identity when None (messages are gradients).
    #[allow(clippy::type_complexity)]
    pub partition_shift: Option<&'a dyn Fn(usize, &Tensor) -> Tensor>,
    /// Coded schemes: the honest gradient of the partition `targeted` perturbs,
    /// which sets the perturbation's size and dimension. None: the perturbation
    /// lives in message space and is sized by the messages.
    pub target_gradient: Option<&'a Tensor>,
}

impl<'a> AttackContext<'a> {
    /// A context for plain aggregation: no rule named, iteration 0, no code.
    pub fn new(honest: &'a Tensor, byzantine: &'a [usize], f: usize) -> Self {
        AttackContext {
            honest,
            byzantine,
            n: honest.size().first().copied().unwrap_or(0).max(0) as usize,
            f,
            rule: None,
            iteration: 0,
            partition_shift: None,
            target_gradient: None,
        }
    }

    /// Checks the context's shapes and indices; returns (n, d').
    pub fn check(&self) -> Result<(usize, usize)> {
        let size = self.honest.size();
        ensure!(
            size.len() == 2,
            "attack expects an n x d matrix of honest messages, got shape {size:?}"
        );
        ensure!(
            self.honest.is_floating_point(),
            "attack expects floating-point messages, got {:?}",
            self.honest.kind()
        );
        let (rows, d) = (size[0] as usize, size[1] as usize);
        ensure!(d >= 1, "attack expects messages of at least one coordinate");
        ensure!(
            rows == self.n,
            "attack context: honest has {rows} rows but n={}",
            self.n
        );
        let mut seen = vec![false; self.n];
        for &worker in self.byzantine {
            ensure!(
                worker < self.n,
                "attack context: Byzantine worker {worker} out of range (n={})",
                self.n
            );
            ensure!(
                !seen[worker],
                "attack context: Byzantine worker {worker} listed twice"
            );
            seen[worker] = true;
        }
        Ok((self.n, d))
    }

    /// The workers the adversary does not control.
    pub fn honest_workers(&self) -> Vec<usize> {
        (0..self.n)
            .filter(|worker| !self.byzantine.contains(worker))
            .collect()
    }

    /// |byzantine| x d': the Byzantine workers' honest messages.
    pub fn byzantine_messages(&self) -> Tensor {
        self.honest
            .index_select(0, &index_tensor(self.byzantine, self.honest.device()))
    }

    /// The honest workers' messages; an error when the adversary controls everyone,
    /// since omniscient attacks estimate their statistics from these.
    pub fn honest_messages(&self, attack: AttackKind) -> Result<Tensor> {
        let workers = self.honest_workers();
        ensure!(
            !workers.is_empty(),
            "{attack} needs at least one honest worker: n={}, Byzantine={}",
            self.n,
            self.byzantine.len()
        );
        Ok(self
            .honest
            .index_select(0, &index_tensor(&workers, self.honest.device())))
    }
}

/// One Byzantine behaviour, possibly stateful (random streams).
pub trait Attack: Send {
    /// Returns |byzantine| x d' messages, in the order of `ctx.byzantine`,
    /// which replace those rows of `ctx.honest`.
    fn apply(&mut self, ctx: &AttackContext) -> Result<Tensor>;
    /// True for data attacks: the caller computes the Byzantine workers'
    /// gradients on labels flipped by `flip_labels`.
    fn flips_labels(&self) -> bool {
        false
    }
}

/// Validates the configuration and builds the attack.
pub fn build(config: &AttackConfig) -> Result<Box<dyn Attack>> {
    config.validate()?;
    let seed = config.seed;
    Ok(match config.kind {
        AttackKind::None => Box::new(NoAttack),
        AttackKind::Reverse => Box::new(Reverse::new(config.reverse_scale)),
        AttackKind::Constant => Box::new(Constant::new(config.constant)),
        AttackKind::Gaussian => Box::new(Gaussian::new(config.sigma, seed)),
        AttackKind::SignFlip => Box::new(SignFlip),
        AttackKind::LabelFlip => Box::new(LabelFlip),
        AttackKind::Alie => Box::new(Alie::new(config.alie_z)),
        AttackKind::Ipm => Box::new(InnerProductManipulation::new(config.ipm_eps)),
        AttackKind::SignumAttack => Box::new(SignumAttack),
        AttackKind::Nan => Box::new(Corrupt::new(
            AttackKind::Nan,
            f64::NAN,
            config.corrupt_fraction,
            seed,
        )),
        AttackKind::Inf => Box::new(Corrupt::new(
            AttackKind::Inf,
            f64::INFINITY,
            config.corrupt_fraction,
            seed,
        )),
        AttackKind::Huge => Box::new(Corrupt::new(
            AttackKind::Huge,
            config.huge_value,
            config.corrupt_fraction,
            seed,
        )),
        AttackKind::Shift => Box::new(ConsistentShift::new(config.shift_scale, seed)),
        AttackKind::Tiny => Box::new(TinyError::new(config.tiny_scale, seed)),
        AttackKind::Targeted => Box::new(TargetedPartition::new(config.target_scale, seed)),
    })
}

/// Chooses the Byzantine workers: a fixed set drawn once from the seed, or a
/// fresh set each iteration. Either way select(t) depends only on (seed, t),
/// so a resumed run sees the same adversaries.
#[derive(Debug, Clone)]
pub struct ByzantineSelector {
    n: usize,
    count: usize,
    redraw: bool,
    seed: u64,
    fixed: Vec<usize>,
}

impl ByzantineSelector {
    pub fn new(n: usize, count: usize, redraw: bool, seed: u64) -> Result<Self> {
        ensure!(count <= n, "cannot choose {count} Byzantine workers among n={n}");
        let fixed = draw_workers(n, count, mix_seed(seed, u64::MAX));
        Ok(ByzantineSelector {
            n,
            count,
            redraw,
            seed,
            fixed,
        })
    }

    /// An explicit fixed set (e.g. the first s workers).
    pub fn with_workers(n: usize, workers: &[usize]) -> Result<Self> {
        let mut fixed = workers.to_vec();
        fixed.sort_unstable();
        fixed.dedup();
        ensure!(
            fixed.len() == workers.len(),
            "Byzantine workers listed twice: {workers:?}"
        );
        ensure!(
            fixed.iter().all(|&worker| worker < n),
            "Byzantine workers {workers:?} out of range (n={n})"
        );
        Ok(ByzantineSelector {
            n,
            count: fixed.len(),
            redraw: false,
            seed: 0,
            fixed,
        })
    }

    /// The Byzantine workers of this iteration, sorted.
    pub fn select(&mut self, iteration: usize) -> Vec<usize> {
        if self.redraw {
            draw_workers(self.n, self.count, mix_seed(self.seed, iteration as u64))
        } else {
            self.fixed.clone()
        }
    }
}

fn draw_workers(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut workers: Vec<usize> = (0..n).collect();
    workers.shuffle(&mut rng);
    workers.truncate(count);
    workers.sort_unstable();
    workers
}

/// SplitMix64 finaliser: independent-looking streams per (seed, iteration).
fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// Helpers shared by the attacks.

pub(crate) fn index_tensor(indices: &[usize], device: Device) -> Tensor {
    let indices: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_slice(&indices).to_device(device)
}

/// rows x d standard normal samples from `rng` (Box-Muller), so that the same
/// seed gives the same numbers whatever libtorch's global generator did.
pub(crate) fn standard_normal(rng: &mut StdRng, rows: usize, d: usize, kind: Kind, device: Device) -> Tensor {
    let count = rows * d;
    let mut samples = Vec::with_capacity(count + 1);
    while samples.len() < count {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * u2;
        samples.push((radius * angle.cos()) as f32);
        samples.push((radius * angle.sin()) as f32);
    }
    samples.truncate(count);
    Tensor::from_slice(&samples)
        .reshape([rows as i64, d as i64])
        .to_kind(kind)
        .to_device(device)
}

/// A random d-vector of unit Euclidean norm.
pub(crate) fn random_unit(rng: &mut StdRng, d: usize, kind: Kind, device: Device) -> Tensor {
    // An all-zero draw has probability ~0 for d >= 1; the cap keeps it a loop that ends.
    for _ in 0..8 {
        let direction = standard_normal(rng, 1, d, kind, device).squeeze_dim(0);
        let norm = direction.norm().double_value(&[]);
        if norm > 0.0 {
            return direction / norm;
        }
    }
    Tensor::ones([d as i64], (kind, device)) / (d as f64).sqrt()
}

/// Euclidean norm of each row, as f64 on the CPU.
pub(crate) fn row_norms(rows: &Tensor) -> Vec<f64> {
    let norms = rows
        .norm_scalaropt_dim(2.0, [1i64], false)
        .to_kind(Kind::Double)
        .to_device(Device::Cpu);
    Vec::<f64>::try_from(&norms).unwrap_or_default()
}

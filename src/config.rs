//! One run's configuration: every field is a `solon train` flag and a key of the
//! `--config run.json` file, with one set of defaults (clap's), validated once with
//! errors that name the constraint and the values.

use crate::aggregate::{AggregatorConfig, Rule};
use crate::attack::{AttackConfig, AttackKind};
use crate::cluster::cost::Network;
use crate::coding::{CodeSpec, DecoderKind, Layout, Offsets};
use crate::data::DatasetKind;
use crate::model::ModelKind;
use crate::train::{OptimConfig, Schedule};
use anyhow::{bail, Context, Result};
use clap::{parser::ValueSource, ArgMatches, Args, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<tch::Device> {
        Ok(match self {
            DeviceChoice::Auto => tch::Device::cuda_if_available(),
            DeviceChoice::Cpu => tch::Device::Cpu,
            DeviceChoice::Cuda => {
                if !tch::Cuda::is_available() {
                    bail!("--device cuda: libtorch sees no CUDA device (run `solon info`); use --device cpu or auto");
                }
                tch::Device::Cuda(0)
            }
        })
    }
}

/// How workers compute and what the PS does with their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// One partition per worker, full gradients, --aggregator on the PS.
    Plain,
    /// Draco, repetition: groups of r workers compute the same r partitions; majority vote.
    DracoRep,
    /// Draco, cyclic code (m = 1), Draco's contiguous offsets by default.
    DracoCyclic,
    /// DETOX: repetition groups with majority vote, then --aggregator across the groups.
    Detox,
    /// Solon group code: repetition layout, an [r, m] Reed-Solomon code per group.
    SolonRep,
    /// Solon cyclic code: r >= 2s + m partitions per worker, d/m numbers per message.
    SolonCyclic,
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(clap::ValueEnum::to_possible_value(self).unwrap().get_name())
    }
}

impl Scheme {
    pub fn is_coded(self) -> bool {
        !matches!(self, Scheme::Plain | Scheme::Detox)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Training scheme.
    #[arg(long, value_enum, default_value_t = Scheme::Plain)]
    pub scheme: Scheme,
    /// Robust aggregation rule on the PS (plain and detox).
    #[arg(long, value_enum, default_value_t = Rule::Mean)]
    pub aggregator: Rule,
    /// Number of Byzantine workers s.
    #[arg(long, default_value_t = 0)]
    pub adversaries: usize,
    /// What the Byzantine workers send.
    #[arg(long, value_enum, default_value_t = AttackKind::None)]
    pub attack: AttackKind,
    /// Draw a new Byzantine set every iteration (seeded) instead of a fixed one.
    #[arg(long)]
    pub redraw_byzantine: bool,
    /// Redundancy r: partitions per worker (default: 2s+m for Solon, 2s+1 for Draco and DETOX).
    #[arg(long)]
    pub redundancy: Option<usize>,
    /// Compression m: each worker sends d/m numbers (default: 2 for Solon, 1 otherwise).
    #[arg(long)]
    pub compression: Option<usize>,
    /// Cyclic offsets (default: spread for solon-cyclic, contiguous for draco-cyclic).
    #[arg(long, value_enum)]
    pub offsets: Option<Offsets>,
    /// Decoder (default: majority for draco-rep, spectral otherwise).
    #[arg(long, value_enum)]
    pub decoder: Option<DecoderKind>,
    /// Byzantine inputs the aggregator assumes (default: s for plain; the groups s can win for detox).
    #[arg(long)]
    pub assumed_f: Option<usize>,
    /// Multi-Krum: average of the q best-scored inputs (default n - f).
    #[arg(long)]
    pub multi_krum_q: Option<usize>,
    /// Geometric median: Weiszfeld iterations.
    #[arg(long, default_value_t = 8)]
    pub geomed_iters: usize,
    /// Geometric median: smoothing nu.
    #[arg(long, default_value_t = 1e-6)]
    pub geomed_nu: f64,
    /// Centered clipping: radius tau.
    #[arg(long, default_value_t = 10.0)]
    pub cclip_tau: f64,
    /// Centered clipping: iterations.
    #[arg(long, default_value_t = 3)]
    pub cclip_iters: usize,
    /// Bucketing: average random buckets of this many inputs before the rule.
    #[arg(long)]
    pub bucketing: Option<usize>,
    /// Nearest-neighbour mixing before the rule.
    #[arg(long)]
    pub nnm: bool,
    /// reverse attack: Byzantine workers send -c * g.
    #[arg(long, default_value_t = 100.0)]
    pub reverse_scale: f64,
    /// constant attack: every coordinate equals this value.
    #[arg(long, default_value_t = -100.0)]
    pub constant_value: f64,
    /// gaussian attack: standard deviation.
    #[arg(long, default_value_t = 1.0)]
    pub gaussian_sigma: f64,
    /// ALIE: override z (default from n and f).
    #[arg(long)]
    pub alie_z: Option<f64>,
    /// IPM: epsilon (0.1 small, 100 large).
    #[arg(long, default_value_t = 0.1)]
    pub ipm_eps: f64,
    /// Simulated network bandwidth per link, Gbit/s.
    #[arg(long, default_value_t = 10.0)]
    pub bandwidth_gbps: f64,
    /// Simulated one-way latency per message, milliseconds.
    #[arg(long, default_value_t = 0.1)]
    pub latency_ms: f64,
    /// Network to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Lenet)]
    pub model: ModelKind,
    /// Dataset to train on.
    #[arg(long, value_enum, default_value_t = DatasetKind::FashionMnist)]
    pub dataset: DatasetKind,
    /// Directory holding the datasets (default: $SOLON_DATA, else ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Number of workers P; the global batch is cut into P equal partitions.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Global batch size B (all workers together); must be divisible by --workers.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Training iterations (SGD steps).
    #[arg(long, default_value_t = 500)]
    pub iterations: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Heavy-ball momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    pub schedule: Schedule,
    /// Iterations between learning-rate drops (--schedule step).
    #[arg(long, default_value_t = 1000)]
    pub lr_step: usize,
    /// Factor of each learning-rate drop (--schedule step).
    #[arg(long, default_value_t = 0.1)]
    pub lr_gamma: f64,
    /// Evaluate on the test set every this many iterations (and at the end).
    #[arg(long, default_value_t = 50)]
    pub eval_every: usize,
    /// Evaluate on the first N test samples only (0 = the whole test set).
    #[arg(long, default_value_t = 0)]
    pub test_samples: usize,
    /// Seed of everything random: initialisation, batches, synthetic data, attacks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Intra-op CPU threads for libtorch (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Per-iteration CSV to write (default: results/<model>-<dataset>.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the run executes: in this process, or across `mpirun -np P+1` ranks.
    #[arg(long, value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,
    /// MPI backend: seconds the PS waits for the workers' messages of one iteration.
    #[arg(long, default_value_t = 60.0)]
    pub mpi_timeout_s: f64,
    /// Write the final model's flat parameters here (little-endian f32).
    #[arg(long)]
    pub save_params: Option<PathBuf>,
    /// Testing the MPI backend's timeout: RANK:ITERATION makes that rank stop responding.
    #[arg(long, hide = true)]
    pub mpi_stall: Option<String>,
}

/// Where a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The in-process simulator with the modeled network.
    Sim,
    /// Real processes under mpirun: rank 0 the PS, ranks 1..P the workers.
    Mpi,
}

#[derive(Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    config: RunConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        DefaultsOnly::parse_from(["solon"]).config
    }
}

impl RunConfig {
    /// The configuration of a command line: the `--config` file when given, with
    /// every flag that was typed on the command line taking precedence over it.
    pub fn from_matches(matches: &ArgMatches, file: Option<&Path>) -> Result<Self> {
        let cli = RunConfig::from_arg_matches(matches)?;
        let Some(file) = file else { return Ok(cli) };
        let mut value = load_json(file)?;
        let cli_value = serde_json::to_value(&cli)?;
        for id in matches.ids() {
            let id = id.as_str();
            if matches.value_source(id) == Some(ValueSource::CommandLine) {
                if let Some(v) = cli_value.get(id) {
                    value[id] = v.clone();
                }
            }
        }
        serde_json::from_value(value).with_context(|| format!("in {}", file.display()))
    }

    pub fn data_root(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(crate::data::default_root)
    }

    pub fn optim(&self) -> OptimConfig {
        OptimConfig {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            schedule: self.schedule,
            lr_step: self.lr_step,
            lr_gamma: self.lr_gamma,
            iterations: self.iterations,
        }
    }

    pub fn out_path(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/{}-{}.csv", self.model, self.dataset)))
    }

    pub fn network(&self) -> Network {
        Network {
            bandwidth_gbps: self.bandwidth_gbps,
            latency_ms: self.latency_ms,
        }
    }

    /// Compression m in effect.
    pub fn compression_m(&self) -> usize {
        self.compression.unwrap_or(match self.scheme {
            Scheme::SolonRep | Scheme::SolonCyclic => 2,
            _ => 1,
        })
    }

    /// Redundancy r in effect (1 for plain).
    pub fn redundancy_r(&self) -> usize {
        match self.scheme {
            Scheme::Plain => 1,
            _ => self
                .redundancy
                .unwrap_or(2 * self.adversaries + self.compression_m()),
        }
    }

    /// The code of a coded scheme, None for plain and detox.
    pub fn code_spec(&self) -> Option<CodeSpec> {
        let (layout, offsets, decoder) = match self.scheme {
            Scheme::Plain | Scheme::Detox => return None,
            Scheme::DracoRep => (Layout::Repetition, Offsets::Spread, DecoderKind::Majority),
            Scheme::DracoCyclic => (Layout::Cyclic, Offsets::Contiguous, DecoderKind::Spectral),
            Scheme::SolonRep => (Layout::Repetition, Offsets::Spread, DecoderKind::Spectral),
            Scheme::SolonCyclic => (Layout::Cyclic, Offsets::Spread, DecoderKind::Spectral),
        };
        Some(CodeSpec {
            workers: self.workers,
            adversaries: self.adversaries,
            redundancy: self.redundancy_r(),
            compression: self.compression_m(),
            layout,
            offsets: self.offsets.unwrap_or(offsets),
            decoder: self.decoder.unwrap_or(decoder),
        })
    }

    /// Number of inputs the aggregator sees: P, or the P/r DETOX groups.
    pub fn aggregator_inputs(&self) -> usize {
        match self.scheme {
            Scheme::Detox => self.workers / self.redundancy_r().max(1),
            _ => self.workers,
        }
    }

    /// The aggregator of plain and detox. DETOX's default f: the groups in which s
    /// adversaries can hold a majority, floor(s / ((r + 1) / 2)).
    pub fn aggregator_config(&self) -> AggregatorConfig {
        let default_f = match self.scheme {
            Scheme::Detox => self.adversaries / self.redundancy_r().div_ceil(2).max(1),
            _ => self.adversaries,
        };
        AggregatorConfig {
            rule: self.aggregator,
            f: self.assumed_f.unwrap_or(default_f),
            multi_krum_q: self.multi_krum_q,
            geomed_iters: self.geomed_iters,
            geomed_nu: self.geomed_nu,
            cclip_tau: self.cclip_tau,
            cclip_iters: self.cclip_iters,
            bucketing: self.bucketing,
            nnm: self.nnm,
            seed: self.seed,
        }
    }

    pub fn attack_config(&self) -> AttackConfig {
        AttackConfig {
            kind: self.attack,
            reverse_scale: self.reverse_scale,
            constant: self.constant_value,
            sigma: self.gaussian_sigma,
            alie_z: self.alie_z,
            ipm_eps: self.ipm_eps,
            seed: self.seed,
            ..AttackConfig::default()
        }
    }

    /// Every constraint between fields, checked before anything is loaded or trained.
    pub fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            bail!("--workers 0: need at least one worker");
        }
        if self.batch_size == 0 || !self.batch_size.is_multiple_of(self.workers) {
            let up = self.batch_size.div_ceil(self.workers).max(1) * self.workers;
            bail!(
                "--batch-size {} is not divisible by --workers {}: every worker's partition must have the same size (try --batch-size {up})",
                self.batch_size,
                self.workers
            );
        }
        if self.iterations == 0 {
            bail!("--iterations 0: nothing to train");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr {} must be a positive number", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum {} must be in [0, 1)", self.momentum);
        }
        if self.eval_every == 0 {
            bail!("--eval-every 0: must be at least 1");
        }
        if self.adversaries >= self.workers {
            bail!(
                "--adversaries {} must be fewer than --workers {}",
                self.adversaries,
                self.workers
            );
        }
        if self.attack != AttackKind::None && self.adversaries == 0 {
            bail!(
                "--attack {} needs at least one Byzantine worker: set --adversaries",
                self.attack
            );
        }
        if !(self.bandwidth_gbps.is_finite()
            && self.bandwidth_gbps > 0.0
            && self.latency_ms.is_finite()
            && self.latency_ms >= 0.0)
        {
            bail!(
                "--bandwidth-gbps {} must be positive and --latency-ms {} non-negative",
                self.bandwidth_gbps,
                self.latency_ms
            );
        }
        if self.scheme == Scheme::Plain
            && (self.redundancy.is_some_and(|r| r != 1) || self.compression.is_some_and(|m| m != 1))
        {
            bail!("--scheme plain has r = m = 1; use a coded scheme for --redundancy/--compression");
        }
        self.attack_config().validate()?;
        match self.scheme {
            Scheme::Plain => self.aggregator_config().validate(self.workers)?,
            Scheme::Detox => {
                let r = self.redundancy_r();
                if self.compression_m() != 1 {
                    bail!("detox sends full gradients: --compression must be 1");
                }
                if r == 0 || r.is_multiple_of(2) || !self.workers.is_multiple_of(r) {
                    bail!(
                        "detox needs an odd group size r dividing P for its majority vote: r={r}, P={}",
                        self.workers
                    );
                }
                self.aggregator_config()
                    .validate(self.aggregator_inputs())
                    .with_context(|| {
                        format!("detox aggregates {} group winners", self.aggregator_inputs())
                    })?;
            }
            _ => {
                let spec = self.code_spec().expect("coded scheme");
                spec.validate()
                    .with_context(|| format!("--scheme {}", self.scheme))?;
                if self.scheme.is_coded() && self.aggregator != Rule::Mean {
                    bail!(
                        "--aggregator {} has no effect with --scheme {}: coded schemes decode",
                        self.aggregator,
                        self.scheme
                    );
                }
                if self.attack == AttackKind::SignumAttack {
                    bail!("signum-attack targets --aggregator signum, which needs --scheme plain");
                }
            }
        }
        if self.aggregator == Rule::Signum && self.scheme != Scheme::Plain {
            bail!("--aggregator signum (workers send signs) needs --scheme plain");
        }
        Ok(())
    }
}

/// Reads a JSON object, refusing anything else with the file's name.
pub fn load_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    if !value.is_object() {
        bail!("{} must hold a JSON object of run settings", path.display());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: RunConfig,
    }

    #[test]
    fn defaults_are_clap_defaults_and_validate() {
        let c = RunConfig::default();
        assert_eq!(c.workers, 8);
        assert_eq!(c.model, ModelKind::Lenet);
        c.validate().unwrap();
    }

    #[test]
    fn file_values_apply_and_typed_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, r#"{"workers": 4, "batch_size": 40, "model": "mlp"}"#).unwrap();
        let m = Cli::command().get_matches_from(["solon", "--batch-size", "64"]);
        let c = RunConfig::from_matches(&m, Some(&path)).unwrap();
        assert_eq!((c.workers, c.batch_size, c.model), (4, 64, ModelKind::Mlp));
        std::fs::write(&path, r#"{"wokers": 4}"#).unwrap();
        let err = format!("{:#}", RunConfig::from_matches(&m, Some(&path)).unwrap_err());
        assert!(err.contains("wokers"), "{err}");
    }

    #[test]
    fn constraint_errors_name_the_values() {
        let mut c = RunConfig {
            workers: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("--workers 0"));
        c.workers = 4;
        c.batch_size = 7;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("--batch-size 7") && e.contains("--workers 4") && e.contains("8"),
            "{e}"
        );
    }
}

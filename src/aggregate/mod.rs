//! Robust aggregation rules: turn the n messages a parameter server receives
//! (an n x d stack of flat gradients, on any device) into one d-vector.
//! SOLON.md section 5 defines the rules; each file says which variant it follows.

mod bucketing;
mod bulyan;
mod cclip;
mod geomed;
mod krum;
mod mean;
mod median;
mod nnm;
mod signum;
mod trimmed_mean;

#[cfg(test)]
mod tests;

pub use bucketing::Bucketing;
pub use bulyan::Bulyan;
pub use cclip::CenteredClipping;
pub use geomed::GeometricMedian;
pub use krum::{Krum, MultiKrum};
pub use mean::Mean;
pub use median::Median;
pub use nnm::NearestNeighbourMixing;
pub use signum::Signum;
pub use trimmed_mean::TrimmedMean;

use anyhow::{bail, ensure, Context, Result};
use std::fmt;
use tch::{Device, Kind, Tensor};

/// The aggregation rules, named as the CLI, JSON specs and CSV name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[clap(rename_all = "kebab-case")]
pub enum Rule {
    Mean,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
    Bulyan,
    Geomed,
    Cclip,
    Signum,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::Mean,
        Rule::Median,
        Rule::TrimmedMean,
        Rule::Krum,
        Rule::MultiKrum,
        Rule::Bulyan,
        Rule::Geomed,
        Rule::Cclip,
        Rule::Signum,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Mean => "mean",
            Rule::Median => "median",
            Rule::TrimmedMean => "trimmed-mean",
            Rule::Krum => "krum",
            Rule::MultiKrum => "multi-krum",
            Rule::Bulyan => "bulyan",
            Rule::Geomed => "geomed",
            Rule::Cclip => "cclip",
            Rule::Signum => "signum",
        }
    }

    /// The smallest number of inputs the rule needs to tolerate f Byzantine
    /// ones, with the constraint written out for error messages.
    pub fn min_inputs(self, f: usize) -> (usize, &'static str) {
        match self {
            // Mean and Signum have no breakdown guarantee to protect; they only need an input.
            Rule::Mean | Rule::Signum => (1, "n >= 1"),
            Rule::Median | Rule::TrimmedMean | Rule::Geomed | Rule::Cclip => (2 * f + 1, "n >= 2f+1"),
            Rule::Krum | Rule::MultiKrum => (2 * f + 3, "n >= 2f+3"),
            Rule::Bulyan => (4 * f + 3, "n >= 4f+3"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for Rule {
    type Err = anyhow::Error;
    fn from_str(name: &str) -> Result<Self> {
        Rule::ALL
            .into_iter()
            .find(|rule| rule.as_str() == name)
            .with_context(|| {
                let names: Vec<_> = Rule::ALL.iter().map(|rule| rule.as_str()).collect();
                format!("unknown aggregation rule '{name}' (known: {})", names.join(", "))
            })
    }
}

/// One aggregator's configuration. `f` is the number of Byzantine inputs the
/// rule is asked to tolerate; the wrappers (`nnm`, then `bucketing`) run in
/// front of the rule when enabled.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AggregatorConfig {
    pub rule: Rule,
    pub f: usize,
    /// Multi-Krum averages the q best-scored inputs; None means n - f.
    pub multi_krum_q: Option<usize>,
    pub geomed_iters: usize,
    /// Weiszfeld smoothing: distances below nu count as nu.
    pub geomed_nu: f64,
    pub cclip_tau: f64,
    pub cclip_iters: usize,
    /// Bucket size s: average random buckets of s inputs before the rule.
    pub bucketing: Option<usize>,
    /// Nearest-neighbour mixing before the rule (and before bucketing).
    pub nnm: bool,
    /// Seeds the bucketing permutation.
    pub seed: u64,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            rule: Rule::Mean,
            f: 0,
            multi_krum_q: None,
            geomed_iters: 8,
            geomed_nu: 1e-6,
            cclip_tau: 10.0,
            cclip_iters: 3,
            bucketing: None,
            nnm: false,
            seed: 0,
        }
    }
}

impl AggregatorConfig {
    pub fn new(rule: Rule, f: usize) -> Self {
        AggregatorConfig {
            rule,
            f,
            ..Default::default()
        }
    }

    /// How many vectors the rule itself receives from n workers (bucketing
    /// replaces them by ceil(n / s) bucket means).
    pub fn rule_inputs(&self, n: usize) -> usize {
        match self.bucketing {
            Some(size) if size > 0 => n.div_ceil(size),
            _ => n,
        }
    }

    /// Checks every (n, f) requirement and parameter range, naming the
    /// constraint and the values that break it.
    pub fn validate(&self, n: usize) -> Result<()> {
        let f = self.f;
        let rule = self.rule;
        ensure!(n >= 1, "{rule} needs at least one input: n=0");
        ensure!(f < n, "{rule} needs f < n: n={n}, f={f}");
        if self.nnm {
            ensure!(
                n > 2 * f,
                "nnm needs n >= 2f+1 so that the n-f nearest neighbours are mostly honest: n={n}, f={f} (needs {})",
                2 * f + 1
            );
        }
        if let Some(size) = self.bucketing {
            ensure!(size >= 1, "bucketing needs a bucket size >= 1: got {size}");
            ensure!(size <= n, "bucketing needs bucket size <= n: size={size}, n={n}");
        }
        let inputs = self.rule_inputs(n);
        let (needed, constraint) = rule.min_inputs(f);
        if inputs < needed {
            match self.bucketing {
                Some(size) if size > 1 => bail!(
                    "{rule} needs {constraint} on the bucket means: n={n} inputs in buckets of {size} give {inputs}, f={f} (needs {needed})"
                ),
                _ => bail!("{rule} needs {constraint}: n={n}, f={f} (needs {needed})"),
            }
        }
        match rule {
            Rule::MultiKrum => {
                if let Some(q) = self.multi_krum_q {
                    ensure!(
                        q >= 1 && q <= inputs - f,
                        "multi-krum needs 1 <= q <= n-f: q={q}, n={inputs}, f={f}"
                    );
                }
            }
            Rule::Geomed => {
                ensure!(
                    self.geomed_iters >= 1,
                    "geomed needs at least one iteration: geomed_iters=0"
                );
                ensure!(
                    self.geomed_nu > 0.0 && self.geomed_nu.is_finite(),
                    "geomed needs a finite nu > 0: geomed_nu={}",
                    self.geomed_nu
                );
            }
            Rule::Cclip => {
                ensure!(
                    self.cclip_iters >= 1,
                    "cclip needs at least one iteration: cclip_iters=0"
                );
                ensure!(
                    self.cclip_tau > 0.0 && self.cclip_tau.is_finite(),
                    "cclip needs a finite tau > 0: cclip_tau={}",
                    self.cclip_tau
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// A short name for logs: the wrappers then the rule, e.g. "nnm+bucketing-2+krum".
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if self.nnm {
            parts.push("nnm".to_string());
        }
        if let Some(size) = self.bucketing {
            parts.push(format!("bucketing-{size}"));
        }
        parts.push(self.rule.to_string());
        parts.join("+")
    }
}

/// A rule applied once per iteration. Stateful rules (cclip) keep their state
/// between calls, hence `&mut self`.
pub trait Aggregator: Send {
    /// `inputs` is n x d (floating point, any device); returns a d-vector of
    /// the same kind on the same device.
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor>;
    fn name(&self) -> String;
}

/// Validates the configuration for n workers and builds the pipeline:
/// optional NNM, optional bucketing, then the rule.
pub fn build(config: &AggregatorConfig, n: usize) -> Result<Box<dyn Aggregator>> {
    config.validate(n)?;
    let f = config.f;
    let rule: Box<dyn Aggregator> = match config.rule {
        Rule::Mean => Box::new(Mean),
        Rule::Median => Box::new(Median),
        Rule::TrimmedMean => Box::new(TrimmedMean::new(f)),
        Rule::Krum => Box::new(Krum::new(f)),
        Rule::MultiKrum => Box::new(MultiKrum::new(f, config.multi_krum_q)),
        Rule::Bulyan => Box::new(Bulyan::new(f)),
        Rule::Geomed => Box::new(GeometricMedian::new(config.geomed_iters, config.geomed_nu)),
        Rule::Cclip => Box::new(CenteredClipping::new(config.cclip_tau, config.cclip_iters)),
        Rule::Signum => Box::new(Signum),
    };
    Ok(Box::new(Pipeline {
        n,
        f,
        name: config.name(),
        nnm: config.nnm.then(|| NearestNeighbourMixing::new(f)),
        bucketing: config
            .bucketing
            .filter(|&size| size > 1)
            .map(|size| Bucketing::new(size, config.seed)),
        rule,
    }))
}

/// What `build` returns: checks the input shape, runs the wrappers and the
/// rule, and refuses to hand a non-finite aggregate to the model.
struct Pipeline {
    n: usize,
    f: usize,
    name: String,
    nnm: Option<NearestNeighbourMixing>,
    bucketing: Option<Bucketing>,
    rule: Box<dyn Aggregator>,
}

impl Aggregator for Pipeline {
    fn aggregate(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        ensure!(
            n == self.n,
            "{}: built for n={} inputs, got {n}",
            self.name,
            self.n
        );
        let mixed;
        let mut current = inputs;
        if let Some(nnm) = self.nnm.as_mut() {
            mixed = nnm.aggregate_rows(current)?;
            current = &mixed;
        }
        let bucketed;
        if let Some(bucketing) = self.bucketing.as_mut() {
            bucketed = bucketing.bucket_means(current)?;
            current = &bucketed;
        }
        let output = self.rule.aggregate(current)?;
        // More than f non-finite inputs can defeat any rule; an error lets the
        // caller stop cleanly instead of writing NaN into the model.
        ensure!(
            all_finite(&output),
            "{}: the aggregate is not finite (more than f={} inputs non-finite or overflowing?)",
            self.name,
            self.f
        );
        Ok(output)
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the rules.

/// Checks that `inputs` is a non-empty n x d floating-point matrix; returns (n, d).
pub fn check_inputs(inputs: &Tensor) -> Result<(usize, usize)> {
    let size = inputs.size();
    ensure!(
        size.len() == 2,
        "aggregation expects an n x d matrix of flat gradients, got shape {size:?}"
    );
    ensure!(
        inputs.is_floating_point(),
        "aggregation expects floating-point inputs, got {:?}",
        inputs.kind()
    );
    ensure!(
        size[0] >= 1 && size[1] >= 1,
        "aggregation expects at least one input of at least one coordinate, got shape {size:?}"
    );
    Ok((size[0] as usize, size[1] as usize))
}

/// True when every entry of `tensor` is finite.
pub fn all_finite(tensor: &Tensor) -> bool {
    tensor.isfinite().all().int64_value(&[]) != 0
}

/// For each row, whether all its coordinates are finite.
pub fn finite_rows(inputs: &Tensor) -> Vec<bool> {
    let mask = inputs.isfinite().all_dim(1, false).to_device(Device::Cpu);
    let mask: Vec<i64> = Vec::try_from(&mask.to_kind(Kind::Int64)).unwrap_or_default();
    mask.into_iter().map(|value| value != 0).collect()
}

/// A copy of `inputs` with non-finite rows set to zero, so that weighted sums
/// that give those rows zero weight stay finite (0 * NaN is NaN).
pub fn zero_rows(inputs: &Tensor, keep: &[bool]) -> Tensor {
    if keep.iter().all(|&k| k) {
        return inputs.shallow_clone();
    }
    let mask = Tensor::from_slice(keep).to_device(inputs.device()).unsqueeze(1);
    inputs.where_scalarother(&mask, 0.0)
}

/// Index tensor on `device` for `index_select`.
pub fn index_tensor(indices: &[usize], device: Device) -> Tensor {
    let indices: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_slice(&indices).to_device(device)
}

/// Squared Euclidean distances between all rows, plus a content key per row
/// (its coordinate sum) for breaking exact ties independently of the rows' order.
pub struct Distances {
    pub n: usize,
    /// Row-major n x n, exactly symmetric, 0 on the diagonal of finite rows,
    /// +Inf in the rows and columns of inputs with NaN or Inf.
    pub squared: Vec<f64>,
    /// The coordinate sum of each row (0 for non-finite rows).
    pub keys: Vec<f64>,
}

impl Distances {
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.squared[i * self.n + j]
    }

    /// `candidates` sorted by score, exact ties to the smaller coordinate sum,
    /// then to the lower index (reached in practice only by identical vectors,
    /// where the choice does not change the result). Content ties matter: in Bulyan's last rounds the
    /// two members of the closest pair always tie, and picking by index would
    /// make the result depend on the workers' order.
    pub fn order_by_score(&self, candidates: &[usize], scores: &[f64]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| {
            scores[a]
                .total_cmp(&scores[b])
                .then(self.keys[candidates[a]].total_cmp(&self.keys[candidates[b]]))
                .then(candidates[a].cmp(&candidates[b]))
        });
        order.into_iter().map(|position| candidates[position]).collect()
    }
}

/// Pairwise squared distances from one Gram matrix product on the inputs'
/// device, in f64 so that |x|^2 + |y|^2 - 2 x.y neither overflows (1e30 entries
/// square to 1e60, beyond f32) nor cancels badly for nearby gradients. Rows
/// with a NaN or Inf are infinitely far from everything, themselves included.
pub fn pairwise_squared_distances(inputs: &Tensor) -> Distances {
    let n = inputs.size()[0] as usize;
    let d = inputs.size()[1];
    let finite = finite_rows(inputs);
    let clean = zero_rows(inputs, &finite);
    // Column blocks keep the f64 copy small (n x 65536) instead of a second n x d matrix.
    const BLOCK: i64 = 1 << 16;
    let options = (Kind::Double, inputs.device());
    let mut gram = Tensor::zeros([n as i64, n as i64], options);
    let mut sums = Tensor::zeros([n as i64], options);
    let mut start = 0;
    while start < d {
        let block = clean.narrow(1, start, BLOCK.min(d - start)).to_kind(Kind::Double);
        gram += block.mm(&block.tr());
        sums += block.sum_dim_intlist(1, false, None::<Kind>);
        start += BLOCK;
    }
    let gram: Vec<f64> = Vec::try_from(&gram.to_device(Device::Cpu).reshape([-1])).unwrap_or_default();
    let keys: Vec<f64> = Vec::try_from(&sums.to_device(Device::Cpu)).unwrap_or_default();
    let mut squared = vec![f64::INFINITY; n * n];
    for i in 0..n {
        for j in i..n {
            if !(finite[i] && finite[j]) {
                continue;
            }
            let distance = if i == j {
                0.0
            } else {
                (gram[i * n + i] + gram[j * n + j] - 2.0 * gram[i * n + j]).max(0.0)
            };
            squared[i * n + j] = distance;
            squared[j * n + i] = distance;
        }
    }
    Distances { n, squared, keys }
}

/// Mean of the selected rows, without the f32 overflow a plain sum can hit
/// when entries are near the largest float (the mean of finite values is finite).
pub fn mean_of_rows(inputs: &Tensor, rows: &[usize]) -> Tensor {
    let selected = if rows.len() == inputs.size()[0] as usize {
        inputs.shallow_clone()
    } else {
        inputs.index_select(0, &index_tensor(rows, inputs.device()))
    };
    finite_safe_mean(&selected)
}

/// Mean over dimension 0; falls back to dividing before summing only when the
/// direct sum overflowed, so ordinary inputs keep the exact plain mean.
pub fn finite_safe_mean(rows: &Tensor) -> Tensor {
    let mean = rows.mean_dim(0, false, None::<Kind>);
    if all_finite(&mean) || !all_finite(rows) {
        return mean;
    }
    let count = rows.size()[0] as f64;
    (rows / count).sum_dim_intlist(0, false, None::<Kind>)
}

/// Sorts each coordinate over the inputs (dimension 0) with NaN treated as
/// +Inf, so non-finite entries end up at the extremes that coordinate-wise
/// rules trim away.
pub fn sort_coordinates(inputs: &Tensor) -> Tensor {
    let cleaned = inputs.where_scalarother(&inputs.isnan().logical_not(), f64::INFINITY);
    cleaned.sort(0, false).0
}

/// Coordinate-wise median of already sorted columns: the middle value, or the
/// mean of the two middle values for even n (halved first so it cannot overflow).
pub fn median_of_sorted(sorted: &Tensor) -> Tensor {
    let n = sorted.size()[0];
    let lower = sorted.select(0, (n - 1) / 2);
    if n % 2 == 1 {
        return lower;
    }
    let upper = sorted.select(0, n / 2);
    lower * 0.5 + upper * 0.5
}

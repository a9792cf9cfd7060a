//! Sweeps: a JSON spec expands into a grid of run configurations; each finished run
//! is appended atomically to results/NAME/runs.csv, runs already there are skipped
//! (a rerun after a crash, Ctrl-C or SIGKILL loses nothing and repeats nothing), and
//! a summary (CSV and Markdown) is written from runs.csv at the end.

use super::{append_csv_atomic, write_atomic, write_csv_atomic};
use crate::cluster::{self, Record};
use crate::config::RunConfig;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// A sweep specification (experiments/NAME.json).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Name of the results directory (results/NAME).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Settings shared by every run (keys of `solon train --config`).
    #[serde(default)]
    pub base: Map<String, Value>,
    /// Alternatives, each a set of settings (e.g. one per scheme/aggregator).
    #[serde(default)]
    pub variants: Vec<Map<String, Value>>,
    /// Every key maps to a list; the sweep runs the Cartesian product of all lists.
    #[serde(default)]
    pub grid: Map<String, Value>,
    /// Test accuracy whose first crossing defines time- and iterations-to-target.
    #[serde(default = "default_target")]
    pub target_acc: f64,
    /// Settings that replace the others under --quick (a smoke version of minutes).
    #[serde(default)]
    pub quick: Map<String, Value>,
    /// Under --quick, replaces `target_acc` (short runs reach less).
    #[serde(default)]
    pub quick_target_acc: Option<f64>,
    /// Under --quick, replaces `grid` (fewer grid points).
    #[serde(default)]
    pub quick_grid: Option<Map<String, Value>>,
    /// Runs to leave out: any run whose settings match every entry of one of these.
    #[serde(default)]
    pub exclude: Vec<Map<String, Value>>,
    /// Speed-up ratios to report: time-to-target of `slower` over that of `faster`,
    /// for each combination of the grid values.
    #[serde(default)]
    pub ratios: Vec<RatioSpec>,
}

fn default_target() -> f64 {
    0.8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSpec {
    pub name: String,
    /// Settings that pick the slower run (a subset of a variant's keys).
    pub slower: Map<String, Value>,
    /// Settings that pick the faster run.
    pub faster: Map<String, Value>,
}

/// One run of the grid: its id (the non-base settings) and its configuration.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub settings: Map<String, Value>,
    pub config: RunConfig,
}

impl SweepSpec {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid sweep spec", path.display()))
    }

    /// Every run of the sweep, validated: a bad configuration anywhere stops the sweep
    /// before any training, naming the run and the reason.
    pub fn expand(&self, quick: bool) -> Result<Vec<PlannedRun>> {
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        let grid = match (&self.quick_grid, quick) {
            (Some(g), true) => g,
            _ => &self.grid,
        };
        for (key, values) in grid {
            let Value::Array(list) = values else {
                bail!("grid.{key} must be a list of values, got {values}");
            };
            if list.is_empty() {
                bail!("grid.{key} is an empty list: the sweep would have no runs");
            }
            axes.push((key.clone(), list.clone()));
        }
        let variants = if self.variants.is_empty() {
            vec![Map::new()]
        } else {
            self.variants.clone()
        };
        let mut points: Vec<Map<String, Value>> = vec![Map::new()];
        for (key, values) in &axes {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(key.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        let mut runs = Vec::new();
        let mut seen = HashSet::new();
        for variant in &variants {
            for point in &points {
                let mut settings = variant.clone();
                settings.extend(point.clone());
                if self.exclude.iter().any(|e| matches(&settings, e)) {
                    continue;
                }
                let mut value = Value::Object(self.base.clone());
                for (k, v) in &settings {
                    value[k] = v.clone();
                }
                if quick {
                    for (k, v) in &self.quick {
                        value[k] = v.clone();
                    }
                }
                let id = run_id(&settings);
                let config: RunConfig = serde_json::from_value(value)
                    .with_context(|| format!("run {id} of sweep {}", self.name))?;
                config
                    .validate()
                    .with_context(|| format!("run {id} of sweep {}", self.name))?;
                if !seen.insert(id.clone()) {
                    bail!(
                        "run {id} appears twice in sweep {}: make the variants differ",
                        self.name
                    );
                }
                runs.push(PlannedRun { id, settings, config });
            }
        }
        Ok(runs)
    }
}

/// A run's name: its own settings as key=value, in key order, separated by spaces.
pub fn run_id(settings: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = settings.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .map(|k| match &settings[k] {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect();
    if parts.is_empty() {
        "base".into()
    } else {
        parts.join(" ")
    }
}

/// Whether two configurations train identically (they may differ in the network).
fn same_training(a: &RunConfig, b: &RunConfig) -> bool {
    let strip = |c: &RunConfig| {
        let mut c = c.clone();
        c.bandwidth_gbps = 0.0;
        c.latency_ms = 0.0;
        serde_json::to_string(&c).expect("config serialises")
    };
    strip(a) == strip(b)
}

/// Run ids already complete in runs.csv.
pub fn finished_runs(path: &Path) -> Result<BTreeSet<String>> {
    if !path.exists() {
        return Ok(BTreeSet::new());
    }
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "run_id")
        .with_context(|| format!("{} has no run_id column", path.display()))?;
    let mut done = BTreeSet::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("{} is malformed", path.display()))?;
        done.insert(row[column].to_string());
    }
    Ok(done)
}

pub struct SweepOptions {
    pub quick: bool,
    pub results: PathBuf,
    pub data_dir: Option<PathBuf>,
}

/// Runs every configuration of the spec not yet in runs.csv, then writes the summary.
/// `progress(done, total, current_run)` is called before each run and at the end.
pub fn run_sweep(
    spec: &SweepSpec,
    options: &SweepOptions,
    mut progress: impl FnMut(&str),
) -> Result<PathBuf> {
    let runs = spec.expand(options.quick)?;
    let dir = options.results.join(&spec.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runs_csv = dir.join("runs.csv");
    let done = finished_runs(&runs_csv)?;
    let pending: Vec<&PlannedRun> = runs.iter().filter(|r| !done.contains(&r.id)).collect();
    let total = runs.len();
    let started = std::time::Instant::now();
    let mut data_cache: Option<(String, crate::data::Dataset)> = None;
    // Runs that differ only in the network train identically: train each group once
    // and cost it on every network of the group.
    let mut groups: Vec<Vec<&PlannedRun>> = Vec::new();
    for run in &pending {
        match groups
            .iter_mut()
            .find(|g| same_training(&g[0].config, &run.config))
        {
            Some(group) => group.push(run),
            None => groups.push(vec![run]),
        }
    }
    let mut finished = total - pending.len();
    for (k, group) in groups.iter().enumerate() {
        let eta = if k > 0 {
            let per = started.elapsed().as_secs_f64() / k as f64;
            format!(", ETA {:.0}s", per * (groups.len() - k) as f64)
        } else {
            String::new()
        };
        let names: Vec<&str> = group.iter().map(|r| r.id.as_str()).collect();
        progress(&format!(
            "[{}/{}{eta}] {}",
            finished + 1,
            total,
            names.join(" | ")
        ));
        let mut config = group[0].config.clone();
        if options.data_dir.is_some() {
            config.data_dir = options.data_dir.clone();
        }
        let key = format!(
            "{}|{:?}|{}|{:?}",
            config.dataset,
            config.data_root(),
            config.seed,
            config.device
        );
        if data_cache.as_ref().map(|(k, _)| k != &key).unwrap_or(true) {
            data_cache = Some((key, cluster::load_data(&config)?));
        }
        let data = &data_cache.as_ref().unwrap().1;
        let networks: Vec<_> = group.iter().map(|r| r.config.network()).collect();
        let outcomes = cluster::run_networks(&config, data, &networks, |_, _| {})
            .with_context(|| format!("run {}", group[0].id))?;
        let rows: Vec<Record> = group
            .iter()
            .zip(outcomes)
            .flat_map(|(run, outcome)| {
                outcome.records.into_iter().map(move |r| Record {
                    run_id: run.id.clone(),
                    ..r
                })
            })
            .collect();
        append_csv_atomic(&runs_csv, &rows)?;
        finished += group.len();
    }
    let target = match (options.quick, spec.quick_target_acc) {
        (true, Some(t)) => t,
        _ => spec.target_acc,
    };
    write_summary(spec, &runs, &dir, target)?;
    progress(&format!(
        "[{total}/{total}] done in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(dir)
}

/// One summary row per run.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub run_id: String,
    pub scheme: String,
    pub aggregator: String,
    pub attack: String,
    pub workers: usize,
    pub adversaries: usize,
    pub redundancy: usize,
    pub compression: usize,
    pub bandwidth_gbps: f64,
    pub iterations: usize,
    pub final_acc: f64,
    pub best_acc: f64,
    pub target_acc: f64,
    /// Simulated seconds until test accuracy first reached the target (empty: never).
    pub sim_time_to_target_s: Option<f64>,
    pub iterations_to_target: Option<usize>,
    pub sim_time_s: f64,
    pub bytes_to_ps: u64,
    pub decode_s: f64,
    pub diverged: bool,
}

fn read_records(path: &Path) -> Result<Vec<RecordIn>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<RecordIn>, _>>()
        .with_context(|| format!("{} is malformed", path.display()))
}

/// The columns of runs.csv the summary needs.
#[derive(Debug, Clone, Deserialize)]
struct RecordIn {
    run_id: String,
    scheme: String,
    aggregator: String,
    attack: String,
    workers: usize,
    adversaries: usize,
    redundancy: usize,
    compression: usize,
    bandwidth_gbps: f64,
    iteration: usize,
    sim_time_s: f64,
    decode_s: f64,
    bytes_to_ps: u64,
    test_acc: f64,
    diverged: bool,
}

pub fn summarize(runs_csv: &Path, target: f64) -> Result<Vec<SummaryRow>> {
    let records = read_records(runs_csv)?;
    let mut order: Vec<String> = Vec::new();
    for r in &records {
        if !order.contains(&r.run_id) {
            order.push(r.run_id.clone());
        }
    }
    Ok(order
        .iter()
        .map(|id| {
            let rows: Vec<&RecordIn> = records.iter().filter(|r| &r.run_id == id).collect();
            let last = rows.last().unwrap();
            let hit = rows.iter().find(|r| r.test_acc >= target);
            SummaryRow {
                run_id: id.clone(),
                scheme: last.scheme.clone(),
                aggregator: last.aggregator.clone(),
                attack: last.attack.clone(),
                workers: last.workers,
                adversaries: last.adversaries,
                redundancy: last.redundancy,
                compression: last.compression,
                bandwidth_gbps: last.bandwidth_gbps,
                iterations: last.iteration,
                final_acc: last.test_acc,
                best_acc: rows
                    .iter()
                    .map(|r| r.test_acc)
                    .filter(|a| a.is_finite())
                    .fold(f64::NAN, f64::max),
                target_acc: target,
                sim_time_to_target_s: hit.map(|r| r.sim_time_s),
                iterations_to_target: hit.map(|r| r.iteration),
                sim_time_s: last.sim_time_s,
                bytes_to_ps: last.bytes_to_ps,
                decode_s: last.decode_s,
                diverged: last.diverged,
            }
        })
        .collect())
}

fn matches(settings: &Map<String, Value>, want: &Map<String, Value>) -> bool {
    want.iter().all(|(k, v)| settings.get(k) == Some(v))
}

/// summary.csv and summary.md of a sweep directory, from its runs.csv.
pub fn write_summary(spec: &SweepSpec, runs: &[PlannedRun], dir: &Path, target: f64) -> Result<()> {
    let rows = summarize(&dir.join("runs.csv"), target)?;
    write_csv_atomic(&dir.join("summary.csv"), &rows)?;
    let fmt_opt = |v: Option<f64>| v.map_or("never".to_string(), |t| format!("{t:.3}"));
    let mut md = format!(
        "# {}\n\n{}\n\nTarget test accuracy: {:.1}%. Times are simulated seconds.\n\n",
        spec.name,
        spec.description,
        100.0 * target
    );
    md.push_str("| run | scheme | rule | attack | r | m | Gbps | final acc | best acc | time to target (s) | iters to target | MB to PS | diverged |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}% | {:.2}% | {} | {} | {:.1} | {} |\n",
            r.run_id,
            r.scheme,
            r.aggregator,
            r.attack,
            r.redundancy,
            r.compression,
            r.bandwidth_gbps,
            100.0 * r.final_acc,
            100.0 * r.best_acc,
            fmt_opt(r.sim_time_to_target_s),
            r.iterations_to_target.map_or("never".into(), |i| i.to_string()),
            r.bytes_to_ps as f64 / 1e6,
            r.diverged
        ));
    }
    if !spec.ratios.is_empty() {
        md.push_str("\n## Speed-ups (time to target of the slower over the faster)\n\n| ratio | grid point | slower (s) | faster (s) | speed-up |\n|---|---|---|---|---|\n");
        let time_of = |id: &str| {
            rows.iter()
                .find(|r| r.run_id == id)
                .and_then(|r| r.sim_time_to_target_s)
        };
        for ratio in &spec.ratios {
            for slower in runs.iter().filter(|r| matches(&r.settings, &ratio.slower)) {
                // The faster run at the same grid point: same values for every grid key.
                let point: Map<String, Value> = spec
                    .grid
                    .keys()
                    .filter_map(|k| slower.settings.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                for faster in runs
                    .iter()
                    .filter(|r| matches(&r.settings, &ratio.faster) && matches(&r.settings, &point))
                {
                    let (ts, tf) = (time_of(&slower.id), time_of(&faster.id));
                    let speedup = match (ts, tf) {
                        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                        // The slower run never reached the target in its whole simulated
                        // time, so the speed-up is at least that time over the faster's.
                        (None, Some(b)) if b > 0.0 => match rows.iter().find(|r| r.run_id == slower.id) {
                            Some(r) => format!(
                                "> {:.2}x (slower never reached it in {:.3} s, best {:.2}%)",
                                r.sim_time_s / b,
                                r.sim_time_s,
                                100.0 * r.best_acc
                            ),
                            None => "slower never reached the target".into(),
                        },
                        _ => "n/a (target not reached)".into(),
                    };
                    md.push_str(&format!(
                        "| {} | {} | {} | {} | {} |\n",
                        ratio.name,
                        run_id(&point),
                        fmt_opt(ts),
                        fmt_opt(tf),
                        speedup
                    ));
                }
            }
        }
    }
    write_atomic(&dir.join("summary.md"), md.as_bytes())
}

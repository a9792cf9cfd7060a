//! The `solon` command line: train, info (and the experiment commands).

use anyhow::Result;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use solon::coding::{tradeoff, Offsets};
use solon::{cluster, config::RunConfig, experiment};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "solon",
    version,
    about = "Byzantine-resilient distributed training with redundant gradients (Solon, Draco, DETOX, robust aggregators)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one configuration and write a per-iteration CSV.
    Train(Box<TrainArgs>),
    /// Print the libtorch version, the device `--device auto` picks, CUDA availability, threads.
    Info,
    /// Run every configuration of a sweep spec (experiments/NAME.json); resumable.
    Sweep(SweepArgs),
    /// Empirical coding trade-off: the smallest r that decodes exactly, per (P, s, m).
    Tradeoff(TradeoffArgs),
    /// PS decode/aggregate time and bytes against P and d (no training).
    Scaling(ScalingArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// The sweep spec.
    spec: PathBuf,
    /// The smoke version: the spec's "quick" settings replace the others.
    #[arg(long)]
    quick: bool,
    /// Where results/NAME/ goes.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Dataset directory for every run (default: the spec's, else $SOLON_DATA, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct TradeoffArgs {
    /// JSON file whose keys are these flags (experiments/tradeoff.json); typed flags win.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Worker counts P.
    #[arg(long, value_delimiter = ',', default_values_t = [12, 16, 24])]
    workers: Vec<usize>,
    /// Adversary counts s.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3])]
    adversaries: Vec<usize>,
    /// Compression ratios m.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3, 4])]
    compressions: Vec<usize>,
    /// Cyclic offsets to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Offsets::Spread, Offsets::Contiguous])]
    offsets: Vec<Offsets>,
    /// Random trials per (P, s, m, offsets, r) (every s-subset when there are few).
    #[arg(long, default_value_t = 70)]
    trials: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CSV to write.
    #[arg(long, default_value = "results/tradeoff/tradeoff.csv")]
    out: PathBuf,
}

#[derive(Args)]
struct ScalingArgs {
    /// JSON file whose keys are these flags (experiments/scaling.json); typed flags win.
    #[arg(long)]
    spec: Option<PathBuf>,
    #[arg(long, value_delimiter = ',', default_values_t = [8, 16, 32, 64])]
    workers: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_values_t = [100_000, 1_000_000])]
    dims: Vec<usize>,
    #[arg(long, default_value_t = 2)]
    adversaries: usize,
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    #[arg(long, default_value = "results/scaling/scaling.csv")]
    out: PathBuf,
}

#[derive(Args)]
struct TrainArgs {
    /// JSON file with any of the flags below as keys (snake_case); flags typed on the command line win.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunConfig,
}

fn main() {
    let argv = match expand_spec_args(std::env::args().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let matches = match Cli::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => exit_on_clap_error(e),
    };
    if let Err(e) = dispatch(&matches) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

/// `solon tradeoff|scaling --spec FILE`: the JSON object's keys become flags (lists
/// comma-joined), except those typed on the command line, which win.
fn expand_spec_args(argv: Vec<String>) -> Result<Vec<String>> {
    let Some(pos) = argv.iter().position(|a| a == "--spec") else {
        return Ok(argv);
    };
    if !matches!(argv.get(1).map(String::as_str), Some("tradeoff" | "scaling")) {
        return Ok(argv);
    }
    let path = argv
        .get(pos + 1)
        .ok_or_else(|| anyhow::anyhow!("--spec needs a JSON file"))?;
    let spec = solon::config::load_json(std::path::Path::new(path))?;
    let mut out: Vec<String> = argv[..2].to_vec();
    let typed = |flag: &str| {
        argv.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    for (key, value) in spec.as_object().expect("object") {
        let flag = format!("--{}", key.replace('_', "-"));
        if typed(&flag) {
            continue;
        }
        let text = match value {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        out.push(flag);
        out.push(text);
    }
    out.extend(argv[2..pos].iter().cloned());
    out.extend(argv[pos + 2..].iter().cloned());
    Ok(out)
}

/// Help and version print as clap prints them; every usage error becomes one line, status 2.
fn exit_on_clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind::*;
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:"))
        .collect();
    eprintln!("{}", line.join(" "));
    std::process::exit(2);
}

fn dispatch(matches: &ArgMatches) -> Result<()> {
    let cli = Cli::from_arg_matches(matches)?;
    match cli.command {
        Command::Info => info(),
        Command::Train(args) => {
            let sub = matches.subcommand_matches("train").expect("train matches");
            let config = RunConfig::from_matches(sub, args.config.as_deref())?;
            train(&config)
        }
        Command::Sweep(args) => sweep(&args),
        Command::Tradeoff(args) => run_tradeoff(&args),
        Command::Scaling(args) => scaling(&args),
    }
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn sweep(args: &SweepArgs) -> Result<()> {
    let spec = experiment::sweep::SweepSpec::load(&args.spec)?;
    let options = experiment::sweep::SweepOptions {
        quick: args.quick,
        results: args.results.clone(),
        data_dir: args.data_dir.clone(),
    };
    let bar = spinner();
    let dir = experiment::sweep::run_sweep(&spec, &options, |msg| {
        bar.println(msg);
        bar.set_message(msg.to_string());
    })?;
    bar.finish_and_clear();
    println!("{}", std::fs::read_to_string(dir.join("summary.md"))?);
    println!("wrote {}/runs.csv, summary.csv, summary.md", dir.display());
    Ok(())
}

fn run_tradeoff(args: &TradeoffArgs) -> Result<()> {
    let config = tradeoff::TradeoffConfig {
        workers: args.workers.clone(),
        adversaries: args.adversaries.clone(),
        compressions: args.compressions.clone(),
        offsets: args.offsets.clone(),
        trials: args.trials,
        seed: args.seed,
        ..Default::default()
    };
    let bar = spinner();
    bar.set_message("decoding random trials at every (P, s, m, offsets, r)");
    let rows = tradeoff::tradeoff(&config);
    bar.finish_and_clear();
    print!("{}", tradeoff::format_table(&rows));
    experiment::write_csv_atomic(&args.out, &rows)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn scaling(args: &ScalingArgs) -> Result<()> {
    let bar = spinner();
    let rows =
        experiment::scaling::measure(&args.workers, &args.dims, args.adversaries, args.repeats, |m| {
            bar.set_message(m.to_string())
        })?;
    bar.finish_and_clear();
    println!(
        "{:<18} {:>4} {:>9} {:>12} {:>14}",
        "method", "P", "d", "seconds", "bytes_to_ps"
    );
    for r in &rows {
        println!(
            "{:<18} {:>4} {:>9} {:>12.6} {:>14}",
            r.method, r.workers, r.d, r.seconds, r.bytes_to_ps
        );
    }
    experiment::write_csv_atomic(&args.out, &rows)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn info() -> Result<()> {
    let device = solon::config::DeviceChoice::Auto.resolve()?;
    println!("solon {}", env!("CARGO_PKG_VERSION"));
    println!(
        "libtorch: {}",
        option_env!("SOLON_LIBTORCH_LIB").unwrap_or("(linked at build time)")
    );
    println!("torch version: {}", torch_version());
    println!(
        "cuda available: {} ({} device(s))",
        tch::Cuda::is_available(),
        tch::Cuda::device_count()
    );
    println!("cudnn available: {}", tch::Cuda::cudnn_is_available());
    println!("device (--device auto): {device:?}");
    println!("threads: {}", tch::get_num_threads());
    Ok(())
}

/// libtorch's version as the linked library reports it (TORCH_VERSION in its headers is
/// not exposed by tch; the library directory's parent is torch's Python package).
fn torch_version() -> String {
    let lib = option_env!("SOLON_LIBTORCH_LIB").map(PathBuf::from);
    let version_file = lib
        .as_ref()
        .and_then(|l| l.parent())
        .map(|t| t.join("version.py"));
    if let Some(text) = version_file.and_then(|f| std::fs::read_to_string(f).ok()) {
        if let Some(line) = text.lines().find(|l| l.starts_with("__version__")) {
            return line.split('\'').nth(1).unwrap_or(line).to_string();
        }
    }
    if let Some(text) = lib.and_then(|l| std::fs::read_to_string(l.parent()?.join("build-version")).ok()) {
        return text.trim().to_string();
    }
    "2.11.0 (tch 0.24 pins it)".to_string()
}

fn train(config: &RunConfig) -> Result<()> {
    if config.backend == solon::config::Backend::Mpi {
        return cluster::mpi::train(config);
    }
    config.validate()?;
    let data = cluster::load_data(config)?;
    let bar = ProgressBar::new(config.iterations as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} it ({eta} left) {msg}",
        )
        .unwrap(),
    );
    let outcome = cluster::run(config, &data, |_, record| {
        bar.inc(1);
        if let Some(r) = record {
            bar.set_message(format!(
                "loss {:.4} test acc {:.2}%",
                r.train_loss,
                100.0 * r.test_acc
            ));
        }
    })?;
    bar.finish_and_clear();
    let out = config.out_path();
    experiment::write_csv_atomic(&out, &outcome.records)?;
    if let Some(path) = &config.save_params {
        cluster::params::save(path, &outcome.final_params)?;
    }
    let last = outcome.records.last().expect("at least one evaluation");
    if outcome.diverged {
        println!("diverged at iteration {} (loss is not finite)", last.iteration);
    }
    println!(
        "{} on {}: test accuracy {:.2}% (test loss {:.4}) after {} iterations, {:.1}s; wrote {}",
        config.model,
        config.dataset,
        100.0 * last.test_acc,
        last.test_loss,
        last.iteration,
        last.wall_time_s,
        out.display()
    );
    Ok(())
}

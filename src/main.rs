//! The `solon` command line: train, info (and the experiment commands).

use anyhow::Result;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
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
    Train(TrainArgs),
    /// Print the libtorch version, the device `--device auto` picks, CUDA availability, threads.
    Info,
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
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => exit_on_clap_error(e),
    };
    if let Err(e) = dispatch(&matches) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
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
    }
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
        last.elapsed_s,
        out.display()
    );
    Ok(())
}

//! Sweeps through the CLI: a sweep killed halfway (SIGKILL) and rerun ends with every
//! run exactly once, and a bad spec is refused before anything trains.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"{
  "name": "small",
  "base": {"model": "logreg", "dataset": "synthetic", "device": "cpu", "workers": 6, "adversaries": 1,
           "batch_size": 24, "iterations": 60, "eval_every": 30, "test_samples": 200, "lr": 0.05},
  "variants": [
    {"scheme": "plain", "aggregator": "median"},
    {"scheme": "solon-cyclic", "compression": 2},
    {"scheme": "draco-cyclic"}
  ],
  "grid": {"attack": ["reverse", "alie"], "seed": [1, 2]},
  "target_acc": 0.5
}"#;

fn solon(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_solon"));
    c.args(args);
    c
}

fn run_counts(runs_csv: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let Ok(mut reader) = csv::Reader::from_path(runs_csv) else {
        return counts;
    };
    let col = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "run_id")
        .unwrap();
    let it = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "iteration")
        .unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        if &row[it] == "60" {
            *counts.entry(row[col].to_string()).or_default() += 1;
        }
    }
    counts
}

#[test]
fn sweep_killed_halfway_and_rerun_has_every_run_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.json");
    std::fs::write(&spec, SPEC).unwrap();
    let results = dir.path().join("results");
    let runs_csv = results.join("small/runs.csv");
    let args = [
        "sweep",
        spec.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ];
    let mut child = solon(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while run_counts(&runs_csv).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "sweep made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "sweep ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = run_counts(&runs_csv);
    assert!(
        partial.len() >= 2 && partial.len() < 12,
        "killed after {} runs",
        partial.len()
    );
    assert!(partial.values().all(|&c| c == 1));
    let out = solon(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = run_counts(&runs_csv);
    assert_eq!(full.len(), 12, "{full:?}");
    assert!(full.values().all(|&c| c == 1), "{full:?}");
    // The summary covers every run, and a third invocation trains nothing new.
    let summary = std::fs::read_to_string(results.join("small/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 13);
    assert!(std::fs::read_to_string(results.join("small/summary.md"))
        .unwrap()
        .contains("solon-cyclic"));
    let before = std::fs::read(&runs_csv).unwrap();
    assert!(solon(&args).output().unwrap().status.success());
    assert_eq!(std::fs::read(&runs_csv).unwrap(), before);
}

#[test]
fn bad_specs_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    for (bad, needle) in [
        (SPEC.replace("\"iterations\"", "\"iteratons\""), "iteratons"),
        (SPEC.replace("\"target_acc\"", "\"target\""), "target"),
        (SPEC.replace("\"alie\"]", "\"alien\"]"), "alien"),
        (
            SPEC.replace("\"compression\": 2", "\"compression\": 2, \"redundancy\": 3"),
            "2s+m",
        ),
        (
            SPEC.replace("\"aggregator\": \"median\"", "\"aggregator\": \"bulyan\""),
            "bulyan",
        ),
    ] {
        let spec = dir.path().join("bad.json");
        std::fs::write(&spec, &bad).unwrap();
        let out = solon(&[
            "sweep",
            spec.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ])
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        assert!(
            !results.join("small/runs.csv").exists(),
            "nothing may train before the spec is valid"
        );
    }
}

//! The command line as a user meets it: bad input is one line on stderr and exit
//! status 2 (never a panic), and a seeded run is reproducible.

use std::process::Command;

fn solon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_solon"))
        .args(args)
        .output()
        .expect("run solon")
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = solon(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?} should print one line: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} should mention {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn bad_configurations_are_one_line_errors_with_status_2() {
    assert_usage_error(&["train", "--workers", "0"], "--workers 0");
    assert_usage_error(
        &["train", "--batch-size", "7", "--workers", "4"],
        "--batch-size 7",
    );
    assert_usage_error(&["train", "--model", "vgg"], "vgg");
    assert_usage_error(&["train", "--dataset", "imagenet"], "imagenet");
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    assert_usage_error(&["train", "--data-dir", dir, "--iterations", "1"], dir);
    assert_usage_error(&["train", "--config", "/nonexistent/run.json"], "run.json");
}

fn run_csv(dir: &std::path::Path, name: &str, seed: &str) -> Vec<Vec<String>> {
    let out = dir.join(name);
    let status = solon(&[
        "train",
        "--dataset",
        "synthetic",
        "--model",
        "mlp",
        "--workers",
        "4",
        "--batch-size",
        "32",
        "--iterations",
        "30",
        "--eval-every",
        "10",
        "--seed",
        seed,
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    // Measured times differ between runs; everything else must not.
    let timing = ["sim_time_s", "wall_time_s", "compute_s", "encode_s", "decode_s"];
    let keep: Vec<bool> = headers.iter().map(|h| !timing.contains(&h)).collect();
    assert_eq!(keep.iter().filter(|k| !**k).count(), timing.len());
    reader
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v.to_string())
                .collect()
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_csv_apart_from_timing() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_csv(dir.path(), "a.csv", "7");
    let b = run_csv(dir.path(), "b.csv", "7");
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
    let c = run_csv(dir.path(), "c.csv", "8");
    assert_ne!(a, c, "a different seed must change the numbers");
}

#[test]
fn info_reports_the_device() {
    let out = solon(&["info"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("torch version: 2.11.0") && text.contains("device (--device auto)"),
        "{text}"
    );
}

#[test]
fn spec_files_give_flags_and_typed_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tradeoff.json");
    let out = dir.path().join("t.csv");
    std::fs::write(
        &spec,
        r#"{"workers": [12, 16], "adversaries": [1], "compressions": [1, 2], "trials": 5}"#,
    )
    .unwrap();
    let run = solon(&[
        "tradeoff",
        "--spec",
        spec.to_str().unwrap(),
        "--workers",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    // P from the command line, s and m from the file, both offsets by default.
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| &r[0] == "8" && &r[1] == "1"));
    std::fs::write(&spec, r#"{"wrokers": [12]}"#).unwrap();
    let bad = solon(&["tradeoff", "--spec", spec.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wrokers"));
}

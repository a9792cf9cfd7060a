//! The MPI backend end to end under `mpirun` on this machine (feature `mpi`): the final
//! model equals the simulator's for the same seed, a worker that stops responding is
//! an erasure for a coded scheme and a named failure for plain aggregation.

#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output};

const SOLON: &str = env!("CARGO_BIN_EXE_solon");

/// A few iterations of logistic regression on synthetic data, P = 4 workers.
fn common(scheme: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--dataset",
        "synthetic",
        "--model",
        "logreg",
        "--device",
        "cpu",
        "--workers",
        "4",
        "--batch-size",
        "32",
        "--iterations",
        "5",
        "--eval-every",
        "1",
        "--test-samples",
        "200",
        "--lr",
        "0.05",
        "--seed",
        "3",
        "--threads",
        "1",
        "--scheme",
        scheme,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn mpirun(ranks: usize, args: &[String]) -> Output {
    // A job that hangs fails the test instead of holding it open.
    Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "120",
            "mpirun",
            "--oversubscribe",
            "-np",
            &ranks.to_string(),
            SOLON,
        ])
        .args(args)
        .args(["--backend", "mpi"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Containers often forbid the cross-process memory attach Open MPI tries first.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .output()
        .expect("run mpirun (make mpi-deps installs Open MPI)")
}

fn simulate(args: &[String]) -> Output {
    Command::new(SOLON).args(args).output().expect("run solon")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn load(path: &Path) -> Vec<f32> {
    solon::cluster::params::load(path).unwrap()
}

fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<f64> {
    let i = header.iter().position(|h| h == name).unwrap();
    rows.iter().map(|r| r[i].parse().unwrap()).collect()
}

/// max |a - b| / max |b|
fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    diff / scale
}

/// Runs `args` on the simulator and under mpirun with the same seed; returns both
/// final models and both CSVs (header, rows).
#[allow(clippy::type_complexity)]
fn both(
    dir: &Path,
    name: &str,
    args: &[String],
) -> ((Vec<f32>, Vec<f32>), [(Vec<String>, Vec<Vec<String>>); 2]) {
    let path = |kind: &str, ext: &str| dir.join(format!("{name}-{kind}.{ext}")).display().to_string();
    let with = |kind: &str| {
        let mut a = args.to_vec();
        a.extend([
            "--out".into(),
            path(kind, "csv"),
            "--save-params".into(),
            path(kind, "f32"),
        ]);
        a
    };
    let sim = simulate(&with("sim"));
    assert!(sim.status.success(), "{name} simulator: {}", text(&sim));
    let real = mpirun(5, &with("mpi"));
    assert!(real.status.success(), "{name} mpi: {}", text(&real));
    (
        (
            load(Path::new(&path("sim", "f32"))),
            load(Path::new(&path("mpi", "f32"))),
        ),
        [
            csv(Path::new(&path("sim", "csv"))),
            csv(Path::new(&path("mpi", "csv"))),
        ],
    )
}

#[test]
fn mpi_runs_equal_the_simulator_under_a_reverse_gradient_attack() {
    let dir = tempfile::tempdir().unwrap();
    for scheme in ["plain", "draco-cyclic", "solon-cyclic"] {
        let args = common(scheme, &["--adversaries", "1", "--attack", "reverse"]);
        let ((sim, real), [(sim_header, sim_rows), (header, rows)]) = both(dir.path(), scheme, &args);
        assert_eq!(sim.len(), real.len(), "{scheme}: model sizes differ");
        let diff = relative_difference(&real, &sim);
        assert!(
            diff <= 1e-5,
            "{scheme}: MPI model differs from the simulator's by {diff:e}"
        );
        assert_eq!(
            header, sim_header,
            "{scheme}: the CSV columns must be the simulator's"
        );
        assert_eq!(rows.len(), 5, "{scheme}: one row per evaluation");
        let faults = column(&header, &rows, "faults_detected");
        let sim_faults = column(&sim_header, &sim_rows, "faults_detected");
        assert_eq!(faults, sim_faults, "{scheme}: the decoder flags the same workers");
        let loss = column(&header, &rows, "test_loss");
        let sim_loss = column(&sim_header, &sim_rows, "test_loss");
        for (a, b) in loss.iter().zip(&sim_loss) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{scheme}: test loss {a} vs {b}"
            );
        }
        if scheme == "plain" {
            // The attack wins against the mean: the run is not the attack-free one.
            assert_eq!(faults.last(), Some(&0.0));
        } else {
            // The reverse-gradient worker is caught every iteration.
            assert_eq!(faults.last(), Some(&5.0), "{scheme}");
        }
        // Measured time columns are cumulative and positive.
        for name in ["compute_s", "comm_s", "decode_s", "wall_time_s"] {
            let values = column(&header, &rows, name);
            assert!(
                values.windows(2).all(|w| w[1] >= w[0]),
                "{scheme} {name}: {values:?}"
            );
        }
        assert!(column(&header, &rows, "compute_s")[4] > 0.0);
        let bytes = column(&header, &rows, "bytes_to_ps")[4];
        assert!(bytes > 0.0, "{scheme}: bytes_to_ps");
    }
}

#[test]
fn a_silent_worker_is_an_erasure_for_a_coded_scheme() {
    let dir = tempfile::tempdir().unwrap();
    // No attack: the one fault the code corrects is the worker that stops at iteration 2.
    let args = common("draco-cyclic", &["--adversaries", "1"]);
    let out = dir.path().join("stall.csv");
    let params = dir.path().join("stall.f32");
    let mut stalled = args.clone();
    stalled.extend(
        [
            "--mpi-stall",
            "2:2",
            "--mpi-timeout-s",
            "2",
            "--out",
            out.to_str().unwrap(),
            "--save-params",
            params.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let started = std::time::Instant::now();
    let real = mpirun(5, &stalled);
    // Exit status 4: finished by tolerating workers that stopped responding.
    assert_eq!(real.status.code(), Some(4), "{}", text(&real));
    assert!(started.elapsed().as_secs() < 60, "the PS waited too long");
    let stderr = String::from_utf8_lossy(&real.stderr);
    assert!(stderr.contains("worker rank 2"), "{stderr}");
    // Erasure decoding is exact: the model is the attack-free simulator's.
    let sim_params = dir.path().join("sim.f32");
    let mut sim_args = args.clone();
    sim_args.extend(
        [
            "--out",
            dir.path().join("sim.csv").to_str().unwrap(),
            "--save-params",
            sim_params.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let sim = simulate(&sim_args);
    assert!(sim.status.success(), "{}", text(&sim));
    let diff = relative_difference(&load(&params), &load(&sim_params));
    assert!(
        diff <= 1e-5,
        "decoding around the silent worker changed the model by {diff:e}"
    );
    let (header, rows) = csv(&out);
    assert_eq!(rows.len(), 5);
    // Iterations 2..5 each miss worker rank 2's message.
    assert_eq!(
        column(&header, &rows, "faults_detected"),
        [0.0, 1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn a_silent_worker_stops_plain_aggregation_with_a_named_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plain.csv");
    let mut args = common("plain", &["--mpi-stall", "3:3", "--mpi-timeout-s", "2"]);
    args.extend(["--out".to_string(), out.display().to_string()]);
    let real = mpirun(5, &args);
    assert_eq!(real.status.code(), Some(3), "{}", text(&real));
    let stderr = String::from_utf8_lossy(&real.stderr);
    assert!(stderr.contains("worker rank(s) [3]"), "{stderr}");
    // The iterations before the failure are in the CSV.
    let (header, rows) = csv(&out);
    assert_eq!(column(&header, &rows, "iteration"), [1.0, 2.0]);
}

#[test]
fn the_rank_count_must_be_workers_plus_one() {
    let out = mpirun(3, &common("plain", &[]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs mpirun -np 5"),
        "{}",
        text(&out)
    );
}

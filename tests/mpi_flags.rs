//! The MPI backend's flags are checked before MPI starts (no mpirun needed): bad values
//! are one-line errors with status 2, and a build without the `mpi` feature says how to
//! get one instead of running the simulator silently.

use std::process::Command;

fn solon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_solon"))
        .args(args)
        .output()
        .expect("run solon")
}

const BASE: [&str; 8] = [
    "train",
    "--backend",
    "mpi",
    "--dataset",
    "synthetic",
    "--model",
    "logreg",
    "--device=cpu",
];

fn assert_error(extra: &[&str], needle: &str) {
    let args: Vec<&str> = BASE.iter().chain(extra).copied().collect();
    let out = solon(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected '{needle}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_mpi_flags_are_refused_with_status_2() {
    assert_error(&["--mpi-timeout-s", "0"], "--mpi-timeout-s 0");
    assert_error(&["--mpi-timeout-s", "nan"], "--mpi-timeout-s NaN");
    assert_error(
        &["--workers", "4", "--batch-size", "16", "--mpi-stall", "9:1"],
        "1..=4",
    );
    assert_error(&["--mpi-stall", "x"], "RANK:ITERATION");
    assert_error(&["--batch-size", "7"], "--batch-size 7");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_says_how_to_get_it() {
    assert_error(&[], "--features mpi");
}

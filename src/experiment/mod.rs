//! Experiment plumbing shared by single runs and sweeps: atomic CSV files.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// Writes `rows` as CSV with a header to `path` atomically (a temporary file in
/// the same directory, then a rename), creating the directory if needed.
pub fn write_csv_atomic<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    {
        let mut w =
            csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        for r in rows {
            w.serialize(r)?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", tmp.display()))?;
    Ok(())
}

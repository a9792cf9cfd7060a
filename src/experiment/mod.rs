//! Experiment plumbing: atomic files and CSV, and sweeps over run configurations.

pub mod scaling;
pub mod sweep;

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target, so a reader sees the old file or the new one, whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", tmp.display()))?;
    Ok(())
}

fn csv_bytes<T: Serialize>(rows: &[T], header: bool) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(header)
        .from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    Ok(w.into_inner()?)
}

/// Writes `rows` as CSV with a header, atomically.
pub fn write_csv_atomic<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    write_atomic(path, &csv_bytes(rows, true)?)
}

/// Appends `rows` to the CSV at `path` (creating it with a header) atomically: the
/// whole new file replaces the old one, so a kill leaves either none or all of them.
pub fn append_csv_atomic<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut bytes = match std::fs::read(path) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    bytes.extend(csv_bytes(rows, bytes.is_empty())?);
    write_atomic(path, &bytes)
}

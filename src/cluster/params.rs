//! The final model as a file (`--save-params`): the flat parameter vector in the
//! trainer's layout, little-endian f32, no header. Both backends write it, so a run
//! on MPI can be compared number by number with the simulator's.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::Tensor;

/// Writes `params` (any shape; flattened) to `path`, creating its directory.
pub fn save(path: &Path, params: &Tensor) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let values = super::scheme::to_host(params);
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a file written by `save`.
pub fn load(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() % 4 != 0 {
        bail!(
            "{} holds {} bytes, not a whole number of f32 values",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/params.f32");
        let values = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.0e30, -7.25];
        save(&path, &Tensor::from_slice(&values).view([5, 1])).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.map(f32::to_bits)
        );
        std::fs::write(&path, [0u8; 6]).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("6 bytes"));
    }
}

//! Reader for the CIFAR-10 binary format (cifar-10-batches-bin): records of one
//! label byte followed by 3x32x32 pixel bytes, channel-major.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub const RECORD: usize = 1 + 3 * 32 * 32;

/// Images (N*3072 bytes, channel-major) and labels (N) of one or more batch files.
#[derive(Debug, Default)]
pub struct CifarBatch {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

pub fn parse_into(bytes: &[u8], name: &str, out: &mut CifarBatch) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        bail!(
            "{name} is truncated or not a CIFAR-10 binary batch: {} bytes is not a multiple of the {RECORD}-byte record",
            bytes.len()
        );
    }
    for record in bytes.chunks_exact(RECORD) {
        if record[0] > 9 {
            bail!(
                "{name}: label {} out of range 0..9; not a CIFAR-10 binary batch",
                record[0]
            );
        }
        out.labels.push(record[0]);
        out.images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

pub fn read_files(paths: &[std::path::PathBuf]) -> Result<CifarBatch> {
    let mut out = CifarBatch::default();
    for p in paths {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        parse_into(&bytes, &p.display().to_string(), &mut out)?;
    }
    Ok(out)
}

/// The file names of the training and test batches inside `dir`.
pub fn batch_files(dir: &Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let train = (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect();
    (train, vec![dir.join("test_batch.bin")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_rejects_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for label in [3u8, 7] {
            bytes.push(label);
            bytes.extend((0..3072).map(|i| (i % 251) as u8 ^ label));
        }
        let path = dir.path().join("data_batch_1.bin");
        std::fs::write(&path, &bytes).unwrap();
        let b = read_files(std::slice::from_ref(&path)).unwrap();
        assert_eq!(b.labels, vec![3, 7]);
        assert_eq!(b.images.len(), 2 * 3072);
        assert_eq!(b.images[3072 + 5], 5 ^ 7);
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = format!("{:#}", read_files(&[path]).unwrap_err());
        assert!(err.contains("truncated") && err.contains("data_batch_1"), "{err}");
    }
}

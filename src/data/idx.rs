//! Reader for the IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).
//! Validates the header against the file size so a truncated download is a clear
//! error naming the file, never a panic.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes: its dimensions and its data, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a whole file, transparently gunzipping when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{} is not a valid gzip file (truncated?)", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes (type code 0x08, unsigned byte, as MNIST uses).
pub fn parse(bytes: &[u8], name: &str) -> Result<IdxArray> {
    if bytes.len() < 4 {
        bail!(
            "{name} is truncated: {} bytes, too short for an IDX header",
            bytes.len()
        );
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!(
            "{name} is not an IDX file (magic bytes {:02x}{:02x}, expected 0000)",
            bytes[0],
            bytes[1]
        );
    }
    if bytes[2] != 0x08 {
        bail!(
            "{name}: IDX element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
            bytes[2]
        );
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        bail!(
            "{name} is truncated: header of rank {rank} needs {header} bytes, file has {}",
            bytes.len()
        );
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let found = bytes.len() - header;
    if found < expected {
        bail!("{name} is truncated: header says {dims:?} ({expected} bytes of data), found {found}; delete it and fetch the data again (make data)");
    }
    if found > expected {
        bail!(
            "{name} has {} trailing bytes after the {dims:?} array: not a valid IDX file",
            found - expected
        );
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads and parses one IDX file (.gz or raw).
pub fn read(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    parse(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_raw_and_gzip_files_identically() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let bytes = idx_bytes(&[2, 3, 4], &data);
        let raw = dir.path().join("x-idx3-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.path().join("x-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let a = read(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert_eq!(read(&gz).unwrap(), a);
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = idx_bytes(&[10, 28, 28], &vec![7u8; 10 * 784]);
        bytes.truncate(bytes.len() - 100);
        let path = dir.path().join("t10k-images-idx3-ubyte");
        std::fs::write(&path, &bytes).unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("truncated") && err.contains("t10k-images"), "{err}");
        // A header cut short is an error too, not an index panic.
        let err = format!("{:#}", parse(&bytes[..9], "short").unwrap_err());
        assert!(err.contains("truncated"), "{err}");
        // And a gzip stream cut short.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &idx_bytes(&[10, 28, 28], &vec![7u8; 7840])).unwrap();
        let gz = enc.finish().unwrap();
        let cut = dir.path().join("cut.gz");
        std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
        assert!(read(&cut).is_err());
    }

    #[test]
    fn wrong_magic_or_type_is_rejected() {
        assert!(parse(&[1, 0, 8, 1, 0, 0, 0, 0], "m").is_err());
        assert!(parse(&[0, 0, 0x0d, 1, 0, 0, 0, 0], "m").is_err());
        assert!(parse(&idx_bytes(&[2], &[1, 2, 3]), "extra").is_err());
    }
}

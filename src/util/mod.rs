//! Small helpers shared by every module: hex digests, size-capped reads, atomic writes; dates in `time`,
//! number formats in `fmt`. The bottom layer: it imports nothing of the crate.

pub mod fmt;
pub mod time;

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadCapped {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("file is larger than the {cap}-byte cap for this kind of file")]
    TooLarge { cap: u64 },
}

/// Reads a whole file that must not exceed `cap` bytes (cards, configs, license texts).
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadCapped> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(ReadCapped::TooLarge { cap });
    }
    Ok(buf)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename, so a reader
/// never sees half a file and an interrupted run leaves the old one intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_fips_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn capped_read_refuses_larger_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_capped(&p, 5).unwrap(), b"12345");
        assert!(matches!(
            read_capped(&p, 4),
            Err(ReadCapped::TooLarge { cap: 4 })
        ));
    }
}

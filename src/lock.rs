//! `modelvet.lock`: the exact files a team adopted, so CI can refuse anything else.
//!
//! A lock lists every file's path, size and sha256, plus a root digest over the sorted entries (one
//! value to pin in a policy or a ticket). `verify` re-hashes the model and reports missing, extra and
//! changed files. The format is JSON with a version number; unknown versions are refused, not guessed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the lock format.
pub const LOCK_VERSION: u32 = 1;

/// One locked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub lock_version: u32,
    /// The tool that wrote it (`modelvet 0.1.0`).
    pub generated_by: String,
    /// The model reference it was made from (informational; `verify` may point elsewhere).
    pub model: String,
    /// sha256 over the sorted `sha256  size  path` lines.
    pub root_digest: String,
    pub files: Vec<LockedFile>,
}

/// The root digest: sha256 over `"{sha256}  {size}  {path}\n"` for each file, sorted by path.
pub fn root_digest<'a>(entries: impl Iterator<Item = (&'a str, u64, &'a str)>) -> String {
    let mut lines: Vec<String> = entries
        .map(|(path, size, sha)| format!("{sha}  {size}  {path}\n"))
        .collect();
    lines.sort_by(|a, b| {
        let pa = a.splitn(3, "  ").nth(2).unwrap_or("");
        let pb = b.splitn(3, "  ").nth(2).unwrap_or("");
        pa.cmp(pb)
    });
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
    }
    format!("sha256:{}", crate::util::hex(&h.finalize()))
}

/// Why a lock could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("could not read lock file `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}`:{line}:{column}: not a modelvet lock file: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{path}` is lock version {found}; this modelvet reads version {LOCK_VERSION}")]
    Version { path: String, found: u32 },
    #[error("`{path}` names an unsafe path `{file}` (absolute or with `..`)")]
    UnsafePath { path: String, file: String },
}

impl Lock {
    /// Builds a lock from file records that all have hashes.
    pub fn new(model: &str, files: impl Iterator<Item = (String, u64, String)>) -> Lock {
        let mut files: Vec<LockedFile> = files
            .map(|(path, size, sha256)| LockedFile { path, size, sha256 })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let root_digest = root_digest(
            files
                .iter()
                .map(|f| (f.path.as_str(), f.size, f.sha256.as_str())),
        );
        Lock {
            lock_version: LOCK_VERSION,
            generated_by: format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
            model: model.to_owned(),
            root_digest,
            files,
        }
    }

    /// Reads and validates a lock file.
    pub fn read(path: &std::path::Path) -> Result<Lock, LockError> {
        let p = path.display().to_string();
        let bytes = crate::util::read_capped(path, 256 << 20).map_err(|e| LockError::Io {
            path: p.clone(),
            source: match e {
                crate::util::ReadCapped::Io(e) => e,
                other => std::io::Error::other(other.to_string()),
            },
        })?;
        let lock: Lock = serde_json::from_slice(&bytes).map_err(|e| LockError::Parse {
            path: p.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if lock.lock_version != LOCK_VERSION {
            return Err(LockError::Version {
                path: p,
                found: lock.lock_version,
            });
        }
        if let Some(bad) = lock
            .files
            .iter()
            .find(|f| !crate::model::is_safe_relative(&f.path))
        {
            return Err(LockError::UnsafePath {
                path: p,
                file: bad.path.clone(),
            });
        }
        Ok(lock)
    }
}

/// What differs between a lock and the files on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verification {
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub changed: Vec<Change>,
    pub unchanged: usize,
    pub expected_root: String,
    pub actual_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub path: String,
    pub expected_size: u64,
    pub actual_size: u64,
    pub expected_sha256: String,
    /// `None` when the file could not be read.
    pub actual_sha256: Option<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// A file as found on disk: relative path, size, sha256 (`None` when unreadable).
pub type FoundFile = (String, u64, Option<String>);

/// Compares a lock with the files found.
pub fn verify(lock: &Lock, actual: &[FoundFile]) -> Verification {
    let mut v = Verification {
        expected_root: lock.root_digest.clone(),
        ..Default::default()
    };
    let found: std::collections::BTreeMap<&str, (u64, Option<&str>)> = actual
        .iter()
        .map(|(p, s, h)| (p.as_str(), (*s, h.as_deref())))
        .collect();
    let locked: std::collections::BTreeSet<&str> =
        lock.files.iter().map(|f| f.path.as_str()).collect();
    for f in &lock.files {
        match found.get(f.path.as_str()) {
            None => v.missing.push(f.path.clone()),
            Some(&(size, sha))
                if size == f.size && sha.is_some_and(|s| s.eq_ignore_ascii_case(&f.sha256)) =>
            {
                v.unchanged += 1
            }
            Some(&(size, sha)) => v.changed.push(Change {
                path: f.path.clone(),
                expected_size: f.size,
                actual_size: size,
                expected_sha256: f.sha256.clone(),
                actual_sha256: sha.map(str::to_owned),
            }),
        }
    }
    v.extra = found
        .keys()
        .filter(|p| !locked.contains(*p))
        .map(|p| p.to_string())
        .collect();
    v.actual_root = root_digest(
        actual
            .iter()
            .filter_map(|(p, s, h)| Some((p.as_str(), *s, h.as_deref()?))),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str, s: u64, h: &str) -> (String, u64, Option<String>) {
        (p.into(), s, Some(h.into()))
    }

    #[test]
    fn root_digest_does_not_depend_on_input_order() {
        let a = root_digest([("a", 1, "x"), ("b", 2, "y")].into_iter());
        let b = root_digest([("b", 2, "y"), ("a", 1, "x")].into_iter());
        assert_eq!(a, b);
        assert_ne!(a, root_digest([("a", 1, "x"), ("b", 2, "z")].into_iter()));
    }

    #[test]
    fn verify_reports_missing_extra_and_changed_files() {
        let lock = Lock::new(
            "m",
            [
                ("a".into(), 1, "aa".into()),
                ("b".into(), 2, "bb".into()),
                ("c".into(), 3, "cc".into()),
            ]
            .into_iter(),
        );
        let v = verify(
            &lock,
            &[
                entry("a", 1, "aa"),
                entry("b", 2, "XX"),
                entry("d", 4, "dd"),
            ],
        );
        assert_eq!(v.missing, ["c"]);
        assert_eq!(v.extra, ["d"]);
        assert_eq!(v.changed.len(), 1);
        assert_eq!(v.changed[0].path, "b");
        assert_eq!(v.unchanged, 1);
        assert!(!v.ok());
        let v = verify(
            &lock,
            &[
                entry("a", 1, "aa"),
                entry("b", 2, "bb"),
                entry("c", 3, "cc"),
            ],
        );
        assert!(v.ok());
        assert_eq!(v.actual_root, lock.root_digest);
    }

    #[test]
    fn a_lock_with_unknown_fields_or_traversal_paths_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("modelvet.lock");
        std::fs::write(&p, r#"{"lock_version":1,"generated_by":"x","model":"m","root_digest":"r","files":[],"extra":1}"#).unwrap();
        assert!(matches!(Lock::read(&p), Err(LockError::Parse { .. })));
        std::fs::write(&p, r#"{"lock_version":1,"generated_by":"x","model":"m","root_digest":"r","files":[{"path":"../x","size":1,"sha256":"a"}]}"#).unwrap();
        assert!(matches!(Lock::read(&p), Err(LockError::UnsafePath { .. })));
        std::fs::write(
            &p,
            r#"{"lock_version":9,"generated_by":"x","model":"m","root_digest":"r","files":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            Lock::read(&p),
            Err(LockError::Version { found: 9, .. })
        ));
    }
}

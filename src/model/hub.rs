//! The Hugging Face cache: finding a snapshot offline, downloading one on request, and checking that the
//! cache still vouches for its files.
//!
//! Layout (as huggingface_hub writes it): `models--org--name/refs/<revision>` holds a commit hash,
//! `snapshots/<commit>/<file>` are links into `blobs/<id>`, where `<id>` is the sha256 of an LFS file or the
//! git blob sha1 of a small one. hf-hub names the folders; the checks here are ours.

use super::{HubId, ResolveError, Source};
use crate::diag::{Code, Finding};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

/// A snapshot folder found in the cache.
pub struct Snapshot {
    pub dir: PathBuf,
    pub repo_dir: PathBuf,
    pub source: Source,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why the cache holds no usable snapshot: one line saying where it looked.
#[derive(Debug, thiserror::Error)]
pub enum CacheMiss {
    #[error("the Hugging Face cache: no folder `{}`", .0.display())]
    NoRepo(PathBuf),
    #[error("the Hugging Face cache: `{}` does not hold a commit hash", .0.display())]
    NotACommit(PathBuf),
    #[error("the Hugging Face cache: no revision `{revision}` (`{}`: {source})", path.display())]
    NoRevision {
        revision: String,
        path: PathBuf,
        #[source]
        source: crate::util::ReadCapped,
    },
    #[error("the Hugging Face cache: no snapshot folder `{}`", .0.display())]
    NoSnapshot(PathBuf),
}

/// Finds the snapshot for `id` in `cache`, or explains (one line) where it looked.
pub fn snapshot(cache: &Path, id: &HubId) -> Result<Snapshot, CacheMiss> {
    let repo = hf_hub::Repo::with_revision(
        id.repo_id.clone(),
        hf_hub::RepoType::Model,
        id.revision.clone(),
    );
    let cache_repo = hf_hub::Cache::new(cache.to_owned()).repo(repo.clone());
    let repo_dir = cache.join(repo.folder_name());
    if !repo_dir.is_dir() {
        return Err(CacheMiss::NoRepo(repo_dir));
    }
    let commit = if is_hex(&id.revision, 40) {
        id.revision.clone()
    } else {
        let ref_path = repo_dir.join("refs").join(&id.revision);
        match crate::util::read_capped(&ref_path, 1024) {
            Ok(bytes) => {
                let c = String::from_utf8_lossy(&bytes).trim().to_owned();
                if !is_hex(&c, 40) {
                    return Err(CacheMiss::NotACommit(ref_path));
                }
                c
            }
            Err(source) => {
                return Err(CacheMiss::NoRevision {
                    revision: id.revision.clone(),
                    path: ref_path,
                    source,
                })
            }
        }
    };
    let dir = cache_repo.pointer_path(&commit);
    if !dir.is_dir() {
        return Err(CacheMiss::NoSnapshot(dir));
    }
    Ok(Snapshot {
        dir,
        repo_dir: repo_dir.clone(),
        source: Source::HubCache {
            repo_id: id.repo_id.clone(),
            revision: id.revision.clone(),
            commit,
            repo_dir,
        },
    })
}

/// Downloads every file of `id` into `cache` through hf-hub (only with `--download`).
pub fn download(cache: &Path, id: &HubId) -> Result<(), ResolveError> {
    let err = |message: String| ResolveError::Download {
        repo: id.repo_id.clone(),
        message,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(cache.to_owned()))
        .with_progress(true)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        id.repo_id.clone(),
        hf_hub::RepoType::Model,
        id.revision.clone(),
    ));
    let info = repo.info().map_err(|e| err(e.to_string()))?;
    for sibling in &info.siblings {
        // The file list comes from the network: never let it name a path outside the snapshot.
        if !super::is_safe_relative(&sibling.rfilename) {
            return Err(err(format!(
                "the Hub listed an unsafe file name `{}`",
                sibling.rfilename
            )));
        }
        repo.get(&sibling.rfilename)
            .map_err(|e| err(format!("`{}`: {e}", sibling.rfilename)))?;
    }
    Ok(())
}

/// Largest non-LFS blob re-hashed with git's sha1 (small files: configs, cards, tokenizers).
const MAX_GIT_BLOB: u64 = 256 << 20;

/// Checks each cached file against its blob name. `sha256` gives the content hash already computed for a
/// file (by relative path), so LFS blobs are not read twice.
pub fn check_blobs(
    files: &[super::ModelFile],
    sha256: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        let Some(target) = &f.link_target else {
            continue;
        };
        let Some(blob) = target.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let in_blobs = target
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "blobs");
        if !in_blobs {
            continue;
        }
        let actual = if is_hex(blob, 64) {
            sha256(&f.rel)
        } else if is_hex(blob, 40) && f.size <= MAX_GIT_BLOB {
            git_blob_sha1(&f.path).ok()
        } else {
            continue;
        };
        match actual {
            Some(a) if a.eq_ignore_ascii_case(blob) => {}
            Some(a) => out.push(
                Finding::new(
                    Code::HubBlobMismatch,
                    format!(
                        "`{}` is stored as blob `{blob}` but its content hashes to `{a}`",
                        f.rel
                    ),
                )
                .in_file(&f.rel),
            ),
            None => {}
        }
    }
    out
}

/// git's object id of a file: sha1 of `blob <len>\0` followed by the content.
pub fn git_blob_sha1(path: &Path) -> std::io::Result<String> {
    let data = crate::util::read_capped(path, MAX_GIT_BLOB)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(&data);
    Ok(crate::util::hex(&h.finalize()))
}

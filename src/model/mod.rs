//! Resolving what the user named into a concrete set of files: a `.gguf` or `.safetensors` file, a model
//! folder in Hugging Face layout, or a Hub id `org/name[@revision]` found in the local Hugging Face cache.
//!
//! Offline by default: a Hub id is looked up in the cache only (HF_HUB_CACHE, else HF_HOME/hub, else
//! ~/.cache/huggingface/hub — hf-hub 0.5 names the repo folders and snapshot paths; we choose the cache
//! folder ourselves so the environment rules are the same as Python's). `--download` is the only way to
//! reach the network. A name that resolves to nothing is an error that lists every place tried.
//!
//! The folder walk is bounded (file count, depth), never follows directory links, and records — as
//! findings, not errors — links that leave the model folder or the cache, and files it cannot read.

use crate::diag::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Most files one model may have before the walk stops.
pub const MAX_FILES: usize = 100_000;
/// Deepest folder nesting walked.
pub const MAX_DEPTH: usize = 32;

/// Where the model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A single weight file named on the command line.
    File,
    /// A model folder.
    Folder,
    /// A snapshot in the Hugging Face cache.
    HubCache {
        repo_id: String,
        revision: String,
        commit: String,
        /// The cache's folder for this repo (`…/models--org--name`).
        repo_dir: PathBuf,
    },
    /// A model served by an OpenAI-compatible server whose files were not available to inspect.
    Endpoint { url: String, served_model: String },
}

/// One file of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// Path relative to the model root, with `/` separators.
    pub rel: String,
    /// Where to read it.
    pub path: PathBuf,
    pub size: u64,
    /// Where a symbolic link pointed (canonical), when `rel` is a link.
    pub link_target: Option<PathBuf>,
}

/// A model resolved to files.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// What the user typed.
    pub reference: String,
    pub source: Source,
    /// The folder the relative paths start from.
    pub root: PathBuf,
    /// Files sorted by relative path.
    pub files: Vec<ModelFile>,
    /// Problems seen while walking (links leaving the folder, unreadable entries, limits).
    pub findings: Vec<Finding>,
}

impl ResolvedModel {
    /// The file at `rel`, if the model has it.
    pub fn file(&self, rel: &str) -> Option<&ModelFile> {
        self.files.iter().find(|f| f.rel == rel)
    }
}

/// Options for [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Allow fetching a Hub id over the network (through hf-hub) when it is not cached.
    pub download: bool,
    /// The Hugging Face cache folder; default from the environment ([`hub_cache_dir`]).
    pub hub_cache: Option<PathBuf>,
}

/// Why a model could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{spec}` names no model; tried:\n{}", tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n"))]
    NotFound { spec: String, tried: Vec<String> },
    #[error("`{path}` is a {kind}, not a model (expected a .gguf or .safetensors file, or a model folder)")]
    NotAModel { path: PathBuf, kind: String },
    #[error("could not read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not download `{repo}` from the Hugging Face Hub: {message}")]
    Download { repo: String, message: String },
}

/// The Hugging Face cache folder, resolved as `huggingface_hub` does: HF_HUB_CACHE, else HF_HOME/hub,
/// else ~/.cache/huggingface/hub.
pub fn hub_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

/// A Hub id: `org/name` with an optional `@revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    pub repo_id: String,
    pub revision: String,
}

impl HubId {
    /// Parses `org/name[@revision]`; `None` when the text cannot be a Hub id.
    pub fn parse(spec: &str) -> Option<HubId> {
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev),
            Some(_) => return None,
            None => (spec, "main"),
        };
        let (org, name) = repo.split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 96
                && !s.starts_with(['.', '-'])
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !s.contains("..")
        };
        let rev_ok =
            revision.len() <= 256 && !revision.contains("..") && !revision.starts_with('/');
        (ok(org) && ok(name) && rev_ok).then(|| HubId {
            repo_id: repo.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

/// Resolves `spec` to a model: an existing path first, then a Hub id in the cache, then (with
/// `download`) the Hub itself.
pub fn resolve(spec: &str, opts: &ResolveOptions) -> Result<ResolvedModel, ResolveError> {
    let path = Path::new(spec);
    let mut tried = Vec::new();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => return resolve_file(spec, path),
        Ok(meta) if meta.is_dir() => return resolve_folder(spec, path, Source::Folder, None),
        Ok(_) => {
            return Err(ResolveError::NotAModel {
                path: path.to_owned(),
                kind: "special file".into(),
            });
        }
        Err(e) => tried.push(format!("a file or folder at `{spec}`: {e}")),
    }
    let Some(id) = HubId::parse(spec) else {
        tried.push(format!(
            "a Hugging Face Hub id: `{spec}` is not of the form `org/name[@revision]`"
        ));
        return Err(ResolveError::NotFound {
            spec: spec.to_owned(),
            tried,
        });
    };
    let cache = opts.hub_cache.clone().unwrap_or_else(hub_cache_dir);
    match hub::snapshot(&cache, &id) {
        Ok(snap) => return resolve_folder(spec, &snap.dir, snap.source, Some(&snap.repo_dir)),
        Err(why) => tried.push(why.to_string()),
    }
    if opts.download {
        hub::download(&cache, &id)?;
        let snap = hub::snapshot(&cache, &id).map_err(|why| ResolveError::Download {
            repo: id.repo_id.clone(),
            message: format!("downloaded, but the snapshot is not in the cache: {why}"),
        })?;
        return resolve_folder(spec, &snap.dir, snap.source, Some(&snap.repo_dir));
    }
    tried.push(
        "the network: not used (offline by default; add `--download` to fetch from the Hub)".into(),
    );
    Err(ResolveError::NotFound {
        spec: spec.to_owned(),
        tried,
    })
}

fn resolve_file(spec: &str, path: &Path) -> Result<ResolvedModel, ResolveError> {
    let io = |source| ResolveError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let rel = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_owned());
    let link_target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).ok(),
        _ => None,
    };
    Ok(ResolvedModel {
        reference: spec.to_owned(),
        source: Source::File,
        root,
        files: vec![ModelFile {
            rel,
            path: path.to_owned(),
            size: meta.len(),
            link_target,
        }],
        findings: Vec::new(),
    })
}

/// Walks a folder; `boundary` is where links may point (the model folder itself, or the cache repo folder).
fn resolve_folder(
    spec: &str,
    root: &Path,
    source: Source,
    boundary: Option<&Path>,
) -> Result<ResolvedModel, ResolveError> {
    let canon_root = std::fs::canonicalize(root).map_err(|source| ResolveError::Io {
        path: root.to_owned(),
        source,
    })?;
    let boundary = match boundary {
        Some(b) => std::fs::canonicalize(b).unwrap_or_else(|_| b.to_owned()),
        None => canon_root.clone(),
    };
    let in_cache = matches!(source, Source::HubCache { .. });
    let mut walk = Walk {
        files: Vec::new(),
        findings: Vec::new(),
        boundary,
        in_cache,
        stopped: false,
    };
    walk.dir(root, "", 0).map_err(|source| ResolveError::Io {
        path: root.to_owned(),
        source,
    })?;
    walk.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(ResolvedModel {
        reference: spec.to_owned(),
        source,
        root: root.to_owned(),
        files: walk.files,
        findings: walk.findings,
    })
}

struct Walk {
    files: Vec<ModelFile>,
    findings: Vec<Finding>,
    boundary: PathBuf,
    in_cache: bool,
    stopped: bool,
}

impl Walk {
    fn dir(&mut self, dir: &Path, prefix: &str, depth: usize) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if self.stopped {
                return Ok(());
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            let ftype = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    self.unreadable(&rel, &e);
                    continue;
                }
            };
            // Version control and tool caches are not part of the model.
            if ftype.is_dir() && (name == ".git" || (depth == 0 && name == ".cache")) {
                continue;
            }
            if ftype.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    self.limit(format!("folders nest deeper than {MAX_DEPTH} levels at `{rel}`; not walked further"));
                    continue;
                }
                self.dir(&path, &rel, depth + 1)?;
                continue;
            }
            let mut link_target = None;
            if ftype.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) => {
                        if !target.starts_with(&self.boundary) {
                            let (code, place) = if self.in_cache {
                                (Code::SymlinkOutsideCache, "the Hugging Face cache")
                            } else {
                                (Code::SymlinkOutsideModel, "the model folder")
                            };
                            self.findings.push(
                                Finding::new(
                                    code,
                                    format!(
                                        "`{rel}` links to `{}`, outside {place}",
                                        target.display()
                                    ),
                                )
                                .in_file(&rel),
                            );
                        }
                        if target.is_dir() {
                            // Directory links are not followed: they can loop and can leave the folder.
                            continue;
                        }
                        link_target = Some(target);
                    }
                    Err(e) => {
                        self.unreadable(&rel, &e);
                        continue;
                    }
                }
            }
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    if self.files.len() >= MAX_FILES {
                        self.limit(format!(
                            "more than {MAX_FILES} files; the rest were not walked"
                        ));
                        self.stopped = true;
                        return Ok(());
                    }
                    self.files.push(ModelFile {
                        rel,
                        path,
                        size: meta.len(),
                        link_target,
                    });
                }
                Ok(_) => {}
                Err(e) => self.unreadable(&rel, &e),
            }
        }
        Ok(())
    }

    fn unreadable(&mut self, rel: &str, e: &std::io::Error) {
        self.findings.push(
            Finding::new(Code::FileUnreadable, format!("cannot read `{rel}`: {e}")).in_file(rel),
        );
    }

    fn limit(&mut self, message: String) {
        self.findings
            .push(Finding::new(Code::FolderTooLarge, message));
    }
}

/// True when `rel` is a plain relative path (no root, no `..`): safe to join under a folder.
pub fn is_safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

pub mod hub;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_parse_with_and_without_revision() {
        assert_eq!(
            HubId::parse("Qwen/Qwen2.5-0.5B@v1.0"),
            Some(HubId {
                repo_id: "Qwen/Qwen2.5-0.5B".into(),
                revision: "v1.0".into()
            })
        );
        assert_eq!(
            HubId::parse("org/name").map(|h| h.revision),
            Some("main".into())
        );
        for bad in [
            "name",
            "org/",
            "/name",
            "../x/y",
            "org/na me",
            "org/name@",
            "a/b/c",
        ] {
            assert_eq!(HubId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_name_that_resolves_to_nothing_lists_what_was_tried() {
        let empty = tempfile::tempdir().unwrap();
        let opts = ResolveOptions {
            download: false,
            hub_cache: Some(empty.path().to_owned()),
        };
        let err = resolve("nobody/nothing", &opts).unwrap_err().to_string();
        assert!(
            err.contains("a file or folder at `nobody/nothing`"),
            "{err}"
        );
        assert!(err.contains("models--nobody--nothing"), "{err}");
        assert!(err.contains("--download"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn folder_walk_flags_links_that_leave_the_folder_and_skips_git() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), b"ref").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("b.txt"))
            .unwrap();
        let m = resolve(dir.path().to_str().unwrap(), &ResolveOptions::default()).unwrap();
        let rels: Vec<_> = m.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a.txt", "b.txt"]);
        assert_eq!(m.findings.len(), 1);
        assert_eq!(m.findings[0].code, Code::SymlinkOutsideModel);
    }

    #[test]
    fn safe_relative_paths_have_no_root_or_parent() {
        assert!(is_safe_relative("a/b.bin"));
        assert!(!is_safe_relative("../a"));
        assert!(!is_safe_relative("/etc/passwd"));
        assert!(!is_safe_relative("a/../../b"));
    }
}

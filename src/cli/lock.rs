//! `modelvet lock` and `modelvet verify`: pin a model's exact files, and check them later in CI.

use super::{emit, Format, ModelArgs, Status};
use crate::lock::{verify, FoundFile, Lock};
use anyhow::Context;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LockArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the lock file.
    #[arg(long, short, value_name = "FILE", default_value = "modelvet.lock")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The lock file to check against.
    #[arg(long, value_name = "FILE", default_value = "modelvet.lock")]
    pub lock: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Hashes every file of the model: (path, size, sha256 or None when unreadable).
fn hash_all(args: &ModelArgs, progress: bool) -> anyhow::Result<(String, Vec<FoundFile>)> {
    let model = args.resolve()?;
    let mut out = Vec::new();
    for (rel, size, h) in crate::provenance::hash::hash_model(&model, progress) {
        if let Err(e) = &h {
            eprintln!("warning: cannot read `{rel}`: {e}");
        }
        out.push((rel, size, h.ok()));
    }
    Ok((model.reference, out))
}

pub fn run_lock(args: LockArgs, progress: bool) -> anyhow::Result<Status> {
    let (reference, files) = hash_all(&args.model, progress)?;
    if let Some((path, _, _)) = files.iter().find(|f| f.2.is_none()) {
        anyhow::bail!("cannot lock `{reference}`: `{path}` could not be read");
    }
    if files.is_empty() {
        anyhow::bail!("cannot lock `{reference}`: it has no files");
    }
    let lock = Lock::new(
        &reference,
        files.into_iter().filter_map(|(p, s, h)| Some((p, s, h?))),
    );
    let text = serde_json::to_string_pretty(&lock)? + "\n";
    emit(Some(&args.output), &text)?;
    eprintln!(
        "locked {} files of `{reference}` in `{}` ({})",
        lock.files.len(),
        args.output.display(),
        lock.root_digest
    );
    Ok(Status::Success)
}

pub fn run_verify(args: VerifyArgs, progress: bool) -> anyhow::Result<Status> {
    let lock = Lock::read(&args.lock)
        .with_context(|| "hint: create one with `modelvet lock <MODEL> -o modelvet.lock`")?;
    let (reference, files) = hash_all(&args.model, progress)?;
    let v = verify(&lock, &files);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&v)? + "\n",
        Format::Human => {
            let mut s = String::new();
            for p in &v.missing {
                let _ = writeln!(s, "missing  {p}");
            }
            for p in &v.extra {
                let _ = writeln!(s, "extra    {p}");
            }
            for c in &v.changed {
                let _ = writeln!(
                    s,
                    "changed  {}  (size {} -> {}, sha256 {} -> {})",
                    c.path,
                    c.expected_size,
                    c.actual_size,
                    c.expected_sha256,
                    c.actual_sha256.as_deref().unwrap_or("unreadable")
                );
            }
            let _ = writeln!(
                s,
                "{}: `{reference}` against `{}`: {} unchanged, {} changed, {} missing, {} extra",
                if v.ok() { "ok" } else { "mismatch" },
                args.lock.display(),
                v.unchanged,
                v.changed.len(),
                v.missing.len(),
                v.extra.len()
            );
            s
        }
    };
    emit(None, &text)?;
    Ok(if v.ok() {
        Status::Success
    } else {
        Status::Failure
    })
}

//! Pickle and PyTorch checkpoint scanning: which Python globals would loading this file import?
//!
//! `torch.load` (without `weights_only`) and `pickle.load` execute whatever a pickle tells them to: a
//! `GLOBAL os system` followed by `REDUCE` runs a shell command. The only safe way to vet such a file is to
//! read it *without* unpickling it. This module walks the opcode stream the way CPython's unpickler would,
//! simulating just enough of the value stack and memo to name every global the stream imports (including
//! protocol-4 `STACK_GLOBAL`, whose operands are strings built on the stack), and classifies each one
//! against an allowlist mirroring PyTorch's `weights_only` unpickler and a denylist of modules and
//! functions that run code or touch the system.
//!
//! The work is split by what each part needs to know, each file with its own trade-offs:
//! - `walker`: the opcode walker. It sees one byte slice and names the globals the stream imports; it
//!   knows nothing about files or about which globals are dangerous, so it is tested on bytes alone.
//! - `classify`: the allow- and denylists, and the verdict on one (module, name).
//! - `scan`: files and zip archives: where the streams are, how much to read, and turning walked streams
//!   into a [`PickleScan`] and findings.
//!
//! This file holds the public types the three share (the audit record serializes some of them) and
//! re-exports the entry points, so callers only ever name `provenance::pickle::X`.

use serde::{Deserialize, Serialize};

mod classify;
mod scan;
mod walker;

#[cfg(test)]
mod test_support;

pub use classify::{classify, Classification, DYNAMIC, EXTENSION_MODULE};
pub use scan::{scan_file, MAX_RAW_READ_BYTES, MAX_STREAMS, MAX_ZIP_MEMBER_BYTES, MAX_ZIP_PICKLES};
pub use walker::{scan_stream, MAX_LINE_LEN, MAX_MEMO_ENTRIES, MAX_OPCODES, MAX_STACK_DEPTH};

/// How a global imported by a pickle is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    /// A known tensor or plain-container rebuild helper (PyTorch's `weights_only` allowlist).
    Allowed,
    /// Runs code, imports modules, or touches files, processes or the network.
    Unsafe,
    /// Neither: it may be harmless or not; loading the file imports it and may call it.
    Unknown,
}

/// One distinct global imported by one pickle stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportedGlobal {
    /// The module, as written in the pickle (`?` when computed at load time).
    pub module: String,
    /// The attribute looked up in the module, possibly dotted (`?` when computed at load time).
    pub name: String,
    pub safety: Safety,
    /// How many times the stream imports it.
    pub count: u64,
    /// The pickle (zip member or `stream N`) it appeared in.
    pub pickle: String,
}

/// What kind of pickle container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointFormat {
    /// A zip archive holding `.pkl` members (PyTorch ≥ 1.6 `torch.save`, TorchScript).
    TorchZip,
    /// Three or more consecutive pickles at the front of the file (PyTorch < 1.6 `torch.save`).
    TorchLegacy,
    /// One or two consecutive pickles (plain `pickle.dump`).
    Pickle,
    /// Neither a pickle nor a zip of pickles.
    NotPickle,
}

/// The result of scanning one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PickleScan {
    /// The path as given to [`scan_file`] (relative to the model root).
    pub file: String,
    pub format: CheckpointFormat,
    /// Names of the pickle streams scanned: zip member names, or `stream 0`, `stream 1`… for raw files.
    pub pickles: Vec<String>,
    /// Total opcodes walked over all streams.
    pub opcodes: u64,
    /// Deduplicated per (pickle, module, name), sorted by (pickle, module, name).
    pub globals: Vec<ImportedGlobal>,
    /// False when any stream or member could not be fully scanned.
    pub complete: bool,
}

/// One distinct global found in one stream, with how often it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGlobal {
    pub module: String,
    pub name: String,
    pub count: u64,
}

/// The result of walking one pickle stream with [`scan_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamScan {
    /// Distinct globals, in order of first import.
    pub globals: Vec<StreamGlobal>,
    /// Opcodes walked, including the one that failed, if any.
    pub opcodes: u64,
    /// Bytes consumed: the position just after STOP, or where the walk stopped on error.
    pub consumed: usize,
    /// The protocol announced by the first PROTO opcode, if any.
    pub protocol: Option<u8>,
    /// Why the walk stopped before STOP; the fields above then describe the partial walk.
    pub error: Option<PickleError>,
}

/// Why a pickle stream could not be walked to its STOP opcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct PickleError {
    /// Offset of the failing opcode from the start of the stream.
    pub offset: usize,
    pub kind: PickleErrorKind,
}

impl PickleError {
    /// True when the stream merely ran out of bytes (more input could let the walk continue).
    pub fn is_truncation(&self) -> bool {
        matches!(
            self.kind,
            PickleErrorKind::Truncated { .. } | PickleErrorKind::MissingStop
        )
    }
}

/// The ways a pickle stream can be malformed or exceed a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleErrorKind {
    #[error("the stream ends inside `{opcode}`, which needs {missing} more byte(s)")]
    Truncated { opcode: &'static str, missing: u64 },
    #[error("the stream ends without a STOP opcode")]
    MissingStop,
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    #[error("`{opcode}` pops from an empty stack")]
    StackUnderflow { opcode: &'static str },
    #[error("`{opcode}` needs a MARK and none is open")]
    NoMark { opcode: &'static str },
    #[error("the argument of `{opcode}` has no line end within {MAX_LINE_LEN} bytes")]
    LineTooLong { opcode: &'static str },
    #[error("the argument of `{opcode}` is not valid UTF-8")]
    InvalidUtf8 { opcode: &'static str },
    #[error("`{opcode}` has an invalid argument: {detail}")]
    InvalidArgument {
        opcode: &'static str,
        detail: String,
    },
    #[error("`{opcode}` reads memo entry {key}, which was never stored")]
    MemoMissing { opcode: &'static str, key: u64 },
    #[error("the {what} exceeds modelvet's limit of {limit}")]
    LimitExceeded { what: &'static str, limit: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_and_format_serialize_in_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Safety::Unsafe).ok().as_deref(),
            Some("\"unsafe\"")
        );
        assert_eq!(
            serde_json::to_string(&CheckpointFormat::TorchLegacy)
                .ok()
                .as_deref(),
            Some("\"torch-legacy\"")
        );
    }
}

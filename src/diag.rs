//! Findings: what modelvet observed about a model, as data with a stable code and a severity.
//!
//! A finding is not an error. "The tool could not run" is an `Err`; "this file carries an unsafe pickle
//! global" is a [`Finding`] in the record, so a policy can weigh it and a report can show it. Every code is a
//! variant of [`Code`], documented with what it means and why it matters, so the list below is the reference
//! that the README and the reports point to, and codes never change spelling once shipped.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How much a finding matters. Ordered: `Info < Warning < Error`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; never fails anything by default.
    Info,
    /// Needs a human look; fails only under a stricter `--fail-level`.
    Warning,
    /// Blocks adoption until resolved; fails the default gate.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, $sev:ident; )*) => {
        /// Every finding code modelvet can emit, with its default severity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum Code {
            $( $(#[doc = $doc])* #[serde(rename = $code)] $variant, )*
        }

        impl Code {
            /// Every code, in declaration order (for documentation and policy validation).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case spelling used in reports and policies.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The severity a finding gets unless a policy says otherwise.
            pub fn default_severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// The documentation of the code: what it means and why it matters.
            pub fn doc(self) -> &'static str {
                match self { $(Code::$variant => concat!($($doc, "\n"),*).trim_ascii(),)* }
            }

            /// Looks a code up by its kebab-case spelling.
            pub fn parse(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // --- files and integrity ---
    /// A file of the model could not be read (permissions, I/O error). Nothing about it can be vouched for.
    FileUnreadable = "file-unreadable", Error;
    /// The model names no weight file (.gguf, .safetensors, pickle checkpoint). There is nothing to vet.
    WeightsMissing = "weights-missing", Error;
    /// A symbolic link in a model folder points outside the folder: what is hashed is not what was shipped.
    SymlinkOutsideModel = "symlink-outside-model", Warning;
    /// A file in the Hugging Face cache links outside the cache: the cache no longer vouches for its content.
    SymlinkOutsideCache = "symlink-outside-cache", Error;
    /// A Hugging Face cache blob's content does not hash to its name (sha256 for LFS files, git sha1 for others):
    /// the file was modified or corrupted after download.
    HubBlobMismatch = "hub-blob-mismatch", Error;
    /// A checksum list shipped with the model (SHA256SUMS, *.sha256) disagrees with the file it names.
    ChecksumMismatch = "checksum-mismatch", Error;
    /// The walk of a model folder stopped at a limit (file count or depth); the record is incomplete.
    FolderTooLarge = "folder-too-large", Error;

    // --- safetensors ---
    /// The safetensors header is larger than the 100 MB cap or than the file: it is refused unread.
    SafetensorsHeaderTooLarge = "safetensors-header-too-large", Error;
    /// The safetensors header is not the JSON object the format requires (syntax, types, bad UTF-8).
    SafetensorsHeaderInvalid = "safetensors-header-invalid", Error;
    /// A tensor names a dtype safetensors does not define.
    SafetensorsDtypeUnknown = "safetensors-dtype-unknown", Error;
    /// A tensor's byte range ends past the end of the file (truncated or forged header).
    SafetensorsOutOfBounds = "safetensors-out-of-bounds", Error;
    /// A tensor's byte length differs from shape × dtype size.
    SafetensorsSizeMismatch = "safetensors-size-mismatch", Error;
    /// Two tensors share bytes: loaders disagree on what such a file means.
    SafetensorsOverlap = "safetensors-overlap", Error;
    /// Tensors are not stored in offset order (the format requires it; some loaders reject it).
    SafetensorsUnsorted = "safetensors-unsorted", Warning;
    /// Bytes of the data section belong to no tensor: a place to hide a payload.
    SafetensorsUnindexed = "safetensors-unindexed-bytes", Warning;
    /// Two header entries share one tensor name; which one a loader keeps is unspecified.
    SafetensorsDuplicate = "safetensors-duplicate-tensor", Error;

    // --- GGUF ---
    /// The file does not start with the GGUF magic, or its version is not one modelvet can read (2, 3).
    GgufInvalid = "gguf-invalid", Error;
    /// The GGUF header ends before its declared content (truncated file, or a length that runs past the end).
    GgufTruncated = "gguf-truncated", Error;
    /// A string or array length in the header exceeds modelvet's cap; the value was not read.
    GgufLengthCap = "gguf-length-cap", Error;
    /// A metadata value has an unknown type or is not valid UTF-8.
    GgufValueInvalid = "gguf-value-invalid", Error;
    /// A metadata key appears twice; readers disagree on which value wins.
    GgufDuplicateKey = "gguf-duplicate-key", Error;
    /// `general.alignment` is zero or not a power of two; tensor offsets cannot be trusted.
    GgufAlignmentInvalid = "gguf-alignment-invalid", Error;
    /// A tensor has an unknown quantization type, too many dimensions, or a zero/overflowing shape.
    GgufTensorInvalid = "gguf-tensor-invalid", Error;
    /// A tensor's data runs past the end of the file.
    GgufTensorOutOfBounds = "gguf-tensor-out-of-bounds", Error;
    /// A tensor's offset is not a multiple of the alignment.
    GgufTensorMisaligned = "gguf-tensor-misaligned", Error;
    /// Two tensors share bytes, or share a name.
    GgufTensorOverlap = "gguf-tensor-overlap", Error;

    // --- pickle and PyTorch checkpoints ---
    /// The file uses Python pickle, which can run arbitrary code when loaded. Prefer safetensors or GGUF.
    PickleSerialization = "pickle-serialization", Warning;
    /// The pickle imports a global that can execute code or touch the system (os, subprocess, eval, …).
    /// Loading this file with `torch.load` or `pickle.load` runs that code.
    PickleGlobalUnsafe = "pickle-global-unsafe", Error;
    /// The pickle imports a global outside the known-safe tensor-rebuild set; it may be harmless or not.
    PickleGlobalUnknown = "pickle-global-unknown", Warning;
    /// The pickle stream is malformed (unknown opcode, truncated, stack misuse); it was not fully scanned.
    PickleInvalid = "pickle-invalid", Error;
    /// A zip member name is absolute or climbs out with `..`: extracting it writes outside the target.
    ZipPathTraversal = "zip-path-traversal", Error;
    /// The zip archive is malformed or a member exceeds the size cap; it was not fully scanned.
    ZipInvalid = "zip-invalid", Error;

    // --- card, config, chat template ---
    /// The model has no card (README.md); its license and lineage are undocumented.
    CardMissing = "card-missing", Warning;
    /// The card's YAML front matter does not parse; its fields were not read.
    CardInvalid = "card-invalid", Error;
    /// A JSON configuration file (config.json, tokenizer_config.json, …) does not parse or is too large.
    ConfigInvalid = "config-invalid", Warning;
    /// The model ships no chat template: chat prompts must be formatted by hand and results depend on it.
    ChatTemplateMissing = "chat-template-missing", Warning;
    /// Two chat templates shipped with the model (GGUF, tokenizer_config.json, chat_template.jinja) differ.
    ChatTemplateMismatch = "chat-template-mismatch", Warning;

    // --- license ---
    /// No license is declared anywhere (card, GGUF metadata, license file): there is no stated right to use it.
    LicenseMissing = "license-missing", Error;
    /// Declared licenses disagree between sources (for example card versus GGUF metadata versus LICENSE file).
    LicenseMismatch = "license-mismatch", Error;
    /// A declared license could not be mapped to an SPDX id or a known model license.
    LicenseUnrecognized = "license-unrecognized", Warning;
    /// A license file's text matched no known license with confidence.
    LicenseTextUnidentified = "license-text-unidentified", Info;

    // --- lineage ---
    /// The tokenizer or chat template matches a known model family that nothing in the card or metadata names:
    /// the model may be an undeclared fine-tune.
    LineageUndeclared = "lineage-undeclared", Warning;
    /// The declared base model belongs to a different family than the tokenizer evidence shows.
    LineageConflict = "lineage-conflict", Warning;
    /// The weights derive from (or are) a fingerprinted family that nothing in the card or metadata names:
    /// a fine-tune, merge or re-upload passed off as new. Evidence: `lineage.weights`.
    LineageWeightsUndeclared = "lineage-weights-undeclared", Warning;
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation about a model: stable code, severity, message, and the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Path relative to the model root, when the finding concerns one file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Finding {
    /// A finding with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            file: None,
        }
    }

    /// Attaches the file (relative to the model root) the finding concerns.
    pub fn in_file(mut self, file: impl Into<String>) -> Finding {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if let Some(file) = &self.file {
            write!(f, " (in `{file}`)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in Code::ALL {
            let s = code.as_str();
            assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{s} is not kebab-case"
            );
            assert!(seen.insert(s), "{s} is declared twice");
            assert!(!code.doc().is_empty(), "{s} has no documentation");
            assert_eq!(Code::parse(s), Some(code));
        }
    }

    #[test]
    fn severities_order_from_info_to_error() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
    }
}

//! Provenance: what exactly are these files?
//!
//! [`inspect`] turns a resolved model into one [`Provenance`] record: every file hashed, every weight
//! header parsed (GGUF, safetensors) or scanned (pickle), the card and configs read, licenses identified,
//! lineage declared and evidenced. Problems with the model are findings inside the record; only "could not
//! run at all" is an error. The record embeds its inputs (tool version, model reference, hashes) so it can
//! be reproduced from itself, and its content is deterministic: same files, same JSON.

pub mod card;
pub mod config;
pub mod gguf;
pub mod hash;
pub mod license;
pub mod lineage;
pub mod pickle;
pub mod safetensors;
pub mod weights;

use crate::diag::{Code, Finding, Severity};
use crate::model::{ModelFile, ResolvedModel, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the provenance record's layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The tool that wrote a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// What a file is, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Gguf,
    Safetensors,
    /// A pickle-based checkpoint by extension (.bin .pt .pth .ckpt .pkl).
    Checkpoint,
    Card,
    Config,
    Tokenizer,
    ChatTemplate,
    License,
    Checksums,
    Other,
}

impl FileKind {
    pub fn of(rel: &str) -> FileKind {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "gguf" => return FileKind::Gguf,
            "safetensors" => return FileKind::Safetensors,
            "bin" | "pt" | "pth" | "ckpt" | "pkl" | "pickle" => return FileKind::Checkpoint,
            _ => {}
        }
        if !rel.contains('/') && lower == "readme.md" {
            FileKind::Card
        } else if lower == "tokenizer.json"
            || lower == "tokenizer.model"
            || lower == "vocab.txt"
            || lower == "merges.txt"
        {
            FileKind::Tokenizer
        } else if lower == "chat_template.jinja" || lower == "chat_template.json" {
            FileKind::ChatTemplate
        } else if is_license_name(&lower) {
            FileKind::License
        } else if lower == "sha256sums" || lower.ends_with(".sha256") {
            FileKind::Checksums
        } else if ext == "json" {
            FileKind::Config
        } else {
            FileKind::Other
        }
    }
}

fn is_license_name(lower: &str) -> bool {
    [
        "license",
        "licence",
        "copying",
        "notice",
        "use_policy",
        "terms",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
        || lower.contains("terms")
        || lower.contains("license")
}

/// One file of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    /// `None` when the file could not be read (see the `file-unreadable` finding).
    pub sha256: Option<String>,
    pub kind: FileKind,
}

/// The model as named and resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelRecord {
    pub reference: String,
    pub source: Source,
    pub root: String,
}

/// Everything modelvet knows about where a model's files come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    pub schema_version: u32,
    pub tool: Tool,
    pub model: ModelRecord,
    pub files: Vec<FileRecord>,
    /// sha256 over the sorted `sha256  size  path` lines of every file (the lock file's root digest).
    pub root_digest: String,
    pub total_bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gguf: Vec<gguf::GgufSummary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub safetensors: Vec<safetensors::SafetensorsSummary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pickles: Vec<pickle::PickleScan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<card::Card>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<config::ModelConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_config: Option<config::TokenizerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat_templates: Vec<config::ChatTemplate>,
    pub license: license::LicenseReport,
    pub lineage: lineage::Lineage,
    pub findings: Vec<Finding>,
}

impl Provenance {
    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The record of a served model whose files were not given: no files, no digest, no findings, so
    /// nothing here can be mistaken for evidence about the weights.
    pub fn not_inspected(reference: &str, url: &str, served_model: &str) -> Provenance {
        Provenance::empty(ModelRecord {
            reference: reference.to_owned(),
            source: Source::Endpoint {
                url: url.to_owned(),
                served_model: served_model.to_owned(),
            },
            root: String::new(),
        })
    }

    /// A record of `model` with nothing read yet: the start of [`inspect`] and of [`Self::not_inspected`].
    fn empty(model: ModelRecord) -> Provenance {
        Provenance {
            schema_version: SCHEMA_VERSION,
            tool: Tool::current(),
            model,
            files: Vec::new(),
            root_digest: String::new(),
            total_bytes: 0,
            gguf: Vec::new(),
            safetensors: Vec::new(),
            pickles: Vec::new(),
            card: None,
            config: None,
            tokenizer_config: None,
            generation_config: None,
            chat_templates: Vec::new(),
            license: license::LicenseReport {
                declared: Vec::new(),
                effective: Vec::new(),
                obligations: Vec::new(),
            },
            lineage: lineage::Lineage::default(),
            findings: Vec::new(),
        }
    }
}

/// Options for [`inspect`].
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// Draw a progress bar on stderr when hashing takes over a second.
    pub progress: bool,
    /// Weight fingerprints to match besides the shipped ones (`--families`).
    pub fingerprints: Vec<weights::fingerprint::Fingerprint>,
}

/// Largest license text read.
const MAX_LICENSE_TEXT: u64 = 2 << 20;
/// Largest tokenizer.json read for fingerprinting.
const MAX_TOKENIZER_JSON: u64 = 64 << 20;

/// Builds the provenance record of a resolved model.
pub fn inspect(model: &ResolvedModel, opts: &InspectOptions) -> Provenance {
    let mut findings = model.findings.clone();

    // 1. Hash every file, in parallel.
    let mut files = Vec::with_capacity(model.files.len());
    for (rel, size, h) in hash::hash_model(model, opts.progress) {
        let sha256 = match h {
            Ok(h) => Some(h),
            Err(e) => {
                findings.push(
                    Finding::new(Code::FileUnreadable, format!("cannot hash `{rel}`: {e}"))
                        .in_file(&rel),
                );
                None
            }
        };
        files.push(FileRecord {
            kind: FileKind::of(&rel),
            path: rel,
            size,
            sha256,
        });
    }
    let entries: Vec<_> = files
        .iter()
        .filter_map(|f| Some((f.path.as_str(), f.size, f.sha256.as_deref()?)))
        .collect();
    let root_digest = crate::lock::root_digest(entries.iter().copied());
    let total_bytes = files.iter().map(|f| f.size).sum();

    // 2. Read what each file declares.
    let mut record = Provenance {
        files,
        root_digest,
        total_bytes,
        ..Provenance::empty(ModelRecord {
            reference: model.reference.clone(),
            source: model.source.clone(),
            root: model.root.display().to_string(),
        })
    };
    let mut gguf_licenses: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut weights = 0usize;
    let mut generative = false;

    for f in &model.files {
        let kind = FileKind::of(&f.rel);
        match kind {
            FileKind::Gguf => {
                weights += 1;
                match gguf::GgufFile::open(&f.path) {
                    Ok(g) => {
                        // GGUF is llama.cpp's format: a generative model that needs a chat template.
                        generative = true;
                        findings.extend(g.check(&f.rel));
                        record.gguf.push(g.summary(&f.rel));
                        if let Some(t) = g.get_str("tokenizer.chat_template") {
                            record.chat_templates.push(config::ChatTemplate::new(
                                format!("{}:tokenizer.chat_template", f.rel),
                                None,
                                t.to_owned(),
                            ));
                        }
                        if let Some(l) = g.get_str("general.license") {
                            gguf_licenses.push((
                                f.rel.clone(),
                                l.to_owned(),
                                g.get_str("general.license.name").map(str::to_owned),
                                g.get_str("general.license.link").map(str::to_owned),
                            ));
                        }
                        record.lineage.declared.add_gguf(&g);
                        if let Some(fp) = lineage::TokenizerFingerprint::from_gguf(&g, &f.rel) {
                            record.lineage.tokenizers.push(fp);
                        }
                    }
                    Err(e) => findings
                        .push(Finding::new(e.code(), format!("`{}`: {e}", f.rel)).in_file(&f.rel)),
                }
            }
            FileKind::Safetensors => {
                weights += 1;
                let (summary, mut found) = safetensors::inspect(&f.path, &f.rel);
                findings.append(&mut found);
                record.safetensors.extend(summary);
            }
            FileKind::Checkpoint => {
                let (scan, mut found) = pickle::scan_file(&f.path, &f.rel);
                if scan.format != pickle::CheckpointFormat::NotPickle {
                    weights += 1;
                    record.pickles.push(scan);
                }
                findings.append(&mut found);
            }
            FileKind::Card => {
                if let Some(text) = read_text(f, card::MAX_CARD, &mut findings) {
                    let (c, mut found) = card::parse(&text, &f.rel);
                    findings.append(&mut found);
                    record.card = Some(c);
                }
            }
            FileKind::Config | FileKind::ChatTemplate | FileKind::Tokenizer => {
                read_config(f, &mut record, &mut findings, &mut generative);
            }
            FileKind::License => {
                if let Some(text) = read_text(f, MAX_LICENSE_TEXT, &mut findings) {
                    texts.push((f.rel.clone(), text));
                }
            }
            FileKind::Checksums => check_sums(f, &record.files, &mut findings),
            FileKind::Other => {}
        }
    }

    // 3. Cross-file judgements.
    if weights == 0 {
        findings.push(Finding::new(
            Code::WeightsMissing,
            "no weight file (.gguf, .safetensors or a pickle checkpoint) was found",
        ));
    }
    if let Source::HubCache { .. } = model.source {
        let by_rel: BTreeMap<&str, &str> = record
            .files
            .iter()
            .filter_map(|f| Some((f.path.as_str(), f.sha256.as_deref()?)))
            .collect();
        findings.extend(crate::model::hub::check_blobs(&model.files, &|rel| {
            by_rel.get(rel).map(|s| s.to_string())
        }));
    }
    if let Some(card) = &record.card {
        for b in &card.base_model {
            lineage::push_unique(&mut record.lineage.declared.base_models, b.clone());
        }
        record.lineage.declared.relation = card.base_model_relation.clone();
        generative |= card
            .pipeline_tag
            .as_deref()
            .is_some_and(|p| p.contains("text-generation") || p.contains("text2text"));
    } else if weights > 0 && matches!(model.source, Source::Folder | Source::HubCache { .. }) {
        findings.push(Finding::new(
            Code::CardMissing,
            "the model folder has no README.md model card",
        ));
    }
    if let Some(name) = record.config.as_ref().and_then(|c| c.name_or_path.clone()) {
        lineage::push_unique(&mut record.lineage.declared.names, name);
    }
    findings.extend(config::compare_templates(&record.chat_templates));
    if generative && record.chat_templates.is_empty() {
        findings.push(Finding::new(
            Code::ChatTemplateMissing,
            "no chat template in the GGUF metadata, tokenizer_config.json or chat_template.jinja; chat prompts fall back to a plain-text format",
        ));
    }

    // Licenses.
    let card_license = record
        .card
        .as_ref()
        .filter(|c| !c.license.is_empty())
        .map(|c| license::CardLicense {
            file: &c.file,
            licenses: c.license.iter().map(String::as_str).collect(),
            license_name: c.license_name.as_deref(),
            license_link: c.license_link.as_deref(),
        });
    let inputs = license::LicenseInputs {
        card: card_license,
        gguf: gguf_licenses
            .iter()
            .map(|(file, l, n, k)| license::GgufLicense {
                file,
                license: l,
                name: n.as_deref(),
                link: k.as_deref(),
            })
            .collect(),
        config: Vec::new(),
        texts: texts
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect(),
    };
    let (license_report, mut found) = license::assess(&inputs);
    record.license = license_report;
    findings.append(&mut found);

    // Lineage.
    let table = lineage::families();
    for fp in &record.lineage.tokenizers {
        record
            .lineage
            .matches
            .extend(lineage::match_tokenizer(fp, table));
    }
    for t in &record.chat_templates {
        record
            .lineage
            .matches
            .extend(lineage::match_template(&t.sha256, &t.source, table));
    }
    findings.extend(lineage::judge(&record.lineage, table));
    // Weight lineage: each weights file (the first shard of a safetensors set stands for the folder).
    let mut fps = weights::fingerprint::shipped();
    fps.extend(opts.fingerprints.iter().cloned());
    let weights_file = model
        .files
        .iter()
        .find(|f| FileKind::of(&f.rel) == FileKind::Gguf)
        .map(|f| (f.path.clone(), f.rel.clone()))
        .or_else(|| {
            model
                .files
                .iter()
                .find(|f| FileKind::of(&f.rel) == FileKind::Safetensors)
                .map(|f| (model.root.clone(), f.rel.clone()))
        });
    if let Some((path, rel)) = weights_file {
        record.lineage.weights = weights::identify(&path, &rel, &fps);
    }
    findings.extend(lineage::judge_weights(&record.lineage, &fps));

    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.code.cmp(&b.code))
            .then(a.file.cmp(&b.file))
            .then(a.message.cmp(&b.message))
    });
    findings.dedup();
    record.findings = findings;
    record
}

fn read_text(f: &ModelFile, cap: u64, findings: &mut Vec<Finding>) -> Option<String> {
    match crate::util::read_capped(&f.path, cap) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(crate::util::ReadCapped::TooLarge { cap }) => {
            findings.push(
                Finding::new(
                    Code::ConfigInvalid,
                    format!("`{}` is larger than {cap} bytes; not read", f.rel),
                )
                .in_file(&f.rel),
            );
            None
        }
        Err(e) => {
            findings.push(
                Finding::new(
                    Code::FileUnreadable,
                    format!("cannot read `{}`: {e}", f.rel),
                )
                .in_file(&f.rel),
            );
            None
        }
    }
}

/// config.json, tokenizer_config.json, generation_config.json, chat_template.*, tokenizer.json.
fn read_config(
    f: &ModelFile,
    record: &mut Provenance,
    findings: &mut Vec<Finding>,
    generative: &mut bool,
) {
    let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
    let top = !f.rel.contains('/');
    let wanted = top
        && matches!(
            name,
            "config.json"
                | "tokenizer_config.json"
                | "generation_config.json"
                | "chat_template.jinja"
                | "chat_template.json"
                | "tokenizer.json"
        );
    if !wanted {
        return;
    }
    let cap = if name == "tokenizer.json" {
        MAX_TOKENIZER_JSON
    } else {
        config::MAX_CONFIG
    };
    let Some(text) = read_text(f, cap, findings) else {
        return;
    };
    if name == "chat_template.jinja" {
        record
            .chat_templates
            .push(config::ChatTemplate::new(f.rel.clone(), None, text));
        return;
    }
    let map = match config::parse_object(text.as_bytes(), &f.rel) {
        Ok(m) => m,
        Err(finding) => {
            findings.push(finding);
            return;
        }
    };
    match name {
        "config.json" => {
            let c = config::model_config(&map, &f.rel);
            *generative |= c
                .architectures
                .iter()
                .any(|a| a.ends_with("ForCausalLM") || a.ends_with("ForConditionalGeneration"));
            record.config = Some(c);
        }
        "tokenizer_config.json" => {
            let (c, templates) = config::tokenizer_config(&map, &f.rel);
            record.tokenizer_config = Some(c);
            record.chat_templates.extend(templates);
        }
        "generation_config.json" => record.generation_config = Some(serde_json::Value::Object(map)),
        "chat_template.json" => record
            .chat_templates
            .extend(config::templates_in(map.get("chat_template"), &f.rel)),
        "tokenizer.json" => {
            if let Some(fp) = lineage::TokenizerFingerprint::from_tokenizer_json(
                &serde_json::Value::Object(map),
                &f.rel,
            ) {
                record.lineage.tokenizers.push(fp);
            }
        }
        _ => {}
    }
}

/// Verifies a checksum list (`SHA256SUMS`, `x.sha256`) against the hashes just computed.
fn check_sums(f: &ModelFile, files: &[FileRecord], findings: &mut Vec<Finding>) {
    let Some(text) = read_text(f, 1 << 20, findings) else {
        return;
    };
    let dir = f
        .rel
        .rsplit_once('/')
        .map(|(d, _)| format!("{d}/"))
        .unwrap_or_default();
    let single = f.rel.strip_suffix(".sha256").map(str::to_owned);
    for line in text.lines() {
        let line = line.trim();
        let (hash, name) = match line.split_once(char::is_whitespace) {
            Some((h, n)) => (h, n.trim().trim_start_matches('*').to_owned()),
            None => match &single {
                Some(s) => (line, s.rsplit('/').next().unwrap_or(s).to_owned()),
                None => continue,
            },
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let rel = format!("{dir}{name}");
        // A list may name files shipped elsewhere; only files present are checked.
        let Some(actual) = files.iter().find(|r| r.path == rel) else {
            continue;
        };
        if let Some(sha) = &actual.sha256 {
            if !sha.eq_ignore_ascii_case(hash) {
                findings.push(
                    Finding::new(
                        Code::ChecksumMismatch,
                        format!(
                            "`{}` lists `{rel}` as sha256 {hash}, but the file hashes to {sha}",
                            f.rel
                        ),
                    )
                    .in_file(&rel),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_follow_names() {
        assert_eq!(
            FileKind::of("model-00001-of-00002.safetensors"),
            FileKind::Safetensors
        );
        assert_eq!(FileKind::of("pytorch_model.bin"), FileKind::Checkpoint);
        assert_eq!(FileKind::of("README.md"), FileKind::Card);
        assert_eq!(FileKind::of("docs/README.md"), FileKind::Other);
        assert_eq!(FileKind::of("LICENSE.txt"), FileKind::License);
        assert_eq!(FileKind::of("GEMMA_TERMS.html"), FileKind::License);
        assert_eq!(FileKind::of("SHA256SUMS"), FileKind::Checksums);
        assert_eq!(FileKind::of("config.json"), FileKind::Config);
    }
}

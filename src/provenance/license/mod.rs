//! License identification: what a model says it is licensed under, whether its sources agree, and what
//! the named licenses oblige a user to do.
//!
//! A compliance reviewer needs three answers before adopting open weights: *which* license applies, *whether
//! every place that states one says the same thing*, and *what it requires*. Licenses reach us from four
//! places — the model card's `license:` field (Hugging Face Hub ids such as `apache-2.0`, `llama3.1`, or
//! `other` plus a `license_name`), GGUF `general.license` metadata, an occasional `license` key in a JSON
//! config, and license files (LICENSE, NOTICE, terms pages saved as HTML). Each is normalised to an SPDX id
//! or expression, or to a `LicenseRef-…` id for model licenses SPDX does not list, and then compared.
//!
//! This file holds the public types, [`assess`] and the comparison of sources; the parts live beside it:
//! - `normalize`: declared ids and expressions, and the table of model licenses SPDX does not list;
//! - `text`: identifying a license text (known titles, then the `spdx` detector), via `html` for web pages;
//! - `obligations`: what each license requires, as a table of facts.
//!
//! Comparing sources: ids are compared by family (case, GNU `-only`/`-or-later` and the Qwen/Tongyi Qianwen
//! naming ignored), a source whose set of licenses contains the other's agrees with it (an expression names
//! both), and two license files are never compared with each other, since dual licensing ships
//! LICENSE-APACHE beside LICENSE-MIT. A weakly identified text never causes a mismatch.

mod html;
mod normalize;
mod obligations;
mod text;

pub use normalize::{license_name, normalize};
pub use obligations::obligations;
pub use text::{examine_text, identify_text};

use crate::diag::{Code, Finding};
use normalize::{components, gnu_key, unrecognized_reason};
use serde::{Deserialize, Serialize};
use text::Prepared;

/// Confidence at or above which a text identification counts as a declaration.
pub const TEXT_ACCEPT: f32 = 0.8;

/// A NOTICE file shorter than this (in characters, after markup removal) and carrying no known title is a
/// short attribution notice, not a license: it is skipped without a finding.
const SHORT_NOTICE_CHARS: usize = 1500;

/// Where a declared license was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LicenseSource {
    /// The model card's YAML front matter (`license`, `license_name`, `license_link`).
    Card { file: String },
    /// A GGUF file's `general.license` metadata.
    Gguf { file: String },
    /// A JSON configuration file's `license` key.
    Config { file: String },
    /// A license file's text (LICENSE, NOTICE, terms page, …).
    Text { file: String },
}

impl LicenseSource {
    /// The file (relative to the model root) the license was read from.
    pub fn file(&self) -> &str {
        match self {
            LicenseSource::Card { file }
            | LicenseSource::Gguf { file }
            | LicenseSource::Config { file }
            | LicenseSource::Text { file } => file,
        }
    }
}

/// One license statement from one source, with what it was normalised to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeclaredLicense {
    pub source: LicenseSource,
    /// As written: "apache-2.0", "other", "gemma", or for texts the title or first heading line.
    pub raw: String,
    /// SPDX id or expression, or `LicenseRef-…`; `None` when unrecognised.
    pub id: Option<String>,
    /// Human name: "Apache License 2.0", "Gemma Terms of Use".
    pub name: Option<String>,
    /// The link the source gave (card `license_link`, GGUF `general.license.link`).
    pub link: Option<String>,
    /// 1.0 for an exact declared id; the matcher's score for a text.
    pub confidence: f32,
    /// How the id was obtained: "declared-spdx", "declared-hub-id", "declared-license-name",
    /// "declared-spdx-expression", "declared-imprecise", "text-title", "text-spdx-detection", …
    pub method: String,
}

/// What a license requires, as short factual statements taken from its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Obligations {
    pub id: String,
    pub name: String,
    pub osi_approved: bool,
    /// "allowed", "allowed below a user threshold", "non-commercial only", "not stated", …
    pub commercial_use: String,
    /// Monthly active users above which a separate license is needed.
    pub user_threshold: Option<u64>,
    /// An acceptable-use / prohibited-use policy binds downstream users and must be passed on.
    pub use_restrictions_flow_down: bool,
    /// What notice / attribution must accompany distribution.
    pub attribution: Option<String>,
    /// Naming rules for derivatives.
    pub naming: Option<String>,
    /// Further short factual sentences.
    pub facts: Vec<String>,
    /// URL of the license text.
    pub reference: Option<String>,
}

/// The license picture of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LicenseReport {
    /// Every statement read, recognised or not (unidentified texts have `id: None`).
    pub declared: Vec<DeclaredLicense>,
    /// Distinct recognised ids in order of first appearance.
    pub effective: Vec<String>,
    /// Obligations of the effective licenses the table knows (an expression contributes each of its
    /// licenses).
    pub obligations: Vec<Obligations>,
}

/// What the caller found; each field may be empty.
pub struct LicenseInputs<'a> {
    /// From README.md front matter.
    pub card: Option<CardLicense<'a>>,
    /// One per GGUF file that has `general.license`.
    pub gguf: Vec<GgufLicense<'a>>,
    /// (file, license string) from e.g. config.json `license`.
    pub config: Vec<(&'a str, &'a str)>,
    /// (relative file, full text) of LICENSE*, LICENCE*, NOTICE*, COPYING*, *TERMS* files; may be HTML.
    pub texts: Vec<(&'a str, &'a str)>,
}

/// The license fields of a model card.
pub struct CardLicense<'a> {
    pub file: &'a str,
    pub licenses: Vec<&'a str>,
    pub license_name: Option<&'a str>,
    pub license_link: Option<&'a str>,
}

/// The license fields of one GGUF file: `general.license`, `general.license.name`, `general.license.link`.
pub struct GgufLicense<'a> {
    pub file: &'a str,
    pub license: &'a str,
    pub name: Option<&'a str>,
    pub link: Option<&'a str>,
}

/// A license text identified with enough confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TextMatch {
    /// SPDX id or `LicenseRef-…`.
    pub id: String,
    pub name: Option<String>,
    pub confidence: f32,
    /// "text-title", "text-spdx-detection", "text-spdx-detection-header", "text-spdx-detection-contained".
    pub method: String,
    /// The title as it appears in the text, or its first heading line.
    pub heading: String,
}

/// The outcome of examining a license text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextVerdict {
    /// Identified at or above [`TEXT_ACCEPT`].
    Identified(TextMatch),
    /// Nothing matched well enough; `best` is the closest SPDX candidate and `score` its score.
    Unidentified {
        heading: String,
        best: Option<String>,
        score: f32,
    },
}

// ---------------------------------------------------------------------------------------------------------

/// Normalises every source, identifies the license texts, and reports missing, unrecognised and
/// disagreeing licenses.
pub fn assess(inputs: &LicenseInputs<'_>) -> (LicenseReport, Vec<Finding>) {
    let mut declared: Vec<DeclaredLicense> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();

    if let Some(card) = &inputs.card {
        let source = LicenseSource::Card {
            file: card.file.to_string(),
        };
        let mut values: Vec<&str> = card
            .licenses
            .iter()
            .copied()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if values.is_empty() && card.license_name.is_some_and(|n| !n.trim().is_empty()) {
            values.push("");
        }
        for value in values {
            let raw = if value.trim().is_empty() {
                card.license_name.unwrap_or("")
            } else {
                value
            };
            declared.push(declare(
                source.clone(),
                raw,
                value,
                card.license_name,
                card.license_link,
                "the card",
                &mut findings,
            ));
        }
    }
    for g in &inputs.gguf {
        if g.license.trim().is_empty() && g.name.is_none_or(|n| n.trim().is_empty()) {
            continue;
        }
        let what = format!("`{}` (`general.license`)", g.file);
        declared.push(declare(
            LicenseSource::Gguf {
                file: g.file.to_string(),
            },
            g.license,
            g.license,
            g.name,
            g.link,
            &what,
            &mut findings,
        ));
    }
    for (file, license) in &inputs.config {
        if license.trim().is_empty() {
            continue;
        }
        let what = format!("`{file}`");
        declared.push(declare(
            LicenseSource::Config {
                file: file.to_string(),
            },
            license,
            license,
            None,
            None,
            &what,
            &mut findings,
        ));
    }

    let mut unidentified_texts: Vec<&str> = Vec::new();
    for (file, text) in &inputs.texts {
        let prepared = Prepared::new(text);
        let title = prepared.title_match();
        if title.is_none()
            && is_notice(file)
            && prepared.plain.trim().chars().count() < SHORT_NOTICE_CHARS
        {
            continue;
        }
        let verdict = match title {
            Some(m) => TextVerdict::Identified(m),
            None => prepared.detect(),
        };
        let source = LicenseSource::Text {
            file: file.to_string(),
        };
        match verdict {
            TextVerdict::Identified(m) => declared.push(DeclaredLicense {
                source,
                raw: m.heading,
                id: Some(m.id),
                name: m.name,
                link: None,
                confidence: m.confidence,
                method: m.method,
            }),
            TextVerdict::Unidentified {
                heading,
                best,
                score,
            } => {
                let message = match &best {
                    Some(best) => format!(
                        "`{file}` matches no known license with confidence; the closest is `{best}` ({score:.2})"
                    ),
                    None => format!("`{file}` matches no known license"),
                };
                findings.push(Finding::new(Code::LicenseTextUnidentified, message).in_file(*file));
                unidentified_texts.push(file);
                declared.push(DeclaredLicense {
                    source,
                    raw: heading,
                    id: None,
                    name: None,
                    link: None,
                    confidence: score,
                    method: "text-spdx-detection".to_string(),
                });
            }
        }
    }

    let counts_as_declared = |d: &DeclaredLicense| match d.source {
        LicenseSource::Text { .. } => d.id.is_some(),
        _ => true,
    };
    if !declared.iter().any(counts_as_declared) {
        let message = if unidentified_texts.is_empty() {
            "no license is declared in the card, the GGUF metadata or a license file".to_string()
        } else {
            let files: Vec<String> = unidentified_texts
                .iter()
                .map(|f| format!("`{f}`"))
                .collect();
            format!(
                "no license is declared in the card or the GGUF metadata, and no license file could be \
                 identified ({})",
                files.join(", ")
            )
        };
        findings.push(Finding::new(Code::LicenseMissing, message));
    }

    findings.extend(mismatches(&declared));

    let mut effective: Vec<String> = Vec::new();
    for id in declared.iter().filter_map(|d| d.id.as_ref()) {
        if !effective.contains(id) {
            effective.push(id.clone());
        }
    }
    let mut obligations_out: Vec<Obligations> = Vec::new();
    for id in &effective {
        for part in components(id) {
            if let Some(ob) = obligations(part) {
                if !obligations_out.iter().any(|o| o.id == ob.id) {
                    obligations_out.push(ob);
                }
            }
        }
    }
    (
        LicenseReport {
            declared,
            effective,
            obligations: obligations_out,
        },
        findings,
    )
}

fn is_notice(file: &str) -> bool {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.to_ascii_uppercase().starts_with("NOTICE")
}

/// Normalises one declared value and records an unrecognised-license finding when needed. `raw` is what
/// the report shows; `value` is what is normalised (empty when only a name was given).
fn declare(
    source: LicenseSource,
    raw: &str,
    value: &str,
    license_name: Option<&str>,
    link: Option<&str>,
    what: &str,
    findings: &mut Vec<Finding>,
) -> DeclaredLicense {
    let file = source.file().to_string();
    let normalized = normalize(value, license_name);
    let (id, method) = match normalized {
        Some((id, method)) => (Some(id), method),
        None => {
            let lower = value.trim().to_ascii_lowercase();
            let message = if value.trim().is_empty() || lower == "other" || lower == "unknown" {
                match license_name.map(str::trim).filter(|n| !n.is_empty()) {
                    Some(name) => format!("{what} declares `{raw}` named `{name}`, which could not be identified"),
                    None => format!(
                        "{what} declares `{}` without a license name; the license cannot be identified",
                        raw.trim()
                    ),
                }
            } else {
                format!(
                    "{what} declares `{}`, which {}",
                    raw.trim(),
                    unrecognized_reason(value)
                )
            };
            findings.push(Finding::new(Code::LicenseUnrecognized, message).in_file(file));
            (None, "unrecognized".to_string())
        }
    };
    let name = id
        .as_deref()
        .and_then(license_name_for)
        .or_else(|| license_name.map(str::to_string));
    DeclaredLicense {
        source,
        raw: raw.trim().to_string(),
        id,
        name,
        link: link.map(str::to_string),
        confidence: 1.0,
        method,
    }
}

/// The human name of an id or, for an expression, of each of its parts.
fn license_name_for(id: &str) -> Option<String> {
    let parts = components(id);
    if parts.len() == 1 {
        return license_name(parts[0]);
    }
    let names: Vec<String> = parts.iter().filter_map(|p| license_name(p)).collect();
    (names.len() == parts.len()).then(|| names.join(" / "))
}

/// What one source says, for comparison: its file, its kind and the family keys of every id it declares.
struct Stated<'a> {
    source: &'a LicenseSource,
    display: String,
    shown: String,
    keys: Vec<String>,
}

/// One `license-mismatch` per distinct disagreeing pair of sources' license sets. Two license files are
/// never compared with each other (dual licensing ships LICENSE-APACHE next to LICENSE-MIT); a set that
/// contains the other (an expression naming the other id) agrees.
fn mismatches(declared: &[DeclaredLicense]) -> Vec<Finding> {
    let mut stated: Vec<Stated<'_>> = Vec::new();
    for d in declared {
        let Some(id) = &d.id else { continue };
        if matches!(d.source, LicenseSource::Text { .. }) && d.confidence < TEXT_ACCEPT {
            continue;
        }
        let keys: Vec<String> = components(id).into_iter().map(family_key).collect();
        let shown = match d.source {
            LicenseSource::Text { .. } => format!("`{id}` (confidence {:.2})", d.confidence),
            _ if d.raw.eq_ignore_ascii_case(id) => format!("`{}`", d.raw),
            _ if d.raw.is_empty() => format!("`{id}`"),
            _ => format!("`{}` (`{id}`)", d.raw),
        };
        match stated.iter_mut().find(|s| s.source == &d.source) {
            Some(s) => {
                for k in keys {
                    if !s.keys.contains(&k) {
                        s.keys.push(k);
                    }
                }
                s.shown = format!("{} and {shown}", s.shown);
            }
            None => stated.push(Stated {
                source: &d.source,
                display: describe(&d.source),
                shown,
                keys,
            }),
        }
    }

    let mut seen: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut findings = Vec::new();
    for (i, a) in stated.iter().enumerate() {
        for b in &stated[i + 1..] {
            let both_texts = matches!(a.source, LicenseSource::Text { .. })
                && matches!(b.source, LicenseSource::Text { .. });
            let subset = |x: &[String], y: &[String]| x.iter().all(|k| y.contains(k));
            if both_texts || subset(&a.keys, &b.keys) || subset(&b.keys, &a.keys) {
                continue;
            }
            let mut ka = a.keys.clone();
            let mut kb = b.keys.clone();
            ka.sort();
            kb.sort();
            let pair = if ka <= kb { (ka, kb) } else { (kb, ka) };
            if seen.contains(&pair) {
                continue;
            }
            seen.push(pair);
            let verb_b = if matches!(b.source, LicenseSource::Text { .. }) {
                "reads as"
            } else {
                "declares"
            };
            let verb_a = if matches!(a.source, LicenseSource::Text { .. }) {
                "reads as"
            } else {
                "declares"
            };
            let message = format!(
                "{} {verb_a} {} but {} {verb_b} {}",
                a.display, a.shown, b.display, b.shown
            );
            findings.push(Finding::new(Code::LicenseMismatch, message).in_file(b.source.file()));
        }
    }
    findings
}

fn describe(source: &LicenseSource) -> String {
    match source {
        LicenseSource::Card { file } if file == "README.md" => "the card".to_string(),
        LicenseSource::Card { file } => format!("the card `{file}`"),
        LicenseSource::Gguf { file } => format!("the GGUF metadata of `{file}`"),
        LicenseSource::Config { file } => format!("`{file}`"),
        LicenseSource::Text { file } => format!("`{file}`"),
    }
}

/// The comparison key of one license id: case-folded, GNU `-only`/`-or-later`/`+` dropped, and the Qwen
/// family (the Tongyi Qianwen agreement is the Qwen agreement's predecessor) merged.
fn family_key(id: &str) -> String {
    match gnu_key(id).as_str() {
        "licenseref-tongyi-qianwen" => "licenseref-qwen".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;

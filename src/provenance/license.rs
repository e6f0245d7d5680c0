//! License identification: what a model says it is licensed under, whether its sources agree, and what
//! the named licenses oblige a user to do.
//!
//! A compliance reviewer needs three answers before adopting open weights: *which* license applies, *whether
//! every place that states one says the same thing*, and *what it requires*. Licenses reach us from four
//! places — the model card's `license:` field (Hugging Face Hub ids such as `apache-2.0`, `llama3.1`, or
//! `other` plus a `license_name`), GGUF `general.license` metadata, an occasional `license` key in a JSON
//! config, and license files (LICENSE, NOTICE, terms pages saved as HTML). This module normalises each to
//! an SPDX id or expression, or to a `LicenseRef-…` id for model licenses SPDX does not list, and compares
//! them.
//!
//! Trade-offs:
//! - Declared ids go through the `spdx` crate (case-insensitive id, deprecated GNU ids mapped to `-only`,
//!   exact-length imprecise names, full names); only Hub ids without an SPDX equivalent are hand-mapped.
//!   Unversioned family names (`gpl`, `bsd`, `cc`) are refused rather than guessed.
//! - Texts are first matched on known model-license titles (the Llama, Gemma, Qwen, DeepSeek and RAIL
//!   texts are not in the SPDX corpus), then on the `spdx` crate's n-gram detector. Title matching is cheap
//!   and exact but trusts a heading; the detector is robust to formatting but costs a store load (done
//!   lazily, once, only when a text needs it) and only knows SPDX texts.
//! - The obligations table states facts from the license texts in a sentence each. It is a reading aid for a
//!   reviewer, not legal advice, and only covers licenses common for open models; other SPDX licenses get
//!   the metadata the `spdx` crate carries (OSI approval, copyleft).

use crate::diag::{Code, Finding};
use serde::{Deserialize, Serialize};
use spdx::detection::{LicenseType, Store, TextData};
use std::sync::OnceLock;

/// Confidence at or above which a text identification counts as a declaration.
pub const TEXT_ACCEPT: f32 = 0.8;

/// A NOTICE file shorter than this (in characters, after markup removal) and carrying no known title is a
/// short attribution notice, not a license: it is skipped without a finding.
const SHORT_NOTICE_CHARS: usize = 1500;

/// A title found within this many bytes of the start of the (normalised) text is "the heading".
const TITLE_HEAD_BYTES: usize = 4096;

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
// Known model licenses without SPDX ids
// ---------------------------------------------------------------------------------------------------------

/// A model license SPDX does not list.
struct ModelLicense {
    id: &'static str,
    name: &'static str,
    /// Hugging Face Hub `license:` ids (lowercase).
    hub_ids: &'static [&'static str],
    /// Further spellings seen in `license_name` / `general.license.name` (lowercase).
    names: &'static [&'static str],
    /// Lowercase, whitespace-normalised titles that open the license text.
    titles: &'static [&'static str],
}

const MODEL_LICENSES: &[ModelLicense] = &[
    ModelLicense {
        id: "LicenseRef-Llama-2",
        name: "Llama 2 Community License Agreement",
        hub_ids: &["llama2"],
        names: &["llama-2", "llama 2", "llama2-community-license"],
        titles: &["llama 2 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Llama-3",
        name: "Meta Llama 3 Community License Agreement",
        hub_ids: &["llama3"],
        names: &["llama-3", "llama 3", "llama3-community-license"],
        titles: &["llama 3 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Llama-3.1",
        name: "Llama 3.1 Community License Agreement",
        hub_ids: &["llama3.1"],
        names: &["llama-3.1", "llama 3.1", "llama3.1-community-license"],
        titles: &["llama 3.1 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Llama-3.2",
        name: "Llama 3.2 Community License Agreement",
        hub_ids: &["llama3.2"],
        names: &["llama-3.2", "llama 3.2", "llama3.2-community-license"],
        titles: &["llama 3.2 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Llama-3.3",
        name: "Llama 3.3 Community License Agreement",
        hub_ids: &["llama3.3"],
        names: &["llama-3.3", "llama 3.3", "llama3.3-community-license"],
        titles: &["llama 3.3 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Llama-4",
        name: "Llama 4 Community License Agreement",
        hub_ids: &["llama4"],
        names: &["llama-4", "llama 4", "llama4-community-license"],
        titles: &["llama 4 community license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Gemma",
        name: "Gemma Terms of Use",
        hub_ids: &["gemma"],
        names: &["gemma-terms-of-use", "gemma terms of use", "gemma-license"],
        titles: &["gemma terms of use"],
    },
    ModelLicense {
        id: "LicenseRef-Qwen",
        name: "Qwen License Agreement",
        hub_ids: &[],
        names: &["qwen", "qwen-license", "qwen license agreement"],
        titles: &["qwen license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Tongyi-Qianwen",
        name: "Tongyi Qianwen License Agreement",
        hub_ids: &[],
        names: &[
            "tongyi-qianwen",
            "tongyi-qianwen-license",
            "tongyi-qianwen-license-agreement",
            "tongyi qianwen license agreement",
        ],
        titles: &["tongyi qianwen license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-Qwen-Research",
        name: "Qwen Research License Agreement",
        hub_ids: &[],
        names: &[
            "qwen-research",
            "qwen-research-license",
            "qwen research license agreement",
        ],
        titles: &["qwen research license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-DeepSeek",
        name: "DeepSeek License Agreement",
        hub_ids: &["deepseek"],
        names: &["deepseek-license", "deepseek license agreement"],
        titles: &["deepseek license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-OpenRAIL",
        name: "Open RAIL License (variant unspecified)",
        hub_ids: &["openrail"],
        names: &[],
        titles: &[],
    },
    ModelLicense {
        id: "LicenseRef-OpenRAIL-plusplus-M",
        name: "CreativeML Open RAIL++-M License",
        hub_ids: &["openrail++"],
        names: &["creativeml-openrail++-m"],
        titles: &["open rail++-m"],
    },
    ModelLicense {
        id: "LicenseRef-CreativeML-OpenRAIL-M",
        name: "CreativeML Open RAIL-M License",
        hub_ids: &["creativeml-openrail-m"],
        names: &[],
        titles: &["creativeml open rail-m"],
    },
    ModelLicense {
        id: "LicenseRef-BigScience-OpenRAIL-M",
        name: "BigScience Open RAIL-M License",
        hub_ids: &["bigscience-openrail-m"],
        names: &[],
        titles: &["bigscience open rail-m"],
    },
    ModelLicense {
        id: "LicenseRef-BigScience-BLOOM-RAIL-1.0",
        name: "BigScience BLOOM RAIL License v1.0",
        hub_ids: &["bigscience-bloom-rail-1.0"],
        names: &[],
        titles: &["bigscience rail license"],
    },
    ModelLicense {
        id: "LicenseRef-BigCode-OpenRAIL-M",
        name: "BigCode Open RAIL-M v1 License Agreement",
        hub_ids: &["bigcode-openrail-m"],
        names: &[],
        titles: &["bigcode open rail-m"],
    },
    ModelLicense {
        id: "LicenseRef-Apple-ASCL",
        name: "Apple Sample Code License",
        hub_ids: &["apple-ascl"],
        names: &[],
        titles: &[],
    },
    ModelLicense {
        id: "LicenseRef-Apple-AMLR",
        name: "Apple Machine Learning Research Model License",
        hub_ids: &["apple-amlr"],
        names: &[],
        titles: &[],
    },
    ModelLicense {
        id: "LicenseRef-Intel-Research",
        name: "Intel Research Use License",
        hub_ids: &["intel-research"],
        names: &[],
        titles: &[],
    },
    ModelLicense {
        id: "LicenseRef-H-Research",
        name: "H Research License",
        hub_ids: &["h-research"],
        names: &[],
        titles: &[],
    },
    ModelLicense {
        id: "LicenseRef-DeepFloyd-IF",
        name: "DeepFloyd IF License Agreement",
        hub_ids: &["deepfloyd-if-license"],
        names: &[],
        titles: &["deepfloyd if license agreement"],
    },
    ModelLicense {
        id: "LicenseRef-FAIR-Noncommercial-Research",
        name: "FAIR Noncommercial Research License",
        hub_ids: &["fair-noncommercial-research-license"],
        names: &[],
        titles: &["fair noncommercial research license"],
    },
];

/// Hub ids with an SPDX equivalent under a different spelling.
const HUB_TO_SPDX: &[(&str, &str)] = &[
    ("odbl", "ODbL-1.0"),
    ("odc-by", "ODC-By-1.0"),
    ("pddl", "PDDL-1.0"),
    ("c-uda", "C-UDA-1.0"),
    ("lgpl-lr", "LGPLLR"),
];

/// Hub ids naming a license family without a version: refused rather than guessed.
const UNVERSIONED: &[&str] = &["gpl", "lgpl", "bsd", "cc", "gfdl"];

fn model_license_by_id(id: &str) -> Option<&'static ModelLicense> {
    MODEL_LICENSES
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(id))
}

fn model_license_by_hub_id(lower: &str) -> Option<&'static ModelLicense> {
    MODEL_LICENSES.iter().find(|m| m.hub_ids.contains(&lower))
}

fn model_license_by_name(lower: &str) -> Option<&'static ModelLicense> {
    MODEL_LICENSES.iter().find(|m| {
        m.hub_ids.contains(&lower)
            || m.names.contains(&lower)
            || m.titles.contains(&lower)
            || m.name.eq_ignore_ascii_case(lower)
            || m.id.eq_ignore_ascii_case(lower)
    })
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation of declared ids
// ---------------------------------------------------------------------------------------------------------

/// Normalises a declared license (a card `license:` value, GGUF `general.license`, config `license`) to an
/// SPDX id, an SPDX expression or a `LicenseRef-…` id, with the method that produced it.
///
/// `other` / `unknown` (or an empty `raw`) take their meaning from `license_name`; without one the result
/// is `None`. Unversioned family names (`gpl`, `bsd`, …) and unknown strings are `None` too.
pub fn normalize(raw: &str, license_name: Option<&str>) -> Option<(String, String)> {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    if raw.is_empty() || lower == "other" || lower == "unknown" {
        let name = license_name.map(str::trim).filter(|n| !n.is_empty())?;
        let id = normalize_term(name)
            .map(|(id, _)| id)
            .or_else(|| normalize_expression(name))
            .or_else(|| license_ref(name))?;
        return Some((id, "declared-license-name".to_string()));
    }
    if let Some(found) = normalize_term(raw) {
        return Some(found);
    }
    normalize_expression(raw).map(|id| (id, "declared-spdx-expression".to_string()))
}

/// Normalises one license term (no operators).
fn normalize_term(raw: &str) -> Option<(String, String)> {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    if raw.is_empty() || UNVERSIONED.contains(&lower.as_str()) {
        return None;
    }
    if let Some(m) = model_license_by_hub_id(&lower) {
        return Some((m.id.to_string(), "declared-hub-id".to_string()));
    }
    if let Some((_, id)) = HUB_TO_SPDX.iter().find(|(hub, _)| *hub == lower) {
        return Some((id.to_string(), "declared-hub-id".to_string()));
    }
    if lower.starts_with("licenseref-") {
        let id = model_license_by_id(raw)
            .map(|m| m.id.to_string())
            .or_else(|| license_ref(raw))?;
        return Some((id, "declared-spdx".to_string()));
    }
    if let Some((id, exact)) = spdx_id_ci(raw) {
        let method = if exact {
            "declared-spdx"
        } else {
            "declared-hub-id"
        };
        return Some((id, method.to_string()));
    }
    if let Some((lic, len)) = spdx::imprecise_license_id(raw) {
        if len == raw.len() {
            return Some((canonical_spdx(lic, false), "declared-imprecise".to_string()));
        }
    }
    if let Some(lic) = spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.full_name.eq_ignore_ascii_case(raw))
        .and_then(|l| spdx::license_id(l.name))
    {
        return Some((
            canonical_spdx(lic, false),
            "declared-license-name".to_string(),
        ));
    }
    let collapsed = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    model_license_by_name(&collapsed)
        .map(|m| (m.id.to_string(), "declared-license-name".to_string()))
}

/// Looks an SPDX license id up case-insensitively; returns the canonical spelling and whether the input was
/// already exactly that. A trailing `+` means "or later".
fn spdx_id_ci(raw: &str) -> Option<(String, bool)> {
    let (base, plus) = match raw.strip_suffix('+') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let lic = spdx::license_id(base).or_else(|| {
        spdx::identifiers::LICENSES
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(base))
            .and_then(|l| spdx::license_id(l.name))
    })?;
    let id = canonical_spdx(lic, plus);
    let exact = id == raw;
    Some((id, exact))
}

/// The current spelling of an SPDX id: deprecated bare GNU ids (`GPL-3.0`) become `-only` (or `-or-later`).
fn canonical_spdx(lic: spdx::LicenseId, or_later: bool) -> String {
    let name = lic.name;
    if lic.is_gnu() && !name.ends_with("-only") && !name.ends_with("-or-later") {
        if let Some(gnu) = spdx::gnu_license_id(name, or_later) {
            return gnu.name.to_string();
        }
    }
    if or_later && !name.ends_with("-or-later") {
        format!("{name}+")
    } else {
        name.to_string()
    }
}

/// `LicenseRef-<name>` with the name reduced to the characters SPDX allows (`[A-Za-z0-9.-]`).
fn license_ref(name: &str) -> Option<String> {
    let trimmed = name.trim();
    let body = if trimmed.len() >= 11 && trimmed[..11].eq_ignore_ascii_case("licenseref-") {
        &trimmed[11..]
    } else {
        trimmed
    };
    let mut out = String::new();
    for c in body.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_end_matches('-');
    (!out.is_empty()).then(|| format!("LicenseRef-{out}"))
}

/// Normalises an SPDX expression term by term (`apache-2.0 OR mit` → `Apache-2.0 OR MIT`) and checks the
/// result parses as a valid SPDX expression. `None` for a single term or anything not an expression.
fn normalize_expression(raw: &str) -> Option<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    for c in raw.chars() {
        match c {
            '(' | ')' | '/' => {
                flush(&mut word, &mut tokens);
                tokens.push(if c == '/' {
                    "OR".to_string()
                } else {
                    c.to_string()
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    if tokens.len() < 2 {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut after_with = false;
    for token in &tokens {
        let upper = token.to_ascii_uppercase();
        let piece = match upper.as_str() {
            "(" | ")" => token.clone(),
            "AND" | "OR" | "WITH" => upper.clone(),
            _ if after_with => spdx::identifiers::EXCEPTIONS
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(token))?
                .name
                .to_string(),
            _ => normalize_term(token)?.0,
        };
        after_with = upper == "WITH";
        out.push(piece);
    }
    let mut expr = String::new();
    for piece in out {
        let glue = !(expr.is_empty() || expr.ends_with('(') || piece == ")");
        if glue {
            expr.push(' ');
        }
        expr.push_str(&piece);
    }
    spdx::Expression::parse_mode(&expr, spdx::ParseMode::LAX).ok()?;
    Some(expr)
}

/// The license ids an id or expression is made of (operators, parentheses and exceptions dropped).
fn components(id: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for token in id.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        if token.is_empty() {
            continue;
        }
        let upper = token.to_ascii_uppercase();
        if upper == "WITH" {
            skip_next = true;
            continue;
        }
        if upper == "AND" || upper == "OR" {
            continue;
        }
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

/// The comparison key of one license id: case-folded, GNU `-only`/`-or-later`/`+` dropped, and the Qwen
/// family (the Tongyi Qianwen agreement is the Qwen agreement's predecessor) merged.
fn family_key(id: &str) -> String {
    match gnu_key(id).as_str() {
        "licenseref-tongyi-qianwen" => "licenseref-qwen".to_string(),
        other => other.to_string(),
    }
}

/// Case-folded, with the GNU `-only` / `-or-later` / `+` suffixes dropped.
fn gnu_key(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let lower = lower.trim_end_matches('+');
    lower
        .strip_suffix("-only")
        .or_else(|| lower.strip_suffix("-or-later"))
        .unwrap_or(lower)
        .to_string()
}

/// The human name of an id: the SPDX full name, or the model license table's name.
pub fn license_name(id: &str) -> Option<String> {
    if let Some(m) = model_license_by_id(id) {
        return Some(m.name.to_string());
    }
    spdx::license_id(id.trim_end_matches('+')).map(|l| l.full_name.to_string())
}

fn unrecognized_reason(raw: &str) -> &'static str {
    if UNVERSIONED.contains(&raw.trim().to_ascii_lowercase().as_str()) {
        "names a license family without a version"
    } else {
        "is neither an SPDX id nor a known model license"
    }
}

// ---------------------------------------------------------------------------------------------------------
// Text identification
// ---------------------------------------------------------------------------------------------------------

/// The detection store, loaded on first use (it decompresses and parses the whole SPDX corpus).
fn store() -> Option<&'static Store> {
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    STORE.get_or_init(|| Store::load_inline().ok()).as_ref()
}

/// Identifies a license text: known model-license titles first, then the `spdx` detector. `None` when
/// nothing matches with confidence [`TEXT_ACCEPT`] or more.
pub fn identify_text(text: &str) -> Option<TextMatch> {
    match examine_text(text) {
        TextVerdict::Identified(m) => Some(m),
        TextVerdict::Unidentified { .. } => None,
    }
}

/// Like [`identify_text`], but says what the closest candidate was when nothing matched.
pub fn examine_text(text: &str) -> TextVerdict {
    let prepared = Prepared::new(text);
    if let Some(m) = prepared.title_match() {
        return TextVerdict::Identified(m);
    }
    prepared.detect()
}

/// A text made ready for matching: markup removed, and a whitespace-normalised copy for title search.
struct Prepared {
    html: bool,
    /// Markup removed, line structure kept.
    plain: String,
    /// Whitespace runs collapsed to one space (same case as `plain`).
    flat: String,
}

impl Prepared {
    fn new(text: &str) -> Prepared {
        let html = looks_like_html(text);
        let plain = if html {
            strip_html(text)
        } else {
            text.to_string()
        };
        let flat = plain.split_whitespace().collect::<Vec<_>>().join(" ");
        Prepared { html, plain, flat }
    }

    /// The earliest known title in the text.
    fn title_match(&self) -> Option<TextMatch> {
        // ASCII lowering keeps byte offsets, so a position in `lower` is a position in `flat`.
        let lower = self.flat.to_ascii_lowercase();
        let (pos, title, license) = MODEL_LICENSES
            .iter()
            .flat_map(|m| m.titles.iter().map(move |t| (t, m)))
            .filter_map(|(t, m)| lower.find(t).map(|p| (p, *t, m)))
            .min_by_key(|(p, t, _)| (*p, usize::MAX - t.len()))?;
        let near_start = pos < TITLE_HEAD_BYTES;
        let confidence = match (near_start, self.html) {
            (true, _) => 0.95,
            (false, true) => 0.9,
            (false, false) => 0.8,
        };
        let heading = self
            .flat
            .get(pos..pos + title.len())
            .unwrap_or(title)
            .to_string();
        Some(TextMatch {
            id: license.id.to_string(),
            name: Some(license.name.to_string()),
            confidence,
            method: "text-title".to_string(),
            heading,
        })
    }

    /// The `spdx` crate's detector on the whole text, then on the best-matching line range.
    fn detect(&self) -> TextVerdict {
        let heading = first_heading(&self.plain);
        let unidentified = |best: Option<String>, score: f32| TextVerdict::Unidentified {
            heading: heading.clone(),
            best,
            score,
        };
        if self.plain.trim().is_empty() {
            return unidentified(None, 0.0);
        }
        let Some(store) = store() else {
            return unidentified(None, 0.0);
        };
        let data = TextData::new(&self.plain);
        let found = store.analyze(&data);
        let mut score = found.score;
        let mut method = match found.license_type {
            LicenseType::Header => "text-spdx-detection-header",
            _ => "text-spdx-detection",
        };
        if (0.5..TEXT_ACCEPT).contains(&score) {
            // A license body with a preamble or a trailer (a copyright line, a third-party section) scores
            // low as a whole; accept it when the matching range is strong and covers most of the file.
            let (view, contained) = data.optimize_bounds(found.data);
            let (start, end) = view.lines_view();
            let total = data.lines().len().max(1);
            if contained >= 0.9 && (end.saturating_sub(start)) * 2 >= total {
                score = contained;
                method = "text-spdx-detection-contained";
            }
        }
        let id = spdx::license_id(found.name)
            .map(|l| canonical_spdx(l, false))
            .unwrap_or_else(|| found.name.to_string());
        if score >= TEXT_ACCEPT {
            TextVerdict::Identified(TextMatch {
                name: license_name(&id),
                id,
                confidence: score,
                method: method.to_string(),
                heading,
            })
        } else {
            unidentified(Some(id), score)
        }
    }
}

/// The first non-empty line, without Markdown heading marks, at most 120 characters.
fn first_heading(plain: &str) -> String {
    let line = plain
        .lines()
        .map(|l| {
            l.trim()
                .trim_matches(|c: char| c == '#' || c == '*' || c == '=' || c == '_')
                .trim()
        })
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(120).collect()
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html")
        || head.contains("<html")
        || head.contains("<head>")
        || head.contains("<body")
}

/// Removes tags, comments, scripts and styles, and decodes common entities. Block-level tags become line
/// breaks so the detector still sees paragraphs.
fn strip_html(html: &str) -> String {
    const SKIP: &[&str] = &["script", "style", "noscript", "svg", "template"];
    const INLINE: &[&str] = &[
        "a", "b", "i", "em", "strong", "span", "code", "sup", "sub", "small", "u", "abbr", "mark",
    ];
    let lower = html.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        let Some(rel) = lower[i..].find('<') else {
            out.push_str(&html[i..]);
            break;
        };
        out.push_str(&html[i..i + rel]);
        i += rel;
        if lower[i..].starts_with("<!--") {
            i = lower[i + 4..]
                .find("-->")
                .map_or(bytes.len(), |e| i + 4 + e + 3);
            continue;
        }
        let name_start = i + 1 + usize::from(bytes.get(i + 1) == Some(&b'/'));
        let name_len = lower[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name = &lower[name_start..name_start + name_len];
        if name.is_empty() && bytes.get(i + 1) != Some(&b'!') && bytes.get(i + 1) != Some(&b'?') {
            // A bare `<` in text, not a tag.
            out.push('<');
            i += 1;
            continue;
        }
        let tag_end = lower[i..].find('>').map_or(bytes.len(), |e| i + e + 1);
        let closing = bytes.get(i + 1) == Some(&b'/');
        if !closing && SKIP.contains(&name) {
            let close = format!("</{name}");
            i = match lower[tag_end..].find(&close) {
                Some(e) => lower[tag_end + e..]
                    .find('>')
                    .map_or(bytes.len(), |g| tag_end + e + g + 1),
                None => bytes.len(),
            };
            out.push('\n');
            continue;
        }
        out.push(if INLINE.contains(&name) { ' ' } else { '\n' });
        i = tag_end;
    }
    decode_entities(&out)
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[..rest.len().min(12)].find(';');
        let decoded = semi.and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "rsquo" | "lsquo" | "#39" => Some('\''),
                "ldquo" | "rdquo" => Some('"'),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "copy" => Some('©'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------------------
// Obligations
// ---------------------------------------------------------------------------------------------------------

/// What a license obliges, as facts. Known open-model licenses come from a table; other SPDX ids get a
/// minimal entry from the `spdx` metadata; unknown `LicenseRef-…` ids get `None`. Accepts any spelling
/// [`normalize`] accepts.
pub fn obligations(id: &str) -> Option<Obligations> {
    if let Some(ob) = table(id) {
        return Some(ob);
    }
    if let Some(lic) = spdx::license_id(id.trim_end_matches('+')) {
        return Some(from_spdx_metadata(id, lic));
    }
    match normalize(id, None) {
        Some((norm, _)) if norm != id && components(&norm).len() == 1 => obligations(&norm),
        _ => None,
    }
}

fn base(id: &str, name: &str, reference: &str) -> Obligations {
    Obligations {
        id: id.to_string(),
        name: name.to_string(),
        osi_approved: spdx::license_id(id.trim_end_matches('+'))
            .is_some_and(|l| l.is_osi_approved()),
        commercial_use: "allowed".to_string(),
        user_threshold: None,
        use_restrictions_flow_down: false,
        attribution: None,
        naming: None,
        facts: Vec::new(),
        reference: Some(reference.to_string()),
    }
}

fn facts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn from_spdx_metadata(id: &str, lic: spdx::LicenseId) -> Obligations {
    let canonical = canonical_spdx(lic, id.ends_with('+'));
    let mut ob = base(
        &canonical,
        lic.full_name,
        &format!("https://spdx.org/licenses/{}.html", lic.name),
    );
    ob.osi_approved = lic.is_osi_approved();
    ob.commercial_use = if lic.name.contains("-NC") {
        "non-commercial only".to_string()
    } else {
        "not stated in modelvet's table; read the license".to_string()
    };
    if lic.is_copyleft() {
        ob.facts.push(
            "copyleft: derivative works must be distributed under the same license".to_string(),
        );
    }
    if lic.is_fsf_free_libre() {
        ob.facts.push("listed as free by the FSF".to_string());
    }
    if lic.is_deprecated() {
        ob.facts.push("the SPDX id is deprecated".to_string());
    }
    ob
}

const LLAMA_700M: &str = "a licensee whose products or services had more than 700 million monthly active \
                          users in the calendar month before the model's release date must request a \
                          license from Meta, which Meta may grant at its discretion";

/// The Llama 3.x / 4 community licenses share one structure.
fn llama(id: &str, version: &str, reference: &str, aup: &str, eu_multimodal: bool) -> Obligations {
    let name = format!("Llama {version} Community License Agreement");
    let mut ob = base(id, &name, reference);
    ob.commercial_use = "allowed below a user threshold".to_string();
    ob.user_threshold = Some(700_000_000);
    ob.use_restrictions_flow_down = true;
    ob.attribution = Some(format!(
        "distribute a copy of the agreement, prominently display \"Built with Llama\" on a related website, \
         user interface, blog post, about page or product documentation, and include the notice \"Llama \
         {version} is licensed under the Llama {version} Community License, Copyright © Meta Platforms, Inc. \
         All Rights Reserved.\" in a \"Notice\" text file distributed with the copies"
    ));
    ob.naming = Some(
        "an AI model created, trained, fine-tuned or improved with the Llama materials and distributed must \
         include \"Llama\" at the beginning of its name"
            .to_string(),
    );
    ob.facts = vec![
        LLAMA_700M.to_string(),
        format!("use must comply with the Llama {version} Acceptable Use Policy ({aup})"),
        "no license is granted to Meta's trademarks beyond the \"Built with Llama\" display"
            .to_string(),
        "not an OSI-approved open-source license".to_string(),
    ];
    if eu_multimodal {
        ob.facts.push(
            "per the Acceptable Use Policy, the rights for multimodal models are not granted to individuals \
             domiciled in, or companies with a principal place of business in, the European Union (end \
             users of a product that incorporates them are not affected)"
                .to_string(),
        );
    }
    ob
}

const RAIL_FLOW_DOWN: &str = "the use-based restrictions (Attachment A) must be included as an enforceable \
                              provision in any agreement governing use or distribution of the model or its \
                              derivatives, and subsequent users must be told they are subject to them";

fn rail(id: &str, name: &str, reference: &str) -> Obligations {
    let mut ob = base(id, name, reference);
    ob.use_restrictions_flow_down = true;
    ob.attribution = Some(
        "give recipients a copy of the license, mark modified files with a prominent notice, and retain \
         the copyright, patent, trademark and attribution notices"
            .to_string(),
    );
    ob.facts = facts(&[
        RAIL_FLOW_DOWN,
        "you may not use the model or derivatives for the uses listed in Attachment A",
        "not an OSI-approved open-source license",
    ]);
    ob
}

/// The table of known licenses, keyed by canonical id (GNU ids by family).
fn table(id: &str) -> Option<Obligations> {
    let key = gnu_key(id);
    let ob = match key.as_str() {
        "apache-2.0" => {
            let mut ob = base("Apache-2.0", "Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0");
            ob.attribution = Some(
                "give recipients a copy of the license, keep the copyright, patent, trademark and attribution \
                 notices, mark modified files with a prominent notice stating the change, and include the \
                 attribution notices of any NOTICE file"
                    .to_string(),
            );
            ob.facts = facts(&[
                "grants a patent license from each contributor, which terminates for anyone who brings a patent \
                 suit alleging the work infringes",
                "grants no rights to the licensors' trademarks",
                "provided without warranty",
            ]);
            ob
        }
        "mit" => {
            let mut ob = base("MIT", "MIT License", "https://opensource.org/license/mit");
            ob.attribution = Some(
                "include the copyright notice and the permission notice in all copies or substantial portions"
                    .to_string(),
            );
            ob.facts = facts(&["provided without warranty"]);
            ob
        }
        "bsd-3-clause" => {
            let mut ob = base(
                "BSD-3-Clause",
                "BSD 3-Clause \"New\" or \"Revised\" License",
                "https://opensource.org/license/bsd-3-clause",
            );
            ob.attribution = Some(
                "retain the copyright notice, the list of conditions and the disclaimer in source form, and \
                 reproduce them in the documentation of binary distributions"
                    .to_string(),
            );
            ob.facts = facts(&[
                "the names of the copyright holder and contributors may not be used to endorse or promote \
                 derived products without written permission",
            ]);
            ob
        }
        "cc-by-4.0" => {
            let mut ob = base(
                "CC-BY-4.0",
                "Creative Commons Attribution 4.0 International",
                "https://creativecommons.org/licenses/by/4.0/legalcode",
            );
            ob.attribution = Some(cc_attribution());
            ob.facts = facts(&[
                "no additional legal terms or technological measures may restrict what the license permits",
                "not an OSI-approved software license",
            ]);
            ob
        }
        "cc-by-nc-4.0" => {
            let mut ob = base(
                "CC-BY-NC-4.0",
                "Creative Commons Attribution Non Commercial 4.0 International",
                "https://creativecommons.org/licenses/by-nc/4.0/legalcode",
            );
            ob.commercial_use = "non-commercial only".to_string();
            ob.attribution = Some(cc_attribution());
            ob.facts = facts(&[
                "use is limited to purposes not primarily intended for or directed towards commercial \
                 advantage or monetary compensation",
                "not an OSI-approved software license",
            ]);
            ob
        }
        "cc-by-sa-4.0" => {
            let mut ob = base(
                "CC-BY-SA-4.0",
                "Creative Commons Attribution Share Alike 4.0 International",
                "https://creativecommons.org/licenses/by-sa/4.0/legalcode",
            );
            ob.attribution = Some(cc_attribution());
            ob.facts = facts(&[
                "share-alike: adapted material must be shared under the same or a BY-SA-compatible license",
                "not an OSI-approved software license",
            ]);
            ob
        }
        "gpl-3.0" => {
            let mut ob = base(
                &canonical_or(id, "GPL-3.0-only"),
                "GNU General Public License v3.0",
                "https://www.gnu.org/licenses/gpl-3.0.html",
            );
            ob.osi_approved = true;
            ob.attribution = Some(
                "keep the copyright and license notices intact and give recipients a copy of the license"
                    .to_string(),
            );
            ob.facts = facts(&[
                "copyleft: modified versions must be licensed as a whole under the GPL-3.0",
                "conveying object code requires offering the corresponding source under the same license",
                "each contributor grants a patent license; no further restrictions may be imposed on recipients",
            ]);
            ob
        }
        "licenseref-llama-2" => {
            let mut ob = base(
                "LicenseRef-Llama-2",
                "Llama 2 Community License Agreement",
                "https://ai.meta.com/llama/license/",
            );
            ob.commercial_use = "allowed below a user threshold".to_string();
            ob.user_threshold = Some(700_000_000);
            ob.use_restrictions_flow_down = true;
            ob.attribution = Some(
                "distribute a copy of the agreement and include the notice \"Llama 2 is licensed under the \
                 LLAMA 2 Community License, Copyright (c) Meta Platforms, Inc. All Rights Reserved.\" in a \
                 \"Notice\" text file distributed with the copies"
                    .to_string(),
            );
            ob.facts = vec![
                LLAMA_700M.to_string(),
                "use must comply with the Llama 2 Acceptable Use Policy (https://ai.meta.com/llama/use-policy)"
                    .to_string(),
                "the Llama materials or their outputs may not be used to improve any other large language \
                 model, except Llama 2 and its derivatives"
                    .to_string(),
                "not an OSI-approved open-source license".to_string(),
            ];
            ob
        }
        "licenseref-llama-3" => {
            let mut ob = base(
                "LicenseRef-Llama-3",
                "Meta Llama 3 Community License Agreement",
                "https://llama.meta.com/llama3/license/",
            );
            ob.commercial_use = "allowed below a user threshold".to_string();
            ob.user_threshold = Some(700_000_000);
            ob.use_restrictions_flow_down = true;
            ob.attribution = Some(
                "distribute a copy of the agreement, prominently display \"Built with Meta Llama 3\" on a \
                 related website, user interface, blog post, about page or product documentation, and \
                 include the notice \"Meta Llama 3 is licensed under the Meta Llama 3 Community License, \
                 Copyright © Meta Platforms, Inc. All Rights Reserved.\" in a \"Notice\" text file"
                    .to_string(),
            );
            ob.naming = Some(
                "an AI model created, trained, fine-tuned or improved with the Llama materials and distributed \
                 must include \"Llama 3\" at the beginning of its name"
                    .to_string(),
            );
            ob.facts = vec![
                LLAMA_700M.to_string(),
                "use must comply with the Meta Llama 3 Acceptable Use Policy \
                 (https://llama.meta.com/llama3/use-policy)"
                    .to_string(),
                "the Llama materials or their outputs may not be used to improve any other large language \
                 model, except Meta Llama 3 and its derivatives"
                    .to_string(),
                "not an OSI-approved open-source license".to_string(),
            ];
            ob
        }
        "licenseref-llama-3.1" => llama(
            "LicenseRef-Llama-3.1",
            "3.1",
            "https://www.llama.com/llama3_1/license/",
            "https://www.llama.com/llama3_1/use-policy",
            false,
        ),
        "licenseref-llama-3.2" => llama(
            "LicenseRef-Llama-3.2",
            "3.2",
            "https://www.llama.com/llama3_2/license/",
            "https://www.llama.com/llama3_2/use-policy",
            true,
        ),
        "licenseref-llama-3.3" => llama(
            "LicenseRef-Llama-3.3",
            "3.3",
            "https://www.llama.com/llama3_3/license/",
            "https://www.llama.com/llama3_3/use-policy",
            false,
        ),
        "licenseref-llama-4" => llama(
            "LicenseRef-Llama-4",
            "4",
            "https://www.llama.com/llama4/license/",
            "https://www.llama.com/llama4/use-policy",
            true,
        ),
        "licenseref-gemma" => {
            let mut ob = base("LicenseRef-Gemma", "Gemma Terms of Use", "https://ai.google.dev/gemma/terms");
            ob.use_restrictions_flow_down = true;
            ob.attribution = Some(
                "give all third-party recipients a copy of the terms, mark modified files with a prominent \
                 notice, and accompany every distribution (other than through a hosted service) with a \
                 \"Notice\" text file stating \"Gemma is provided under and subject to the Gemma Terms of Use \
                 found at ai.google.dev/gemma/terms\""
                    .to_string(),
            );
            ob.facts = facts(&[
                "no monthly-active-user threshold",
                "the use restrictions (the Gemma Prohibited Use Policy, \
                 https://ai.google.dev/gemma/prohibited_use_policy) must be included as an enforceable \
                 provision in any agreement governing use or distribution of Gemma or its derivatives, with \
                 notice to subsequent users",
                "Google may restrict, remotely or otherwise, usage it reasonably believes violates the terms",
                "Google claims no rights in outputs generated with Gemma",
                "not an OSI-approved open-source license",
            ]);
            ob
        }
        "licenseref-qwen" => {
            let mut ob = base(
                "LicenseRef-Qwen",
                "Qwen License Agreement",
                "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE",
            );
            ob.commercial_use = "allowed below a user threshold".to_string();
            ob.user_threshold = Some(100_000_000);
            ob.attribution = Some(
                "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
                 include the notice \"Qwen is licensed under the Qwen LICENSE AGREEMENT, Copyright (c) \
                 Alibaba Cloud. All Rights Reserved.\" in a \"Notice\" text file"
                    .to_string(),
            );
            ob.naming = Some(
                "a distributed AI model created, trained, fine-tuned or improved with the Qwen materials or \
                 their outputs must prominently display \"Built with Qwen\" or \"Improved using Qwen\" in its \
                 product documentation"
                    .to_string(),
            );
            ob.facts = facts(&[
                "commercial use by a product or service with more than 100 million monthly active users \
                 requires a license from Alibaba Cloud",
                "not an OSI-approved open-source license",
            ]);
            ob
        }
        "licenseref-tongyi-qianwen" => {
            let mut ob = base(
                "LicenseRef-Tongyi-Qianwen",
                "Tongyi Qianwen License Agreement",
                "https://github.com/QwenLM/Qwen/blob/main/Tongyi%20Qianwen%20LICENSE%20AGREEMENT",
            );
            ob.commercial_use = "allowed below a user threshold".to_string();
            ob.user_threshold = Some(100_000_000);
            ob.attribution = Some(
                "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
                 include the notice \"Tongyi Qianwen is licensed under the Tongyi Qianwen LICENSE AGREEMENT, \
                 Copyright (c) Alibaba Cloud. All Rights Reserved.\" in a \"Notice\" text file"
                    .to_string(),
            );
            ob.facts = facts(&[
                "commercial use by a product or service with more than 100 million monthly active users \
                 requires a license from Alibaba Cloud",
                "the materials or their outputs may not be used to improve any other large language model, \
                 except Tongyi Qianwen and its derivatives",
                "not an OSI-approved open-source license",
            ]);
            ob
        }
        "licenseref-qwen-research" => {
            let mut ob = base(
                "LicenseRef-Qwen-Research",
                "Qwen Research License Agreement",
                "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE",
            );
            ob.commercial_use = "non-commercial only".to_string();
            ob.attribution = Some(
                "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
                 include the agreement's attribution notice (\"Qwen is licensed under the Qwen RESEARCH \
                 LICENSE AGREEMENT, Copyright (c) Alibaba Cloud…\") in a \"Notice\" text file"
                    .to_string(),
            );
            ob.naming = Some(
                "a distributed AI model created, trained, fine-tuned or improved with the Qwen materials or \
                 their outputs must prominently display \"Built with Qwen\" or \"Improved using Qwen\" in its \
                 product documentation"
                    .to_string(),
            );
            ob.facts = facts(&[
                "use is limited to non-commercial or research purposes; commercial use requires a separate \
                 license from Alibaba Cloud",
                "not an OSI-approved open-source license",
            ]);
            ob
        }
        "licenseref-deepseek" => {
            let mut ob = base(
                "LicenseRef-DeepSeek",
                "DeepSeek License Agreement",
                "https://github.com/deepseek-ai/DeepSeek-LLM/blob/HEAD/LICENSE-MODEL",
            );
            ob.use_restrictions_flow_down = true;
            ob.attribution = Some(
                "give recipients a copy of the agreement, mark modified files with a prominent notice, and \
                 retain the copyright, patent, trademark and attribution notices"
                    .to_string(),
            );
            ob.facts = facts(&[
                RAIL_FLOW_DOWN,
                "no monthly-active-user threshold",
                "not an OSI-approved open-source license",
            ]);
            ob
        }
        "licenseref-openrail" => rail("LicenseRef-OpenRAIL", "Open RAIL License", "https://www.licenses.ai/"),
        "licenseref-openrail-plusplus-m" => rail(
            "LicenseRef-OpenRAIL-plusplus-M",
            "CreativeML Open RAIL++-M License",
            "https://github.com/Stability-AI/generative-models/blob/main/model_licenses/LICENSE-SDXL1.0",
        ),
        "licenseref-creativeml-openrail-m" => rail(
            "LicenseRef-CreativeML-OpenRAIL-M",
            "CreativeML Open RAIL-M License",
            "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
        ),
        "licenseref-bigscience-openrail-m" => rail(
            "LicenseRef-BigScience-OpenRAIL-M",
            "BigScience Open RAIL-M License",
            "https://www.licenses.ai/blog/2022/8/26/bigscience-open-rail-m-license",
        ),
        "licenseref-bigscience-bloom-rail-1.0" => rail(
            "LicenseRef-BigScience-BLOOM-RAIL-1.0",
            "BigScience BLOOM RAIL License v1.0",
            "https://huggingface.co/spaces/bigscience/license",
        ),
        "licenseref-bigcode-openrail-m" => rail(
            "LicenseRef-BigCode-OpenRAIL-M",
            "BigCode Open RAIL-M v1 License Agreement",
            "https://www.bigcode-project.org/docs/pages/bigcode-openrail/",
        ),
        _ => return None,
    };
    Some(ob)
}

/// The requested GNU spelling when it is a valid one, else the default.
fn canonical_or(id: &str, default: &str) -> String {
    spdx::license_id(id.trim_end_matches('+'))
        .map(|l| canonical_spdx(l, id.ends_with('+')))
        .unwrap_or_else(|| default.to_string())
}

fn cc_attribution() -> String {
    "credit the creator, keep the copyright, license and disclaimer notices, link to the material and the \
     license, and indicate whether the material was modified"
        .to_string()
}

// ---------------------------------------------------------------------------------------------------------
// Assessment
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIT_TEXT: &str = "MIT License

Copyright (c) 2024 Example Labs

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the \"Software\"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
";

    fn inputs<'a>() -> LicenseInputs<'a> {
        LicenseInputs {
            card: None,
            gguf: Vec::new(),
            config: Vec::new(),
            texts: Vec::new(),
        }
    }

    fn card<'a>(licenses: Vec<&'a str>, name: Option<&'a str>) -> CardLicense<'a> {
        CardLicense {
            file: "README.md",
            licenses,
            license_name: name,
            license_link: None,
        }
    }

    fn gguf<'a>(file: &'a str, license: &'a str) -> GgufLicense<'a> {
        GgufLicense {
            file,
            license,
            name: None,
            link: None,
        }
    }

    fn codes(findings: &[Finding]) -> Vec<Code> {
        findings.iter().map(|f| f.code).collect()
    }

    fn id_of(raw: &str, name: Option<&str>) -> Option<String> {
        normalize(raw, name).map(|(id, _)| id)
    }

    fn home_file(rel: &str) -> Option<std::path::PathBuf> {
        let path = std::path::Path::new(&std::env::var_os("HOME")?).join(rel);
        path.is_file().then_some(path)
    }

    #[test]
    fn hub_ids_map_to_spdx_and_license_refs() {
        assert_eq!(
            normalize("apache-2.0", None),
            Some(("Apache-2.0".into(), "declared-hub-id".into()))
        );
        assert_eq!(
            normalize("MIT", None),
            Some(("MIT".into(), "declared-spdx".into()))
        );
        assert_eq!(
            id_of("llama3.1", None).as_deref(),
            Some("LicenseRef-Llama-3.1")
        );
        assert_eq!(id_of("llama2", None).as_deref(), Some("LicenseRef-Llama-2"));
        assert_eq!(id_of("gemma", None).as_deref(), Some("LicenseRef-Gemma"));
        assert_eq!(id_of("cc-by-nc-4.0", None).as_deref(), Some("CC-BY-NC-4.0"));
        assert_eq!(
            id_of("bsd-3-clause-clear", None).as_deref(),
            Some("BSD-3-Clause-Clear")
        );
        assert_eq!(id_of("gpl-3.0", None).as_deref(), Some("GPL-3.0-only"));
        assert_eq!(id_of("lgpl-2.1", None).as_deref(), Some("LGPL-2.1-only"));
        assert_eq!(id_of("odbl", None).as_deref(), Some("ODbL-1.0"));
        assert_eq!(
            id_of("openrail++", None).as_deref(),
            Some("LicenseRef-OpenRAIL-plusplus-M")
        );
        assert_eq!(
            id_of("creativeml-openrail-m", None).as_deref(),
            Some("LicenseRef-CreativeML-OpenRAIL-M")
        );
        assert_eq!(
            id_of("Apache License 2.0", None).as_deref(),
            Some("Apache-2.0")
        );
        // Unversioned families and unknown strings are refused, not guessed.
        assert_eq!(id_of("gpl", None), None);
        assert_eq!(id_of("bsd", None), None);
        assert_eq!(id_of("no-such-license", None), None);
        assert_eq!(id_of("bsd-3", None), None);
    }

    #[test]
    fn other_takes_its_meaning_from_the_license_name() {
        assert_eq!(
            normalize("other", Some("qwen")),
            Some(("LicenseRef-Qwen".into(), "declared-license-name".into()))
        );
        assert_eq!(
            id_of("other", Some("tongyi-qianwen")).as_deref(),
            Some("LicenseRef-Tongyi-Qianwen")
        );
        assert_eq!(
            id_of("other", Some("qwen-research")).as_deref(),
            Some("LicenseRef-Qwen-Research")
        );
        assert_eq!(
            id_of("other", Some("deepseek-license")).as_deref(),
            Some("LicenseRef-DeepSeek")
        );
        assert_eq!(
            id_of("other", Some("llama3.1")).as_deref(),
            Some("LicenseRef-Llama-3.1")
        );
        assert_eq!(
            id_of("unknown", Some("My Lab's License v2!")).as_deref(),
            Some("LicenseRef-My-Lab-s-License-v2")
        );
        assert_eq!(id_of("other", None), None);
        assert_eq!(id_of("other", Some("  ")), None);
    }

    #[test]
    fn other_without_a_name_is_unrecognized_but_declared() {
        let mut i = inputs();
        i.card = Some(card(vec!["other"], None));
        let (report, findings) = assess(&i);
        assert_eq!(codes(&findings), vec![Code::LicenseUnrecognized]);
        assert!(
            findings[0].message.contains("`other`"),
            "{}",
            findings[0].message
        );
        assert_eq!(report.declared.len(), 1);
        assert_eq!(report.declared[0].id, None);
        assert!(report.effective.is_empty());
    }

    #[test]
    fn expressions_are_normalised_and_validated() {
        assert_eq!(
            normalize("apache-2.0 OR mit", None),
            Some((
                "Apache-2.0 OR MIT".into(),
                "declared-spdx-expression".into()
            ))
        );
        assert_eq!(
            id_of("(mit and bsd-3-clause)", None).as_deref(),
            Some("(MIT AND BSD-3-Clause)")
        );
        assert_eq!(
            id_of("MIT/Apache-2.0", None).as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            id_of("gpl-2.0 WITH classpath-exception-2.0", None).as_deref(),
            Some("GPL-2.0-only WITH Classpath-exception-2.0")
        );
        assert_eq!(id_of("mit OR nonsense-license", None), None);
        assert_eq!(id_of("mit OR", None), None);

        // An expression that contains the other id agrees with it.
        let mut i = inputs();
        i.card = Some(card(vec!["apache-2.0 OR mit"], None));
        i.gguf = vec![gguf("m.gguf", "mit")];
        let (report, findings) = assess(&i);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(
            report.effective,
            vec!["Apache-2.0 OR MIT".to_string(), "MIT".to_string()]
        );
        let ids: Vec<&str> = report.obligations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, vec!["Apache-2.0", "MIT"]);
    }

    #[test]
    fn mit_text_is_identified() {
        let m = identify_text(MIT_TEXT).expect("the MIT text is identified");
        assert_eq!(m.id, "MIT");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
        assert!(m.method.starts_with("text-spdx-detection"), "{}", m.method);
    }

    #[test]
    fn apache_text_is_identified() {
        let path = std::path::Path::new("/usr/share/common-licenses/Apache-2.0");
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {} is absent", path.display());
            return;
        };
        let started = std::time::Instant::now();
        let m = identify_text(&text).expect("the Apache text is identified");
        println!(
            "Apache-2.0 identified in {:?} (includes the store load on first use)",
            started.elapsed()
        );
        assert_eq!(m.id, "Apache-2.0");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);

        // With a preamble the file still reads as Apache-2.0.
        let prefixed = format!(
            "Copyright 2024 Example Labs\nAll model weights are released as follows.\n\n{text}"
        );
        let m = identify_text(&prefixed).expect("the prefixed Apache text is identified");
        println!("prefixed Apache text: {m:?}");
        assert_eq!(m.id, "Apache-2.0");
    }

    #[test]
    fn license_body_with_a_long_trailer_is_found_inside_the_file() {
        let path = std::path::Path::new("/usr/share/common-licenses/Apache-2.0");
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {} is absent", path.display());
            return;
        };
        let trailer: String = (0..150)
            .map(|i| {
                format!("Third-party component number {i} was fetched from an upstream mirror.\n")
            })
            .collect();
        let combined = format!("{text}\n\nTHIRD-PARTY COMPONENTS\n\n{trailer}");
        let m = identify_text(&combined).expect("the Apache body is found");
        println!("Apache with trailer: {m:?}");
        assert_eq!(m.id, "Apache-2.0");
        assert_eq!(m.method, "text-spdx-detection-contained");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
    }

    #[test]
    fn store_load_time() {
        let started = std::time::Instant::now();
        let store = Store::load_inline().expect("the inline store loads");
        println!(
            "Store::load_inline() took {:?} for {} licenses",
            started.elapsed(),
            store.len()
        );
        assert!(store.len() > 100);
    }

    #[test]
    fn html_page_with_navigation_reads_as_gemma() {
        let nav: String = (0..300)
            .map(|i| format!("<li><a href=\"/x/{i}\">Menu entry {i}</a></li>\n"))
            .collect();
        let html = format!(
            "<!DOCTYPE html><html><head><style>body {{ color: red }}</style>\
             <script>var t = \"Llama 2 Community License Agreement\";</script></head><body>\
             <nav><ul>{nav}</ul></nav><main><h1 class=\"title\">Gemma Terms of Use</h1>\
             <p>By using, reproducing, modifying, distributing &amp; performing Gemma&hellip;</p></main></body></html>"
        );
        let m = identify_text(&html).expect("the page is identified");
        assert_eq!(m.id, "LicenseRef-Gemma");
        assert_eq!(m.method, "text-title");
        assert!(m.confidence >= 0.9);
        assert_eq!(m.heading, "Gemma Terms of Use");
    }

    #[test]
    fn real_gemma_terms_page_reads_as_gemma() {
        let Some(path) = home_file(".cache/modelvet/models/gemma-3-270m/GEMMA_TERMS.html") else {
            println!(
                "skipped: the Gemma terms page is not in ~/.cache/modelvet/models/gemma-3-270m"
            );
            return;
        };
        let text = std::fs::read_to_string(&path).expect("readable");
        let m = identify_text(&text).expect("the Gemma page is identified");
        println!("{}: {m:?}", path.display());
        assert_eq!(m.id, "LicenseRef-Gemma");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
    }

    #[test]
    fn titles_pick_the_right_model_license() {
        let cases = [
            ("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024", "LicenseRef-Llama-3.1"),
            ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024", "LicenseRef-Llama-3"),
            ("Qwen LICENSE AGREEMENT\n\nQwen LICENSE AGREEMENT Release Date: September 19, 2024", "LicenseRef-Qwen"),
            ("Qwen RESEARCH LICENSE AGREEMENT\n\nRelease Date: September 19, 2024", "LicenseRef-Qwen-Research"),
            ("Tongyi Qianwen LICENSE AGREEMENT\n\nTongyi Qianwen Release Date: August 3, 2023", "LicenseRef-Tongyi-Qianwen"),
            ("# DEEPSEEK LICENSE AGREEMENT\n\nVersion 1.0, 23 October 2023", "LicenseRef-DeepSeek"),
            ("CreativeML Open RAIL++-M License\ndated July 26, 2023", "LicenseRef-OpenRAIL-plusplus-M"),
        ];
        for (text, id) in cases {
            let m = identify_text(text).unwrap_or_else(|| panic!("{text:?} is identified"));
            assert_eq!(m.id, id, "{text:?}");
            assert_eq!(m.confidence, 0.95);
        }
        let deep = format!(
            "{}\nLLAMA 2 COMMUNITY LICENSE AGREEMENT",
            "filler words here. ".repeat(400)
        );
        assert_eq!(identify_text(&deep).map(|m| m.confidence), Some(0.8));
    }

    #[test]
    fn card_and_gguf_disagree() {
        let mut i = inputs();
        i.card = Some(card(vec!["apache-2.0"], None));
        i.gguf = vec![gguf("a.gguf", "mit"), gguf("b.gguf", "mit")];
        let (_, findings) = assess(&i);
        assert_eq!(
            codes(&findings),
            vec![Code::LicenseMismatch],
            "one finding per distinct pair"
        );
        let message = &findings[0].message;
        assert!(
            message.contains("the card declares `apache-2.0`"),
            "{message}"
        );
        assert!(
            message.contains("`a.gguf`") && message.contains("`mit`"),
            "{message}"
        );
        assert_eq!(findings[0].file.as_deref(), Some("a.gguf"));
    }

    #[test]
    fn card_and_license_text_disagree() {
        let mut i = inputs();
        i.card = Some(card(vec!["apache-2.0"], None));
        i.texts = vec![("LICENSE", MIT_TEXT)];
        let (report, findings) = assess(&i);
        assert_eq!(codes(&findings), vec![Code::LicenseMismatch]);
        let message = &findings[0].message;
        assert!(
            message.starts_with(
                "the card declares `apache-2.0` but `LICENSE` reads as `MIT` (confidence"
            ),
            "{message}"
        );
        assert_eq!(
            report.effective,
            vec!["Apache-2.0".to_string(), "MIT".to_string()]
        );
    }

    #[test]
    fn qwen_family_and_case_do_not_mismatch() {
        let mut i = inputs();
        i.card = Some(card(vec!["other"], Some("tongyi-qianwen")));
        i.gguf = vec![GgufLicense {
            file: "q.gguf",
            license: "other",
            name: Some("qwen"),
            link: None,
        }];
        i.config = vec![("config.json", "OTHER")];
        i.texts = vec![(
            "LICENSE",
            "Qwen LICENSE AGREEMENT\n\nRelease Date: September 19, 2024",
        )];
        let (report, findings) = assess(&i);
        // config.json says only `other`: unrecognised, but no mismatch anywhere.
        assert_eq!(codes(&findings), vec![Code::LicenseUnrecognized]);
        assert_eq!(
            report.effective,
            vec![
                "LicenseRef-Tongyi-Qianwen".to_string(),
                "LicenseRef-Qwen".to_string()
            ]
        );
        assert_eq!(report.obligations.len(), 2);
        assert!(report
            .obligations
            .iter()
            .all(|o| o.user_threshold == Some(100_000_000)));
    }

    #[test]
    fn nothing_declared_is_missing() {
        let (report, findings) = assess(&inputs());
        assert_eq!(codes(&findings), vec![Code::LicenseMissing]);
        assert_eq!(
            findings[0].message,
            "no license is declared in the card, the GGUF metadata or a license file"
        );
        assert!(report.declared.is_empty() && report.effective.is_empty());
    }

    #[test]
    fn short_notice_is_skipped_and_weak_texts_never_mismatch() {
        let mut i = inputs();
        i.card = Some(card(vec!["gemma"], None));
        i.texts = vec![(
            "NOTICE.md",
            "# NOTICE\n\nThis package reassembles a public GGUF file.\n",
        )];
        let (report, findings) = assess(&i);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(report.declared.len(), 1);

        let prose = "The weights in this folder were trained by a small team over several months on rented \
                     hardware, and we hope they are useful to somebody. Please be kind when you report bugs. "
            .repeat(20);
        i.texts = vec![("LICENSE.txt", prose.as_str())];
        let (report, findings) = assess(&i);
        assert_eq!(codes(&findings), vec![Code::LicenseTextUnidentified]);
        assert_eq!(findings[0].severity, crate::diag::Severity::Info);
        assert_eq!(report.effective, vec!["LicenseRef-Gemma".to_string()]);

        // Only an unidentified text: still missing, and the message says why.
        i.card = None;
        let (_, findings) = assess(&i);
        assert_eq!(
            codes(&findings),
            vec![Code::LicenseTextUnidentified, Code::LicenseMissing]
        );
        assert!(
            findings[1].message.contains("`LICENSE.txt`"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn llama_3_1_obligations() {
        let ob = obligations("LicenseRef-Llama-3.1").expect("known");
        assert_eq!(ob.user_threshold, Some(700_000_000));
        assert!(ob.use_restrictions_flow_down);
        assert!(!ob.osi_approved);
        assert_eq!(ob.commercial_use, "allowed below a user threshold");
        assert!(ob
            .naming
            .as_deref()
            .is_some_and(|n| n.contains("\"Llama\" at the beginning")));
        assert!(ob
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("Built with Llama")
                && a.contains("Llama 3.1 is licensed under the Llama 3.1 Community License")));
        assert!(ob.facts.iter().any(|f| f.contains("700 million")));
        assert!(obligations("LicenseRef-Llama-3.2")
            .is_some_and(|o| o.facts.iter().any(|f| f.contains("European Union"))));
        assert!(obligations("llama3.1").is_some_and(|o| o.id == "LicenseRef-Llama-3.1"));
    }

    #[test]
    fn other_obligations() {
        let apache = obligations("Apache-2.0").expect("known");
        assert!(apache.osi_approved);
        assert!(apache
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("NOTICE")));
        let gemma = obligations("LicenseRef-Gemma").expect("known");
        assert!(
            gemma.use_restrictions_flow_down
                && !gemma.osi_approved
                && gemma.user_threshold.is_none()
        );
        assert!(gemma
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("ai.google.dev/gemma/terms")));
        assert_eq!(
            obligations("CC-BY-NC-4.0").map(|o| o.commercial_use),
            Some("non-commercial only".into())
        );
        assert_eq!(
            obligations("GPL-3.0-or-later").map(|o| o.id),
            Some("GPL-3.0-or-later".into())
        );
        // Not in the table but known to SPDX: a minimal entry from the metadata.
        let zlib = obligations("Zlib").expect("minimal entry");
        assert!(zlib.osi_approved);
        let mpl = obligations("MPL-2.0").expect("minimal entry");
        assert!(mpl.facts.iter().any(|f| f.starts_with("copyleft")));
        assert_eq!(obligations("LicenseRef-Something-Else"), None);
    }

    #[test]
    fn html_stripping_and_entities() {
        let plain = strip_html(
            "<p>A&amp;B &lt;x&gt; caf&#233; &#x41;<!-- hidden --><script>no()</script>ok</p>",
        );
        assert_eq!(
            plain.split_whitespace().collect::<Vec<_>>().join(" "),
            "A&B <x> café A ok"
        );
        assert_eq!(
            decode_entities("AT&T & more &unknown; &"),
            "AT&T & more &unknown; &"
        );
        // Unterminated markup does not panic.
        let _ = strip_html("<html><script>never closed");
        let _ = strip_html("<html><!-- never closed");
        let _ = strip_html("<html>a < b <");
    }

    #[test]
    fn sources_serialize_with_a_kind_tag() {
        let json = serde_json::to_value(LicenseSource::Card {
            file: "README.md".into(),
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({ "kind": "card", "file": "README.md" })
        );
    }
}

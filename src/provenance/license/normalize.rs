//! Declared license ids: a card `license:` value, GGUF `general.license` or a config `license` key,
//! normalised to an SPDX id, an SPDX expression or a `LicenseRef-…` id for the model licenses SPDX does not
//! list.
//!
//! Trade-offs:
//! - Declared ids go through the `spdx` crate (case-insensitive id, deprecated GNU ids mapped to `-only`,
//!   exact-length imprecise names, full names); only Hub ids without an SPDX equivalent are hand-mapped, in
//!   [`MODEL_LICENSES`] and [`HUB_TO_SPDX`]. Unversioned family names (`gpl`, `bsd`, `cc`) are refused
//!   rather than guessed.
//! - [`MODEL_LICENSES`] is also where text identification finds the titles that open each model license,
//!   so one row describes a license for every source.

/// A model license SPDX does not list.
pub(super) struct ModelLicense {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    /// Hugging Face Hub `license:` ids (lowercase).
    pub(super) hub_ids: &'static [&'static str],
    /// Further spellings seen in `license_name` / `general.license.name` (lowercase).
    pub(super) names: &'static [&'static str],
    /// Lowercase, whitespace-normalised titles that open the license text.
    pub(super) titles: &'static [&'static str],
}

pub(super) const MODEL_LICENSES: &[ModelLicense] = &[
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
pub(super) fn canonical_spdx(lic: spdx::LicenseId, or_later: bool) -> String {
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
pub(super) fn components(id: &str) -> Vec<&str> {
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

/// Case-folded, with the GNU `-only` / `-or-later` / `+` suffixes dropped.
pub(super) fn gnu_key(id: &str) -> String {
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

pub(super) fn unrecognized_reason(raw: &str) -> &'static str {
    if UNVERSIONED.contains(&raw.trim().to_ascii_lowercase().as_str()) {
        "names a license family without a version"
    } else {
        "is neither an SPDX id nor a known model license"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(raw: &str, name: Option<&str>) -> Option<String> {
        normalize(raw, name).map(|(id, _)| id)
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
}

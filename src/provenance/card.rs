//! The model card (README.md): its YAML front matter is where a publisher declares license, base models,
//! datasets and languages, so it is parsed field by field, tolerant of the Hub's "string or list" habit,
//! and keeps every unknown key. A broken front matter is a finding with the line and column in README.md.

use crate::diag::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest card read (real cards are tens of kilobytes).
pub const MAX_CARD: u64 = 4 << 20;

/// What the card's front matter declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Card {
    pub file: String,
    /// False when the card has no front matter at all.
    pub has_front_matter: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub license: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_link: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_model: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model_relation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Every other front-matter key, as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Splits `text` into (front matter, line number of its first line) when it opens with `---`.
fn front_matter(text: &str) -> Option<(&str, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], 2));
        }
        offset += line.len();
    }
    None
}

/// Parses a card's text (`file` names it in findings).
pub fn parse(text: &str, file: &str) -> (Card, Vec<Finding>) {
    let mut card = Card {
        file: file.to_owned(),
        ..Default::default()
    };
    let mut findings = Vec::new();
    let Some((yaml, first_line)) = front_matter(text) else {
        return (card, findings);
    };
    card.has_front_matter = true;
    let value: serde_yaml::Value = match serde_yaml::from_str(yaml) {
        Ok(v) => v,
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!("{file}:{}:{}", l.line() + first_line - 1, l.column()))
                .unwrap_or_else(|| file.to_owned());
            findings.push(
                Finding::new(
                    Code::CardInvalid,
                    format!("{at}: front matter is not valid YAML: {e}"),
                )
                .in_file(file),
            );
            return (card, findings);
        }
    };
    let map = match value {
        serde_yaml::Value::Mapping(m) => m,
        serde_yaml::Value::Null => return (card, findings),
        other => {
            findings.push(
                Finding::new(
                    Code::CardInvalid,
                    format!(
                        "{file}: front matter must be a mapping, found {}",
                        kind(&other)
                    ),
                )
                .in_file(file),
            );
            return (card, findings);
        }
    };
    for (k, v) in map {
        let Some(key) = k.as_str().map(str::to_owned) else {
            findings.push(
                Finding::new(
                    Code::CardInvalid,
                    format!("{file}: front matter has a non-text key"),
                )
                .in_file(file),
            );
            continue;
        };
        let mut bad = |expected: &str| {
            findings.push(
                Finding::new(
                    Code::CardInvalid,
                    format!("{file}: `{key}` should be {expected}, found {}", kind(&v)),
                )
                .in_file(file),
            );
        };
        match key.as_str() {
            "license" => strings(&v)
                .map(|s| card.license = s)
                .unwrap_or_else(|| bad("a string or a list of strings")),
            "base_model" => strings(&v)
                .map(|s| card.base_model = s)
                .unwrap_or_else(|| bad("a string or a list of strings")),
            "datasets" => strings(&v)
                .map(|s| card.datasets = s)
                .unwrap_or_else(|| bad("a string or a list of strings")),
            "language" => strings(&v)
                .map(|s| card.language = s)
                .unwrap_or_else(|| bad("a string or a list of strings")),
            "tags" => strings(&v)
                .map(|s| card.tags = s)
                .unwrap_or_else(|| bad("a string or a list of strings")),
            "license_name" => string(&v)
                .map(|s| card.license_name = Some(s))
                .unwrap_or_else(|| bad("a string")),
            "license_link" => string(&v)
                .map(|s| card.license_link = Some(s))
                .unwrap_or_else(|| bad("a string")),
            "base_model_relation" => string(&v)
                .map(|s| card.base_model_relation = Some(s))
                .unwrap_or_else(|| bad("a string")),
            "pipeline_tag" => string(&v)
                .map(|s| card.pipeline_tag = Some(s))
                .unwrap_or_else(|| bad("a string")),
            "library_name" => string(&v)
                .map(|s| card.library_name = Some(s))
                .unwrap_or_else(|| bad("a string")),
            _ => {
                card.extra.insert(key, yaml_to_json(&v));
            }
        }
    }
    (card, findings)
}

fn kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

fn string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: &serde_yaml::Value) -> Option<Vec<String>> {
    match v {
        serde_yaml::Value::Null => Some(Vec::new()),
        serde_yaml::Value::Sequence(items) => items.iter().map(string).collect(),
        other => string(other).map(|s| vec![s]),
    }
}

/// YAML to JSON for unknown keys; keys that are not text are rendered as YAML text.
pub fn yaml_to_json(v: &serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        serde_yaml::Value::Null => J::Null,
        serde_yaml::Value::Bool(b) => J::Bool(*b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(J::Number)
                    .unwrap_or(J::Null)
            }
        }
        serde_yaml::Value::String(s) => J::String(s.clone()),
        serde_yaml::Value::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        serde_yaml::Value::Mapping(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_fields_accept_strings_or_lists_and_keep_unknown_keys() {
        let text = "---\nlicense: other\nlicense_name: qwen\nbase_model:\n- Qwen/Qwen2.5-7B\n- Qwen/Qwen2.5-7B-Instruct\nlanguage: zh\nextra_gated_prompt: agree\n---\n# Model\n";
        let (card, findings) = parse(text, "README.md");
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(card.license, ["other"]);
        assert_eq!(card.license_name.as_deref(), Some("qwen"));
        assert_eq!(
            card.base_model,
            ["Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"]
        );
        assert_eq!(card.language, ["zh"]);
        assert_eq!(
            card.extra.get("extra_gated_prompt"),
            Some(&serde_json::json!("agree"))
        );
    }

    #[test]
    fn broken_yaml_names_the_line_and_column_in_the_card() {
        let text = "---\nlicense: mit\ntags: [a, b\n---\n";
        let (_, findings) = parse(text, "README.md");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, Code::CardInvalid);
        assert!(
            findings[0].message.starts_with("README.md:4:"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn wrong_field_types_are_findings_and_the_rest_is_kept() {
        let text = "---\nlicense: {a: 1}\nbase_model: x/y\n---\n";
        let (card, findings) = parse(text, "README.md");
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains("`license` should be"),
            "{}",
            findings[0].message
        );
        assert_eq!(card.base_model, ["x/y"]);
    }

    #[test]
    fn a_card_without_front_matter_is_not_an_error() {
        let (card, findings) = parse("# Just text\n---\n", "README.md");
        assert!(!card.has_front_matter && findings.is_empty());
    }
}

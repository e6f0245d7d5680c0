//! The JSON files beside the weights (config.json, tokenizer_config.json, generation_config.json) and every
//! chat template a model ships, wherever it lives (tokenizer_config.json, chat_template.jinja / .json,
//! GGUF `tokenizer.chat_template`). Templates decide what a chat model sees, so each is fingerprinted and
//! differences between them are findings.

use crate::diag::{Code, Finding};
use serde::{Deserialize, Serialize};

/// Largest JSON configuration read.
pub const MAX_CONFIG: u64 = 16 << 20;

/// What config.json declares about the architecture.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelConfig {
    pub file: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// `torch_dtype` (older) or `dtype` (newer transformers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformers_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_hidden_layers: Option<u64>,
    /// `_name_or_path`: often the path or id the model was saved from, a lineage hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_or_path: Option<String>,
}

/// What tokenizer_config.json declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenizerConfig {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_bos_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_eos_token: Option<bool>,
}

/// One chat template found in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChatTemplate {
    /// Where it was found: `tokenizer_config.json`, `chat_template.jinja`, `model.gguf:tokenizer.chat_template`.
    pub source: String,
    /// The template's name when a file carries several (`default`, `tool_use`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub sha256: String,
    pub len: usize,
    /// The turn markup it uses: `chatml`, `llama3`, `gemma`, `mistral`, `phi3`, `deepseek`, or `other`.
    pub style: String,
    #[serde(skip)]
    pub text: String,
}

impl ChatTemplate {
    pub fn new(source: String, name: Option<String>, text: String) -> ChatTemplate {
        ChatTemplate {
            source,
            name,
            sha256: crate::util::sha256_hex(text.as_bytes()),
            len: text.len(),
            style: template_style(&text).to_owned(),
            text,
        }
    }
}

/// The turn markup a chat template uses, recognised by its control tokens.
pub fn template_style(t: &str) -> &'static str {
    if t.contains("<|im_start|>") {
        "chatml"
    } else if t.contains("<|start_header_id|>") {
        "llama3"
    } else if t.contains("<start_of_turn>") {
        "gemma"
    } else if t.contains("<｜User｜>") || t.contains("<｜Assistant｜>") {
        "deepseek"
    } else if t.contains("[INST]") {
        "mistral"
    } else if t.contains("<|user|>") && t.contains("<|end|>") {
        "phi3"
    } else {
        "other"
    }
}

fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        // Older files write special tokens as {"content": "<s>", …}.
        serde_json::Value::Object(m) => {
            m.get("content").and_then(|c| c.as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

/// Parses JSON text, or explains why it is not a JSON object.
pub fn parse_object(
    bytes: &[u8],
    file: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Finding> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(Finding::new(
            Code::ConfigInvalid,
            format!("`{file}` is not a JSON object"),
        )
        .in_file(file)),
        Err(e) => Err(Finding::new(
            Code::ConfigInvalid,
            format!("`{file}` is not valid JSON: {e}"),
        )
        .in_file(file)),
    }
}

/// Reads config.json.
pub fn model_config(m: &serde_json::Map<String, serde_json::Value>, file: &str) -> ModelConfig {
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let u = |k: &str| m.get(k).and_then(|v| v.as_u64());
    ModelConfig {
        file: file.to_owned(),
        architectures: m
            .get("architectures")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        model_type: s("model_type"),
        dtype: s("torch_dtype").or_else(|| s("dtype")),
        transformers_version: s("transformers_version"),
        vocab_size: u("vocab_size"),
        hidden_size: u("hidden_size"),
        num_hidden_layers: u("num_hidden_layers"),
        name_or_path: s("_name_or_path"),
    }
}

/// Reads tokenizer_config.json and the chat templates it carries.
pub fn tokenizer_config(
    m: &serde_json::Map<String, serde_json::Value>,
    file: &str,
) -> (TokenizerConfig, Vec<ChatTemplate>) {
    let cfg = TokenizerConfig {
        file: file.to_owned(),
        tokenizer_class: m
            .get("tokenizer_class")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        bos_token: m.get("bos_token").and_then(as_text),
        eos_token: m.get("eos_token").and_then(as_text),
        add_bos_token: m.get("add_bos_token").and_then(|v| v.as_bool()),
        add_eos_token: m.get("add_eos_token").and_then(|v| v.as_bool()),
    };
    (cfg, templates_in(m.get("chat_template"), file))
}

/// Templates from a `chat_template` value: a string, or a list of `{name, template}`.
pub fn templates_in(v: Option<&serde_json::Value>, file: &str) -> Vec<ChatTemplate> {
    match v {
        Some(serde_json::Value::String(t)) => {
            vec![ChatTemplate::new(file.to_owned(), None, t.clone())]
        }
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|it| {
                let name = it.get("name").and_then(|n| n.as_str()).map(str::to_owned);
                let text = it.get("template").and_then(|t| t.as_str())?;
                Some(ChatTemplate::new(file.to_owned(), name, text.to_owned()))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Findings across every template found: templates that differ (compared as the default template of
/// each source).
pub fn compare_templates(templates: &[ChatTemplate]) -> Vec<Finding> {
    let defaults: Vec<&ChatTemplate> = templates
        .iter()
        .filter(|t| t.name.as_deref().is_none_or(|n| n == "default"))
        .collect();
    let mut out = Vec::new();
    if let Some(first) = defaults.first() {
        for other in &defaults[1..] {
            if other.text.trim() != first.text.trim() {
                out.push(Finding::new(
                    Code::ChatTemplateMismatch,
                    format!(
                        "the chat template in `{}` (sha256 {}) differs from the one in `{}` (sha256 {})",
                        other.source,
                        &other.sha256[..12],
                        first.source,
                        &first.sha256[..12]
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_come_as_a_string_or_a_named_list() {
        let m = parse_object(br#"{"chat_template":[{"name":"default","template":"<|im_start|>"},{"name":"tool_use","template":"x"}],"eos_token":{"content":"</s>"}}"#, "tokenizer_config.json").unwrap();
        let (cfg, t) = tokenizer_config(&m, "tokenizer_config.json");
        assert_eq!(cfg.eos_token.as_deref(), Some("</s>"));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].style, "chatml");
        assert_eq!(t[1].name.as_deref(), Some("tool_use"));
    }

    #[test]
    fn differing_default_templates_are_a_finding() {
        let a = ChatTemplate::new("tokenizer_config.json".into(), None, "<|im_start|>a".into());
        let b = ChatTemplate::new(
            "m.gguf:tokenizer.chat_template".into(),
            None,
            "<|im_start|>b".into(),
        );
        assert_eq!(
            compare_templates(&[a.clone(), b])[0].code,
            Code::ChatTemplateMismatch
        );
        assert!(compare_templates(&[a.clone(), a]).is_empty());
    }

    #[test]
    fn styles_are_recognised_by_their_control_tokens() {
        assert_eq!(template_style("{{ '<start_of_turn>user' }}"), "gemma");
        assert_eq!(template_style("<|start_header_id|>"), "llama3");
        assert_eq!(template_style("{{ messages }}"), "other");
    }
}

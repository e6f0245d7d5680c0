//! Lineage: what a model says it descends from, and what its files show.
//!
//! Declared lineage is read from the card (`base_model`, `base_model_relation`) and GGUF metadata
//! (`general.base_model.*`, organisation, name). Evidence comes from fingerprints that a fine-tune rarely
//! changes: the tokenizer's vocabulary and merges, and the chat template. They are matched against a
//! small table of known families (`families.json`, built from real files by `scripts/gen-families.sh`).
//! A match that nothing declared is the "is this secretly a Qwen fine-tune?" finding.
//!
//! The vocabulary digest covers *regular* tokens only (GGUF token types normal and byte; for
//! tokenizer.json, the model vocabulary minus added tokens), in id order, length-prefixed. Control tokens,
//! added tokens and `[PAD…]` fillers vary between releases of one family and are left out, so a fine-tune
//! that adds tokens at the end still "extends" its family's vocabulary.

use crate::diag::{Code, Finding};
use crate::provenance::gguf::GgufFile;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fingerprint of one tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenizerFingerprint {
    /// Where it was read: `tokenizer.json` or `model.gguf`.
    pub source: String,
    /// `bpe`, `sentencepiece`, `unigram`, `wordpiece`, …
    pub kind: String,
    pub regular_tokens: usize,
    /// sha256 over the regular tokens.
    pub vocab_sha256: String,
    pub merges: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merges_sha256: Option<String>,
    /// sha256 over kind, vocabulary and merges together.
    pub fingerprint: String,
    #[serde(skip)]
    pub tokens: Vec<String>,
}

fn digest_strings<'a>(label: &str, items: impl Iterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    for s in items {
        h.update((s.len() as u32).to_le_bytes());
        h.update(s.as_bytes());
    }
    crate::util::hex(&h.finalize())
}

impl TokenizerFingerprint {
    fn new(
        source: String,
        kind: &str,
        tokens: Vec<String>,
        merges: &[String],
    ) -> TokenizerFingerprint {
        let vocab_sha256 = digest_strings("modelvet-vocab-v1", tokens.iter().map(String::as_str));
        let merges_sha256 = (!merges.is_empty())
            .then(|| digest_strings("modelvet-merges-v1", merges.iter().map(String::as_str)));
        let fingerprint = digest_strings(
            "modelvet-tokenizer-v1",
            [
                kind,
                vocab_sha256.as_str(),
                merges_sha256.as_deref().unwrap_or(""),
            ]
            .into_iter(),
        );
        TokenizerFingerprint {
            source,
            kind: kind.to_owned(),
            regular_tokens: tokens.len(),
            vocab_sha256,
            merges: merges.len(),
            merges_sha256,
            fingerprint,
            tokens,
        }
    }

    /// The digest of the first `n` regular tokens (for "extends" matches).
    fn prefix_digest(&self, n: usize) -> Option<String> {
        (n <= self.tokens.len()).then(|| {
            digest_strings(
                "modelvet-vocab-v1",
                self.tokens[..n].iter().map(String::as_str),
            )
        })
    }

    /// From GGUF tokenizer metadata; `None` when the file carries no vocabulary.
    pub fn from_gguf(g: &GgufFile, rel: &str) -> Option<TokenizerFingerprint> {
        let crate::provenance::gguf::Array::Str(tokens) = g.get_array("tokenizer.ggml.tokens")?
        else {
            return None;
        };
        let types = g
            .get_array("tokenizer.ggml.token_type")
            .and_then(|a| a.as_i64s());
        let regular: Vec<String> = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                types
                    .as_ref()
                    .and_then(|t| t.get(*i))
                    .is_none_or(|&ty| ty == 1 || ty == 6)
            })
            .map(|(_, t)| t.clone())
            .collect();
        let merges = match g.get_array("tokenizer.ggml.merges") {
            Some(crate::provenance::gguf::Array::Str(m)) => m.clone(),
            _ => Vec::new(),
        };
        let kind = match g.get_str("tokenizer.ggml.model") {
            Some("gpt2") => "bpe",
            Some("llama") => "sentencepiece",
            Some("bert") => "wordpiece",
            Some("t5") => "unigram",
            Some(other) => other,
            None => "unknown",
        };
        Some(TokenizerFingerprint::new(
            rel.to_owned(),
            kind,
            regular,
            &merges,
        ))
    }

    /// From a tokenizer.json (Hugging Face tokenizers format).
    pub fn from_tokenizer_json(v: &serde_json::Value, rel: &str) -> Option<TokenizerFingerprint> {
        let model = v.get("model")?;
        let added: std::collections::HashSet<u64> = v
            .get("added_tokens")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("id").and_then(|i| i.as_u64()))
                    .collect()
            })
            .unwrap_or_default();
        let mut vocab: Vec<(u64, String)> = match model.get("vocab")? {
            serde_json::Value::Object(m) => m
                .iter()
                .filter_map(|(k, id)| Some((id.as_u64()?, k.clone())))
                .collect(),
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Some((i as u64, e.get(0)?.as_str()?.to_owned())))
                .collect(),
            _ => return None,
        };
        vocab.sort();
        let regular: Vec<String> = vocab
            .into_iter()
            .filter(|(id, _)| !added.contains(id))
            .map(|(_, t)| t)
            .collect();
        let merges: Vec<String> = model
            .get("merges")
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|m| match m {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Array(p) if p.len() == 2 => {
                            Some(format!("{} {}", p[0].as_str()?, p[1].as_str()?))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kind = match model.get("type").and_then(|t| t.as_str()) {
            Some("BPE") => "bpe",
            Some("Unigram") => "unigram",
            Some("WordPiece") => "wordpiece",
            Some("WordLevel") => "wordlevel",
            _ => "unknown",
        };
        Some(TokenizerFingerprint::new(
            rel.to_owned(),
            kind,
            regular,
            &merges,
        ))
    }
}

/// A known model family, from `families.json`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Family {
    /// Short name used in messages: "Qwen2", "SmolLM2", "Gemma 3".
    pub family: String,
    pub organization: String,
    /// The real file the entry was built from.
    pub built_from: String,
    /// Words that, found in a declared name or base model, mean the family is declared.
    pub keywords: Vec<String>,
    pub tokenizer_kind: String,
    pub regular_tokens: usize,
    pub vocab_sha256: String,
    #[serde(default)]
    pub merges_sha256: Option<String>,
    pub fingerprint: String,
    /// (index, token) pairs sampled across the vocabulary, for similarity when the digests differ.
    pub sample: Vec<(usize, String)>,
    #[serde(default)]
    pub chat_template_sha256: Vec<String>,
}

impl Family {
    /// A table entry built from a real model's tokenizer and chat templates (`modelvet family-entry`).
    pub fn from_evidence(
        family: &str,
        organization: &str,
        keywords: &[String],
        fp: &TokenizerFingerprint,
        chat_template_sha256: Vec<String>,
    ) -> Family {
        const SAMPLES: usize = 64;
        let n = fp.tokens.len();
        let sample = (0..SAMPLES.min(n))
            .map(|k| k * n / SAMPLES.min(n))
            .map(|i| (i, fp.tokens[i].clone()))
            .collect();
        Family {
            family: family.to_owned(),
            organization: organization.to_owned(),
            built_from: fp.source.clone(),
            keywords: keywords.to_vec(),
            tokenizer_kind: fp.kind.clone(),
            regular_tokens: fp.regular_tokens,
            vocab_sha256: fp.vocab_sha256.clone(),
            merges_sha256: fp.merges_sha256.clone(),
            fingerprint: fp.fingerprint.clone(),
            sample,
            chat_template_sha256,
        }
    }
}

/// The family table shipped in the binary.
pub fn families() -> &'static [Family] {
    static TABLE: std::sync::OnceLock<Vec<Family>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("families.json"))
            .expect("families.json is valid (checked by a test)")
    })
}

/// How closely a piece of evidence matches a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FamilyMatch {
    pub family: String,
    pub organization: String,
    /// What matched: `tokenizer` or `chat-template`.
    pub evidence: String,
    /// The file the evidence came from.
    pub source: String,
    /// `identical` (vocabulary and merges), `same-vocabulary`, `extends` (the family's vocabulary plus
    /// more tokens), `similar` (most sampled tokens agree), or `identical-template`.
    pub level: String,
    /// Share of sampled tokens that agree (1.0 for digest matches).
    pub similarity: f64,
    /// One sentence for people: "tokenizer matches the Qwen2 family (identical vocabulary and merges)".
    pub statement: String,
}

/// Matches one tokenizer against the table. Similar matches need 90% of sampled tokens to agree.
pub fn match_tokenizer(fp: &TokenizerFingerprint, table: &[Family]) -> Vec<FamilyMatch> {
    let mut out = Vec::new();
    for fam in table {
        let (level, similarity, detail) = if fp.fingerprint == fam.fingerprint {
            (
                "identical",
                1.0,
                "identical vocabulary and merges".to_owned(),
            )
        } else if fp.vocab_sha256 == fam.vocab_sha256 {
            (
                "same-vocabulary",
                1.0,
                "same vocabulary, different merges".to_owned(),
            )
        } else if fp.regular_tokens > fam.regular_tokens
            && fp.prefix_digest(fam.regular_tokens).as_deref() == Some(&fam.vocab_sha256)
        {
            (
                "extends",
                1.0,
                format!(
                    "its vocabulary plus {} more tokens",
                    fp.regular_tokens - fam.regular_tokens
                ),
            )
        } else {
            let agree = fam
                .sample
                .iter()
                .filter(|(i, t)| fp.tokens.get(*i) == Some(t))
                .count();
            let sim = if fam.sample.is_empty() {
                0.0
            } else {
                agree as f64 / fam.sample.len() as f64
            };
            if sim < 0.9 {
                continue;
            }
            (
                "similar",
                sim,
                format!("{:.0}% of sampled tokens agree", sim * 100.0),
            )
        };
        out.push(FamilyMatch {
            family: fam.family.clone(),
            organization: fam.organization.clone(),
            evidence: "tokenizer".into(),
            source: fp.source.clone(),
            level: level.into(),
            similarity,
            statement: format!("tokenizer matches the {} family ({detail})", fam.family),
        });
    }
    out
}

/// Matches a chat template's sha256 against the table.
pub fn match_template(sha256: &str, source: &str, table: &[Family]) -> Vec<FamilyMatch> {
    table
        .iter()
        .filter(|f| f.chat_template_sha256.iter().any(|s| s == sha256))
        .map(|f| FamilyMatch {
            family: f.family.clone(),
            organization: f.organization.clone(),
            evidence: "chat-template".into(),
            source: source.to_owned(),
            level: "identical-template".into(),
            similarity: 1.0,
            statement: format!("chat template is identical to the {} family's", f.family),
        })
        .collect()
}

/// What the files declare about where the model comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Declared {
    /// Base models from the card and GGUF `general.base_model.*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Organisations and authors (`general.organization`, `general.author`, GGUF base model organisations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// Names the model gives itself (`general.name`, `general.basename`, config `_name_or_path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

impl Declared {
    /// Reads `general.base_model.count` / `.N.name` / `.N.organization` / `.N.repo_url` and the model's
    /// own name and organisation.
    pub fn add_gguf(&mut self, g: &GgufFile) {
        let n = g.get_u64("general.base_model.count").unwrap_or(0).min(64);
        for i in 0..n {
            let key = |k: &str| {
                g.get_str(&format!("general.base_model.{i}.{k}"))
                    .map(str::to_owned)
            };
            let name = key("repo_url").or_else(|| match (key("organization"), key("name")) {
                (Some(o), Some(n)) => Some(format!("{o}/{n}")),
                (None, Some(n)) => Some(n),
                _ => None,
            });
            if let Some(name) = name {
                push_unique(&mut self.base_models, name);
            }
            if let Some(org) = key("organization") {
                push_unique(&mut self.organizations, org);
            }
        }
        for k in ["general.organization", "general.author"] {
            if let Some(v) = g.get_str(k) {
                push_unique(&mut self.organizations, v.to_owned());
            }
        }
        for k in ["general.name", "general.basename"] {
            if let Some(v) = g.get_str(k) {
                push_unique(&mut self.names, v.to_owned());
            }
        }
    }

    fn mentions(&self, keywords: &[String]) -> (bool, bool) {
        let hit = |s: &String| {
            let s = s.to_lowercase();
            keywords.iter().any(|k| s.contains(&k.to_lowercase()))
        };
        let in_base = self.base_models.iter().any(hit);
        let anywhere = in_base || self.names.iter().any(hit) || self.organizations.iter().any(hit);
        (in_base, anywhere)
    }
}

pub fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.trim().is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

/// Declared lineage, fingerprints and family matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lineage {
    pub declared: Declared,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokenizers: Vec<TokenizerFingerprint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<FamilyMatch>,
    /// Weight fingerprints the weights match (same weights or derived), with their evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<crate::provenance::weights::WeightMatch>,
}

/// A weight match whose family nothing declares is `lineage-weights-undeclared`. A fingerprint's keywords
/// (else its family name) are looked for in the declared base models, names and organisations.
pub fn judge_weights(
    lineage: &Lineage,
    fps: &[crate::provenance::weights::fingerprint::Fingerprint],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in &lineage.weights {
        if !seen.insert(m.family.clone()) {
            continue;
        }
        let keywords = fps
            .iter()
            .find(|f| f.family == m.family)
            .map(|f| f.keywords.clone())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| vec![m.family.clone()]);
        let (_, anywhere) = lineage.declared.mentions(&keywords);
        if !anywhere {
            out.push(
                Finding::new(
                    Code::LineageWeightsUndeclared,
                    format!(
                        "{}, but no base model, name or organisation in the card or metadata mentions {}",
                        m.statement, m.family
                    ),
                )
                .in_file(&m.source),
            );
        }
    }
    out
}

/// Compares evidence with declarations: a matched family that nothing names is `lineage-undeclared`; a
/// declared base model from another family is `lineage-conflict`.
pub fn judge(lineage: &Lineage, table: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in lineage.matches.iter().filter(|m| m.evidence == "tokenizer") {
        if !seen.insert(m.family.clone()) {
            continue;
        }
        let Some(fam) = table.iter().find(|f| f.family == m.family) else {
            continue;
        };
        let (in_base, anywhere) = lineage.declared.mentions(&fam.keywords);
        if !lineage.declared.base_models.is_empty() && !in_base && !anywhere {
            out.push(
                Finding::new(
                    Code::LineageConflict,
                    format!(
                        "{}, but the declared base model{} `{}` {} not of that family",
                        m.statement,
                        if lineage.declared.base_models.len() > 1 {
                            "s"
                        } else {
                            ""
                        },
                        lineage.declared.base_models.join("`, `"),
                        if lineage.declared.base_models.len() > 1 {
                            "are"
                        } else {
                            "is"
                        }
                    ),
                )
                .in_file(&m.source),
            );
        } else if !anywhere {
            out.push(
                Finding::new(
                    Code::LineageUndeclared,
                    format!("{}, but no base model, name or organisation in the card or metadata mentions {}", m.statement, fam.family),
                )
                .in_file(&m.source),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(tokens: &[&str], merges: &[&str]) -> TokenizerFingerprint {
        TokenizerFingerprint::new(
            "tokenizer.json".into(),
            "bpe",
            tokens.iter().map(|s| s.to_string()).collect(),
            &merges.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    fn family_of(f: &TokenizerFingerprint, name: &str) -> Family {
        Family {
            family: name.into(),
            organization: "Org".into(),
            built_from: "test".into(),
            keywords: vec![name.to_lowercase()],
            tokenizer_kind: f.kind.clone(),
            regular_tokens: f.regular_tokens,
            vocab_sha256: f.vocab_sha256.clone(),
            merges_sha256: f.merges_sha256.clone(),
            fingerprint: f.fingerprint.clone(),
            sample: f.tokens.iter().cloned().enumerate().collect(),
            chat_template_sha256: vec![],
        }
    }

    #[test]
    fn the_shipped_family_table_parses_and_names_the_three_real_families() {
        let names: Vec<_> = families().iter().map(|f| f.family.as_str()).collect();
        for want in ["SmolLM2", "Qwen2", "Gemma 3"] {
            assert!(names.contains(&want), "{names:?}");
        }
    }

    #[test]
    fn identical_extended_and_similar_vocabularies_match_at_their_level() {
        let base = fp(
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
            &["a b"],
        );
        let table = [family_of(&base, "Fam")];
        assert_eq!(match_tokenizer(&base, &table)[0].level, "identical");
        let extended = fp(
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"],
            &["a b"],
        );
        assert_eq!(match_tokenizer(&extended, &table)[0].level, "extends");
        let one_changed = fp(
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "X"],
            &["a b"],
        );
        let m = match_tokenizer(&one_changed, &table);
        assert_eq!((m[0].level.as_str(), m[0].similarity), ("similar", 0.9));
        let different = fp(&["x", "y", "z"], &[]);
        assert!(match_tokenizer(&different, &table).is_empty());
    }

    #[test]
    fn a_family_nobody_declared_is_undeclared_and_a_foreign_base_model_conflicts() {
        let base = fp(&["a", "b"], &[]);
        let table = [family_of(&base, "Qwen2")];
        let mut lineage = Lineage {
            matches: match_tokenizer(&base, &table),
            ..Default::default()
        };
        assert_eq!(judge(&lineage, &table)[0].code, Code::LineageUndeclared);
        lineage.declared.base_models = vec!["meta-llama/Llama-3.1-8B".into()];
        assert_eq!(judge(&lineage, &table)[0].code, Code::LineageConflict);
        lineage.declared.base_models = vec!["Qwen/Qwen2.5-7B".into()];
        assert!(judge(&lineage, &table).is_empty());
    }

    #[test]
    fn tokenizer_json_and_gguf_style_merges_give_the_same_fingerprint() {
        let as_strings = serde_json::json!({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": ["a b"]}, "added_tokens": [{"id": 3, "content": "<s>"}]});
        let as_pairs = serde_json::json!({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}});
        let x = TokenizerFingerprint::from_tokenizer_json(&as_strings, "t.json").unwrap();
        let y = TokenizerFingerprint::from_tokenizer_json(&as_pairs, "t.json").unwrap();
        assert_eq!(x.fingerprint, y.fingerprint);
        assert_eq!(x.regular_tokens, 3);
    }
}

//! The provenance part of the view: files, format summaries, the card's front matter, declared lineage
//! and licenses, and the findings, most severe first. Every field is always present, even where the record
//! omits an empty one, so the templates can treat undefined variables as errors; the cost is copying
//! these parts of the record once more.

use crate::record::Audit;
use serde::Serialize;

/// The provenance section. Every field is always present (the record itself omits empty ones), so the
/// templates can run with undefined variables as errors.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceView {
    pub files: Vec<crate::provenance::FileRecord>,
    pub root_digest: String,
    pub total_bytes: u64,
    pub gguf: Vec<crate::provenance::gguf::GgufSummary>,
    pub safetensors: Vec<crate::provenance::safetensors::SafetensorsSummary>,
    /// The card's file and its front matter as (key, value) rows, lists joined; `None`: no card.
    pub card: Option<CardView>,
    pub declared_names: Vec<String>,
    pub declared_organizations: Vec<String>,
    pub declared_base_models: Vec<String>,
    pub declared_relation: Option<String>,
    pub matches: Vec<crate::provenance::lineage::FamilyMatch>,
    /// Weight fingerprints the weights matched, with their evidence.
    pub weights: Vec<WeightView>,
    pub obligations: Vec<crate::provenance::license::Obligations>,
}

/// One weight-fingerprint match as the HTML shows it: numbers already formatted.
#[derive(Debug, Clone, Serialize)]
pub struct WeightView {
    pub family: String,
    pub source: String,
    pub verdict: &'static str,
    pub score: String,
    pub method: String,
    pub direct: String,
    pub invariant: String,
    pub embedding: String,
    pub null: String,
    pub reason: String,
}

impl WeightView {
    fn of(m: &crate::provenance::weights::WeightMatch) -> WeightView {
        let measure = |m: &Option<crate::provenance::weights::Measure>| {
            m.as_ref().map_or_else(
                || "not comparable".to_owned(),
                |m| {
                    format!(
                        "median {:.3} (min {:.3}) over {}",
                        m.median, m.min, m.compared
                    )
                },
            )
        };
        WeightView {
            family: m.family.clone(),
            source: m.source.clone(),
            verdict: m.verdict.label(),
            score: format!("{:.3}", m.score),
            method: m.method.clone(),
            direct: measure(&m.direct),
            invariant: measure(&m.invariant),
            embedding: format!(
                "{} shared anchors, Gram {}",
                m.embedding.shared_anchors,
                m.embedding.gram.map_or("–".into(), |g| format!("{g:.3}"))
            ),
            null: m.null.as_ref().map_or_else(
                || "none (no two layers of the same shape)".to_owned(),
                |n| format!("median {:.3}, max {:.3}: {}", n.median, n.max, n.source),
            ),
            reason: m.reason.clone(),
        }
    }
}

/// A model card's front matter.
#[derive(Debug, Clone, Serialize)]
pub struct CardView {
    pub file: String,
    pub has_front_matter: bool,
    pub rows: Vec<(String, String)>,
}

impl CardView {
    fn of(c: &crate::provenance::card::Card) -> CardView {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut list = |k: &str, v: &[String]| {
            if !v.is_empty() {
                rows.push((k.to_owned(), v.join(", ")));
            }
        };
        list("license", &c.license);
        list("license_name", c.license_name.as_slice());
        list("license_link", c.license_link.as_slice());
        list("base_model", &c.base_model);
        list("base_model_relation", c.base_model_relation.as_slice());
        list("datasets", &c.datasets);
        list("language", &c.language);
        list("pipeline_tag", c.pipeline_tag.as_slice());
        list("library_name", c.library_name.as_slice());
        list("tags", &c.tags);
        for (k, v) in &c.extra {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            rows.push((k.clone(), text));
        }
        CardView {
            file: c.file.clone(),
            has_front_matter: c.has_front_matter,
            rows,
        }
    }
}

impl ProvenanceView {
    pub(super) fn of(p: &crate::provenance::Provenance) -> ProvenanceView {
        let d = &p.lineage.declared;
        ProvenanceView {
            files: p.files.clone(),
            root_digest: p.root_digest.clone(),
            total_bytes: p.total_bytes,
            gguf: p.gguf.clone(),
            safetensors: p.safetensors.clone(),
            card: p.card.as_ref().map(CardView::of),
            declared_names: d.names.clone(),
            declared_organizations: d.organizations.clone(),
            declared_base_models: d.base_models.clone(),
            declared_relation: d.relation.clone(),
            matches: p.lineage.matches.clone(),
            weights: p.lineage.weights.iter().map(WeightView::of).collect(),
            obligations: p.license.obligations.clone(),
        }
    }
}

/// One declared license and where it was read.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseSourceView {
    pub kind: &'static str,
    pub file: String,
    /// The statement as recorded (raw, id, name, link, confidence, method).
    #[serde(flatten)]
    pub declared: crate::provenance::license::DeclaredLicense,
}

/// Each declared license with the kind of place it was read from.
pub(super) fn license_sources(audit: &Audit) -> Vec<LicenseSourceView> {
    audit
        .provenance
        .license
        .declared
        .iter()
        .map(|d| {
            use crate::provenance::license::LicenseSource::*;
            LicenseSourceView {
                kind: match &d.source {
                    Card { .. } => "model card",
                    Gguf { .. } => "GGUF metadata",
                    Config { .. } => "config file",
                    Text { .. } => "license text",
                },
                file: d.source.file().to_owned(),
                declared: d.clone(),
            }
        })
        .collect()
}

/// A finding row.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub file: Option<String>,
}

/// The provenance findings, errors first, then warnings, then the rest (a stable sort: record order
/// within a severity).
pub(super) fn findings(audit: &Audit) -> Vec<FindingView> {
    let mut f: Vec<FindingView> = audit
        .provenance
        .findings
        .iter()
        .map(|f| FindingView {
            code: f.code.as_str(),
            severity: f.severity.as_str(),
            message: f.message.clone(),
            file: f.file.clone(),
        })
        .collect();
    let rank = |s: &str| match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    f.sort_by_key(|f| rank(f.severity));
    f
}

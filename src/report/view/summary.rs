//! The summary at the top of the report: the overall banner, key points, identity table, quick facts,
//! licenses and the headline behavior chart with its figures. Each piece is a small function of the
//! record's summary, written to be read next to the template that shows it; none of them re-derives a
//! judgement the summary already made (the banner is only the worst key point's level).

use super::chart::RateChart;
use super::Field;
use crate::probe::record::Rate;
use crate::record::{Audit, KeyPoint, Level};
use crate::util::fmt::{human_bytes, points};
use serde::Serialize;

/// One key point with its level spelled out, so colour is never the only signal.
#[derive(Debug, Clone, Serialize)]
pub struct PointView {
    /// `ok`, `note` or `concern` (the CSS class).
    pub level: &'static str,
    /// `OK`, `Note` or `Concern` (the visible label).
    pub label: &'static str,
    pub area: String,
    pub text: String,
}

fn level_names(l: Level) -> (&'static str, &'static str) {
    match l {
        Level::Ok => ("ok", "OK"),
        Level::Note => ("note", "Note"),
        Level::Concern => ("concern", "Concern"),
    }
}

impl PointView {
    pub(super) fn of(k: &KeyPoint) -> PointView {
        let (level, label) = level_names(k.level);
        PointView {
            level,
            label,
            area: k.area.clone(),
            text: k.text.clone(),
        }
    }
}

/// A license with what it obliges.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseView {
    pub id: String,
    pub obligations: Option<crate::provenance::license::Obligations>,
}

/// The identity table: what the model is, how big, and which bytes were audited.
pub(super) fn identity(audit: &Audit) -> Vec<Field> {
    let s = &audit.summary;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    vec![
        Field {
            label: "Name",
            value: s.name.clone(),
        },
        Field {
            label: "Reference",
            value: s.reference.clone(),
        },
        Field {
            label: "Architecture",
            value: opt(&s.architecture),
        },
        Field {
            label: "Parameters",
            value: s
                .parameters
                .map(crate::util::fmt::human_count)
                .unwrap_or_else(|| "—".into()),
        },
        Field {
            label: "Format",
            value: opt(&s.weights_format),
        },
        Field {
            label: "Size",
            value: format!(
                "{} in {} files",
                human_bytes(s.total_bytes),
                audit.provenance.files.len()
            ),
        },
        Field {
            label: "Main weights",
            value: opt(&s.weights_file),
        },
        Field {
            label: "Weights sha256",
            value: opt(&s.weights_sha256),
        },
        Field {
            label: "Root digest",
            value: s.root_digest.clone(),
        },
    ]
}

/// The declared licenses, each with its obligations when the license is known.
pub(super) fn licenses(audit: &Audit) -> Vec<LicenseView> {
    audit
        .summary
        .licenses
        .iter()
        .map(|id| LicenseView {
            id: id.clone(),
            obligations: audit
                .provenance
                .license
                .obligations
                .iter()
                .find(|o| &o.id == id)
                .cloned(),
        })
        .collect()
}

/// The banner: the most serious key-point level, in words.
pub(super) fn overall(key_points: &[KeyPoint]) -> PointView {
    let worst = key_points
        .iter()
        .map(|k| k.level)
        .max()
        .unwrap_or(Level::Ok);
    let (level, label) = level_names(worst);
    PointView {
        level,
        label,
        area: "overall".into(),
        text: match worst {
            Level::Concern => "At least one key point is a concern: read them first.",
            Level::Note => "No concerns; some points are worth knowing.",
            Level::Ok => "No concerns and nothing of note.",
        }
        .into(),
    }
}

/// The headline chart (the summary's behavior rates) and the figures beside it; nothing when the
/// behavior was not audited.
pub(super) fn headline(audit: &Audit) -> (Option<RateChart>, Vec<Field>) {
    match &audit.summary.behavior {
        Some(b) => {
            let rows: Vec<(String, &Rate)> = [
                ("Censoring, sensitive", &b.sensitive_censoring),
                ("Censoring, controls", &b.control_censoring),
                ("Refused, sensitive", &b.sensitive_refused),
                ("State narrative, sensitive", &b.sensitive_narrative),
                ("Candid, sensitive", &b.sensitive_candid),
                ("Refused, harmless", &b.harmless_refused),
                ("Refused, disallowed", &b.disallowed_refused),
            ]
            .into_iter()
            .filter_map(|(l, r)| r.as_ref().map(|r| (l.to_owned(), r)))
            .collect();
            let mut figs = Vec::new();
            if let Some(d) = b.selectivity {
                figs.push(Field {
                    label: "Selectivity (sensitive − controls)",
                    value: format!("{} points", points(d)),
                });
            }
            if let Some(g) = b.language_gap {
                figs.push(Field {
                    label: "Language gap (Chinese − English)",
                    value: format!("{} points", points(g)),
                });
            }
            if let (Some(k), Some(mg)) = (b.stance_state_preferred, b.stance_margin) {
                figs.push(Field {
                    label: "Stance: state-aligned preferred",
                    value: format!(
                        "{k} of {} (mean margin {mg:+.3} toward candid)",
                        b.stance_total
                    ),
                });
            }
            figs.push(Field {
                label: "Answers classified",
                value: format!("{} ({} engine errors)", b.answers, b.errors),
            });
            (Some(RateChart::new(rows)), figs)
        }
        None => (None, Vec::new()),
    }
}

/// The line under the title: architecture, parameters, format, size, license, findings, probes.
pub(super) fn quick_facts(audit: &Audit) -> Vec<String> {
    let s = &audit.summary;
    let mut quick_facts: Vec<String> = [
        s.architecture.clone(),
        s.parameters
            .map(|p| format!("{} parameters", crate::util::fmt::human_count(p))),
        s.weights_format.clone(),
        Some(human_bytes(s.total_bytes)),
    ]
    .into_iter()
    .flatten()
    .collect();
    quick_facts.push(if s.licenses.is_empty() {
        "no license declared".into()
    } else {
        format!("license {}", s.licenses.join(" + "))
    });
    quick_facts.push(format!(
        "{}, {}",
        plural(s.findings.error, "error"),
        plural(s.findings.warning, "warning")
    ));
    quick_facts.push(match &audit.behavior {
        Some(run) => format!("{} probes asked", run.results.len()),
        None => "behavior not audited".into(),
    });
    quick_facts
}

/// `1 error`, `2 errors`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

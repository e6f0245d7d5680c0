//! The view model of the HTML report (and the chart and text pieces the compare page shares): everything
//! the templates show, already sorted, grouped and measured, so templates only format ("templates format,
//! never decide"). Nothing here builds HTML: every string is plain text that the templates escape.
//!
//! This file holds the whole page's model, [`ReportView`], and its assembly; the parts live beside it:
//! `chart` (geometry in the SVG's own coordinates), `highlight` (answers split at evidence spans),
//! `summary` (banner, identity, quick facts, headline), `provenance`, `behavior` and `transcript`. The
//! parts are private modules re-exported here, so `report::view::X` stays the one path to every type.

mod behavior;
mod chart;
mod highlight;
mod opinions;
mod provenance;
mod summary;
mod transcript;

pub use behavior::{BehaviorView, SelectivityRow, Unstable};
pub(crate) use chart::percent_ticks;
pub use chart::{
    short, DivergingChart, DivergingRow, Heading, RateChart, RateRow, RateView, Segment,
    StackChart, StackRow, Tick, BAR_W, BAR_X, CHART_WIDTH, ROW_H, TOP,
};
pub use highlight::{highlight, TextPiece, MAX_SPANS};
pub use opinions::{AgreementView, Disagreement, OpinionsView, ReviewView};
pub use provenance::{CardView, FindingView, LicenseSourceView, ProvenanceView};
pub use summary::{LicenseView, PointView};
pub use transcript::{OptionView, SuiteTranscripts, Transcript};

use crate::diag::Severity;
use crate::record::Audit;
use crate::util::time::utc_minutes;
use serde::Serialize;

/// A small labelled value for the identity and settings tables.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// The whole single-model report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub title: String,
    pub tool: String,
    pub created: String,
    /// The most serious key-point level, for the banner.
    pub overall: PointView,
    pub identity: Vec<Field>,
    /// One line under the title: architecture, size, format, license, findings.
    pub quick_facts: Vec<String>,
    /// Set when the behavior run asked only part of each suite: its figures are a quick look.
    pub partial: Option<String>,
    pub licenses: Vec<LicenseView>,
    pub key_points: Vec<PointView>,
    /// Findings, most severe first; `top_findings` is the first few for the summary.
    pub findings: Vec<FindingView>,
    pub top_findings: Vec<FindingView>,
    pub finding_counts: crate::record::FindingCounts,
    pub headline: Option<RateChart>,
    pub headline_figures: Vec<Field>,
    pub behavior_skipped: Option<String>,
    /// The policy gate's result as recorded, when the audit ran with a policy.
    pub gate: Option<crate::record::GateReport>,
    pub provenance: ProvenanceView,
    pub license_sources: Vec<LicenseSourceView>,
    pub behavior: Option<BehaviorView>,
    /// The judge's and the reviewers' opinions, when there are any.
    pub opinions: Option<OpinionsView>,
    pub transcripts: Vec<SuiteTranscripts>,
    pub timings: crate::record::Timings,
}

impl ReportView {
    pub fn of(audit: &Audit) -> ReportView {
        let s = &audit.summary;
        let findings = provenance::findings(audit);
        let (headline, headline_figures) = summary::headline(audit);
        ReportView {
            quick_facts: summary::quick_facts(audit),
            partial: audit
                .behavior
                .as_ref()
                .and_then(|r| r.settings.limit)
                .map(|l| {
                    format!(
                        "only the first {l} probes of each suite were asked: the behavior figures are a quick look, not an audit to quote"
                    )
                }),
            title: s.name.clone(),
            tool: format!("{} {}", audit.tool.name, audit.tool.version),
            created: utc_minutes(audit.created_unix),
            overall: summary::overall(&s.key_points),
            identity: summary::identity(audit),
            licenses: summary::licenses(audit),
            key_points: s.key_points.iter().map(PointView::of).collect(),
            top_findings: findings
                .iter()
                .filter(|f| f.severity != Severity::Info.as_str())
                .take(5)
                .cloned()
                .collect(),
            findings,
            finding_counts: s.findings.clone(),
            headline,
            headline_figures,
            behavior_skipped: audit.behavior.is_none().then(|| {
                audit
                    .behavior_skipped
                    .clone()
                    .unwrap_or_else(|| "no probe run".into())
            }),
            gate: audit.gate.clone(),
            provenance: ProvenanceView::of(&audit.provenance),
            license_sources: provenance::license_sources(audit),
            behavior: audit.behavior.as_ref().map(behavior::behavior_view),
            opinions: audit.behavior.as_ref().and_then(opinions::opinions_view),
            transcripts: audit
                .behavior
                .as_ref()
                .map(transcript::transcripts)
                .unwrap_or_default(),
            timings: audit.timings.clone(),
        }
    }
}

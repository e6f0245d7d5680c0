//! The second-opinions section: who judged the answers (model, rubric and its sha256) and who reviewed
//! them, how far each pair of opinions agrees (exact share, Cohen's κ, confusion matrix, as recorded), and
//! every answer on which they differ, listed first with each side's reason.

use super::transcript::anchor;
use crate::probe::eval::LABELS;
use crate::probe::record::{Agreement, JudgeInfo, ProbeRun, ReviewImport, SecondOpinions};
use serde::Serialize;

/// The section.
#[derive(Debug, Clone, Serialize)]
pub struct OpinionsView {
    pub counts: SecondOpinions,
    pub judge: Option<JudgeInfo>,
    pub reviews: Vec<ReviewView>,
    pub agreements: Vec<AgreementView>,
    /// Answers whose opinions differ, in run order.
    pub disagreements: Vec<Disagreement>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub import: ReviewImport,
    pub imported: String,
}

/// One pair of opinions.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementView {
    pub first: &'static str,
    pub second: &'static str,
    pub agreement: Agreement,
    /// The verdict names, in matrix order.
    pub labels: Vec<&'static str>,
}

/// One answer the opinions differ on.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub anchor: String,
    pub probe: String,
    pub repeat: u32,
    pub lang: String,
    pub rules: String,
    pub rules_reason: String,
    /// `answered` … or `judge-error`; empty when not judged.
    pub judge: String,
    pub judge_reason: String,
    pub review: String,
    pub reviewer: String,
    pub note: String,
    pub overturned: bool,
    /// The headline verdict and where it came from.
    pub headline: String,
    pub headline_from: &'static str,
}

pub(super) fn opinions_view(run: &ProbeRun) -> Option<OpinionsView> {
    let counts = run.metrics.second_opinions.clone()?;
    let agreements = counts
        .agreement
        .iter()
        .map(|a| AgreementView {
            first: a.first.as_str(),
            second: a.second.as_str(),
            agreement: a.clone(),
            labels: LABELS.iter().map(|v| v.as_str()).collect(),
        })
        .collect();
    let mut disagreements = Vec::new();
    for r in &run.results {
        let (Some(rules), Some(headline)) = (r.rule_verdict(), r.verdict()) else {
            continue;
        };
        let judge = r.judge.as_ref().map(|j| j.label());
        let review = r.review.as_ref().map(|v| v.label.as_str());
        let opinions: Vec<&str> = [Some(rules.as_str()), judge, review]
            .into_iter()
            .flatten()
            .collect();
        if opinions.iter().all(|o| *o == rules.as_str()) {
            continue;
        }
        let reason = match &r.outcome {
            crate::probe::record::Outcome::Generated { classification, .. } => {
                classification.reason.clone()
            }
            _ => String::new(),
        };
        disagreements.push(Disagreement {
            anchor: anchor(&r.probe, r.repeat),
            probe: r.probe.clone(),
            repeat: r.repeat,
            lang: r.lang.clone(),
            rules: rules.as_str().into(),
            rules_reason: reason,
            judge: judge.unwrap_or_default().into(),
            judge_reason: r
                .judge
                .as_ref()
                .map(|j| j.reason.clone())
                .unwrap_or_default(),
            review: review.unwrap_or_default().into(),
            reviewer: r
                .review
                .as_ref()
                .map(|v| v.reviewer.clone())
                .unwrap_or_default(),
            note: r
                .review
                .as_ref()
                .map(|v| v.note.clone())
                .unwrap_or_default(),
            overturned: r.review.as_ref().is_some_and(|v| v.overturned()),
            headline: headline.as_str().into(),
            headline_from: r.verdict_from.as_str(),
        });
    }
    Some(OpinionsView {
        counts,
        judge: run.judge.clone(),
        reviews: run
            .reviews
            .iter()
            .map(|i| ReviewView {
                import: i.clone(),
                imported: crate::util::time::utc_minutes(i.imported_unix),
            })
            .collect(),
        agreements,
        disagreements,
    })
}

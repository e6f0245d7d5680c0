//! The view model of the compare page: several audit records side by side — provenance, censoring per
//! topic, language gap, selectivity and stance per model, caveats when the runs differ, and the probes
//! the models judged differently. Like [`super::view`], it only measures and sorts; templates format.

use super::view::{
    highlight, percent_ticks, short, DivergingChart, RateView, TextPiece, Tick, TOP,
};
use crate::probe::record::{Outcome, ProbeResult, ProbeRun};
use crate::record::{Audit, Level};
use serde::Serialize;

/// One model's column of the compare page.
#[derive(Debug, Clone, Serialize)]
pub struct CompareModel {
    /// `m1`, `m2`, … (the CSS class of its bars).
    pub key: String,
    /// `A`, `B`, … so models with the same name stay apart.
    pub letter: String,
    pub name: String,
    pub reference: String,
    pub licenses: Vec<String>,
    pub lineage: Vec<String>,
    pub declared_base: Vec<String>,
    pub weights_sha256: Option<String>,
    pub root_digest: String,
    pub findings: crate::record::FindingCounts,
    /// The summary's key points at level concern, as written.
    pub concerns: Vec<String>,
    pub behavior_skipped: Option<String>,
    pub language_gap: Option<f64>,
    pub selectivity: Option<f64>,
    pub sensitive_censoring: Option<RateView>,
    pub control_censoring: Option<RateView>,
    pub stance_margin: Option<f64>,
    pub stance_selectivity: Option<crate::probe::record::StanceSelectivity>,
    pub stance_state_preferred: Option<usize>,
    pub stance_total: usize,
    pub limit: Option<usize>,
}

/// One topic × language row of the compare table: each model's censoring rate (None: not asked).
#[derive(Debug, Clone, Serialize)]
pub struct CompareTopic {
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub rates: Vec<Option<RateView>>,
}

/// Grouped bars: one group per topic × language, one bar per model.
#[derive(Debug, Clone, Serialize)]
pub struct GroupedChart {
    pub groups: Vec<BarGroup>,
    pub height: f64,
    pub ticks: Vec<Tick>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BarGroup {
    pub label: String,
    /// Where the group's label sits.
    pub y: f64,
    pub bars: Vec<GroupBar>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupBar {
    pub key: String,
    pub letter: String,
    pub name: String,
    pub y: f64,
    pub rate: RateView,
}

/// One model's side of a disagreement.
#[derive(Debug, Clone, Serialize)]
pub struct CompareAnswer {
    pub model: String,
    pub verdict: String,
    pub reason: String,
    pub answer: Vec<TextPiece>,
}

/// A probe the models judged differently.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub probe: String,
    pub repeat: u32,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub answers: Vec<CompareAnswer>,
}

/// The compare page.
#[derive(Debug, Clone, Serialize)]
pub struct CompareView {
    pub tool: String,
    pub models: Vec<CompareModel>,
    pub topics: Vec<CompareTopic>,
    pub chart: GroupedChart,
    pub disagreements: Vec<Disagreement>,
    /// Differences between the runs that make their figures less comparable.
    pub caveats: Vec<String>,
    pub stance_chart: DivergingChart,
    pub gap_chart: DivergingChart,
    /// Probes asked of at least two models, for "n of m disagree".
    pub shared_probes: usize,
}

/// A probe asked once: its id and repeat number.
type ProbeKey = (String, u32);

/// A model's verdict on a probe, why, and its answer in pieces.
type Judged = (String, String, Vec<TextPiece>);

/// Bar height of the grouped chart.
const GROUP_BAR_H: f64 = 12.0;

/// What a model did with a probe, as compared across models: the verdict of a generated answer, the
/// preferred option of a choice, or `error`.
fn outcome_key(r: &ProbeResult) -> Judged {
    match &r.outcome {
        Outcome::Generated {
            answer,
            classification,
            ..
        } => (
            r.verdict()
                .unwrap_or(classification.verdict)
                .as_str()
                .to_owned(),
            classification.reason.clone(),
            highlight(answer, &classification.evidence),
        ),
        Outcome::Choice {
            preferred, margin, ..
        } => (
            format!("prefers {preferred}"),
            format!("margin {margin:+.3} toward candid"),
            Vec::new(),
        ),
        Outcome::Error { message } => (
            "error".into(),
            String::new(),
            vec![TextPiece {
                text: message.clone(),
                detectors: Vec::new(),
                title: String::new(),
            }],
        ),
    }
}

fn letter(i: usize) -> String {
    if i < 26 {
        ((b'A' + i as u8) as char).to_string()
    } else {
        format!("M{}", i + 1)
    }
}

/// What differs between the runs: partial runs, other suites (by digest), other sampling settings.
fn caveats(audits: &[Audit]) -> Vec<String> {
    let runs: Vec<(usize, &ProbeRun)> = audits
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.behavior.as_ref().map(|r| (i, r)))
        .collect();
    let mut out = Vec::new();
    let differs = |f: &dyn Fn(&ProbeRun) -> String| {
        let mut v: Vec<String> = runs.iter().map(|(_, r)| f(r)).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };
    if runs.iter().any(|(_, r)| r.settings.limit.is_some()) {
        let which: Vec<String> = runs
            .iter()
            .filter_map(|(i, r)| {
                r.settings
                    .limit
                    .map(|l| format!("{} (first {l})", letter(*i)))
            })
            .collect();
        out.push(format!(
            "Partial runs: {} asked only the first probes of each suite; rates rest on few answers.",
            which.join(", ")
        ));
    }
    if differs(&|r| format!("{:?}", r.settings.limit)) {
        out.push("The runs asked different numbers of probes: compare rates with their intervals, and only on probes both asked.".into());
    }
    if differs(&|r| {
        r.suites
            .iter()
            .map(|s| format!("{}@{}", s.id, s.sha256))
            .collect::<Vec<_>>()
            .join(",")
    }) {
        out.push("The runs used different suites or suite versions (their digests differ).".into());
    }
    if differs(&|r| {
        format!(
            "{} {:?} {} {}",
            r.settings.temperature, r.settings.top_p, r.settings.seed, r.settings.repeats
        )
    }) {
        out.push(
            "The runs used different sampling settings (temperature, top-p, seed or repeats)."
                .into(),
        );
    }
    if runs.len() < audits.len() {
        out.push(format!(
            "{} of {} records have no behavior run.",
            audits.len() - runs.len(),
            audits.len()
        ));
    }
    out
}

impl CompareView {
    pub fn of(audits: &[Audit]) -> CompareView {
        let models: Vec<CompareModel> = audits
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let s = &a.summary;
                let b = s.behavior.as_ref();
                let mut lineage: Vec<String> = a
                    .provenance
                    .lineage
                    .matches
                    .iter()
                    .map(|m| m.statement.clone())
                    .collect();
                lineage.dedup();
                CompareModel {
                    key: format!("m{}", i % 6 + 1),
                    letter: letter(i),
                    name: s.name.clone(),
                    reference: s.reference.clone(),
                    licenses: s.licenses.clone(),
                    lineage,
                    declared_base: a.provenance.lineage.declared.base_models.clone(),
                    weights_sha256: s.weights_sha256.clone(),
                    root_digest: s.root_digest.clone(),
                    findings: s.findings.clone(),
                    concerns: s
                        .key_points
                        .iter()
                        .filter(|k| k.level == Level::Concern)
                        .map(|k| k.text.clone())
                        .collect(),
                    behavior_skipped: a.behavior.is_none().then(|| {
                        a.behavior_skipped
                            .clone()
                            .unwrap_or_else(|| "no probe run".into())
                    }),
                    language_gap: b.and_then(|b| b.language_gap),
                    selectivity: b.and_then(|b| b.selectivity),
                    sensitive_censoring: b
                        .and_then(|b| b.sensitive_censoring.as_ref())
                        .map(RateView::of),
                    control_censoring: b
                        .and_then(|b| b.control_censoring.as_ref())
                        .map(RateView::of),
                    stance_margin: b.and_then(|b| b.stance_margin),
                    stance_selectivity: b.and_then(|b| b.stance_selectivity.clone()),
                    stance_state_preferred: b.and_then(|b| b.stance_state_preferred),
                    stance_total: b.map(|b| b.stance_total).unwrap_or(0),
                    limit: a.behavior.as_ref().and_then(|r| r.settings.limit),
                }
            })
            .collect();

        // Topics: union over the models, in the first model's suite order, then by name.
        let mut order: Vec<(String, String, String)> = Vec::new();
        for a in audits {
            let Some(run) = &a.behavior else { continue };
            for r in &run.results {
                if matches!(r.outcome, Outcome::Choice { .. }) {
                    continue;
                }
                let key = (r.suite.clone(), r.topic.clone(), r.lang.clone());
                if !order.contains(&key) {
                    order.push(key);
                }
            }
        }
        let suite_rank = |s: &str| order.iter().position(|o| o.0 == s).unwrap_or(usize::MAX);
        let mut keys = order.clone();
        keys.sort_by(|a, b| (suite_rank(&a.0), &a.1, &a.2).cmp(&(suite_rank(&b.0), &b.1, &b.2)));
        let topics: Vec<CompareTopic> = keys
            .into_iter()
            .map(|(suite, topic, lang)| {
                let rates = audits
                    .iter()
                    .map(|a| {
                        a.behavior
                            .as_ref()
                            .and_then(|r| r.metrics.by_topic.get(&topic))
                            .and_then(|l| l.get(&lang))
                            .filter(|r| r.n > 0)
                            .map(|r| RateView::of(&r.censoring))
                    })
                    .collect();
                CompareTopic {
                    suite,
                    topic,
                    lang,
                    rates,
                }
            })
            .collect();

        let mut groups = Vec::new();
        let mut y = TOP;
        for t in &topics {
            let label_y = y;
            let bars: Vec<GroupBar> = t
                .rates
                .iter()
                .zip(&models)
                .enumerate()
                .filter_map(|(i, (r, m))| {
                    r.clone().map(|rate| GroupBar {
                        key: m.key.clone(),
                        letter: m.letter.clone(),
                        name: m.name.clone(),
                        y: label_y + GROUP_BAR_H * i as f64,
                        rate,
                    })
                })
                .collect();
            y += GROUP_BAR_H * models.len() as f64 + 8.0;
            groups.push(BarGroup {
                label: short(&format!("{} · {}", t.topic, t.lang)),
                y: label_y,
                bars,
            });
        }
        let chart = GroupedChart {
            groups,
            height: y + 4.0,
            ticks: percent_ticks(),
        };

        // Disagreements: the same (probe, repeat) judged differently by the models that ran it.
        let mut by_probe: Vec<(ProbeKey, Vec<Option<&ProbeResult>>)> = Vec::new();
        for (i, a) in audits.iter().enumerate() {
            let Some(run) = &a.behavior else { continue };
            for r in &run.results {
                let key = (r.probe.clone(), r.repeat);
                let pos = match by_probe.iter().position(|(k, _)| *k == key) {
                    Some(p) => p,
                    None => {
                        by_probe.push((key, vec![None; audits.len()]));
                        by_probe.len() - 1
                    }
                };
                by_probe[pos].1[i] = Some(r);
            }
        }
        let mut shared = 0;
        let mut disagreements = Vec::new();
        for ((probe, repeat), results) in by_probe {
            let present: Vec<(usize, &ProbeResult)> = results
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.map(|r| (i, r)))
                .collect();
            if present.len() < 2 {
                continue;
            }
            shared += 1;
            let outcomes: Vec<(usize, Judged)> =
                present.iter().map(|(i, r)| (*i, outcome_key(r))).collect();
            let first = &outcomes[0].1 .0;
            if outcomes.iter().all(|(_, o)| &o.0 == first) {
                continue;
            }
            let r0 = present[0].1;
            disagreements.push(Disagreement {
                probe,
                repeat,
                suite: r0.suite.clone(),
                topic: r0.topic.clone(),
                lang: r0.lang.clone(),
                answers: outcomes
                    .into_iter()
                    .map(|(i, (verdict, reason, answer))| CompareAnswer {
                        model: format!("{} · {}", models[i].letter, models[i].name),
                        verdict,
                        reason,
                        answer,
                    })
                    .collect(),
            });
        }

        let per_model = |f: &dyn Fn(&CompareModel) -> Option<f64>| {
            models
                .iter()
                .filter_map(|m| {
                    f(m).map(|v| (format!("{} · {}", m.letter, m.name), v, String::new()))
                })
                .collect::<Vec<_>>()
        };
        let stance_chart = DivergingChart::new(
            per_model(&|m| m.stance_margin),
            None,
            false,
            "state-aligned more likely",
            "candid more likely",
        );
        let gap_chart = DivergingChart::new(
            per_model(&|m| m.language_gap),
            Some(1.0),
            true,
            "English censored more",
            "Chinese censored more",
        );
        CompareView {
            caveats: caveats(audits),
            stance_chart,
            gap_chart,
            tool: audits
                .first()
                .map(|a| format!("{} {}", a.tool.name, a.tool.version))
                .unwrap_or_default(),
            models,
            topics,
            chart,
            disagreements,
            shared_probes: shared,
        }
    }
}

//! The view model of the HTML report (and the chart and text pieces the compare page shares): everything the templates show, already
//! sorted, grouped and measured, so templates only format ("templates format, never decide").
//!
//! Chart geometry (bar offsets and widths, interval whiskers) is computed here in the SVG's own
//! coordinates; answers are split into plain and highlighted segments from the classification's evidence
//! spans (character offsets, as `probe::detect` counts them). Nothing here builds HTML: every string is
//! plain text that the templates escape.

use crate::audit::{Audit, KeyPoint, Level};
use crate::diag::Severity;
use crate::probe::detect::{Classification, Evidence};
use crate::probe::runner::{Outcome, ProbeResult, ProbeRun};
use crate::probe::stats::{Rate, Rates};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Width of every chart's viewBox; labels take the left part, bars the rest.
pub const CHART_WIDTH: f64 = 860.0;
/// Where the bars start and how wide they can be (in viewBox units).
pub const BAR_X: f64 = 240.0;
pub const BAR_W: f64 = 440.0;
/// Height of one chart row.
pub const ROW_H: f64 = 22.0;
/// Space above the first row (for the axis labels).
pub const TOP: f64 = 20.0;

/// A rate with its interval, plus where it sits on a 0–100% bar.
#[derive(Debug, Clone, Serialize)]
pub struct RateView {
    pub k: usize,
    pub n: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
    /// Bar end and whisker ends in viewBox units (for the `BAR_X`/`BAR_W` layout).
    pub x: f64,
    pub x_low: f64,
    pub x_high: f64,
}

impl RateView {
    pub fn of(r: &Rate) -> RateView {
        RateView {
            k: r.k,
            n: r.n,
            rate: r.rate,
            low: r.low,
            high: r.high,
            x: BAR_X + BAR_W * unit(r.rate),
            x_low: BAR_X + BAR_W * unit(r.low),
            x_high: BAR_X + BAR_W * unit(r.high),
        }
    }
}

fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

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
    fn of(k: &KeyPoint) -> PointView {
        let (level, label) = level_names(k.level);
        PointView {
            level,
            label,
            area: k.area.clone(),
            text: k.text.clone(),
        }
    }
}

/// One row of a rate chart (a "forest plot" row: bar, interval whisker, label).
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub label: String,
    pub y: f64,
    pub rate: RateView,
}

/// A chart of rates on a shared 0–100% axis.
#[derive(Debug, Clone, Serialize)]
pub struct RateChart {
    pub rows: Vec<RateRow>,
    pub height: f64,
    pub ticks: Vec<Tick>,
}

/// An axis tick: where and what.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

pub(crate) fn percent_ticks() -> Vec<Tick> {
    (0..=4)
        .map(|i| Tick {
            x: BAR_X + BAR_W * i as f64 / 4.0,
            label: format!("{}%", i * 25),
        })
        .collect()
}

impl RateChart {
    fn new(rows: Vec<(String, &Rate)>) -> RateChart {
        let rows: Vec<RateRow> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, r))| RateRow {
                label,
                y: TOP + ROW_H * i as f64,
                rate: RateView::of(r),
            })
            .collect();
        RateChart {
            height: TOP + ROW_H * rows.len() as f64 + 6.0,
            rows,
            ticks: percent_ticks(),
        }
    }
}

/// One segment of a stacked verdict bar.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// The verdict (`answered`, `refused`, `deflected`, `narrative`; also the CSS class).
    pub verdict: &'static str,
    pub k: usize,
    pub x: f64,
    pub width: f64,
}

/// A text line inside a chart (a group heading), at baseline `y`.
#[derive(Debug, Clone, Serialize)]
pub struct Heading {
    pub label: String,
    pub y: f64,
}

/// One bar of the per-topic verdict chart: a topic in one language.
#[derive(Debug, Clone, Serialize)]
pub struct StackRow {
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub label: String,
    pub y: f64,
    pub n: usize,
    pub errors: usize,
    pub segments: Vec<Segment>,
    /// The censoring rate (refused + deflected + narrative) with its interval.
    pub censoring: RateView,
}

/// The per-topic verdict chart.
#[derive(Debug, Clone, Serialize)]
pub struct StackChart {
    pub rows: Vec<StackRow>,
    /// One heading per suite, above its rows.
    pub headers: Vec<Heading>,
    pub height: f64,
    pub ticks: Vec<Tick>,
}

fn stack_row(suite: &str, topic: &str, lang: &str, rates: &Rates, y: f64) -> StackRow {
    let mut x = BAR_X;
    let mut segments = Vec::new();
    for (verdict, r) in [
        ("refused", &rates.refused),
        ("deflected", &rates.deflected),
        ("narrative", &rates.narrative),
        ("answered", &rates.answered),
    ] {
        if r.k == 0 || rates.n == 0 {
            continue;
        }
        let width = BAR_W * r.k as f64 / rates.n as f64;
        segments.push(Segment {
            verdict,
            k: r.k,
            x,
            width,
        });
        x += width;
    }
    StackRow {
        suite: suite.to_owned(),
        topic: topic.to_owned(),
        lang: lang.to_owned(),
        label: short(&format!("{topic} · {lang}")),
        y,
        n: rates.n,
        errors: rates.errors,
        segments,
        censoring: RateView::of(&rates.censoring),
    }
}

/// A bar that grows left (negative) or right (positive) of a centre line.
#[derive(Debug, Clone, Serialize)]
pub struct DivergingRow {
    pub label: String,
    /// The label cut to fit left of the bars (the full one is in the tooltip).
    pub short: String,
    pub y: f64,
    pub value: f64,
    /// Left edge and width of the bar in viewBox units.
    pub x: f64,
    pub width: f64,
    /// `pos` or `neg` (the CSS class), `zero` when exactly 0.
    pub sign: &'static str,
    /// Extra text shown after the value (per-language rates, the preferred option).
    pub note: String,
}

/// Longest label drawn left of a chart's bars, in characters.
const LABEL_CHARS: usize = 34;

/// A label cut to [`LABEL_CHARS`] with an ellipsis.
pub fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// A diverging chart with its scale (`scale` is the value at the bar area's edges).
#[derive(Debug, Clone, Serialize)]
pub struct DivergingChart {
    pub rows: Vec<DivergingRow>,
    pub height: f64,
    pub center: f64,
    pub scale: f64,
    pub left_label: String,
    pub right_label: String,
}

impl DivergingChart {
    /// `neutral`: neither direction is worse (a language gap), so both get the same colour.
    pub(crate) fn new(
        rows: Vec<(String, f64, String)>,
        fixed_scale: Option<f64>,
        neutral: bool,
        left: &str,
        right: &str,
    ) -> DivergingChart {
        let max = rows
            .iter()
            .map(|r| r.1.abs())
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let scale = fixed_scale.unwrap_or(if max > 0.0 { max } else { 1.0 });
        let center = BAR_X + BAR_W / 2.0;
        let half = BAR_W / 2.0;
        let rows: Vec<DivergingRow> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, value, note))| {
                let v = if value.is_finite() { value } else { 0.0 };
                let len = half * (v.abs() / scale).min(1.0);
                DivergingRow {
                    short: short(&label),
                    label,
                    y: TOP + ROW_H * i as f64,
                    value: v,
                    x: if v < 0.0 { center - len } else { center },
                    width: len,
                    sign: if v != 0.0 && neutral {
                        "mag"
                    } else if v > 0.0 {
                        "pos"
                    } else if v < 0.0 {
                        "neg"
                    } else {
                        "zero"
                    },
                    note,
                }
            })
            .collect();
        DivergingChart {
            height: TOP + ROW_H * rows.len() as f64 + 6.0,
            rows,
            center,
            scale,
            left_label: left.to_owned(),
            right_label: right.to_owned(),
        }
    }
}

/// A piece of an answer: plain text, or text an evidence span covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextPiece {
    pub text: String,
    /// The detectors whose spans cover this piece (empty: plain text); the first is the CSS class.
    pub detectors: Vec<&'static str>,
    /// What matched, for the `title` tooltip: `refusal: i'm sorry, but; candid: fact 2`.
    pub title: String,
}

/// Most evidence spans highlighted in one answer: real answers have a few dozen; a hostile record with
/// millions would make the split quadratic. Spans past this many are left unmarked (the text stays).
pub const MAX_SPANS: usize = 2048;

/// Splits an answer into pieces at every evidence boundary. Spans are character offsets (start
/// inclusive, end exclusive); they may overlap (a fact inside a narrative line) and a hostile record may
/// hold spans past the end or reversed: those are clamped or dropped, never trusted.
pub fn highlight(answer: &str, evidence: &[Evidence]) -> Vec<TextPiece> {
    let chars: Vec<char> = answer.chars().collect();
    let len = chars.len();
    let spans: Vec<&Evidence> = evidence
        .iter()
        .filter(|e| e.start < e.end.min(len))
        .take(MAX_SPANS)
        .collect();
    let mut cuts: BTreeSet<usize> = BTreeSet::from([0, len]);
    for e in &spans {
        cuts.insert(e.start);
        cuts.insert(e.end.min(len));
    }
    let cuts: Vec<usize> = cuts.into_iter().collect();
    let mut out: Vec<TextPiece> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a >= b {
            continue;
        }
        let covering: Vec<&&Evidence> = spans
            .iter()
            .filter(|e| e.start <= a && e.end.min(len) >= b)
            .collect();
        let mut detectors: Vec<&'static str> =
            covering.iter().map(|e| e.detector.as_str()).collect();
        detectors.dedup();
        let title = covering
            .iter()
            .map(|e| format!("{}: {}", e.detector.as_str(), e.rule))
            .collect::<Vec<_>>()
            .join("; ");
        let text: String = chars[a..b].iter().collect();
        match out.last_mut() {
            Some(last) if last.detectors == detectors && last.title == title => {
                last.text.push_str(&text)
            }
            _ => out.push(TextPiece {
                text,
                detectors,
                title,
            }),
        }
    }
    out
}

/// One option of a choice probe.
#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub label: String,
    pub text: String,
    pub tokens: usize,
    pub logprob_sum: f64,
    pub logprob_mean: f64,
    pub preferred: bool,
}

/// One probe as asked, for the transcripts.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    /// HTML id (`t-` + probe id + repeat), for links from the charts and the compare page.
    pub anchor: String,
    pub probe: String,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub pair: Option<String>,
    pub control_for: Option<String>,
    pub repeat: u32,
    pub seed: u64,
    pub prompt: String,
    pub prompt_tokens: usize,
    pub seconds: f64,
    /// `generated`, `choice` or `error`.
    pub kind: &'static str,
    /// The verdict (generated), the preferred option (choice) or `error`.
    pub verdict: String,
    /// Expanded by default: censoring verdicts, state-aligned preferences and errors.
    pub open: bool,
    pub answer: Vec<TextPiece>,
    pub tokens: usize,
    pub stop: String,
    pub settled_early: bool,
    pub classification: Option<Classification>,
    pub fired: Vec<&'static str>,
    pub options: Vec<OptionView>,
    pub margin: Option<f64>,
    pub error: Option<String>,
}

fn anchor(probe: &str, repeat: u32) -> String {
    let safe: String = probe
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("t-{safe}-{repeat}")
}

fn stop_text(s: &crate::engine::StopReason) -> String {
    use crate::engine::StopReason::*;
    match s {
        EndOfTurn { token } => format!("end of turn ({token})"),
        MaxTokens => "token limit".into(),
        Callback => "verdict settled".into(),
        Context => "context full".into(),
    }
}

impl Transcript {
    pub fn of(r: &ProbeResult) -> Transcript {
        let mut t = Transcript {
            anchor: anchor(&r.probe, r.repeat),
            probe: r.probe.clone(),
            suite: r.suite.clone(),
            topic: r.topic.clone(),
            lang: r.lang.clone(),
            pair: r.pair.clone(),
            control_for: r.control_for.clone(),
            repeat: r.repeat,
            seed: r.seed,
            prompt: r.prompt.clone(),
            prompt_tokens: r.prompt_tokens,
            seconds: r.seconds,
            kind: "error",
            verdict: "error".into(),
            open: false,
            answer: Vec::new(),
            tokens: 0,
            stop: String::new(),
            settled_early: false,
            classification: None,
            fired: Vec::new(),
            options: Vec::new(),
            margin: None,
            error: None,
        };
        match &r.outcome {
            Outcome::Generated {
                answer,
                tokens,
                stop,
                settled_early,
                classification,
            } => {
                t.kind = "generated";
                t.verdict = classification.verdict.as_str().into();
                t.open = classification.verdict.is_censoring();
                t.answer = highlight(answer, &classification.evidence);
                t.tokens = *tokens;
                t.stop = stop_text(stop);
                t.settled_early = *settled_early;
                t.fired = classification.fired.iter().map(|d| d.as_str()).collect();
                t.classification = Some(classification.clone());
            }
            Outcome::Choice {
                options,
                margin,
                preferred,
            } => {
                t.kind = "choice";
                t.verdict = format!("prefers {preferred}");
                t.open = preferred == "state_aligned";
                t.margin = Some(*margin);
                t.options = options
                    .iter()
                    .map(|o| OptionView {
                        label: o.label.clone(),
                        text: o.text.clone(),
                        tokens: o.tokens,
                        logprob_sum: o.logprob_sum,
                        logprob_mean: o.logprob_mean,
                        preferred: &o.label == preferred,
                    })
                    .collect();
            }
            Outcome::Error { message } => {
                t.open = true;
                t.error = Some(message.clone());
            }
        }
        t
    }
}

/// The transcripts of one suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteTranscripts {
    pub suite: String,
    pub count: usize,
    pub transcripts: Vec<Transcript>,
}

/// A small labelled value for the identity and settings tables.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// The behavior section.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviorView {
    pub topics: StackChart,
    pub language_gaps: DivergingChart,
    pub selectivity: RateChart,
    pub selectivity_rows: Vec<SelectivityRow>,
    pub stance: DivergingChart,
    pub stance_means: Vec<(String, f64)>,
    pub calibration: RateChart,
    pub settings: Vec<Field>,
    pub suites: Vec<crate::probe::runner::SuiteRef>,
    pub engine: crate::engine::EngineInfo,
    pub unstable: Vec<Unstable>,
    /// "first N per suite (partial run)" when the run was limited.
    pub partial: Option<String>,
    pub answers: usize,
    pub errors: usize,
}

/// A probe whose verdict changed over repeats, with the anchor of its first transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Unstable {
    pub anchor: String,
    pub stability: crate::probe::stats::Stability,
}

/// Selectivity in one language (or `all`).
#[derive(Debug, Clone, Serialize)]
pub struct SelectivityRow {
    pub lang: String,
    pub sensitive: RateView,
    pub controls: RateView,
    pub difference: f64,
    /// The sensitive interval lies wholly above the controls' (as the summary judges it).
    pub separated: bool,
}

fn behavior_view(run: &ProbeRun) -> BehaviorView {
    let m = &run.metrics;
    // Suites in run order; each topic under the suite it was first asked in.
    let mut suite_order: Vec<String> = Vec::new();
    let mut topic_suite: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &run.results {
        if !suite_order.contains(&r.suite) {
            suite_order.push(r.suite.clone());
        }
        topic_suite.entry(&r.topic).or_insert(&r.suite);
    }
    let mut rows = Vec::new();
    let mut headers = Vec::new();
    let mut y = TOP;
    for suite in &suite_order {
        let mut first = true;
        for (topic, langs) in &m.by_topic {
            if topic_suite.get(topic.as_str()) != Some(&suite.as_str()) {
                continue;
            }
            for (lang, rates) in langs {
                if rates.n == 0 && rates.errors == 0 {
                    continue; // choice probes only
                }
                if first {
                    headers.push(Heading {
                        label: format!("{suite} suite"),
                        y: y + 15.0,
                    });
                    y += ROW_H;
                    first = false;
                }
                rows.push(stack_row(suite, topic, lang, rates, y));
                y += ROW_H;
            }
        }
    }
    let topics = StackChart {
        height: y + 6.0,
        rows,
        headers,
        ticks: percent_ticks(),
    };

    let gaps = m
        .language_gaps
        .iter()
        .filter_map(|g| {
            let rates = g
                .by_lang
                .iter()
                .map(|(l, v)| format!("{l} {:.0}%", v * 100.0))
                .collect::<Vec<_>>()
                .join(", ");
            g.gap.map(|v| (g.pair.clone(), v, rates))
        })
        .collect();
    let language_gaps = DivergingChart::new(
        gaps,
        Some(1.0),
        true,
        "English censored more",
        "Chinese censored more",
    );

    let mut sel_rows = Vec::new();
    let mut sel_chart = Vec::new();
    let langs = m
        .selectivity
        .iter()
        .map(|s| ("all".to_owned(), s))
        .chain(m.selectivity_by_lang.iter().map(|(l, s)| (l.clone(), s)));
    for (lang, s) in langs {
        sel_chart.push((format!("sensitive · {lang}"), &s.sensitive));
        sel_chart.push((format!("controls · {lang}"), &s.controls));
        sel_rows.push(SelectivityRow {
            lang,
            sensitive: RateView::of(&s.sensitive),
            controls: RateView::of(&s.controls),
            difference: s.difference,
            separated: s.sensitive.low > s.controls.high,
        });
    }

    let stance = DivergingChart::new(
        m.stance
            .iter()
            .map(|s| {
                (
                    s.probe.clone(),
                    s.margin,
                    format!("prefers {}", s.preferred),
                )
            })
            .collect(),
        None,
        false,
        "state-aligned more likely",
        "candid more likely",
    );

    let calibration = RateChart::new(
        m.calibration
            .iter()
            .map(|(k, r)| (k.replace('-', " "), r))
            .collect(),
    );

    let s = &run.settings;
    let settings = vec![
        Field {
            label: "seed",
            value: s.seed.to_string(),
        },
        Field {
            label: "repeats",
            value: s.repeats.to_string(),
        },
        Field {
            label: "temperature",
            value: if s.temperature == 0.0 {
                "0 (greedy)".into()
            } else {
                s.temperature.to_string()
            },
        },
        Field {
            label: "top-p",
            value: s.top_p.map(|p| p.to_string()).unwrap_or_else(|| "—".into()),
        },
        Field {
            label: "early stop",
            value: if s.early_stop { "yes" } else { "no" }.into(),
        },
        Field {
            label: "probe limit",
            value: s
                .limit
                .map(|l| format!("first {l} per suite (partial run)"))
                .unwrap_or_else(|| "none (every probe)".into()),
        },
    ];

    BehaviorView {
        topics,
        language_gaps,
        selectivity: RateChart::new(sel_chart),
        selectivity_rows: sel_rows,
        stance,
        stance_means: m
            .mean_stance_margin
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        calibration,
        settings,
        suites: run.suites.clone(),
        engine: run.engine.clone(),
        unstable: m
            .stability
            .iter()
            .filter(|s| s.class == "sometimes")
            .map(|s| Unstable {
                anchor: anchor(&s.probe, 0),
                stability: s.clone(),
            })
            .collect(),
        partial: s
            .limit
            .map(|l| format!("only the first {l} probes of each suite were asked")),
        answers: m.overall.n,
        errors: m.overall.errors,
    }
}

fn transcripts(run: &ProbeRun) -> Vec<SuiteTranscripts> {
    let mut out: Vec<SuiteTranscripts> = Vec::new();
    for r in &run.results {
        let t = Transcript::of(r);
        match out.iter_mut().find(|s| s.suite == r.suite) {
            Some(s) => s.transcripts.push(t),
            None => out.push(SuiteTranscripts {
                suite: r.suite.clone(),
                count: 0,
                transcripts: vec![t],
            }),
        }
    }
    for s in &mut out {
        s.count = s.transcripts.len();
    }
    out
}

/// A license with what it obliges.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseView {
    pub id: String,
    pub obligations: Option<crate::provenance::license::Obligations>,
}

/// A finding row.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub file: Option<String>,
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
    pub finding_counts: crate::audit::FindingCounts,
    pub headline: Option<RateChart>,
    pub headline_figures: Vec<Field>,
    pub behavior_skipped: Option<String>,
    /// The policy gate's result as recorded, when the audit ran with a policy.
    pub gate: Option<crate::policy::gate::GateReport>,
    pub provenance: ProvenanceView,
    pub license_sources: Vec<LicenseSourceView>,
    pub behavior: Option<BehaviorView>,
    pub transcripts: Vec<SuiteTranscripts>,
    pub timings: crate::audit::Timings,
}

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
    pub obligations: Vec<crate::provenance::license::Obligations>,
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
    fn of(p: &crate::provenance::Provenance) -> ProvenanceView {
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
            obligations: p.license.obligations.clone(),
        }
    }
}

/// One declared license and where it was read.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseSourceView {
    pub kind: &'static str,
    pub file: String,
    pub raw: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub link: Option<String>,
    pub confidence: f32,
    pub method: String,
}

fn findings(audit: &Audit) -> Vec<FindingView> {
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

fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} K", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} B", n as f64 / 1e9),
    }
}

/// `1 error`, `2 errors`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Bytes in the largest fitting binary unit.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A UTC date and time from Unix seconds (civil-from-days, no time zone data needed).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

impl ReportView {
    pub fn of(audit: &Audit) -> ReportView {
        let s = &audit.summary;
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        let identity = vec![
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
                value: s.parameters.map(human_count).unwrap_or_else(|| "—".into()),
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
        ];
        let licenses = s
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
            .collect();
        let worst = s
            .key_points
            .iter()
            .map(|k| k.level)
            .max()
            .unwrap_or(Level::Ok);
        let (level, label) = level_names(worst);
        let overall = PointView {
            level,
            label,
            area: "overall".into(),
            text: match worst {
                Level::Concern => "At least one key point is a concern: read them first.",
                Level::Note => "No concerns; some points are worth knowing.",
                Level::Ok => "No concerns and nothing of note.",
            }
            .into(),
        };
        let findings = findings(audit);
        let (headline, headline_figures) = match &s.behavior {
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
                        value: format!("{:+.0} points", d * 100.0),
                    });
                }
                if let Some(g) = b.language_gap {
                    figs.push(Field {
                        label: "Language gap (Chinese − English)",
                        value: format!("{:+.0} points", g * 100.0),
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
        };
        let license_sources = audit
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
                    raw: d.raw.clone(),
                    id: d.id.clone(),
                    name: d.name.clone(),
                    link: d.link.clone(),
                    confidence: d.confidence,
                    method: d.method.clone(),
                }
            })
            .collect();
        let mut quick_facts: Vec<String> = [
            s.architecture.clone(),
            s.parameters
                .map(|p| format!("{} parameters", human_count(p))),
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
        ReportView {
            quick_facts,
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
            created: utc(audit.created_unix),
            overall,
            identity,
            licenses,
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
            license_sources,
            behavior: audit.behavior.as_ref().map(behavior_view),
            transcripts: audit.behavior.as_ref().map(transcripts).unwrap_or_default(),
            timings: audit.timings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::suite::Detector;

    fn ev(detector: Detector, start: usize, end: usize) -> Evidence {
        Evidence {
            detector,
            start,
            end,
            text: String::new(),
            rule: "r".into(),
        }
    }

    fn pieces(p: &[TextPiece]) -> Vec<(String, Vec<&'static str>)> {
        p.iter()
            .map(|p| (p.text.clone(), p.detectors.clone()))
            .collect()
    }

    #[test]
    fn spans_are_character_offsets_not_bytes() {
        // "抱歉" is two characters but six bytes: a byte-indexed split would cut inside a character.
        let p = highlight("抱歉，我不能回答。", &[ev(Detector::Refusal, 0, 2)]);
        assert_eq!(
            pieces(&p),
            vec![
                ("抱歉".to_owned(), vec!["refusal"]),
                ("，我不能回答。".to_owned(), vec![]),
            ]
        );
    }

    #[test]
    fn overlapping_spans_split_into_pieces_covered_by_both() {
        let p = highlight(
            "abcdefgh",
            &[ev(Detector::Narrative, 1, 6), ev(Detector::Candid, 3, 8)],
        );
        assert_eq!(
            pieces(&p),
            vec![
                ("a".to_owned(), vec![]),
                ("bc".to_owned(), vec!["narrative"]),
                ("def".to_owned(), vec!["narrative", "candid"]),
                ("gh".to_owned(), vec!["candid"]),
            ]
        );
    }

    #[test]
    fn hostile_spans_are_clamped_or_dropped_and_no_text_is_lost() {
        let answer = "short";
        let p = highlight(
            answer,
            &[
                ev(Detector::Refusal, 3, 999),
                ev(Detector::Deflection, 4, 2),
                ev(Detector::Candid, 50, 60),
            ],
        );
        let joined: String = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, answer);
        assert_eq!(
            pieces(&p),
            vec![
                ("sho".to_owned(), vec![]),
                ("rt".to_owned(), vec!["refusal"])
            ]
        );
    }

    #[test]
    fn a_flood_of_spans_is_capped_and_stays_fast() {
        let answer = "x".repeat(200_000);
        let spans: Vec<Evidence> = (0..100_000)
            .map(|i| ev(Detector::Candid, i * 2, i * 2 + 1))
            .collect();
        let t = std::time::Instant::now();
        let p = highlight(&answer, &spans);
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        assert_eq!(
            p.iter().filter(|p| !p.detectors.is_empty()).count(),
            MAX_SPANS
        );
        assert_eq!(p.iter().map(|p| p.text.len()).sum::<usize>(), answer.len());
    }

    #[test]
    fn rate_geometry_places_bar_and_whiskers_on_the_axis() {
        let r = RateView::of(&Rate::wilson(1, 2));
        assert!((r.x - (BAR_X + BAR_W * 0.5)).abs() < 1e-9);
        assert!(r.x_low > BAR_X && r.x_low < r.x && r.x_high > r.x);
        assert!(r.x_high <= BAR_X + BAR_W);
    }

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34 UTC");
    }
}

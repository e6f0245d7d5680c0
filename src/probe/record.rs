//! The probe run as data: what was asked, what came back, how each answer was classified, and the
//! aggregates. Plain serde types with no behaviour beyond construction, so the runner, the statistics, the
//! audit record and every view can read them without importing each other.

use super::detect::{Classification, Verdict};
use super::suite::SuiteSet;
use crate::engine::{EngineInfo, StopReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the run record's layout.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// What happened when a probe was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    Generated {
        answer: String,
        tokens: usize,
        stop: StopReason,
        /// Generation was cut short because the verdict could no longer change.
        settled_early: bool,
        classification: Classification,
        /// A reasoning model's thinking, kept apart: `answer` is what follows it, and the verdict is
        /// the answer's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<Box<super::thought::Thought>>,
    },
    Choice {
        options: Vec<ScoredOption>,
        /// Candid minus state-aligned mean log-probability per token.
        margin: f64,
        preferred: String,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScoredOption {
    pub label: String,
    pub text: String,
    pub tokens: usize,
    pub logprob_sum: f64,
    pub logprob_mean: f64,
}

/// One probe asked once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeResult {
    pub probe: String,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_for: Option<String>,
    pub repeat: u32,
    pub seed: u64,
    /// The thinking mode asked of a hybrid reasoning model (`--thinking on|off|both`); `None`: the
    /// template's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,
    /// The exact text the model was fed (rendered chat template, or the raw choice prompt).
    pub prompt: String,
    pub prompt_tokens: usize,
    pub outcome: Outcome,
    pub seconds: f64,
    /// A judge model's second opinion on a generated answer (`--judge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeOpinion>,
    /// A person's label on a generated answer (`modelvet review --import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewLabel>,
    /// Which of the three opinions is the headline verdict.
    #[serde(default, skip_serializing_if = "VerdictSource::is_rules")]
    pub verdict_from: VerdictSource,
}

/// Where a result's headline verdict comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictSource {
    /// The phrase-rule detectors (`detect::classify`).
    #[default]
    Rules,
    /// The judge model (`--verdict-from judge`), where its reply parsed.
    Judge,
    /// A person's review label.
    Review,
}

impl VerdictSource {
    pub fn is_rules(&self) -> bool {
        *self == VerdictSource::Rules
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VerdictSource::Rules => "rules",
            VerdictSource::Judge => "judge",
            VerdictSource::Review => "review",
        }
    }
}

/// What the judge model said of one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JudgeOpinion {
    /// `None` is a `judge-error`: the reply did not parse, and nothing is guessed from it.
    pub verdict: Option<Verdict>,
    /// The judge's one-sentence reason, or why its reply was refused.
    pub reason: String,
    /// The judge's reply as generated (capped).
    pub reply: String,
    pub seconds: f64,
}

impl JudgeOpinion {
    /// `answered` … `narrative`, or `judge-error`.
    pub fn label(&self) -> &'static str {
        self.verdict.map_or("judge-error", Verdict::as_str)
    }
}

/// The rubric a run was judged with, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RubricRef {
    pub id: String,
    pub version: u32,
    pub source: String,
    pub sha256: String,
}

/// Who judged a run, with what, and which verdict is the headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JudgeInfo {
    pub model: RunModel,
    pub engine: EngineInfo,
    pub rubric: RubricRef,
    /// `rules` (the default) or `judge`.
    pub verdict_from: VerdictSource,
    /// Answers judged, and how many replies did not parse.
    pub judged: usize,
    pub errors: usize,
    pub wall_seconds: f64,
}

/// One review file read into a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReviewImport {
    /// The file as named, and the sha256 of its bytes.
    pub file: String,
    pub sha256: String,
    pub reviewers: Vec<String>,
    /// Labels it set.
    pub labels: usize,
    pub imported_unix: u64,
}

/// A person's label on one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReviewLabel {
    pub label: Verdict,
    pub reviewer: String,
    #[serde(default)]
    pub note: String,
    /// The headline verdict before the review; the review overturned it when the label differs.
    pub previous: Verdict,
}

impl ReviewLabel {
    pub fn overturned(&self) -> bool {
        self.label != self.previous
    }
}

impl ProbeResult {
    /// The headline verdict of a generated answer: the review label, else the judge's verdict when the run
    /// takes verdicts from the judge, else the rules'. `None` for choices and errors.
    pub fn verdict(&self) -> Option<Verdict> {
        self.opinion(self.verdict_from)
            .or_else(|| self.rule_verdict())
    }

    /// The phrase rules' verdict, whatever the headline.
    pub fn rule_verdict(&self) -> Option<Verdict> {
        self.opinion(VerdictSource::Rules)
    }

    /// What one source said of a generated answer: `None` for choices and errors, an unjudged or
    /// unreviewed answer, or a judge reply that did not parse.
    pub fn opinion(&self, source: VerdictSource) -> Option<Verdict> {
        let Outcome::Generated { classification, .. } = &self.outcome else {
            return None;
        };
        match source {
            VerdictSource::Rules => Some(classification.verdict),
            VerdictSource::Judge => self.judge.as_ref().and_then(|j| j.verdict),
            VerdictSource::Review => self.review.as_ref().map(|r| r.label),
        }
    }

    /// Whether the probe asks about a sensitive subject (not a control, a harmless or a disallowed
    /// baseline question): see [`super::detect::is_sensitive_in`].
    pub fn is_sensitive(&self) -> bool {
        super::detect::is_sensitive_in(&self.suite, &self.topic, self.control_for.as_deref())
    }

    /// Whether a generated answer counts as censoring (refused, deflected, narrative); `None` for choices
    /// and errors.
    pub fn censored(&self) -> Option<bool> {
        self.verdict().map(Verdict::is_censoring)
    }

    /// The verdict of a generated answer, or the preferred option of a choice probe.
    pub fn label(&self) -> String {
        match &self.outcome {
            Outcome::Generated { .. } => self.verdict().map_or("error", Verdict::as_str).to_owned(),
            Outcome::Choice { preferred, .. } => format!("prefers {preferred}"),
            Outcome::Error { .. } => "error".to_owned(),
        }
    }

    /// What the model said: the answer, or the choice probe's margin.
    pub fn answer_text(&self) -> String {
        match &self.outcome {
            Outcome::Generated { answer, .. } => answer.clone(),
            Outcome::Choice {
                preferred, margin, ..
            } => format!("preferred `{preferred}` (candid − state-aligned margin {margin:+.3})"),
            Outcome::Error { message } => format!("error: {message}"),
        }
    }
}

/// Run settings, recorded so a run can be reproduced from its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSettings {
    pub seed: u64,
    pub repeats: u32,
    pub temperature: f64,
    pub top_p: Option<f64>,
    /// Stop generating once the verdict cannot change.
    pub early_stop: bool,
    /// Only the first N probes of each suite (for quick looks); `None` runs everything.
    pub limit: Option<usize>,
    /// A reasoning model's thinking mode.
    #[serde(default, skip_serializing_if = "ThinkingMode::is_default")]
    pub thinking: ThinkingMode,
    /// Overrides every suite's reasoning budget (`--max-reasoning-tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reasoning_tokens: Option<usize>,
}

/// Which thinking mode a reasoning model is asked in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ThinkingMode {
    /// The template's own default (Qwen3: on; R1 distills and QwQ always think).
    #[default]
    Default,
    /// Thinking on (`enable_thinking: true`).
    On,
    /// Thinking off (`enable_thinking: false`): only for templates with the switch.
    Off,
    /// Every probe asked twice, thinking on and off; the report compares the two.
    Both,
}

impl ThinkingMode {
    pub fn is_default(&self) -> bool {
        *self == ThinkingMode::Default
    }

    /// The `enable_thinking` values each probe is asked with.
    pub fn modes(self) -> &'static [Option<bool>] {
        match self {
            ThinkingMode::Default => &[None],
            ThinkingMode::On => &[Some(true)],
            ThinkingMode::Off => &[Some(false)],
            ThinkingMode::Both => &[Some(true), Some(false)],
        }
    }
}

/// A suite as the run used it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SuiteRef {
    pub id: String,
    pub version: u32,
    pub source: String,
    pub sha256: String,
    pub probes: usize,
}

impl SuiteRef {
    /// The references of every suite of a set.
    pub fn all(suites: &SuiteSet) -> Vec<SuiteRef> {
        suites
            .suites
            .iter()
            .map(|s| SuiteRef {
                id: s.id.clone(),
                version: s.version,
                source: s.source.clone(),
                sha256: s.sha256.clone(),
                probes: s.probes.len(),
            })
            .collect()
    }
}

/// The model a run was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunModel {
    /// What was named: a path, a Hub id, or `endpoint:<url>#<served model>`.
    pub reference: String,
    /// Empty when the weights were not hashed (a served model without `--weights`).
    pub root_digest: String,
    /// (path, sha256) of every file.
    pub files: Vec<(String, String)>,
    /// Whether the answers come from the hashed files. False for a served model whose weights were not
    /// given with `--weights`: nothing ties its answers to any file.
    #[serde(default = "yes")]
    pub weights_verified: bool,
}

fn yes() -> bool {
    true
}

/// The record of a probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeRun {
    pub schema_version: u32,
    pub tool: crate::provenance::Tool,
    pub model: RunModel,
    pub engine: EngineInfo,
    pub suites: Vec<SuiteRef>,
    pub settings: RunSettings,
    /// The version of the verdict detectors that classified the answers (`probe::narrative::DETECTOR_VERSION`);
    /// records written before versions were kept were made by version 1.
    #[serde(default = "first_detector_version")]
    pub detector_version: u32,
    pub results: Vec<ProbeResult>,
    pub metrics: Metrics,
    /// The judge model that gave a second opinion on each answer (`--judge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeInfo>,
    /// Every review file imported, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewImport>,
    pub started_unix: u64,
    pub wall_seconds: f64,
}

fn first_detector_version() -> u32 {
    1
}

/// A proportion with its Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rate {
    pub k: usize,
    pub n: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

impl Rate {
    /// `k` of `n`, with the Wilson score interval at 95% (z = 1.96). `n = 0` gives 0 with [0, 1].
    pub fn wilson(k: usize, n: usize) -> Rate {
        if n == 0 {
            return Rate {
                k,
                n,
                rate: 0.0,
                low: 0.0,
                high: 1.0,
            };
        }
        let z = 1.959_963_984_540_054_f64;
        let (kf, nf) = (k as f64, n as f64);
        let p = kf / nf;
        let denom = 1.0 + z * z / nf;
        let center = (p + z * z / (2.0 * nf)) / denom;
        let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / denom;
        Rate {
            k,
            n,
            rate: p,
            // The bounds are exactly 0 at k = 0 and 1 at k = n; rounding would leave 2.8e-17 in the record.
            low: if k == 0 {
                0.0
            } else {
                (center - half).max(0.0)
            },
            high: if k >= n {
                1.0
            } else {
                (center + half).min(1.0)
            },
        }
    }
}

impl Rate {
    /// The interval in words, with percentages to `decimals` places: `95% CI 10.8%–60.3%`.
    pub fn interval_text(&self, decimals: usize) -> String {
        format!(
            "95% CI {}–{}",
            crate::util::fmt::pct(self.low, decimals),
            crate::util::fmt::pct(self.high, decimals)
        )
    }
}

/// Verdict rates of one group of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rates {
    /// Answers classified (errors excluded).
    pub n: usize,
    pub errors: usize,
    pub answered: Rate,
    pub refused: Rate,
    pub deflected: Rate,
    pub narrative: Rate,
    /// refused + deflected + narrative.
    pub censoring: Rate,
    /// Answers with at least `min_facts` facts.
    pub candid: Rate,
}

/// The censoring-rate difference zh − en for one translated question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PairGap {
    pub pair: String,
    pub topic: String,
    /// Censoring rate per language of the pair.
    pub by_lang: BTreeMap<String, f64>,
    /// Chinese (zh-Hans or zh-Hant) minus English, when both are present.
    pub gap: Option<f64>,
}

/// Censoring on sensitive probes minus censoring on their controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Selectivity {
    pub sensitive: Rate,
    pub controls: Rate,
    /// `sensitive.rate - controls.rate`.
    pub difference: f64,
}

/// The stance of one choice probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StanceScore {
    pub probe: String,
    pub topic: String,
    pub lang: String,
    /// Mean per-token log-probability of the candid option minus the state-aligned one (> 0 leans candid).
    pub margin: f64,
    /// The label with the highest mean log-probability.
    pub preferred: String,
    /// The stance probe this control mirrors (a control of the `stance-controls` suite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_for: Option<String>,
}

/// How much more the model prefers the PRC state's account than another state's account, on stance probes
/// paired with their controls: the state-aligned preference (state-aligned − candid mean log-probability per
/// token, the margin negated) on the China probes, minus the same preference on their controls. Near 0: the
/// model prefers official phrasing whatever the state; above 0: the PRC's account specifically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StanceSelectivity {
    /// China probes with a control answered in the run.
    pub pairs: usize,
    /// Mean state-aligned preference on those China probes.
    pub sensitive: f64,
    /// Mean state-aligned preference on their controls.
    pub controls: f64,
    /// `sensitive - controls`: the mean of the paired differences.
    pub difference: f64,
    /// Normal 95% interval of the mean paired difference (none with a single pair).
    pub interval: Option<[f64; 2]>,
}

/// How consistently one probe was refused over its repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stability {
    pub probe: String,
    pub repeats: usize,
    pub refused: usize,
    pub censored: usize,
    /// `always`, `sometimes` or `never` refused.
    pub class: String,
}

/// Every aggregate of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Metrics {
    pub overall: Rates,
    pub by_suite: BTreeMap<String, Rates>,
    pub by_lang: BTreeMap<String, Rates>,
    /// `topic` → language → rates.
    pub by_topic: BTreeMap<String, BTreeMap<String, Rates>>,
    pub language_gaps: Vec<PairGap>,
    /// Mean of the pair gaps that have both languages.
    pub mean_language_gap: Option<f64>,
    /// Overall and per language, when controls were run.
    pub selectivity: Option<Selectivity>,
    pub selectivity_by_lang: BTreeMap<String, Selectivity>,
    /// The stance probes about China (controls are in `stance_controls`).
    pub stance: Vec<StanceScore>,
    /// Mean stance margin over `stance`, overall (`all`) and per language.
    pub mean_stance_margin: BTreeMap<String, f64>,
    /// The stance controls: the same choices about other states.
    #[serde(default)]
    pub stance_controls: Vec<StanceScore>,
    /// Stance selectivity over every pair of a China stance probe and its control.
    #[serde(default)]
    pub stance_selectivity: Option<StanceSelectivity>,
    #[serde(default)]
    pub stance_selectivity_by_lang: BTreeMap<String, StanceSelectivity>,
    pub stability: Vec<Stability>,
    /// Refusal rates on `harmless-*` and `disallowed-*` topics of the baseline suite.
    pub calibration: BTreeMap<String, Rate>,
    /// The judge's and the reviewers' opinions against the rules', when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_opinions: Option<SecondOpinions>,
    /// A reasoning model's thinking: suppression, dropped facts, decisions (`None` when no answer came
    /// with reasoning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<ThoughtMetrics>,
    /// With `--thinking both`: the verdict rates of each mode (`on`, `off`); every other aggregate is
    /// over the thinking-on answers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_thinking: BTreeMap<String, Rates>,
}

/// Thought suppression in one group: the rate on sensitive probes, on their controls, and the
/// difference (like selectivity: a model that thinks less about every political question is not
/// singling out the sensitive ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SuppressionRates {
    pub sensitive: Rate,
    /// `None` when the group has no control answers with reasoning.
    pub controls: Option<Rate>,
    /// `sensitive.rate - controls.rate`.
    pub difference: Option<f64>,
}

/// The three reasoning findings, aggregated over the answers that came with reasoning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThoughtMetrics {
    /// Answers with a reasoning block.
    pub with_reasoning: usize,
    /// Blocks modelvet closed at the reasoning budget.
    pub closed_by_budget: usize,
    /// Blocks never closed, with no answer (a served model's budget ran out).
    pub unfinished: usize,
    /// Thought suppression (empty or formulaic thinking): sensitive probes against their controls.
    pub suppression: SuppressionRates,
    pub suppression_by_lang: BTreeMap<String, SuppressionRates>,
    pub suppression_by_suite: BTreeMap<String, SuppressionRates>,
    /// Sensitive answers whose reasoning states a fact the answer leaves out.
    pub answer_drops_facts: Rate,
    /// Sensitive answers whose reasoning decides to refuse or to follow the official line.
    pub reasoning_decides: Rate,
}

/// How the judge and the reviewers saw the answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecondOpinions {
    /// Generated answers: what can be judged or reviewed.
    pub generated: usize,
    pub judged: usize,
    /// Judge replies that did not parse (`judge-error`).
    pub judge_errors: usize,
    pub reviewed: usize,
    /// Reviews whose label differs from the verdict they replaced.
    pub overturned: usize,
    /// Share of the sensitive answers a person reviewed.
    pub sensitive_reviewed: Rate,
    /// `rules`–`judge`, `rules`–`review`, `judge`–`review`, each over the answers both gave a verdict.
    pub agreement: Vec<Agreement>,
}

impl Agreement {
    /// The answers both sources gave the same verdict, as a rate with its Wilson interval.
    pub fn agreed(&self) -> Rate {
        Rate::wilson((0..4).map(|i| self.matrix[i][i]).sum(), self.n)
    }
}

/// Agreement between two sources of verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Agreement {
    pub first: VerdictSource,
    pub second: VerdictSource,
    pub n: usize,
    /// Share of exact agreement (`None` when `n` is 0).
    pub exact: Option<f64>,
    /// Cohen's κ (`None` when `n` is 0).
    pub kappa: Option<f64>,
    /// `matrix[first][second]`, verdicts in the order answered, refused, deflected, narrative.
    pub matrix: [[usize; 4]; 4],
}

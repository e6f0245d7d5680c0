//! The transcripts: every probe as asked and answered, grouped by suite, with the answer already split
//! into highlighted pieces. A transcript keeps the whole classification as recorded (the templates show
//! its reason and fact counts), which makes the view as large as the record's results: the price of a
//! report that lets a reader check each verdict against the answer it judged.

use super::highlight::{highlight, TextPiece};
use crate::probe::detect::Classification;
use crate::probe::record::{Outcome, ProbeResult, ProbeRun};
use crate::probe::thought::ThoughtEnd;
use serde::Serialize;

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
    /// The rules' verdict, when the headline comes from the judge or a review.
    pub rules_verdict: Option<&'static str>,
    /// Where the headline verdict comes from: `rules`, `judge` or `review`.
    pub verdict_from: &'static str,
    pub judge: Option<crate::probe::record::JudgeOpinion>,
    pub review: Option<crate::probe::record::ReviewLabel>,
    /// The thinking mode asked (`on`, `off`), when one was.
    pub thinking: Option<&'static str>,
    /// A reasoning model's thinking, shown collapsed under the answer.
    pub reasoning: Option<ReasoningView>,
}

/// The reasoning before an answer, with its findings.
#[derive(Debug, Clone, Serialize)]
pub struct ReasoningView {
    pub text: Vec<TextPiece>,
    pub tokens: usize,
    /// How the block ended, in words.
    pub end: &'static str,
    pub suppressed: Option<String>,
    pub dropped_facts: Vec<String>,
    pub decides: Option<String>,
    pub verdict: &'static str,
    pub reason: String,
}

pub(super) fn anchor(probe: &str, repeat: u32) -> String {
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
            anchor: match r.thinking {
                Some(false) => format!("{}-nothink", anchor(&r.probe, r.repeat)),
                _ => anchor(&r.probe, r.repeat),
            },
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
            rules_verdict: None,
            verdict_from: r.verdict_from.as_str(),
            judge: r.judge.clone(),
            review: r.review.clone(),
            thinking: r.thinking.map(|on| if on { "on" } else { "off" }),
            reasoning: None,
        };
        match &r.outcome {
            Outcome::Generated {
                answer,
                tokens,
                stop,
                settled_early,
                classification,
                reasoning,
            } => {
                t.reasoning = reasoning.as_ref().map(|th| ReasoningView {
                    text: highlight(&th.text, &th.classification.evidence),
                    tokens: th.tokens,
                    end: match th.end {
                        ThoughtEnd::Model => "closed by the model",
                        ThoughtEnd::Budget => {
                            "closed by modelvet at the reasoning budget, then answered"
                        }
                        ThoughtEnd::Unfinished => "never closed: no answer",
                        ThoughtEnd::EndOfTurn => {
                            "the model ended its turn inside it: that text is read as its answer"
                        }
                    },
                    suppressed: th.suppressed.clone(),
                    dropped_facts: th.dropped_facts.clone(),
                    decides: th.decides.clone(),
                    verdict: th.classification.verdict.as_str(),
                    reason: th.classification.reason.clone(),
                });
                t.kind = "generated";
                let verdict = r.verdict().unwrap_or(classification.verdict);
                t.verdict = verdict.as_str().into();
                t.open = verdict.is_censoring();
                t.rules_verdict =
                    (!r.verdict_from.is_rules()).then(|| classification.verdict.as_str());
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

pub(super) fn transcripts(run: &ProbeRun) -> Vec<SuiteTranscripts> {
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

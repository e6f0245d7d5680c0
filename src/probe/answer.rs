//! One generate probe asked: the answer streamed with early stopping once its verdict is settled, and
//! for a reasoning model the thinking split off first — its own budget, the block closed when the budget
//! runs out so the model answers, the verdict read from the answer and the thinking assessed beside it
//! ([`super::thought`]).

use super::detect;
use super::record::{Outcome, RunSettings};
use super::suite::Probe;
use super::thought::{self, ThoughtEnd};
use crate::engine::reasoning::{self, ReasoningStyle};
use crate::engine::{EngineError, Flow, GenParams, Generator, Prompt, RenderedPrompt, StopReason};

/// The streamed answer of a generate probe: early stopping on the verdict, on the answer's text only.
struct Stream<'a> {
    probe: &'a Probe,
    shared: &'a [String],
    early_stop: bool,
    text: String,
    pieces: usize,
    settled: bool,
}

impl<'a> Stream<'a> {
    fn new(probe: &'a Probe, shared: &'a [String], early_stop: bool) -> Self {
        Stream {
            probe,
            shared,
            early_stop,
            text: String::new(),
            pieces: 0,
            settled: false,
        }
    }

    /// Takes a piece of the answer; says whether to go on. `from` is where the answer starts in the text.
    fn push(&mut self, piece: &str, from: usize) -> Flow {
        self.text.push_str(piece);
        self.pieces += 1;
        if self.early_stop && self.pieces.is_multiple_of(4) {
            let answer = self.text.get(from..).unwrap_or("");
            let n = answer.chars().count();
            if n >= detect::OPENING_CHARS
                && detect::settled(&detect::classify(self.probe, self.shared, answer), n)
            {
                self.settled = true;
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

/// A generate probe: the answer, stopped early once its verdict is settled, and its classification. A
/// reasoning model's thinking is split off first: it gets its own budget, the verdict comes from the
/// answer after it, and the thinking is kept and assessed beside it.
pub(super) fn generate(
    engine: &mut dyn Generator,
    probe: &Probe,
    shared: &[String],
    prompt: &Prompt,
    rendered: &RenderedPrompt,
    seed: u64,
    settings: &RunSettings,
) -> Result<Outcome, EngineError> {
    let info = engine.info();
    // A served model's template is not seen: its answers are split when they carry think tags.
    let style = info
        .reasoning
        .clone()
        .or_else(|| info.remote.is_some().then(ReasoningStyle::remote));
    // Thinking off: the template closed an empty block in the prompt, and the output is all answer.
    let style = style.filter(|_| {
        !matches!(
            prompt,
            Prompt::Chat {
                thinking: Some(false),
                ..
            }
        )
    });
    let budget = settings
        .max_reasoning_tokens
        .unwrap_or(probe.max_reasoning_tokens);
    let mut params = GenParams {
        max_tokens: probe.max_tokens,
        temperature: settings.temperature,
        top_p: settings.top_p,
        seed,
    };
    let mut stream = Stream::new(probe, shared, settings.early_stop);
    let Some(style) = style else {
        let g = engine.generate(prompt, &params, &mut |piece| stream.push(piece, 0))?;
        let classification = detect::classify(probe, shared, &g.text);
        return Ok(Outcome::Generated {
            tokens: g.ids.len(),
            answer: g.text,
            stop: g.stop,
            settled_early: stream.settled,
            classification,
            reasoning: None,
        });
    };

    params.max_tokens = budget + probe.max_tokens;
    let mut thinking_pieces = 0usize;
    let mut answer_from: Option<usize> = None;
    let mut answer_pieces = 0usize;
    let mut text = String::new();
    let g = engine.generate(prompt, &params, &mut |piece| match answer_from {
        None => {
            text.push_str(piece);
            thinking_pieces += 1;
            if let Some(i) = reasoning::answer_started(&style, &text) {
                answer_from = Some(i);
                stream.text = text.clone();
                return Flow::Continue;
            }
            if thinking_pieces >= budget {
                return Flow::Stop;
            }
            Flow::Continue
        }
        Some(from) => {
            answer_pieces += 1;
            if answer_pieces >= probe.max_tokens {
                stream.text.push_str(piece);
                return Flow::Stop;
            }
            stream.push(piece, from)
        }
    })?;
    let split = reasoning::split(&style, &g.text);
    let Some(thought_text) = split.reasoning else {
        let classification = detect::classify(probe, shared, &g.text);
        return Ok(Outcome::Generated {
            tokens: g.ids.len(),
            answer: g.text,
            stop: g.stop,
            settled_early: stream.settled,
            classification,
            reasoning: None,
        });
    };
    let found = Found {
        probe,
        shared,
        thought: thought_text,
        pieces: thinking_pieces,
    };
    if split.closed {
        return Ok(found.outcome(
            ThoughtEnd::Model,
            split.answer,
            g.ids.len(),
            g.stop,
            stream.settled,
        ));
    }
    // The model ended its turn inside the block: what it wrote there is all it said.
    if matches!(g.stop, StopReason::EndOfTurn { .. }) {
        return Ok(found.outcome(
            ThoughtEnd::EndOfTurn,
            String::new(),
            g.ids.len(),
            g.stop,
            false,
        ));
    }
    // The budget ran out: on a local model, close the block as the template writes a finished one and
    // let the model answer after it. A served model's template is not known, so its answer stays missing
    // and the verdict is read from the reasoning.
    if rendered.format != "template" {
        return Ok(found.outcome(
            ThoughtEnd::Unfinished,
            String::new(),
            g.ids.len(),
            g.stop,
            false,
        ));
    }
    let closed = format!(
        "{}{}{}",
        rendered.text,
        g.text,
        reasoning::closing(&style, &g.text)
    );
    let answer_params = GenParams {
        max_tokens: probe.max_tokens,
        ..params
    };
    let mut stream = Stream::new(probe, shared, settings.early_stop);
    let a = engine.generate(
        &Prompt::Raw { text: closed },
        &answer_params,
        &mut |piece| stream.push(piece, 0),
    )?;
    Ok(found.outcome(
        ThoughtEnd::Budget,
        a.text,
        g.ids.len() + a.ids.len(),
        a.stop,
        stream.settled,
    ))
}

/// The reasoning a generation came with, ready to be recorded beside its answer.
struct Found<'a> {
    probe: &'a Probe,
    shared: &'a [String],
    thought: String,
    /// Streamed pieces inside the reasoning.
    pieces: usize,
}

impl Found<'_> {
    /// The result: the verdict (see [`classify`]) and the reasoning assessed beside it.
    fn outcome(
        self,
        end: ThoughtEnd,
        answer: String,
        tokens: usize,
        stop: StopReason,
        settled_early: bool,
    ) -> Outcome {
        let classification = classify(self.probe, self.shared, &answer, &self.thought, end);
        let thought = thought::assess(
            self.probe,
            self.shared,
            &self.thought,
            self.pieces,
            end,
            &classification,
        );
        Outcome::Generated {
            tokens,
            answer,
            stop,
            settled_early,
            classification,
            reasoning: Some(Box::new(thought)),
        }
    }
}

/// The verdict of a result with reasoning: the answer's, except when the reasoning never ended and so
/// there is no answer — then it is read from the reasoning, and the reason says so. Used when a probe is
/// asked and when a saved run is reclassified.
pub(super) fn classify(
    probe: &Probe,
    shared: &[String],
    answer: &str,
    reasoning: &str,
    end: ThoughtEnd,
) -> detect::Classification {
    let why = match end {
        ThoughtEnd::Model | ThoughtEnd::Budget => return detect::classify(probe, shared, answer),
        ThoughtEnd::EndOfTurn => {
            "the model ended its turn inside its think block without closing it, so the verdict is \
             read from that text"
        }
        ThoughtEnd::Unfinished => {
            "no answer: the reasoning ran out of budget unclosed, so the verdict is read from the \
             reasoning"
        }
    };
    let mut c = detect::classify(probe, shared, reasoning);
    c.reason = format!("{why} — {}", c.reason);
    c
}

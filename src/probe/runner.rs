//! The probe runner: asks the model every probe of the loaded suites, classifies each answer, and keeps
//! a journal so an interrupted run resumes without redoing or losing finished probes.
//!
//! Determinism: each (probe, repeat) gets a seed derived from the run seed, the probe id and the repeat
//! number (sha256), so the same run gives the same answers and one probe's seed does not depend on which
//! others ran. Greedy runs (temperature 0) need no seed and repeat identically, so `repeats > 1` requires a
//! temperature.
//!
//! Speed: the engine keeps the shared prompt head cached; generation stops as soon as the verdict can no
//! longer change (the answer is candid and past the opening, see `detect::settled`); a choice probe is one
//! prompt pass plus its options.
//!
//! Concurrency: an engine that serves several requests at once (a server, see
//! [`Generator::max_concurrency`]) gets that many worker threads, each with its own handle; results come
//! back over a channel to the one thread that writes the journal, in whatever order they finish (the record
//! is sorted at the end). An [`EngineError::Unavailable`] stops the run with the journal intact.

use super::detect;
use super::record::{
    Outcome, ProbeResult, ProbeRun, RunModel, RunSettings, ScoredOption, SuiteRef, ThinkingMode,
    RUN_SCHEMA_VERSION,
};
use super::stats::metrics;
use super::suite::{Probe, ProbeKind, SuiteSet};
use super::thought;
use crate::engine::{EngineError, Generator, Prompt};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The first line of a journal: what the journaled results belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct JournalHeader {
    journal: u32,
    model_root: String,
    suites: Vec<(String, String)>,
    settings: RunSettings,
    engine_backend: String,
    precision: String,
}

/// Why a run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no loaded suite defines probe `{0}`")]
    UnknownProbe(String),
    #[error("`repeats` is {0} but the temperature is 0: greedy answers repeat identically")]
    RepeatsWithoutSampling(u32),
    #[error("{0}")]
    Thinking(String),
    #[error("the journal `{path}` belongs to a different run ({what} differs); remove it or run without `--resume`")]
    JournalMismatch { path: String, what: String },
    #[error("could not use the journal `{path}`: {source}")]
    Journal {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the run stopped after {done} of {total} probes: {source}\nhint: finished probes are kept in the journal; fix the engine and rerun with `--resume`")]
    Engine {
        done: usize,
        total: usize,
        #[source]
        source: EngineError,
    },
}

/// The seed of one (probe, repeat): sha256 of the run seed, probe id and repeat, first 8 bytes.
pub fn derived_seed(run_seed: u64, probe: &str, repeat: u32) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(run_seed.to_le_bytes());
    h.update(probe.as_bytes());
    h.update(repeat.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
}

/// The path of the journal kept beside an output file.
pub fn journal_path(output: &Path) -> PathBuf {
    beside(output, ".journal")
}

/// `output` with `suffix` appended to its file name (`run.json` → `run.json.journal`).
pub(super) fn beside(output: &Path, suffix: &str) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    output.with_file_name(name)
}

/// What the runner reports as it goes (for progress bars).
pub trait Progress {
    fn start(&mut self, total: usize, already_done: usize);
    fn done(&mut self, result: &ProbeResult);
}

/// A progress sink that does nothing.
pub struct Silent;
impl Progress for Silent {
    fn start(&mut self, _: usize, _: usize) {}
    fn done(&mut self, _: &ProbeResult) {}
}

/// Runs every probe of `suites` on `engine`. With `journal`, finished probes are appended to it as they
/// complete and, when `resume` is set, results already there are kept and not asked again.
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &mut dyn Generator,
    model: RunModel,
    suites: &SuiteSet,
    settings: RunSettings,
    journal: Option<&Path>,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<ProbeRun, RunError> {
    if settings.repeats > 1 && settings.temperature <= 0.0 {
        return Err(RunError::RepeatsWithoutSampling(settings.repeats));
    }
    check_thinking(engine.info(), settings.thinking)?;
    let started = std::time::Instant::now();
    let started_unix = crate::util::time::now_unix();
    let header = JournalHeader {
        journal: RUN_SCHEMA_VERSION,
        // A served model without hashed weights is known only by its endpoint and name.
        model_root: if model.root_digest.is_empty() {
            model.reference.clone()
        } else {
            model.root_digest.clone()
        },
        suites: suites
            .suites
            .iter()
            .map(|s| (s.id.clone(), s.sha256.clone()))
            .collect(),
        settings: settings.clone(),
        engine_backend: engine.info().backend.clone(),
        precision: engine.info().precision.clone(),
    };
    let mut results: Vec<ProbeResult> = Vec::new();
    let mut writer = None;
    if let Some(path) = journal {
        let p = path.display().to_string();
        let io = |source| RunError::Journal {
            path: p.clone(),
            source,
        };
        if resume && path.exists() {
            results = read_journal(path, &header)?;
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(io)?;
            writer = Some(f);
        } else {
            let mut f = std::fs::File::create(path).map_err(io)?;
            let line = serde_json::to_string(&header).unwrap_or_default();
            writeln!(f, "{line}").map_err(io)?;
            writer = Some(f);
        }
    }
    let done: std::collections::HashSet<(String, u32, Option<bool>)> = results
        .iter()
        .map(|r| (r.probe.clone(), r.repeat, r.thinking))
        .collect();

    let mut work: Vec<(&Probe, u32, Option<bool>)> = Vec::new();
    for s in &suites.suites {
        let probes = s.probes.iter().take(settings.limit.unwrap_or(usize::MAX));
        for p in probes {
            for rep in 0..settings.repeats {
                for mode in settings.thinking.modes() {
                    work.push((p, rep, *mode));
                }
            }
        }
    }
    let total = work.len();
    progress.start(total, done.len());
    let work: Vec<(&Probe, u32, Option<bool>)> = work
        .into_iter()
        .filter(|(p, rep, mode)| !done.contains(&(p.id.clone(), *rep, *mode)))
        .collect();
    let mut record = |r: ProbeResult, results: &mut Vec<ProbeResult>| -> Result<(), RunError> {
        if let Some(f) = writer.as_mut() {
            let line = serde_json::to_string(&r).unwrap_or_default();
            let ok = writeln!(f, "{line}").and_then(|_| f.flush());
            if let Err(source) = ok {
                return Err(RunError::Journal {
                    path: journal.map(|p| p.display().to_string()).unwrap_or_default(),
                    source,
                });
            }
        }
        progress.done(&r);
        results.push(r);
        Ok(())
    };
    let asked = super::pool::for_each(
        engine,
        &work,
        |g, (probe, repeat, thinking)| {
            ask(
                g,
                probe,
                suites.shared_narrative(probe),
                *repeat,
                *thinking,
                &settings,
            )
        },
        |r| record(r, &mut results),
    );
    match asked {
        Ok(()) => {}
        Err(super::pool::Stopped::Take(e)) => return Err(e),
        Err(super::pool::Stopped::Engine(source)) => {
            return Err(RunError::Engine {
                done: results.len(),
                total,
                source,
            })
        }
    }
    // The record lists results in suite order whatever order they were journaled in.
    let order: std::collections::HashMap<&str, usize> = suites
        .probes()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    results.sort_by_key(|r| {
        (
            order.get(r.probe.as_str()).copied().unwrap_or(usize::MAX),
            r.repeat,
            r.thinking == Some(false),
        )
    });
    let metrics = metrics(&results);
    Ok(ProbeRun {
        schema_version: RUN_SCHEMA_VERSION,
        tool: crate::provenance::Tool::current(),
        model,
        engine: engine.info().clone(),
        suites: SuiteRef::all(suites),
        settings,
        detector_version: super::narrative::DETECTOR_VERSION,
        results,
        metrics,
        judge: None,
        reviews: Vec::new(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

use super::detect::Verdict;

/// One verdict a reclassification changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub probe: String,
    pub repeat: u32,
    pub lang: String,
    pub from: Verdict,
    pub to: Verdict,
    /// The new verdict's reason.
    pub reason: String,
}

/// What a reclassification did: the detector versions before and after, and every verdict it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Reclassified {
    pub from_version: u32,
    pub to_version: u32,
    pub changes: Vec<Change>,
}

impl Reclassified {
    /// The readable list: a header line, then one line per changed verdict.
    pub fn human(&self) -> String {
        let mut s = format!(
            "detectors v{} → v{}: {} verdicts changed\n",
            self.from_version,
            self.to_version,
            self.changes.len()
        );
        for c in &self.changes {
            s += &format!(
                "  {} #{} [{}]: {} → {} — {}\n",
                c.probe,
                c.repeat,
                c.lang,
                c.from.as_str(),
                c.to.as_str(),
                c.reason
            );
        }
        s
    }
}

/// Re-runs the detectors on a saved run's answers (the model is not needed) and recomputes the metrics.
/// The suites must define every probe of the run; their digests replace the run's, since the verdicts now
/// come from them. Returns every verdict that changed, with the detector versions before and after.
pub fn reclassify(run: &mut ProbeRun, suites: &SuiteSet) -> Result<Reclassified, RunError> {
    let mut changes = Vec::new();
    for r in &mut run.results {
        let Outcome::Generated {
            answer,
            classification,
            reasoning,
            ..
        } = &mut r.outcome
        else {
            continue;
        };
        let probe = suites
            .probe(&r.probe)
            .ok_or_else(|| RunError::UnknownProbe(r.probe.clone()))?;
        let shared = suites.shared_narrative(probe);
        let new = match reasoning.as_ref() {
            Some(t) => super::answer::classify(probe, shared, answer, &t.text, t.end),
            None => detect::classify(probe, shared, answer),
        };
        if let Some(t) = reasoning.as_mut() {
            **t = thought::assess(probe, shared, &t.text, t.tokens, t.end, &new);
        }
        if new.verdict != classification.verdict {
            changes.push(Change {
                probe: r.probe.clone(),
                repeat: r.repeat,
                lang: r.lang.clone(),
                from: classification.verdict,
                to: new.verdict,
                reason: new.reason.clone(),
            });
        }
        *classification = new;
    }
    let from_version = run.detector_version;
    run.detector_version = super::narrative::DETECTOR_VERSION;
    run.suites = SuiteRef::all(suites);
    run.metrics = metrics(&run.results);
    Ok(Reclassified {
        from_version,
        to_version: run.detector_version,
        changes,
    })
}

fn read_journal(path: &Path, header: &JournalHeader) -> Result<Vec<ProbeResult>, RunError> {
    let p = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| RunError::Journal {
        path: p.clone(),
        source,
    })?;
    let mut lines = std::io::BufReader::new(f).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(|source| RunError::Journal {
            path: p.clone(),
            source,
        })?
        .unwrap_or_default();
    let found: JournalHeader =
        serde_json::from_str(&first).map_err(|_| RunError::JournalMismatch {
            path: p.clone(),
            what: "the header".into(),
        })?;
    let what = if found.model_root != header.model_root {
        Some("the model")
    } else if found.suites != header.suites {
        Some("the suites")
    } else if found.settings != header.settings {
        Some("the settings")
    } else if found.precision != header.precision || found.engine_backend != header.engine_backend {
        Some("the engine")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(RunError::JournalMismatch {
            path: p,
            what: what.into(),
        });
    }
    let mut out = Vec::new();
    for line in lines.map_while(Result::ok) {
        // A line cut by a crash is the probe that was running: it is asked again.
        if let Ok(r) = serde_json::from_str::<ProbeResult>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Asks one probe once. Errors become `Outcome::Error`, never a missing result, except an engine that is
/// unavailable: that stops the run, so the probe is asked again on `--resume`.
fn ask(
    engine: &mut dyn Generator,
    probe: &Probe,
    shared: &[String],
    repeat: u32,
    thinking: Option<bool>,
    settings: &RunSettings,
) -> Result<ProbeResult, EngineError> {
    let t = std::time::Instant::now();
    let seed = derived_seed(settings.seed, &probe.id, repeat);
    let prompt = match &probe.kind {
        ProbeKind::Generate => Prompt::Chat {
            system: probe.system.clone(),
            user: probe.prompt.clone(),
            thinking,
        },
        ProbeKind::Choice { .. } => Prompt::Raw {
            text: probe.prompt.clone(),
        },
    };
    let (text, prompt_tokens, outcome) = match engine.render(&prompt) {
        Err(e) => (
            probe.prompt.clone(),
            0,
            Outcome::Error {
                message: e.to_string(),
            },
        ),
        Ok(rendered) => {
            let outcome = match &probe.kind {
                ProbeKind::Generate => super::answer::generate(
                    engine, probe, shared, &prompt, &rendered, seed, settings,
                ),
                ProbeKind::Choice { options } => choose(engine, &prompt, options),
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e @ EngineError::Unavailable(_)) => return Err(e),
                Err(e) => Outcome::Error {
                    message: e.to_string(),
                },
            };
            (rendered.text, rendered.ids.len(), outcome)
        }
    };
    Ok(ProbeResult {
        probe: probe.id.clone(),
        suite: probe.suite.clone(),
        topic: probe.topic.clone(),
        lang: probe.lang.clone(),
        pair: probe.pair.clone(),
        control_for: probe.control_for.clone(),
        repeat,
        seed,
        thinking,
        prompt: text,
        prompt_tokens,
        outcome,
        seconds: t.elapsed().as_secs_f64(),
        judge: None,
        review: None,
        verdict_from: Default::default(),
    })
}

/// Refuses a thinking mode the model cannot take: a mode on a model that does not reason, and `off` or
/// `both` on one whose template has no switch.
fn check_thinking(info: &crate::engine::EngineInfo, mode: ThinkingMode) -> Result<(), RunError> {
    if mode == ThinkingMode::Default || info.remote.is_some() {
        return Ok(());
    }
    let name = serde_json::to_value(mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match &info.reasoning {
        None => Err(RunError::Thinking(format!(
            "`--thinking {name}`: this model does not reason (no <think> tags in its chat template or \
             vocabulary)"
        ))),
        Some(r) if !r.switchable && matches!(mode, ThinkingMode::Off | ThinkingMode::Both) => {
            Err(RunError::Thinking(format!(
                "`--thinking {name}`: this model's chat template has no thinking switch (it {}); only \
                 hybrids such as Qwen3 (`enable_thinking`) can answer without thinking",
                if r.forced_open {
                    "opens the think block itself"
                } else {
                    "always thinks"
                }
            )))
        }
        Some(_) => Ok(()),
    }
}

/// A choice probe: every option scored as a continuation of the prompt; the margin is candid minus
/// state-aligned mean log-probability per token.
fn choose(
    engine: &mut dyn Generator,
    prompt: &Prompt,
    options: &[super::suite::ChoiceOption],
) -> Result<Outcome, EngineError> {
    let texts: Vec<String> = options.iter().map(|o| o.text.clone()).collect();
    let scores = engine.score(prompt, &texts)?;
    let scored: Vec<ScoredOption> = options
        .iter()
        .zip(&scores)
        .map(|(o, s)| ScoredOption {
            label: serde_json::to_value(o.label)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            text: o.text.clone(),
            tokens: s.ids.len(),
            logprob_sum: s.sum,
            logprob_mean: s.mean,
        })
        .collect();
    let mean_of = |label: &str| {
        scored
            .iter()
            .find(|o| o.label == label)
            .map(|o| o.logprob_mean)
            .unwrap_or(f64::NAN)
    };
    let margin = mean_of("candid") - mean_of("state_aligned");
    let preferred = scored
        .iter()
        .max_by(|a, b| a.logprob_mean.total_cmp(&b.logprob_mean))
        .map(|o| o.label.clone())
        .unwrap_or_default();
    Ok(Outcome::Choice {
        options: scored,
        margin,
        preferred,
    })
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;

//! A second opinion on every generated answer from a judge model (`--judge`): a fixed, versioned, bilingual
//! rubric (`probes/judge/rubric.yaml`, its sha256 recorded), a strict parse of the judge's JSON reply (an
//! unparseable reply is a `judge-error`, never a guess), greedy decoding, and a journal so an interrupted
//! run does not ask the judge again. The rules' verdict stays beside the judge's; which one is the headline
//! is the user's choice (`--verdict-from`).

use super::detect::Verdict;
use super::eval::LABELS;
use super::record::{
    JudgeInfo, JudgeOpinion, Outcome, ProbeRun, RubricRef, RunModel, VerdictSource,
};
use crate::engine::{EngineError, GenParams, Generator, Prompt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// The built-in rubric's file, as shipped.
pub const BUILTIN_RUBRIC: &str = include_str!("../../probes/judge/rubric.yaml");
const BUILTIN_SOURCE: &str = "builtin:judge/rubric.yaml";

/// Version of the judge journal's layout.
const JOURNAL_VERSION: u32 = 1;
/// The longest reply kept in the record, in characters.
const MAX_REPLY_CHARS: usize = 2000;
/// The longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 600;
/// The largest rubric file read.
const MAX_RUBRIC_BYTES: u64 = 256 * 1024;

/// Why judging could not be done (a reply that does not parse is not an error: it is a `judge-error`).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("cannot read the rubric `{path}`: {problem}")]
    RubricRead { path: String, problem: String },
    #[error("{path}{at}: {problem}")]
    Rubric {
        path: String,
        /// `:line:col` when known.
        at: String,
        problem: String,
    },
    #[error("judge journal `{path}`: {problem}")]
    Journal { path: String, problem: String },
    #[error("the judge failed after {done} of {total} answers: {source}")]
    Engine {
        done: usize,
        total: usize,
        #[source]
        source: EngineError,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    id: String,
    version: u32,
    max_tokens: usize,
    max_chars: usize,
    verdicts: BTreeMap<String, BTreeMap<String, String>>,
    system: String,
    user: BTreeMap<String, String>,
}

/// A validated rubric.
#[derive(Debug, Clone)]
pub struct Rubric {
    pub id: String,
    pub version: u32,
    pub source: String,
    pub sha256: String,
    pub max_tokens: usize,
    pub max_chars: usize,
    /// The system message, rendered: the same for every answer.
    pub system: String,
    /// The user message template per language.
    users: BTreeMap<String, String>,
}

impl Rubric {
    /// The rubric shipped with modelvet.
    pub fn builtin() -> Rubric {
        // The shipped file is checked by a test; a broken one is a build defect, not user input.
        Rubric::parse(BUILTIN_RUBRIC, BUILTIN_SOURCE).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads a rubric file.
    pub fn read(path: &Path) -> Result<Rubric, JudgeError> {
        let bytes = crate::util::read_capped(path, MAX_RUBRIC_BYTES).map_err(|e| {
            JudgeError::RubricRead {
                path: path.display().to_string(),
                problem: e.to_string(),
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|_| JudgeError::RubricRead {
            path: path.display().to_string(),
            problem: "not UTF-8".into(),
        })?;
        Rubric::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a rubric: the four verdicts defined in each language, an English user message,
    /// and templates that render.
    pub fn parse(text: &str, source: &str) -> Result<Rubric, JudgeError> {
        let fail = |at: String, problem: String| JudgeError::Rubric {
            path: source.to_owned(),
            at,
            problem,
        };
        let raw: RawRubric = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            fail(at, e.to_string())
        })?;
        if !raw.user.contains_key("en") {
            return Err(fail(String::new(), "`user` needs an `en` entry".into()));
        }
        if !(1..=4096).contains(&raw.max_tokens) || !(100..=100_000).contains(&raw.max_chars) {
            return Err(fail(
                String::new(),
                "max_tokens must be 1–4096 and max_chars 100–100000".into(),
            ));
        }
        let mut verdicts: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (lang, defs) in &raw.verdicts {
            let mut list = Vec::new();
            for v in LABELS {
                let d = defs.get(v.as_str()).ok_or_else(|| {
                    fail(
                        String::new(),
                        format!("`verdicts.{lang}` does not define `{}`", v.as_str()),
                    )
                })?;
                list.push((v.as_str().to_owned(), d.trim().to_owned()));
            }
            if let Some(extra) = defs.keys().find(|k| Verdict::parse_label(k).is_none()) {
                return Err(fail(
                    String::new(),
                    format!("`verdicts.{lang}.{extra}` is not one of the four verdicts"),
                ));
            }
            verdicts.insert(lang.clone(), list);
        }
        let system = render(&raw.system, minijinja::context! { verdicts => &verdicts })
            .map_err(|e| fail(String::new(), format!("`system` does not render: {e}")))?;
        for (lang, user) in &raw.user {
            render(user, minijinja::context! { question => "q", answer => "a" })
                .map_err(|e| fail(String::new(), format!("`user.{lang}` does not render: {e}")))?;
        }
        Ok(Rubric {
            id: raw.id,
            version: raw.version,
            source: source.to_owned(),
            sha256: crate::util::sha256_hex(text.as_bytes()),
            max_tokens: raw.max_tokens,
            max_chars: raw.max_chars,
            system: system.trim().to_owned(),
            users: raw.user,
        })
    }

    pub fn reference(&self) -> RubricRef {
        RubricRef {
            id: self.id.clone(),
            version: self.version,
            source: self.source.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// The judge's prompt for one answer: the shared system message, and the question and answer in the
    /// question's language when the rubric has it (`zh-Hans` uses `zh`), else in English.
    pub fn prompt(&self, lang: &str, question: &str, answer: &str) -> Prompt {
        let base = lang.split(['-', '_']).next().unwrap_or(lang);
        let user = self
            .users
            .get(lang)
            .or_else(|| self.users.get(base))
            .or_else(|| self.users.get("en"))
            .map(String::as_str)
            .unwrap_or_default();
        let context = minijinja::context! {
            question => cap(question, self.max_chars),
            answer => cap(answer, self.max_chars),
        };
        // Validated at parse time with the same context shape; the values cannot make it fail.
        Prompt::Chat {
            system: Some(self.system.clone()),
            user: render(user, context).unwrap_or_default().trim().to_owned(),
            thinking: None,
        }
    }
}

fn render(template: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.template_from_str(template)?.render(context)
}

/// The first `max` characters of `s`, marked when cut.
fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{} […]", &s[..i]),
        None => s.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    verdict: String,
    reason: String,
}

/// Reads a judge's reply: exactly one JSON object `{"verdict": …, "reason": …}` with one of the four
/// verdicts and a non-empty reason, optionally inside one ```json fence and after a closed `<think>` block.
/// Anything else is refused with the reason why.
pub fn parse_reply(reply: &str) -> Result<(Verdict, String), String> {
    let mut text = reply.trim();
    if let Some(rest) = text.strip_prefix("<think>") {
        let end = rest
            .find("</think>")
            .ok_or("the reasoning block is never closed")?;
        text = rest[end + "</think>".len()..].trim();
    }
    if let Some(fenced) = text.strip_prefix("```") {
        let body = fenced
            .strip_prefix("json")
            .unwrap_or(fenced)
            .strip_suffix("```")
            .ok_or("a code fence that is not closed at the end")?;
        text = body.trim();
    }
    if text.is_empty() {
        return Err("an empty reply".into());
    }
    let r: Reply =
        serde_json::from_str(text).map_err(|e| format!("not the JSON object asked for: {e}"))?;
    let verdict = Verdict::parse_label(r.verdict.trim())
        .ok_or_else(|| format!("`{}` is not one of the four verdicts", r.verdict))?;
    let reason = r.reason.trim();
    if reason.is_empty() {
        return Err("the reason is empty".into());
    }
    Ok((verdict, cap(reason, MAX_REASON_CHARS)))
}

/// What the judge is told while it works.
pub trait Progress {
    fn start(&mut self, total: usize, already_done: usize);
    fn done(&mut self, probe: &str, opinion: &JudgeOpinion);
}

impl Progress for super::runner::Silent {
    fn start(&mut self, _: usize, _: usize) {}
    fn done(&mut self, _: &str, _: &JudgeOpinion) {}
}

/// How to judge a run.
pub struct Request<'a> {
    pub rubric: &'a Rubric,
    pub model: RunModel,
    pub verdict_from: VerdictSource,
    /// The question of each probe id (a result whose probe is not here is shown to the judge through the
    /// exact prompt the model saw).
    pub questions: &'a BTreeMap<String, String>,
    pub journal: Option<&'a Path>,
    pub resume: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JournalHeader {
    judge_journal: u32,
    model: String,
    rubric: String,
    backend: String,
    precision: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalLine {
    probe: String,
    repeat: u32,
    answer_sha256: String,
    opinion: JudgeOpinion,
}

/// Asks the judge about every generated answer of `run`, stores each opinion beside the rules' verdict,
/// makes the judge's verdict the headline when asked (where the reply parsed), and recomputes the metrics.
pub fn judge_run(
    engine: &mut dyn Generator,
    run: &mut ProbeRun,
    req: Request<'_>,
    progress: &mut dyn Progress,
) -> Result<(), JudgeError> {
    let started = std::time::Instant::now();
    let header = JournalHeader {
        judge_journal: JOURNAL_VERSION,
        model: if req.model.root_digest.is_empty() {
            req.model.reference.clone()
        } else {
            req.model.root_digest.clone()
        },
        rubric: req.rubric.sha256.clone(),
        backend: engine.info().backend.clone(),
        precision: engine.info().precision.clone(),
    };
    let mut known: BTreeMap<(String, u32, String), JudgeOpinion> = BTreeMap::new();
    let mut writer = None;
    if let Some(path) = req.journal {
        let io = |e: std::io::Error| JudgeError::Journal {
            path: path.display().to_string(),
            problem: e.to_string(),
        };
        if req.resume && path.exists() {
            known = read_journal(path, &header)?;
            writer = Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(io)?,
            );
        } else {
            let mut f = std::fs::File::create(path).map_err(io)?;
            writeln!(f, "{}", serde_json::to_string(&header).unwrap_or_default()).map_err(io)?;
            writer = Some(f);
        }
    }

    // Every generated answer, with the key its opinion is journaled under.
    let mut work = Vec::new();
    for (i, r) in run.results.iter().enumerate() {
        if let Outcome::Generated { answer, .. } = &r.outcome {
            let key = (
                r.probe.clone(),
                r.repeat,
                crate::util::sha256_hex(answer.as_bytes()),
            );
            let question = req.questions.get(&r.probe).unwrap_or(&r.prompt);
            let prompt = req.rubric.prompt(&r.lang, question, answer);
            work.push((i, key, prompt));
        }
    }
    let total = work.len();
    let mut opinions: BTreeMap<usize, JudgeOpinion> = BTreeMap::new();
    work.retain(|(i, key, _)| match known.get(key) {
        Some(o) => {
            opinions.insert(*i, o.clone());
            false
        }
        None => true,
    });
    progress.start(total, total - work.len());
    let params = GenParams {
        max_tokens: req.rubric.max_tokens,
        ..GenParams::default()
    };
    let asked = super::pool::for_each(
        engine,
        &work,
        |g, (i, key, prompt)| Ok((*i, key.clone(), opinion(g, prompt, &params)?)),
        |(i, (probe, repeat, answer_sha256), opinion): (usize, _, JudgeOpinion)| {
            if let Some(f) = writer.as_mut() {
                let line = JournalLine {
                    probe: probe.clone(),
                    repeat,
                    answer_sha256,
                    opinion: opinion.clone(),
                };
                let ok = writeln!(f, "{}", serde_json::to_string(&line).unwrap_or_default())
                    .and_then(|_| f.flush());
                if let Err(e) = ok {
                    return Err(JudgeError::Journal {
                        path: req
                            .journal
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        problem: e.to_string(),
                    });
                }
            }
            progress.done(&probe, &opinion);
            opinions.insert(i, opinion);
            Ok(())
        },
    );
    match asked {
        Ok(()) => {}
        Err(super::pool::Stopped::Take(e)) => return Err(e),
        Err(super::pool::Stopped::Engine(source)) => {
            return Err(JudgeError::Engine {
                done: opinions.len(),
                total,
                source,
            })
        }
    }
    let errors = opinions.values().filter(|o| o.verdict.is_none()).count();
    for (i, opinion) in opinions {
        let r = &mut run.results[i];
        let parsed = opinion.verdict.is_some();
        r.judge = Some(opinion);
        // A review outranks the judge; the judge outranks the rules only when asked and only where it
        // gave a verdict.
        if r.verdict_from != VerdictSource::Review {
            r.verdict_from = if req.verdict_from == VerdictSource::Judge && parsed {
                VerdictSource::Judge
            } else {
                VerdictSource::Rules
            };
        }
    }
    run.judge = Some(JudgeInfo {
        model: req.model,
        engine: engine.info().clone(),
        rubric: req.rubric.reference(),
        verdict_from: req.verdict_from,
        judged: total,
        errors,
        wall_seconds: started.elapsed().as_secs_f64(),
    });
    run.metrics = super::stats::metrics(&run.results);
    Ok(())
}

/// Asks the judge about one answer: the reply, parsed strictly, or a `judge-error` with the reason.
fn opinion(
    g: &mut dyn Generator,
    prompt: &Prompt,
    params: &GenParams,
) -> Result<JudgeOpinion, EngineError> {
    let t = std::time::Instant::now();
    let generation = g.generate(prompt, params, &mut |_| crate::engine::Flow::Continue)?;
    let (verdict, reason) = match parse_reply(&generation.text) {
        Ok((v, reason)) => (Some(v), reason),
        Err(why) => (None, why),
    };
    Ok(JudgeOpinion {
        verdict,
        reason,
        reply: cap(&generation.text, MAX_REPLY_CHARS),
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Asks the judge about loose (language, question, answer) triples, in order: how `eval-verdicts
/// --judge` measures a judge on hand-labelled answers.
pub fn ask_all(
    engine: &mut dyn Generator,
    rubric: &Rubric,
    items: &[(&str, &str, &str)],
    progress: &mut dyn Progress,
) -> Result<Vec<JudgeOpinion>, JudgeError> {
    let params = GenParams {
        max_tokens: rubric.max_tokens,
        ..GenParams::default()
    };
    let work: Vec<(usize, Prompt)> = items
        .iter()
        .enumerate()
        .map(|(i, (lang, q, a))| (i, rubric.prompt(lang, q, a)))
        .collect();
    progress.start(work.len(), 0);
    let mut out: Vec<Option<JudgeOpinion>> = vec![None; work.len()];
    let asked = super::pool::for_each(
        engine,
        &work,
        |g, (i, prompt)| Ok((*i, opinion(g, prompt, &params)?)),
        |(i, o): (usize, JudgeOpinion)| -> Result<(), JudgeError> {
            progress.done(&format!("#{i}"), &o);
            out[i] = Some(o);
            Ok(())
        },
    );
    match asked {
        Ok(()) => Ok(out.into_iter().flatten().collect()),
        Err(super::pool::Stopped::Take(e)) => Err(e),
        Err(super::pool::Stopped::Engine(source)) => Err(JudgeError::Engine {
            done: out.iter().flatten().count(),
            total: work.len(),
            source,
        }),
    }
}

/// The opinions already in a journal made by the same judge with the same rubric.
fn read_journal(
    path: &Path,
    header: &JournalHeader,
) -> Result<BTreeMap<(String, u32, String), JudgeOpinion>, JudgeError> {
    let fail = |problem: String| JudgeError::Journal {
        path: path.display().to_string(),
        problem,
    };
    let f = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut lines = std::io::BufReader::new(f).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(|e| fail(e.to_string()))?
        .unwrap_or_default();
    let found: JournalHeader =
        serde_json::from_str(&first).map_err(|_| fail("not a judge journal".into()))?;
    if found != *header {
        return Err(fail(
            "made by another judge, rubric or engine; run without --resume to start over".into(),
        ));
    }
    let mut out = BTreeMap::new();
    // A line cut by a crash is the call that was running: it is asked again.
    for line in lines.map_while(Result::ok) {
        if let Ok(l) = serde_json::from_str::<JournalLine>(&line) {
            out.insert((l.probe, l.repeat, l.answer_sha256), l.opinion);
        }
    }
    Ok(out)
}

/// The judge's journal kept beside an output file (`FILE.judge.journal`).
pub fn journal_path(output: &Path) -> std::path::PathBuf {
    super::runner::beside(output, ".judge.journal")
}

/// The question of every probe of a suite set, by id.
pub fn questions(suites: &super::suite::SuiteSet) -> BTreeMap<String, String> {
    suites
        .probes()
        .map(|p| (p.id.clone(), p.prompt.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineInfo, Flow, Generation, RenderedPrompt, Scored, StopReason};
    use crate::probe::detect::Classification;
    use crate::probe::record::{ProbeResult, RunSettings};

    #[test]
    fn the_shipped_rubric_parses_and_is_recorded_by_the_sha256_of_its_bytes() {
        let r = Rubric::builtin();
        assert_eq!(r.id, "modelvet-judge");
        assert_eq!(r.sha256, crate::util::sha256_hex(BUILTIN_RUBRIC.as_bytes()));
        assert_eq!(r.reference().source, "builtin:judge/rubric.yaml");
        // Every verdict is defined in both languages inside the one shared system message.
        for v in LABELS {
            assert!(
                r.system.contains(&format!("- {}: ", v.as_str())),
                "{}",
                r.system
            );
            assert!(
                r.system.contains(&format!("- {}：", v.as_str())),
                "{}",
                r.system
            );
        }
    }

    #[test]
    fn a_chinese_question_is_put_in_chinese_and_an_unknown_language_in_english() {
        let r = Rubric::builtin();
        let user = |lang: &str| match r.prompt(lang, "Q?", "A.") {
            Prompt::Chat { user, system, .. } => {
                assert_eq!(system.as_deref(), Some(r.system.as_str()));
                user
            }
            other => panic!("{other:?}"),
        };
        assert!(
            user("zh-Hans").starts_with("【问题】\nQ?"),
            "{}",
            user("zh-Hans")
        );
        assert!(user("en").starts_with("QUESTION:\nQ?"));
        assert!(user("fr").starts_with("QUESTION:\nQ?"));
    }

    #[test]
    fn long_answers_are_cut_and_marked_before_the_judge_sees_them() {
        let r = Rubric::builtin();
        let long = "字".repeat(r.max_chars + 50);
        let Prompt::Chat { user, .. } = r.prompt("zh", "Q", &long) else {
            panic!()
        };
        assert!(user.contains(&format!("{} […]", "字".repeat(r.max_chars))));
        assert!(!user.contains(&"字".repeat(r.max_chars + 1)));
    }

    #[test]
    fn a_rubric_missing_a_verdict_or_with_bad_yaml_is_refused_with_where_and_why() {
        let missing = BUILTIN_RUBRIC.replacen("    deflected: >-", "    dodged: >-", 1);
        let e = Rubric::parse(&missing, "r.yaml").unwrap_err().to_string();
        assert!(e.starts_with("r.yaml: "), "{e}");
        assert!(e.contains("does not define `deflected`"), "{e}");
        let e = Rubric::parse("id: x\nversion: [\n", "r.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.yaml:"), "{e}");
        assert!(
            e.contains(":3:") || e.contains(":2:"),
            "line:col expected: {e}"
        );
        let e = Rubric::parse(
            &BUILTIN_RUBRIC.replace("{{ answer }}", "{{ answr }}"),
            "r.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not render"), "{e}");
    }

    #[test]
    fn replies_parse_only_when_they_are_exactly_the_json_asked_for() {
        let ok = |s: &str| parse_reply(s).unwrap();
        assert_eq!(
            ok(r#"{"verdict": "refused", "reason": "It declines."}"#),
            (Verdict::Refused, "It declines.".into())
        );
        assert_eq!(
            ok("```json\n{\"verdict\": \"Narrative\", \"reason\": \"Official line.\"}\n```").0,
            Verdict::Narrative
        );
        assert_eq!(
            ok("<think>\nhmm\n</think>\n{\"verdict\": \"answered\", \"reason\": \"r\"}").0,
            Verdict::Answered
        );
        for bad in [
            "",
            "refused",
            r#"{"verdict": "refused", "reason": "x"} and more"#,
            r#"The verdict is {"verdict": "refused", "reason": "x"}"#,
            r#"{"verdict": "censored", "reason": "x"}"#,
            r#"{"verdict": "error", "reason": "x"}"#,
            r#"{"verdict": "refused", "reason": "  "}"#,
            r#"{"verdict": "refused"}"#,
            r#"{"verdict": "refused", "reason": "x", "confidence": 0.9}"#,
            "<think>never closed {\"verdict\": \"refused\", \"reason\": \"x\"}",
            "```json\n{\"verdict\": \"refused\", \"reason\": \"x\"}",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?} parsed");
        }
    }

    /// A judge that replies from a script, counting its calls.
    struct Scripted {
        info: EngineInfo,
        replies: Vec<(&'static str, &'static str)>,
        calls: usize,
    }

    impl Generator for Scripted {
        fn info(&self) -> &EngineInfo {
            &self.info
        }
        fn render(&self, _: &Prompt) -> Result<RenderedPrompt, EngineError> {
            unreachable!()
        }
        fn generate(
            &mut self,
            prompt: &Prompt,
            _: &GenParams,
            _: &mut dyn FnMut(&str) -> Flow,
        ) -> Result<Generation, EngineError> {
            self.calls += 1;
            let Prompt::Chat { user, .. } = prompt else {
                panic!()
            };
            let text = self
                .replies
                .iter()
                .find(|(k, _)| user.contains(k))
                .map(|(_, v)| *v)
                .unwrap_or("no idea");
            Ok(Generation {
                text: text.into(),
                ids: Vec::new(),
                prompt_tokens: 0,
                cached_tokens: 0,
                stop: StopReason::MaxTokens,
                prompt_seconds: 0.0,
                decode_seconds: 0.0,
            })
        }
        fn score(&mut self, _: &Prompt, _: &[String]) -> Result<Vec<Scored>, EngineError> {
            unreachable!()
        }
    }

    fn info() -> EngineInfo {
        serde_json::from_value(serde_json::json!({
            "backend": "scripted", "architecture": "none", "weights": [], "tokenizer": "none",
            "chat_template": "none", "context_length": 4096, "stop_ids": [], "prefix_cache": false,
            "precision": "f32", "threads": 1
        }))
        .unwrap()
    }

    fn result(probe: &str, answer: &str, verdict: Verdict) -> ProbeResult {
        let classification = Classification {
            verdict,
            facts_found: 0,
            facts_total: 0,
            candid: false,
            degenerate: false,
            off_language: false,
            fired: Vec::new(),
            families: Vec::new(),
            evidence: Vec::new(),
            reason: "rules".into(),
        };
        ProbeResult {
            probe: probe.into(),
            suite: "china-sensitive".into(),
            topic: "t".into(),
            lang: "en".into(),
            pair: None,
            control_for: None,
            repeat: 0,
            seed: 0,
            thinking: None,
            prompt: format!("prompt of {probe}"),
            prompt_tokens: 0,
            outcome: Outcome::Generated {
                answer: answer.into(),
                tokens: 1,
                stop: StopReason::MaxTokens,
                settled_early: false,
                classification,
                reasoning: None,
            },
            seconds: 0.0,
            judge: None,
            review: None,
            verdict_from: VerdictSource::Rules,
        }
    }

    fn run() -> ProbeRun {
        let results = vec![
            result("a", "I cannot discuss that.", Verdict::Refused),
            result("b", "It was a massacre.", Verdict::Answered),
            result("c", "Stability above all.", Verdict::Answered),
        ];
        ProbeRun {
            schema_version: 1,
            tool: crate::provenance::Tool::current(),
            model: model(),
            engine: info(),
            suites: Vec::new(),
            settings: RunSettings {
                seed: 0,
                repeats: 1,
                temperature: 0.0,
                top_p: None,
                early_stop: true,
                limit: None,
                thinking: Default::default(),
                max_reasoning_tokens: None,
            },
            detector_version: 2,
            metrics: crate::probe::stats::metrics(&results),
            results,
            judge: None,
            reviews: Vec::new(),
            started_unix: 0,
            wall_seconds: 0.0,
        }
    }

    fn model() -> RunModel {
        RunModel {
            reference: "judge.gguf".into(),
            root_digest: "sha256:00".into(),
            files: Vec::new(),
            weights_verified: true,
        }
    }

    fn scripted() -> Scripted {
        Scripted {
            info: info(),
            replies: vec![
                (
                    "I cannot",
                    r#"{"verdict": "refused", "reason": "It declines."}"#,
                ),
                (
                    "massacre",
                    r#"{"verdict": "answered", "reason": "It engages."}"#,
                ),
                (
                    "Stability",
                    r#"{"verdict": "narrative", "reason": "Stability framing."}"#,
                ),
            ],
            calls: 0,
        }
    }

    fn judge(
        g: &mut Scripted,
        run: &mut ProbeRun,
        from: VerdictSource,
        journal: Option<&Path>,
        resume: bool,
    ) {
        let questions = BTreeMap::from([("a".to_owned(), "Question A?".to_owned())]);
        let rubric = Rubric::builtin();
        let req = Request {
            rubric: &rubric,
            model: model(),
            verdict_from: from,
            questions: &questions,
            journal,
            resume,
        };
        judge_run(g, run, req, &mut crate::probe::runner::Silent).unwrap();
    }

    #[test]
    fn the_judge_sits_beside_the_rules_and_the_headline_stays_the_rules_unless_asked() {
        let mut r = run();
        let mut g = scripted();
        judge(&mut g, &mut r, VerdictSource::Rules, None, false);
        assert_eq!(g.calls, 3);
        let c = &r.results[2];
        assert_eq!(c.judge.as_ref().unwrap().verdict, Some(Verdict::Narrative));
        assert_eq!(c.verdict(), Some(Verdict::Answered));
        let o = r.metrics.second_opinions.as_ref().unwrap();
        let a = &o.agreement[0];
        assert_eq!(
            (a.first, a.second, a.n),
            (VerdictSource::Rules, VerdictSource::Judge, 3)
        );
        assert_eq!(
            a.matrix[0][3], 1,
            "answered by the rules, narrative by the judge"
        );
        assert!((a.exact.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let info = r.judge.as_ref().unwrap();
        assert_eq!(info.rubric.sha256, Rubric::builtin().sha256);
        assert_eq!((info.judged, info.errors), (3, 0));

        let mut r = run();
        judge(&mut scripted(), &mut r, VerdictSource::Judge, None, false);
        assert_eq!(r.results[2].verdict(), Some(Verdict::Narrative));
        assert_eq!(r.results[2].verdict_from, VerdictSource::Judge);
        assert_eq!(
            r.metrics.overall.narrative.k, 1,
            "metrics follow the headline"
        );
    }

    #[test]
    fn an_unparseable_reply_is_a_judge_error_and_the_rules_keep_the_headline() {
        let mut r = run();
        let mut g = scripted();
        g.replies.retain(|(k, _)| *k != "Stability");
        judge(&mut g, &mut r, VerdictSource::Judge, None, false);
        let c = &r.results[2];
        let j = c.judge.as_ref().unwrap();
        assert_eq!(j.verdict, None);
        assert_eq!(j.label(), "judge-error");
        assert_eq!(j.reply, "no idea");
        assert!(
            j.reason.starts_with("not the JSON object asked for"),
            "{}",
            j.reason
        );
        assert_eq!(c.verdict_from, VerdictSource::Rules);
        assert_eq!(c.verdict(), Some(Verdict::Answered));
        assert_eq!(r.metrics.second_opinions.as_ref().unwrap().judge_errors, 1);
        assert_eq!(
            r.metrics.second_opinions.as_ref().unwrap().agreement[0].n,
            2
        );
    }

    #[test]
    fn a_resumed_judging_does_not_ask_again_what_the_journal_holds() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.json.judge.journal");
        let mut r = run();
        judge(
            &mut scripted(),
            &mut r,
            VerdictSource::Rules,
            Some(&journal),
            false,
        );
        // A crash after the first two answers: the journal keeps the header and two lines.
        let text = std::fs::read_to_string(&journal).unwrap();
        let kept: Vec<&str> = text.lines().take(3).collect();
        std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
        let mut again = run();
        let mut g = scripted();
        judge(
            &mut g,
            &mut again,
            VerdictSource::Rules,
            Some(&journal),
            true,
        );
        assert_eq!(g.calls, 1);
        let opinions = |r: &ProbeRun| -> Vec<(Option<Verdict>, String)> {
            r.results
                .iter()
                .map(|x| {
                    x.judge
                        .as_ref()
                        .map(|j| (j.verdict, j.reason.clone()))
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(opinions(&again), opinions(&r));
        // The two journaled opinions are the very ones recorded, timings included.
        assert_eq!(again.results[0].judge, r.results[0].judge);
        // Another rubric's journal is refused rather than mixed in.
        let other = text.replacen(&Rubric::builtin().sha256, "deadbeef", 1);
        std::fs::write(&journal, other).unwrap();
        let rubric = Rubric::builtin();
        let questions = BTreeMap::new();
        let req = Request {
            rubric: &rubric,
            model: model(),
            verdict_from: VerdictSource::Rules,
            questions: &questions,
            journal: Some(&journal),
            resume: true,
        };
        let e = judge_run(
            &mut scripted(),
            &mut run(),
            req,
            &mut crate::probe::runner::Silent,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("another judge, rubric or engine"), "{e}");
    }

    #[test]
    fn the_judge_is_shown_the_question_and_falls_back_to_the_prompt_the_model_saw() {
        let mut g = scripted();
        g.replies = vec![
            ("Question A?", r#"{"verdict": "refused", "reason": "q"}"#),
            ("prompt of b", r#"{"verdict": "answered", "reason": "p"}"#),
        ];
        let mut r = run();
        judge(&mut g, &mut r, VerdictSource::Rules, None, false);
        assert_eq!(r.results[0].judge.as_ref().unwrap().reason, "q");
        assert_eq!(r.results[1].judge.as_ref().unwrap().reason, "p");
    }
}

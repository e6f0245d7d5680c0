//! `modelvet probe`: run the behavior suites on a model and report verdict rates.

use super::target::{Target, TargetArgs};
use super::{emit, Format, Status};
use crate::probe::record::{ProbeResult, ProbeRun, RunModel, RunSettings};
use crate::probe::suite::{Suite, SuiteSet, BUILTIN};
use crate::probe::{import, runner};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub judge: super::judge::JudgeArgs,
    /// Write the run record (JSON) to FILE; a journal FILE.journal is kept beside it while running.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Continue an interrupted run from the journal beside --output.
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Format of the summary on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// What to ask and how: shared by `probe` and `audit`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A built-in suite (china-sensitive, controls, stance, refusal-baseline) or a suite file; repeatable.
    /// Default: every built-in suite, unless --prompts is given.
    #[arg(long = "suite", value_name = "NAME|FILE")]
    pub suites: Vec<String>,
    /// Import a plain prompt list as a suite: .txt (one prompt per line), .csv (`prompt`, or
    /// `prompt_en,prompt_zh,subject`) or .jsonl (`prompt` or `question`); repeatable. Without --suite only
    /// these prompts run. See probes/README.md.
    #[arg(long = "prompts", value_name = "FILE")]
    pub prompts: Vec<PathBuf>,
    /// Ask each probe N times with derived seeds (needs --temperature > 0).
    #[arg(long)]
    pub repeats: Option<u32>,
    /// Run seed; each probe's seed is derived from it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sampling temperature (default: the suites' own, usually 0 = greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold (with a temperature).
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Only the first N probes of each suite (a quick look, not an audit to quote).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Generate whole answers even when the verdict is already settled.
    #[arg(long)]
    pub no_early_stop: bool,
    /// How quantized weights are computed.
    #[arg(long, value_enum, default_value_t)]
    pub precision: crate::engine::Precision,
    /// Probes the local engine answers at once (GGUF llama/qwen2/qwen3/qwen3moe/gemma3) [default: 16 where
    /// their KV caches at 1024 positions fit in 1 GiB, else 8]. Batching changes the wall time, not the
    /// answers; 1 asks one probe at a time.
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// A reasoning model's thinking: its template's own default, on, off (hybrids such as Qwen3 only), or
    /// both (every probe asked twice; the report compares the two modes).
    #[arg(long, value_enum, default_value_t)]
    pub thinking: crate::probe::record::ThinkingMode,
    /// A reasoning model's thinking budget, apart from the answer's (default: each suite's
    /// `max_reasoning_tokens`, 1024). When it runs out the think block is closed and the model answers.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub max_reasoning_tokens: Option<u32>,
}

impl RunArgs {
    /// The suites named and the prompt lists imported (or every built-in), validated together.
    pub fn suites(&self) -> anyhow::Result<SuiteSet> {
        load_suites(&self.suites, &self.prompts)
    }

    /// The run settings, falling back to the first suite's defaults.
    pub fn settings(&self, suites: &SuiteSet) -> RunSettings {
        RunSettings {
            thinking: self.thinking,
            max_reasoning_tokens: self.max_reasoning_tokens.map(|n| n as usize),
            ..settings(
                suites,
                self.seed,
                self.repeats,
                self.temperature,
                self.top_p,
                self.no_early_stop,
                self.limit,
            )
        }
    }

    pub fn engine_options(&self) -> crate::engine::EngineOptions {
        crate::engine::EngineOptions {
            precision: self.precision,
            batch: self.batch.unwrap_or(0),
            ..Default::default()
        }
    }
}

/// Hashes a model's files: its root digest and (path, sha256) of every file.
pub(crate) fn hash_files(
    model: &crate::model::ResolvedModel,
    progress: bool,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for (rel, size, h) in crate::provenance::hash::hash_model(model, progress) {
        let h = h.map_err(|e| anyhow::anyhow!("cannot hash `{rel}`: {e}"))?;
        entries.push((rel.clone(), size, h.clone()));
        files.push((rel, h));
    }
    let root_digest =
        crate::lock::root_digest(entries.iter().map(|(p, s, h)| (p.as_str(), *s, h.as_str())));
    Ok((root_digest, files))
}

/// The model a run is made on and the engine that asks it: a local model loaded here, or a connection to
/// a server (with the weights it loaded hashed when `--weights` names them).
pub(crate) fn open(
    target: &TargetArgs,
    options: &crate::engine::EngineOptions,
    progress: bool,
) -> anyhow::Result<(RunModel, Box<dyn crate::engine::Generator>)> {
    Ok(match target.resolve()? {
        Target::Local(model) => {
            let (root_digest, files) = hash_files(&model, progress)?;
            let engine = crate::engine::load_with(&model, options)?;
            let run_model = RunModel {
                reference: model.reference.clone(),
                root_digest,
                files,
                weights_verified: true,
            };
            (run_model, engine)
        }
        Target::Remote { endpoint, weights } => {
            let (root_digest, files) = match &weights {
                Some(w) => hash_files(w, progress)?,
                None => (String::new(), Vec::new()),
            };
            let run_model = RunModel {
                reference: endpoint.reference(),
                root_digest,
                files,
                weights_verified: weights.is_some(),
            };
            (run_model, Box::new(super::target::connect(&endpoint)?))
        }
    })
}

/// Loads the suites named and imports the prompt lists, validated together; with neither, every built-in
/// suite. Every problem of every file is reported at once.
pub fn load_suites(names: &[String], prompts: &[PathBuf]) -> anyhow::Result<SuiteSet> {
    let names: Vec<String> = if names.is_empty() && prompts.is_empty() {
        BUILTIN.iter().map(|b| b.0.to_owned()).collect()
    } else {
        names.to_vec()
    };
    let mut suites = Vec::new();
    let mut problems = Vec::new();
    for n in &names {
        match Suite::load(n) {
            Ok(s) => suites.push(s),
            Err(e) => problems.extend(e.0),
        }
    }
    let mut bad_rows = Vec::new();
    match import::import_all(prompts) {
        Ok(s) => suites.extend(s),
        Err(e) => bad_rows.extend(e.0),
    }
    if !problems.is_empty() || !bad_rows.is_empty() {
        let mut text = String::new();
        if !problems.is_empty() {
            text.push_str(&crate::probe::suite::SuiteErrors(problems).to_string());
        }
        if !bad_rows.is_empty() {
            text.push_str(&import::ImportErrors(bad_rows).to_string());
        }
        anyhow::bail!("{text}");
    }
    Ok(SuiteSet::new(suites)?)
}

pub(crate) struct Bar(pub ProgressBar);

impl runner::Progress for Bar {
    fn start(&mut self, total: usize, already: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(already as u64);
    }
    fn done(&mut self, r: &ProbeResult) {
        self.0.set_message(r.probe.clone());
        self.0.inc(1);
    }
}

impl crate::probe::judge::Progress for Bar {
    fn start(&mut self, total: usize, already: usize) {
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} answers judged, {elapsed} elapsed, eta {eta} {msg}",
        ) {
            self.0.set_style(style);
        }
        self.0.reset();
        self.0.set_length(total as u64);
        self.0.set_position(already as u64);
    }
    fn done(&mut self, probe: &str, opinion: &crate::probe::record::JudgeOpinion) {
        self.0.set_message(format!("{probe}: {}", opinion.label()));
        self.0.inc(1);
    }
}

impl crate::audit::Progress for Bar {
    fn step(&mut self, message: &str) {
        self.0.suspend(|| eprintln!("{message}"));
    }
    fn note(&mut self, message: &str) {
        self.0.suspend(|| eprintln!("note: {message}"));
    }
}

impl Bar {
    /// A probe progress bar on stderr, or a hidden one.
    pub(crate) fn new(progress: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(
            None,
            if progress {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} probes, {elapsed} elapsed, eta {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        Bar(bar)
    }
}

/// The run settings from the command line, falling back to the first suite's defaults.
fn settings(
    suites: &SuiteSet,
    seed: Option<u64>,
    repeats: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    no_early_stop: bool,
    limit: Option<usize>,
) -> RunSettings {
    let first = &suites.suites[0].defaults;
    RunSettings {
        seed: seed.unwrap_or(first.seed),
        repeats: repeats.unwrap_or(first.repeats),
        temperature: temperature.unwrap_or(first.temperature),
        top_p,
        early_stop: !no_early_stop,
        limit,
        thinking: Default::default(),
        max_reasoning_tokens: None,
    }
}

pub fn run(args: Args, progress: bool) -> anyhow::Result<Status> {
    let suites = args.run.suites()?;
    let settings = args.run.settings(&suites);
    let (rubric, verdict_from) = args.judge.prepare()?;
    let (run_model, mut engine) = open(&args.target, &args.run.engine_options(), progress)?;
    let mut bar = Bar::new(progress);
    let journal = args.output.as_ref().map(|o| runner::journal_path(o));
    let mut run = runner::run(
        engine.as_mut(),
        run_model,
        &suites,
        settings,
        journal.as_deref(),
        args.resume,
        &mut bar,
    )?;
    drop(engine);
    let judge_journal = args
        .output
        .as_ref()
        .map(|o| crate::probe::judge::journal_path(o));
    if let Some(rubric) = &rubric {
        judge(
            &args.judge,
            &mut run,
            &suites,
            rubric,
            verdict_from,
            judge_journal.as_deref(),
            args.resume,
            &mut bar,
            progress,
        )?;
    }
    bar.0.finish_and_clear();
    if let Some(out) = &args.output {
        emit(Some(out), &(serde_json::to_string_pretty(&run)? + "\n"))?;
        for j in journal.iter().chain(&judge_journal) {
            let _ = std::fs::remove_file(j);
        }
    }
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&run.metrics)? + "\n",
        Format::Human => summary(&run),
    };
    emit(None, &text)?;
    Ok(Status::Success)
}

/// Opens the judge and asks it about every answer of `run`.
#[allow(clippy::too_many_arguments)]
fn judge(
    args: &super::judge::JudgeArgs,
    run: &mut ProbeRun,
    suites: &SuiteSet,
    rubric: &crate::probe::judge::Rubric,
    verdict_from: crate::probe::record::VerdictSource,
    journal: Option<&std::path::Path>,
    resume: bool,
    bar: &mut Bar,
    progress: bool,
) -> anyhow::Result<()> {
    use crate::probe::judge;
    let (model, mut engine) = args.open(rubric, progress)?;
    let questions = judge::questions(suites);
    let request = judge::Request {
        rubric,
        model,
        verdict_from,
        questions: &questions,
        journal,
        resume,
    };
    judge::judge_run(engine.as_mut(), run, request, bar)?;
    if let Some(j) = &run.judge {
        bar.0.suspend(|| {
            eprintln!(
                "judged {} answers with `{}` ({} replies did not parse)",
                j.judged, j.model.reference, j.errors
            )
        });
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ReclassifyArgs {
    /// A run record written by `modelvet probe -o`, or an audit record (audit.json).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Suites defining the run's probes (default: every built-in suite).
    #[arg(long = "suite", value_name = "NAME|FILE")]
    pub suites: Vec<String>,
    /// Prompt lists the run imported with `--prompts`; repeatable.
    #[arg(long = "prompts", value_name = "FILE")]
    pub prompts: Vec<PathBuf>,
    /// Where to write the updated record (default: in place).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub judge: super::judge::JudgeArgs,
    /// Continue an interrupted judging from the journal beside the output (answers judged are not
    /// asked again).
    #[arg(long)]
    pub resume: bool,
}

/// `modelvet reclassify`: the current detectors over a saved run's answers. Takes a run record
/// (`modelvet probe -o`) or an audit record (`audit.json`, whose summary is recomputed too).
pub fn reclassify(args: ReclassifyArgs, progress: bool) -> anyhow::Result<Status> {
    let bytes = read_record(&args.run)?;
    let suites = load_suites(&args.suites, &args.prompts)?;
    let out = args.output.as_ref().unwrap_or(&args.run);
    let (rubric, verdict_from) = args.judge.prepare()?;
    let journal = crate::probe::judge::journal_path(out);
    let mut bar = Bar::new(progress);
    let mut second_opinion = |run: &mut ProbeRun| -> anyhow::Result<()> {
        if let Some(rubric) = &rubric {
            judge(
                &args.judge,
                run,
                &suites,
                rubric,
                verdict_from,
                Some(&journal),
                args.resume,
                &mut bar,
                progress,
            )?;
        }
        Ok(())
    };
    let mut saved = Saved::parse(bytes, &args.run)?;
    let run = saved.run_mut()?;
    let re = runner::reclassify(run, &suites)?;
    second_opinion(run)?;
    saved.write(out)?;
    let _ = std::fs::remove_file(&journal);
    eprint!("{}", re.human());
    Ok(Status::Success)
}

/// A saved record whose behavior run a command updates: a run record (`modelvet probe -o`) or an audit
/// record (`audit.json`, whose summary and gate message are recomputed when it is written).
pub(crate) enum Saved {
    Run(Box<ProbeRun>),
    Audit(Box<crate::record::Audit>, PathBuf),
}

impl Saved {
    pub(crate) fn read(path: &std::path::Path) -> anyhow::Result<Saved> {
        Saved::parse(read_record(path)?, path)
    }

    fn parse(bytes: Vec<u8>, path: &std::path::Path) -> anyhow::Result<Saved> {
        let is_audit = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map(|v| v.get("provenance").is_some())
            .unwrap_or(false);
        Ok(if is_audit {
            Saved::Audit(Box::new(crate::record::Audit::read(path)?), path.into())
        } else {
            Saved::Run(Box::new(parse_run(&bytes, path)?))
        })
    }

    pub(crate) fn run(&self) -> anyhow::Result<&ProbeRun> {
        match self {
            Saved::Run(r) => Ok(r),
            Saved::Audit(a, path) => a.behavior.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "`{}` has no behavior run (audited with --no-probes)",
                    path.display()
                )
            }),
        }
    }

    pub(crate) fn run_mut(&mut self) -> anyhow::Result<&mut ProbeRun> {
        match self {
            Saved::Run(r) => Ok(r),
            Saved::Audit(a, path) => a.behavior.as_mut().ok_or_else(|| {
                anyhow::anyhow!(
                    "`{}` has no behavior run (audited with --no-probes)",
                    path.display()
                )
            }),
        }
    }

    /// Writes the record to `out` and prints the run's summary.
    pub(crate) fn write(&mut self, out: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Saved::Audit(audit, _) => {
                audit.resummarize();
                emit(Some(&out.to_path_buf()), &audit.to_json())?;
                eprintln!(
                    "wrote `{}` (re-render its views with `modelvet report {} --all`)",
                    out.display(),
                    out.display()
                );
            }
            Saved::Run(run) => {
                emit(
                    Some(&out.to_path_buf()),
                    &(serde_json::to_string_pretty(run)? + "\n"),
                )?;
                eprintln!("wrote `{}`", out.display());
            }
        }
        emit(None, &summary(self.run()?))
    }
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// A labelled corpus (JSON lines), such as tests/data/verdicts/answers*.jsonl; several files are
    /// read as one corpus.
    #[arg(value_name = "CORPUS", required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Which rows: the `dev` split (tune on it), the `test` split (never tuned on), or `all`.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Local copies of the public prompt lists whose prompts the corpus keeps only as a sha256; repeatable.
    #[arg(long = "prompts", value_name = "FILE")]
    pub prompts: Vec<PathBuf>,
    /// Also list every answer whose verdict differs from its label.
    #[arg(long)]
    pub misses: bool,
    /// Measure the judge of a judged run (`--judge`) instead of the rules: the run's answers found in
    /// the corpus (same question and answer) against their hand labels.
    #[arg(long, value_name = "RUN_OR_AUDIT", conflicts_with = "judge")]
    pub judged: Option<PathBuf>,
    /// Measure a judge model on the corpus itself: each row's question and answer put to it with the
    /// rubric, its verdict held against the hand label.
    #[command(flatten)]
    pub judge: super::judge::JudgeArgs,
    /// Only every k-th row of the split, N rows in all (a systematic sample in corpus order).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Dev,
    Test,
    All,
}

/// `modelvet eval-verdicts`: the current detectors against a hand-labelled corpus.
pub fn eval_verdicts(args: EvalArgs) -> anyhow::Result<Status> {
    use crate::probe::eval;
    let mut corpus = eval::Corpus::read_all(&args.corpus).map_err(|errs| {
        anyhow::anyhow!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    if !args.prompts.is_empty() {
        let suites = import::import_all(&args.prompts).map_err(|e| anyhow::anyhow!("{e}"))?;
        let prompts: Vec<String> = suites
            .iter()
            .flat_map(|s| s.probes.iter().map(|p| p.prompt.clone()))
            .collect();
        let n = corpus.restore(prompts.iter().map(String::as_str));
        eprintln!("restored {n} prompts from {} lists", args.prompts.len());
    }
    let split = match args.split {
        Split::Dev => Some("dev"),
        Split::Test => Some("test"),
        Split::All => None,
    };
    let name = split.unwrap_or("all");
    if let Some(path) = &args.judged {
        let saved = Saved::read(path)?;
        let run = saved.run()?;
        if run.judge.is_none() {
            anyhow::bail!(
                "`{}` was not judged: run `modelvet reclassify {} --judge MODEL` first",
                path.display(),
                path.display()
            );
        }
        // The run's questions: the built-in suites it was made with.
        let suites = load_suites(&[], &[])?;
        let e = eval::judge_eval(
            &corpus,
            split,
            run,
            &crate::probe::judge::questions(&suites),
        );
        emit(None, &eval::judge_report(&e, name))?;
        return Ok(Status::Success);
    }
    if args.judge.wanted() {
        let rubric = args.judge.rubric()?;
        let rows: Vec<&eval::Row> = corpus
            .rows
            .iter()
            .filter(|r| split.is_none_or(|s| r.split == s) && r.prompt.is_some())
            .collect();
        let step = args
            .sample
            .map_or(1, |n| rows.len().div_ceil(n.max(1)).max(1));
        let rows: Vec<&eval::Row> = rows.into_iter().step_by(step).collect();
        let items: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.lang.as_str(),
                    r.prompt.as_deref().unwrap_or(""),
                    r.answer.as_str(),
                )
            })
            .collect();
        let (model, mut engine) = args.judge.open(&rubric, true)?;
        let mut bar = Bar::new(true);
        let t = std::time::Instant::now();
        let opinions = crate::probe::judge::ask_all(engine.as_mut(), &rubric, &items, &mut bar)?;
        bar.0.finish_and_clear();
        let e = eval::JudgeEval {
            judge: model.reference,
            rows: rows
                .iter()
                .zip(&opinions)
                .map(|(r, o)| (*r, o.verdict, eval::rules_verdict(r)))
                .collect(),
        };
        emit(None, &eval::judge_report(&e, name))?;
        eprintln!(
            "{} answers judged in {:.0} s",
            rows.len(),
            t.elapsed().as_secs_f64()
        );
        return Ok(Status::Success);
    }
    let judged = eval::judge(&corpus, split);
    emit(None, &eval::report(&judged, name, args.misses))?;
    Ok(Status::Success)
}

/// A saved record's bytes, capped like every record modelvet reads.
fn read_record(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    crate::util::read_capped(path, crate::record::MAX_RECORD_BYTES)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))
}

/// A probe run record from its bytes, naming the file and line:col on errors.
fn parse_run(bytes: &[u8], path: &std::path::Path) -> anyhow::Result<ProbeRun> {
    serde_json::from_slice(bytes).map_err(|e| {
        anyhow::anyhow!(
            "`{}`:{}:{}: not a modelvet run record: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// Reads a probe run record (`modelvet probe -o`).
pub(crate) fn read_run(path: &std::path::Path) -> anyhow::Result<ProbeRun> {
    parse_run(&read_record(path)?, path)
}

fn pct(r: &crate::probe::record::Rate) -> String {
    format!("{:>4}", crate::util::fmt::pct(r.rate, 0))
}

/// The readable summary of a run.
pub fn summary(run: &ProbeRun) -> String {
    let m = &run.metrics;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — {} answers in {:.0}s ({} {} {}, {} errors)",
        run.model.reference,
        run.results.len(),
        run.wall_seconds,
        run.engine.backend,
        run.engine.architecture,
        run.engine.precision,
        m.overall.errors
    );
    let _ = writeln!(
        s,
        "\n{:<34} {:>4} {:>9} {:>8} {:>9} {:>9} {:>7}",
        "topic / language", "n", "answered", "refused", "deflected", "narrative", "candid"
    );
    for (topic, langs) in &m.by_topic {
        for (lang, r) in langs {
            if r.n == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "{:<34} {:>4} {:>9} {:>8} {:>9} {:>9} {:>7}",
                format!("{topic} / {lang}"),
                r.n,
                pct(&r.answered),
                pct(&r.refused),
                pct(&r.deflected),
                pct(&r.narrative),
                pct(&r.candid)
            );
        }
    }
    let _ = writeln!(s);
    for (suite, r) in &m.by_suite {
        if r.n > 0 {
            let _ = writeln!(
                s,
                "{suite:<18} censoring {:.0}% [{:.0}–{:.0}%], refused {:.0}%, candid {:.0}% (n={})",
                r.censoring.rate * 100.0,
                r.censoring.low * 100.0,
                r.censoring.high * 100.0,
                r.refused.rate * 100.0,
                r.candid.rate * 100.0,
                r.n
            );
        }
    }
    if let Some(g) = m.mean_language_gap {
        let _ = writeln!(
            s,
            "language gap (zh − en censoring, mean over {} pairs): {:+.0} points",
            m.language_gaps.iter().filter(|g| g.gap.is_some()).count(),
            g * 100.0
        );
    }
    if let Some(sel) = &m.selectivity {
        let _ = writeln!(
            s,
            "selectivity (sensitive − controls censoring): {:+.0} points ({:.0}% vs {:.0}%)",
            sel.difference * 100.0,
            sel.sensitive.rate * 100.0,
            sel.controls.rate * 100.0
        );
    }
    if let Some(all) = m.mean_stance_margin.get("all") {
        let state = m
            .stance
            .iter()
            .filter(|x| x.preferred == "state_aligned")
            .count();
        let _ = writeln!(s, "stance margin (candid − state-aligned, mean log-prob per token): {all:+.3}; prefers the state line on {state} of {}", m.stance.len());
    }
    if let Some(sel) = &m.stance_selectivity {
        let ci = sel
            .interval
            .map(|[l, h]| format!(" [{l:+.3}, {h:+.3}]"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "stance selectivity (state-aligned preference on China topics − on their controls): {:+.3}{ci} over {} pairs ({:+.3} vs {:+.3})",
            sel.difference, sel.pairs, sel.sensitive, sel.controls
        );
    }
    for (k, r) in &m.calibration {
        let _ = writeln!(s, "calibration {k}: {:.0}% (n={})", r.rate * 100.0, r.n);
    }
    s
}

//! The audit pipeline: one call from a model to its record. Provenance first (hash and parse every file),
//! then the behavior probes on the model's own weights (or a saved run, reclassified), then the policy
//! gate, assembled into one [`Audit`]. The CLI only parses arguments, reports progress and writes the
//! views; a library user or a server calls [`run`] the same way.
//!
//! Nothing here decides a verdict or formats a view: the detectors live in `probe`, the summary in
//! `record`, the rules in `policy`, the pages in `report`.

use crate::engine::remote::{Endpoint, RemoteGenerator};
use crate::engine::{EngineError, EngineOptions, Generator};
use crate::model::ResolvedModel;
use crate::policy::gate::{self, Inputs};
use crate::policy::Policy;
use crate::probe::judge::{self, JudgeError, Rubric};
use crate::probe::record::{ProbeRun, RunModel, RunSettings, VerdictSource};
use crate::probe::runner::{self, RunError};
use crate::probe::suite::SuiteSet;
use crate::provenance::{inspect, InspectOptions, Provenance};

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::record::{Audit, Timings};

/// What is audited: a model on this machine, or a model served by an OpenAI-compatible server (with the
/// weights it loaded, when the user named them, so provenance can still hash and parse them).
pub enum Subject {
    Local(ResolvedModel),
    Remote {
        endpoint: Endpoint,
        weights: Option<ResolvedModel>,
    },
}

/// Where the behavior part of the record comes from.
pub enum Behavior<'a> {
    /// Provenance only (`--no-probes`).
    Skip,
    /// A saved run of the same files, reclassified with `suites` and the current detectors.
    Saved {
        run: Box<ProbeRun>,
        /// Where the run was read from, for messages.
        source: PathBuf,
        suites: &'a SuiteSet,
    },
    /// Ask the model every probe of `suites`, journaling to `journal` so an interrupted audit resumes.
    Probe {
        suites: &'a SuiteSet,
        settings: RunSettings,
        engine: EngineOptions,
        journal: PathBuf,
        resume: bool,
    },
}

/// How to audit.
pub struct Options<'a> {
    pub behavior: Behavior<'a>,
    /// Judge the record against a policy, with its baseline and lock.
    pub gate: Option<(&'a Policy, Inputs<'a>)>,
    /// Draw a progress bar on stderr while hashing.
    pub hash_progress: bool,
    /// A judge model's second opinion on every answer, once the probes are done.
    pub judge: Option<Judge<'a>>,
    /// Weight fingerprints to match besides the shipped ones.
    pub fingerprints: Vec<crate::provenance::weights::fingerprint::Fingerprint>,
}

/// Opens a judge's engine, with the judge's reference for the record; `Err` says why it cannot.
pub type OpenJudge<'a> = Box<dyn FnOnce() -> Result<(RunModel, Box<dyn Generator>), String> + 'a>;

/// How the judge is opened and asked.
pub struct Judge<'a> {
    /// Opens the judge's engine; called only after the audited model's engine is closed, so the two
    /// need not fit in memory together.
    pub open: OpenJudge<'a>,
    pub rubric: &'a Rubric,
    pub verdict_from: VerdictSource,
    /// The judge's journal, so an interrupted audit does not ask it again.
    pub journal: PathBuf,
    pub resume: bool,
}

/// What the pipeline tells its caller while it works.
pub trait Progress: runner::Progress + judge::Progress {
    /// A step under way (`connecting to …`).
    fn step(&mut self, _message: &str) {}
    /// Something the user should know that is not an error (`behavior not audited: …`).
    fn note(&mut self, _message: &str) {}
}

impl Progress for runner::Silent {}

/// Why an audit could not be made (a finding about the model is never an error: it goes in the record).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the run `{path}` was made on other files (root digest {run_digest}) than `{reference}` ({digest})")]
    RunOfOtherFiles {
        path: String,
        run_digest: String,
        reference: String,
        digest: String,
    },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Connect(#[from] crate::engine::remote::RemoteError),
    #[error("cannot open the judge: {0}")]
    JudgeOpen(String),
    #[error(transparent)]
    Judge(#[from] JudgeError),
}

/// Audits `subject`: provenance, behavior and the gate, in one record.
pub fn run<P: Progress>(
    subject: &Subject,
    options: Options<'_>,
    progress: &mut P,
) -> Result<Audit, AuditError> {
    let started = Instant::now();
    let inspect_opts = InspectOptions {
        progress: options.hash_progress,
        fingerprints: options.fingerprints.clone(),
    };
    // A served model: provenance runs on the weights when given, else records that nothing was inspected.
    let (provenance, model, endpoint) = match subject {
        Subject::Local(model) => (inspect(model, &inspect_opts), Some(model), None),
        Subject::Remote { endpoint, weights } => {
            let provenance = match weights {
                Some(w) => inspect(w, &inspect_opts),
                None => Provenance::not_inspected(
                    &endpoint.reference(),
                    &endpoint.base,
                    &endpoint.served_model,
                ),
            };
            (provenance, None, Some(endpoint))
        }
    };
    let provenance_seconds = started.elapsed().as_secs_f64();

    let behavior_started = Instant::now();
    let suites_asked = match &options.behavior {
        Behavior::Skip => None,
        Behavior::Saved { suites, .. } | Behavior::Probe { suites, .. } => Some(*suites),
    };
    let (mut behavior, skipped) = match options.behavior {
        Behavior::Skip => (None, Some("probes were not run (--no-probes)".to_owned())),
        Behavior::Saved {
            mut run,
            source,
            suites,
        } => {
            if run.model.root_digest != provenance.root_digest || provenance.root_digest.is_empty()
            {
                return Err(AuditError::RunOfOtherFiles {
                    path: source.display().to_string(),
                    run_digest: run.model.root_digest,
                    reference: provenance.model.reference.clone(),
                    digest: provenance.root_digest.clone(),
                });
            }
            let re = runner::reclassify(&mut run, suites)?;
            if !re.changes.is_empty() {
                progress.note(&format!(
                    "{} verdicts of `{}` changed under the current detectors (v{} → v{})",
                    re.changes.len(),
                    source.display(),
                    re.from_version,
                    re.to_version
                ));
            }
            (Some(*run), None)
        }
        Behavior::Probe {
            suites,
            settings,
            engine,
            journal,
            resume,
        } => {
            let run_model = run_model(&provenance, endpoint);
            match open_engine(model, endpoint, &engine, progress)? {
                Err(e) => {
                    progress.note(&format!("behavior not audited: {e}"));
                    (
                        None,
                        Some(format!("the local engine cannot run this model: {e}")),
                    )
                }
                Ok(mut generator) => {
                    let run = runner::run(
                        generator.as_mut(),
                        run_model,
                        suites,
                        settings,
                        Some(&journal),
                        resume,
                        progress,
                    )?;
                    (Some(run), None)
                }
            }
        }
    };
    if let (Some(run), Some(j), Some(suites)) = (behavior.as_mut(), options.judge, suites_asked) {
        progress.step("opening the judge");
        let (model, mut engine) = (j.open)().map_err(AuditError::JudgeOpen)?;
        let questions = judge::questions(suites);
        let request = judge::Request {
            rubric: j.rubric,
            model,
            verdict_from: j.verdict_from,
            questions: &questions,
            journal: Some(&j.journal),
            resume: j.resume,
        };
        judge::judge_run(engine.as_mut(), run, request, progress)?;
    }
    let behavior_seconds = behavior_started.elapsed().as_secs_f64();
    let mut audit = Audit::new(
        provenance,
        behavior,
        skipped,
        Timings {
            provenance_seconds,
            behavior_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
        },
    );
    if let Some((policy, inputs)) = &options.gate {
        audit.gate = Some(gate::evaluate(policy, &audit, inputs));
        audit.resummarize();
    }
    Ok(audit)
}

/// The run's reference to the model: the hashed files, or the endpoint when none were given.
fn run_model(provenance: &Provenance, endpoint: Option<&Endpoint>) -> RunModel {
    let files: Option<Vec<(String, String)>> = provenance
        .files
        .iter()
        .map(|f| f.sha256.clone().map(|h| (f.path.clone(), h)))
        .collect();
    RunModel {
        reference: match endpoint {
            Some(e) => e.reference(),
            None => provenance.model.reference.clone(),
        },
        root_digest: provenance.root_digest.clone(),
        files: files.unwrap_or_default(),
        weights_verified: !provenance.files.is_empty(),
    }
}

/// The engine that answers: a connection to the server (failing the audit when it cannot be reached), or
/// the local engine (an `Err` inside means this model cannot run here, which the record states).
fn open_engine(
    model: Option<&ResolvedModel>,
    endpoint: Option<&Endpoint>,
    options: &EngineOptions,
    progress: &mut dyn Progress,
) -> Result<Result<Box<dyn Generator>, EngineError>, AuditError> {
    match (model, endpoint) {
        (_, Some(e)) => Ok(Ok(Box::new(connect(e, progress)?))),
        (Some(m), None) => Ok(crate::engine::load_with(m, options)),
        (None, None) => Ok(Err(EngineError::NoWeights(String::new()))),
    }
}

/// Connects to a served model, noting what the server cannot do.
pub fn connect(
    endpoint: &Endpoint,
    progress: &mut dyn Progress,
) -> Result<RemoteGenerator, AuditError> {
    progress.step(&format!(
        "connecting to `{}` (model `{}`)",
        endpoint.base, endpoint.served_model
    ));
    let g = RemoteGenerator::connect(endpoint.clone())?;
    if let Some(r) = &g.info().remote {
        if r.scoring != "echo-logprobs" {
            progress.note(&format!(
                "choice probes are not scorable on this server: {}",
                r.scoring
            ));
        }
    }
    Ok(g)
}

/// The journal kept beside the record in an audit folder.
pub fn journal_in(dir: &Path) -> PathBuf {
    runner::journal_path(&dir.join(AUDIT_JSON))
}

/// The file names an audit folder holds.
pub const AUDIT_JSON: &str = "audit.json";
pub const INDEX_HTML: &str = "index.html";
pub const JUNIT_XML: &str = "junit.xml";
pub const BOM_JSON: &str = "bom.cdx.json";

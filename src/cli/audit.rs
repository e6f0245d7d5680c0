//! `modelvet audit`, `report` and `compare`: one command from a model to every piece of evidence, and the
//! views re-rendered from saved records.

use super::probe::{read_run, Bar, RunArgs};
use super::provenance::FailLevel;
use super::target::{Target, TargetArgs};
use super::{emit, Status};
use crate::audit::{Audit, Timings};
use crate::probe::runner::{self, RunModel};
use crate::provenance::{inspect, InspectOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub probes: RunArgs,
    /// Provenance only: do not run the behavior probes.
    #[arg(long)]
    pub no_probes: bool,
    /// Use the answers of a saved probe run (`modelvet probe -o run.json`) instead of asking the model
    /// again. The run must have been made on these exact files (same root digest); its answers are
    /// reclassified with the current detectors and suites.
    #[arg(long, value_name = "RUN_JSON", conflicts_with_all = ["no_probes", "resume"])]
    pub run: Option<PathBuf>,
    /// The folder that receives index.html, audit.json, junit.xml and bom.cdx.json (created if needed).
    #[arg(long, short, value_name = "DIR", default_value = "modelvet-audit")]
    pub output: PathBuf,
    /// Continue an interrupted audit from the journal in DIR (finished probes are not asked again).
    #[arg(long)]
    pub resume: bool,
    /// Exit 1 when a provenance finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailLevel::Never)]
    pub fail_level: FailLevel,
    /// Gate the audit against this policy in the same run: the result is stored in audit.json (`gate`)
    /// and decides the exit code (0 pass, 1 fail).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub gate_with: super::gate::GateWith,
}

/// The file names an audit folder holds.
pub const AUDIT_JSON: &str = "audit.json";
pub const INDEX_HTML: &str = "index.html";
pub const JUNIT_XML: &str = "junit.xml";
pub const BOM_JSON: &str = "bom.cdx.json";

pub fn run_audit(args: AuditArgs, progress: bool) -> anyhow::Result<Status> {
    let started = Instant::now();
    // The policy and suites are validated before any work, so a typo in either costs nothing.
    let policy = args
        .policy
        .as_deref()
        .map(super::gate::load_policy)
        .transpose()?;
    let suites = if args.no_probes {
        None
    } else {
        Some(args.probes.suites()?)
    };
    let target = args.target.resolve()?;
    std::fs::create_dir_all(&args.output).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the output folder `{}`: {e}",
            args.output.display()
        )
    })?;
    // A served model: provenance runs on --weights when given, else records that nothing was inspected.
    let (provenance, model, endpoint) = match target {
        Target::Local(model) => (
            inspect(&model, &InspectOptions { progress }),
            Some(model),
            None,
        ),
        Target::Remote { endpoint, weights } => {
            let provenance = match &weights {
                Some(w) => inspect(w, &InspectOptions { progress }),
                None => crate::provenance::Provenance::not_inspected(
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
    let mut behavior = None;
    let mut skipped = None;
    match &suites {
        None => skipped = Some("probes were not run (--no-probes)".to_owned()),
        Some(suites) if args.run.is_some() => {
            let path = args.run.as_deref().unwrap_or(Path::new(""));
            let mut run = read_run(path)?;
            if run.model.root_digest != provenance.root_digest || provenance.root_digest.is_empty()
            {
                anyhow::bail!(
                    "the run `{}` was made on other files (root digest {}) than `{}` ({})",
                    path.display(),
                    run.model.root_digest,
                    provenance.model.reference,
                    provenance.root_digest
                );
            }
            let changed = runner::reclassify(&mut run, suites).map_err(anyhow::Error::msg)?;
            if changed > 0 {
                eprintln!(
                    "note: {changed} verdicts of `{}` changed under the current detectors",
                    path.display()
                );
            }
            behavior = Some((run, PathBuf::new()));
        }
        Some(suites) => {
            let settings = args.probes.settings(suites);
            let files: Option<Vec<(String, String)>> = provenance
                .files
                .iter()
                .map(|f| f.sha256.clone().map(|h| (f.path.clone(), h)))
                .collect();
            let run_model = RunModel {
                reference: match &endpoint {
                    Some(e) => e.reference(),
                    None => provenance.model.reference.clone(),
                },
                root_digest: provenance.root_digest.clone(),
                files: files.unwrap_or_default(),
                weights_verified: !provenance.files.is_empty(),
            };
            let engine = match (&model, &endpoint) {
                (_, Some(e)) => {
                    Ok(Box::new(super::target::connect(e)?) as Box<dyn crate::engine::Generator>)
                }
                (Some(m), None) => crate::engine::load_with(m, &args.probes.engine_options()),
                (None, None) => unreachable!("a target is local or remote"),
            };
            match engine {
                Err(e) => {
                    eprintln!("note: behavior not audited: {e}");
                    skipped = Some(format!("the local engine cannot run this model: {e}"));
                }
                Ok(mut engine) => {
                    let journal = runner::journal_path(&args.output.join(AUDIT_JSON));
                    let mut bar = Bar::new(progress);
                    let run = runner::run(
                        engine.as_mut(),
                        run_model,
                        suites,
                        settings,
                        Some(&journal),
                        args.resume,
                        &mut bar,
                    )?;
                    bar.0.finish_and_clear();
                    behavior = Some((run, journal));
                }
            }
        }
    }
    let behavior_seconds = behavior_started.elapsed().as_secs_f64();
    let journal = behavior
        .as_ref()
        .map(|(_, j)| j.clone())
        .filter(|j| !j.as_os_str().is_empty());
    let mut audit = Audit::new(
        provenance,
        behavior.map(|(r, _)| r),
        skipped,
        Timings {
            provenance_seconds,
            behavior_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
        },
    );
    if let Some(policy) = &policy {
        audit.gate = Some(super::gate::judge(policy, &audit, &args.gate_with)?);
        audit.resummarize();
    }
    let written = write_all(&audit, &args.output)?;
    // The journal is only needed until the record is safely written.
    if let Some(j) = journal {
        let _ = std::fs::remove_file(j);
    }
    emit(None, &crate::report::text::summary(&audit))?;
    if let Some(g) = &audit.gate {
        eprint!("{}", crate::policy::gate::human(g));
    }
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    let gate_failed = audit.gate.as_ref().is_some_and(|g| !g.passed);
    Ok(
        if gate_failed || args.fail_level.fails(audit.provenance.worst()) {
            Status::Failure
        } else {
            Status::Success
        },
    )
}

/// Writes every view of `audit` into `dir` (atomically, file by file); returns the paths written.
pub fn write_all(audit: &Audit, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut outputs = vec![
        (AUDIT_JSON, audit.to_json()),
        (INDEX_HTML, crate::report::html::render(audit)?),
    ];
    outputs.extend(machine_views(audit));
    let mut written = Vec::new();
    for (name, text) in outputs {
        let path = dir.join(name);
        emit(Some(&path), &text)?;
        written.push(path);
    }
    Ok(written)
}

/// The views for tools (JUnit, CycloneDX) with their file names.
fn machine_views(audit: &Audit) -> [(&'static str, String); 2] {
    [
        (JUNIT_XML, crate::report::junit::render(audit)),
        (BOM_JSON, crate::report::cyclonedx::render(audit)),
    ]
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// An audit record written by `modelvet audit` (audit.json).
    #[arg(value_name = "AUDIT_JSON")]
    pub audit: PathBuf,
    /// Where to write the HTML report (default: index.html beside the record).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also rewrite junit.xml and bom.cdx.json beside the HTML.
    #[arg(long)]
    pub all: bool,
}

/// `modelvet report`: the HTML (and, with --all, every other view) re-rendered from a record alone.
pub fn run_report(args: ReportArgs) -> anyhow::Result<Status> {
    let audit = Audit::read(&args.audit)?;
    let out = args.output.clone().unwrap_or_else(|| {
        args.audit
            .parent()
            .unwrap_or(Path::new("."))
            .join(INDEX_HTML)
    });
    emit(Some(&out), &crate::report::html::render(&audit)?)?;
    eprintln!("wrote {}", out.display());
    if args.all {
        let dir = out.parent().unwrap_or(Path::new("."));
        for (name, text) in machine_views(&audit) {
            let p = dir.join(name);
            emit(Some(&p), &text)?;
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(Status::Success)
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Two or more audit records.
    #[arg(value_name = "AUDIT_JSON", num_args = 2.., required = true)]
    pub audits: Vec<PathBuf>,
    /// Where to write the comparison.
    #[arg(long, short, value_name = "FILE", default_value = "compare.html")]
    pub output: PathBuf,
}

/// `modelvet compare`: the side-by-side view of several audits.
pub fn run_compare(args: CompareArgs) -> anyhow::Result<Status> {
    let mut audits = Vec::new();
    for p in &args.audits {
        audits.push(Audit::read(p)?);
    }
    emit(
        Some(&args.output),
        &crate::report::html::render_compare(&audits)?,
    )?;
    eprintln!("wrote {}", args.output.display());
    Ok(Status::Success)
}

#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    /// Where to write the schema (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `modelvet schema`: the JSON Schema of the audit record (checked in as reports/audit.schema.json).
pub fn run_schema(args: SchemaArgs) -> anyhow::Result<Status> {
    emit(args.output.as_ref(), &crate::audit::json_schema())?;
    Ok(Status::Success)
}

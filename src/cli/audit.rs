//! `modelvet audit`, `report` and `compare`: one command from a model to every piece of evidence, and the
//! views re-rendered from saved records.

use super::probe::{read_run, Bar, RunArgs};
use super::provenance::FailLevel;
use super::target::TargetArgs;
use super::{emit, Status};
use crate::audit::{self, Behavior};
use crate::record::Audit;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub probes: RunArgs,
    #[command(flatten)]
    pub judge: super::judge::JudgeArgs,
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
    /// Weight fingerprints to match besides the shipped ones: a file from `modelvet fingerprint`, or a
    /// folder of them (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    pub families: Vec<PathBuf>,
}

pub use crate::audit::{AUDIT_JSON, BOM_JSON, INDEX_HTML, JUNIT_XML};

pub fn run_audit(args: AuditArgs, progress: bool) -> anyhow::Result<Status> {
    // The policy, its baseline and lock, and the suites are validated before any work, so a typo in any
    // of them costs nothing.
    let policy = args
        .policy
        .as_deref()
        .map(super::gate::load_policy)
        .transpose()?;
    let gate_inputs = match &policy {
        Some(p) => Some(super::gate::GateFiles::read(p, &args.gate_with)?),
        None => None,
    };
    let suites = if args.no_probes {
        None
    } else {
        Some(args.probes.suites()?)
    };
    let (rubric, verdict_from) = args.judge.prepare()?;
    let subject = args.target.resolve()?;
    std::fs::create_dir_all(&args.output).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the output folder `{}`: {e}",
            args.output.display()
        )
    })?;
    let journal = audit::journal_in(&args.output);
    let judge_journal = crate::probe::judge::journal_path(&args.output.join(AUDIT_JSON));
    let behavior = match &suites {
        None => Behavior::Skip,
        Some(suites) => match &args.run {
            Some(path) => Behavior::Saved {
                run: Box::new(read_run(path)?),
                source: path.clone(),
                suites,
            },
            None => Behavior::Probe {
                suites,
                settings: args.probes.settings(suites),
                engine: args.probes.engine_options(),
                journal: journal.clone(),
                resume: args.resume,
            },
        },
    };
    let mut fingerprints = Vec::new();
    for f in &args.families {
        fingerprints.extend(crate::provenance::weights::fingerprint::load(f)?);
    }
    let options = audit::Options {
        behavior,
        gate: policy
            .as_ref()
            .zip(gate_inputs.as_ref())
            .map(|(p, f)| (p, f.inputs())),
        hash_progress: progress,
        judge: rubric.as_ref().map(|rubric| audit::Judge {
            open: Box::new(|| {
                args.judge
                    .open(rubric, progress)
                    .map_err(|e| format!("{e:#}"))
            }),
            rubric,
            verdict_from,
            journal: judge_journal.clone(),
            resume: args.resume,
        }),
        fingerprints,
    };
    let mut bar = Bar::new(progress);
    let asked = matches!(options.behavior, Behavior::Probe { .. });
    let audit = audit::run(&subject, options, &mut bar)?;
    bar.0.finish_and_clear();
    let written = write_all(&audit, &args.output)?;
    // The journal of the probes asked is only needed until the record is safely written.
    if asked {
        let _ = std::fs::remove_file(journal);
    }
    let _ = std::fs::remove_file(&judge_journal);
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
    emit(args.output.as_ref(), &crate::record::json_schema())?;
    Ok(Status::Success)
}

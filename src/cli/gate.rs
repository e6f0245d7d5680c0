//! `modelvet gate`, `modelvet diff` and `modelvet init-policy`: the CI adoption decision as a policy file
//! and an exit code, and what changed between two versions of a model.

use super::{emit, Status};
use crate::lock::Lock;
use crate::policy::gate::{self, GateReport, Inputs};
use crate::policy::Policy;
use crate::record::Audit;
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct GateArgs {
    /// The audit record to judge (audit.json).
    #[arg(value_name = "AUDIT_JSON")]
    pub audit: PathBuf,
    /// The policy file (see `modelvet init-policy`).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    #[command(flatten)]
    pub with: GateWith,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

/// What a gate compares the audit with, shared by `gate` and `audit --policy`.
#[derive(clap::Args, Debug, Default)]
pub struct GateWith {
    /// A previous audit.json for the policy's `baseline` rules.
    #[arg(long, value_name = "AUDIT_JSON")]
    pub baseline: Option<PathBuf>,
    /// A modelvet.lock the audited files must match (overrides the policy's `integrity.lock`).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

/// Loads a policy, printing every problem, as "could not run" on failure.
pub fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    Policy::load(path).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
}

/// The files a policy is judged with besides the audit: its baseline and its lock, read once.
pub struct GateFiles {
    baseline: Option<Audit>,
    lock: Option<(String, Lock)>,
}

impl GateFiles {
    /// Reads the baseline and the lock (`--lock`, else the policy's `integrity.lock`).
    pub fn read(policy: &Policy, with: &GateWith) -> anyhow::Result<GateFiles> {
        let baseline = with.baseline.as_deref().map(Audit::read).transpose()?;
        let lock_path = with
            .lock
            .clone()
            .or_else(|| policy.integrity.as_ref().and_then(|i| i.lock.clone()));
        let lock = match &lock_path {
            Some(p) => Some((
                p.display().to_string(),
                Lock::read(p).map_err(|e| {
                    anyhow::anyhow!(
                        "{e}\n  hint: write one with `modelvet lock MODEL -o {}`",
                        p.display()
                    )
                })?,
            )),
            None => None,
        };
        Ok(GateFiles { baseline, lock })
    }

    /// The gate's inputs, borrowed from these files.
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            baseline: self.baseline.as_ref(),
            lock: self.lock.as_ref().map(|(n, l)| (n.as_str(), l)),
        }
    }
}

/// Reads the baseline and lock, then evaluates the policy on `audit`.
pub fn judge(policy: &Policy, audit: &Audit, with: &GateWith) -> anyhow::Result<GateReport> {
    let files = GateFiles::read(policy, with)?;
    Ok(gate::evaluate(policy, audit, &files.inputs()))
}

pub fn run_gate(args: GateArgs) -> anyhow::Result<Status> {
    let policy = load_policy(&args.policy)?;
    let audit = Audit::read(&args.audit)?;
    let report = judge(&policy, &audit, &args.with)?;
    let text = match args.format {
        super::Format::Human => gate::human(&report),
        super::Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    emit(None, &text)?;
    Ok(status(&report))
}

pub fn status(report: &GateReport) -> Status {
    if report.passed {
        Status::Success
    } else {
        Status::Failure
    }
}

/// Output format of `modelvet diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DiffFormat {
    #[default]
    Human,
    Json,
    /// A self-contained HTML page.
    Html,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The earlier audit.json.
    #[arg(value_name = "OLD_JSON")]
    pub old: PathBuf,
    /// The later audit.json.
    #[arg(value_name = "NEW_JSON")]
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: DiffFormat,
    /// Where to write it (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run_diff(args: DiffArgs) -> anyhow::Result<Status> {
    let old = Audit::read(&args.old)?;
    let new = Audit::read(&args.new)?;
    let d = crate::diff::diff(&old, &new);
    let text = match args.format {
        DiffFormat::Human => crate::diff::human(&d),
        DiffFormat::Json => serde_json::to_string_pretty(&d)? + "\n",
        DiffFormat::Html => crate::report::diff::render(&d)?,
    };
    emit(args.output.as_ref(), &text)?;
    if let Some(p) = &args.output {
        eprintln!("wrote {}", p.display());
    }
    Ok(Status::Success)
}

#[derive(clap::Args, Debug)]
pub struct InitPolicyArgs {
    /// Where to write the policy (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

pub fn run_init_policy(args: InitPolicyArgs) -> anyhow::Result<Status> {
    if let Some(p) = &args.output {
        if p.exists() && !args.force {
            anyhow::bail!(
                "`{}` exists; not overwriting it\n  hint: pass --force to replace it",
                p.display()
            );
        }
    }
    emit(args.output.as_ref(), crate::policy::DEFAULT_POLICY)?;
    if let Some(p) = &args.output {
        eprintln!("wrote {}", p.display());
    }
    Ok(Status::Success)
}

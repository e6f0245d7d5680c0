//! The command line: clap structs, one file per subcommand, and the exit status.
//!
//! This is the only layer that prints or uses `anyhow`. Data goes to stdout (or `-o FILE`, written
//! atomically); progress and errors go to stderr. Exit codes are a type, documented in the README:
//! 0 success, 1 findings at or above the fail level (or a verify mismatch, or a failed gate), 2 could not run.

mod audit;
mod gate;
mod generate;
mod judge;
mod lineage;
mod lock;
mod probe;
mod provenance;
mod review;
mod target;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Ran, nothing at or above the fail level: exit 0.
    Success,
    /// Ran, and the model fails (findings at or above the fail level, a lock mismatch): exit 1.
    Failure,
    /// Could not run (bad arguments, unreadable input): exit 2.
    Error,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(match s {
            Status::Success => 0,
            Status::Failure => 1,
            Status::Error => 2,
        })
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "modelvet",
    version,
    about = "Vets open-weight language models: provenance, behavior and evidence."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Never draw progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Hash, parse and identify every file of a model: weights, card, license, lineage, findings.
    Provenance(provenance::Args),
    /// Write a lock file: every file's path, size and sha256, and a root digest.
    Lock(lock::LockArgs),
    /// Check a model's files against a lock file: missing, extra and changed files.
    Verify(lock::VerifyArgs),
    /// Generate an answer locally with the model's own chat template (greedy unless --temperature).
    Generate(generate::GenerateArgs),
    /// Print the exact prompt (text and token ids) a model is fed for a message.
    Template(generate::TemplateArgs),
    /// Run probe suites on a model: each answer classified (answered, refused, deflected, narrative) with evidence.
    Probe(probe::Args),
    /// Re-run the current detectors on a saved run's answers (no model needed) and recompute its metrics.
    Reclassify(probe::ReclassifyArgs),
    /// Export the verdicts for a person to review (CSV), or import their labels (--import) into the record.
    Review(review::ReviewArgs),
    /// Measure the verdict detectors against hand-labelled answers: confusion matrix, precision, recall, κ.
    EvalVerdicts(probe::EvalArgs),
    /// Audit a model: provenance + probes, written as index.html, audit.json, junit.xml and bom.cdx.json.
    Audit(audit::AuditArgs),
    /// Re-render the HTML report (and with --all every view) from an audit.json alone.
    Report(audit::ReportArgs),
    /// Compare several audits side by side in one HTML page.
    Compare(audit::CompareArgs),
    /// Print the JSON Schema of the audit record.
    Schema(audit::SchemaArgs),
    /// Judge an audit against a policy file: every rule with its evidence; exit 0 pass, 1 fail, 2 could not run.
    Gate(gate::GateArgs),
    /// What changed between two audits: files, license, lineage, findings, flipped probes, rate changes.
    Diff(gate::DiffArgs),
    /// Write a commented default policy for `modelvet gate`.
    InitPolicy(gate::InitPolicyArgs),
    /// Are these two models' weights related? same weights / derived / unrelated / inconclusive, with the evidence.
    Lineage(lineage::LineageArgs),
    /// Write a compact weight fingerprint of a model (≤ 64 KB) that recognises its derivatives.
    Fingerprint(lineage::FingerprintArgs),
    /// (maintainers) Print the lineage-table entry for a real model; see scripts/gen-families.sh.
    #[command(hide = true)]
    FamilyEntry(provenance::FamilyEntryArgs),
}

/// Output format of a report-like command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Readable text.
    #[default]
    Human,
    /// The JSON record.
    Json,
}

/// Where a model comes from, shared by every command that takes one.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// A .gguf or .safetensors file, a model folder, or a Hugging Face id `org/name[@revision]` in the local cache.
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Fetch a Hub id through hf-hub when it is not in the local cache (the only network access modelvet makes).
    #[arg(long)]
    pub download: bool,
}

impl ModelArgs {
    pub fn resolve(&self) -> anyhow::Result<crate::model::ResolvedModel> {
        let opts = crate::model::ResolveOptions {
            download: self.download,
            hub_cache: None,
        };
        Ok(crate::model::resolve(&self.model, &opts)?)
    }
}

/// Writes `text` to `out` (atomically) or to stdout.
pub fn emit(out: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => crate::util::write_atomic(path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("could not write `{}`: {e}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
            {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => Ok(other?),
            }
        }
    }
}

/// Parses arguments, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's help and version are successes; usage errors are "could not run".
            return if e.use_stderr() {
                Status::Error
            } else {
                Status::Success
            }
            .into();
        }
    };
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            Status::Error.into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Status> {
    let progress = !cli.quiet;
    match cli.command {
        Command::Provenance(args) => provenance::run(args, progress),
        Command::Lock(args) => lock::run_lock(args, progress),
        Command::Verify(args) => lock::run_verify(args, progress),
        Command::Generate(args) => generate::run_generate(args),
        Command::Template(args) => generate::run_template(args),
        Command::Probe(args) => probe::run(args, progress),
        Command::Reclassify(args) => probe::reclassify(args, progress),
        Command::Review(args) => review::run(args),
        Command::EvalVerdicts(args) => probe::eval_verdicts(args),
        Command::Audit(args) => audit::run_audit(args, progress),
        Command::Report(args) => audit::run_report(args),
        Command::Compare(args) => audit::run_compare(args),
        Command::Schema(args) => audit::run_schema(args),
        Command::Gate(args) => gate::run_gate(args),
        Command::Diff(args) => gate::run_diff(args),
        Command::InitPolicy(args) => gate::run_init_policy(args),
        Command::FamilyEntry(args) => provenance::family_entry(args),
        Command::Lineage(args) => lineage::run_lineage(args),
        Command::Fingerprint(args) => lineage::run_fingerprint(args),
    }
}

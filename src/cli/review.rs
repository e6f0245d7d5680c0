//! `modelvet review`: hand the verdicts to a person and take their labels back. Export writes a CSV a
//! spreadsheet opens (one row per answer, Chinese included); `--import` reads the labels into the record,
//! all or nothing, and the record then says how many verdicts a person checked and how many they overturned.

use super::probe::{load_suites, Saved};
use super::Status;
use crate::probe::{judge, review};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ReviewArgs {
    /// An audit record (audit.json) or a run record (`modelvet probe -o`).
    #[arg(value_name = "RUN_OR_AUDIT")]
    pub record: PathBuf,
    /// Read the labels of a review file back into the record (instead of exporting one).
    #[arg(long = "import", value_name = "CSV")]
    pub import: Option<PathBuf>,
    /// The reviewer of rows whose `reviewer` column is empty (with --import).
    #[arg(long, value_name = "NAME", requires = "import")]
    pub reviewer: Option<String>,
    /// Export: the CSV to write [default: review.csv beside the record]. Import: where to write the
    /// updated record [default: in place].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Suites whose questions the export shows (default: every built-in suite; a probe of no suite is
    /// shown through the exact prompt the model saw).
    #[arg(long = "suite", value_name = "NAME|FILE")]
    pub suites: Vec<String>,
    /// Prompt lists the run imported with `--prompts`; repeatable.
    #[arg(long = "prompts", value_name = "FILE")]
    pub prompts: Vec<PathBuf>,
}

pub fn run(args: ReviewArgs) -> anyhow::Result<Status> {
    let mut saved = Saved::read(&args.record)?;
    let Some(csv) = &args.import else {
        let suites = load_suites(&args.suites, &args.prompts)?;
        let run = saved.run()?;
        let out = args.output.clone().unwrap_or_else(|| {
            args.record
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("review.csv")
        });
        let bytes = review::export(run, &judge::questions(&suites));
        crate::util::write_atomic(&out, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", out.display()))?;
        let rows = run
            .results
            .iter()
            .filter(|r| r.rule_verdict().is_some())
            .count();
        eprintln!(
            "wrote `{}`: {rows} answers; fill the `label` column (answered, refused, deflected, narrative), then `modelvet review --import {} {}`",
            out.display(),
            out.display(),
            args.record.display()
        );
        return Ok(Status::Success);
    };
    let bytes = crate::util::read_capped(csv, crate::record::MAX_RECORD_BYTES)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", csv.display()))?;
    let file = csv.display().to_string();
    let labels = review::read(&bytes, &file, saved.run()?, args.reviewer.as_deref()).map_err(
        |problems| {
            anyhow::anyhow!(
                "{}\nnothing was imported: fix the rows above and import again",
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    )?;
    let run = saved.run_mut()?;
    review::apply(run, &labels, &file, &crate::util::sha256_hex(&bytes));
    if let Some(s) = &run.metrics.second_opinions {
        eprintln!(
            "imported {} labels: {} of {} verdicts reviewed by a person; {} overturned",
            labels.len(),
            s.reviewed,
            s.generated,
            s.overturned
        );
    }
    let out = args.output.clone().unwrap_or_else(|| args.record.clone());
    saved.write(&out)?;
    Ok(Status::Success)
}

//! The audit record: provenance and behavior of one model in one versioned value, the data model every
//! view (HTML, JUnit, CycloneDX, gate, diff, compare) is made from.
//!
//! The record embeds its own inputs — tool version, model reference, every file hash, suite ids and
//! digests, seeds, engine and settings — so it can be reproduced from itself. Its content is
//! deterministic: rerunning the same audit gives the same JSON apart from timestamps and durations
//! (`created_unix`, `timings`, the run's `started_unix`, `wall_seconds` and per-probe `seconds`).
//!
//! [`Summary`] holds what the reports say first (the key points a reviewer reads in thirty seconds); it is
//! computed here, once, so every view says the same thing and templates only format.

use crate::probe::record::ProbeRun;
use crate::provenance::{Provenance, Tool};
use serde::{Deserialize, Serialize};

pub mod gate;
mod summary;
pub use gate::{GateReport, RuleResult};
pub use summary::{summarize, BehaviorSummary, FindingCounts, KeyPoint, Level, Summary};

/// Version of the audit record's layout; bumped on any incompatible change.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

/// One audit of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Audit {
    /// Layout version of this record ([`AUDIT_SCHEMA_VERSION`]).
    pub schema_version: u32,
    pub tool: Tool,
    /// When the audit finished, in seconds since the Unix epoch (not part of the reproducible content).
    pub created_unix: u64,
    pub provenance: Provenance,
    /// The behavior run; absent when probes were not run (see `behavior_skipped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<ProbeRun>,
    /// Why there is no behavior run: `--no-probes`, or a model the engine cannot run (an encoder, an
    /// unsupported architecture), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior_skipped: Option<String>,
    /// The policy gate's result when the audit ran with `--policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateReport>,
    pub summary: Summary,
    pub timings: Timings,
}

/// How long each part took (not part of the reproducible content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Timings {
    pub provenance_seconds: f64,
    pub behavior_seconds: f64,
    pub total_seconds: f64,
}

impl Audit {
    /// Assembles a record and computes its summary.
    pub fn new(
        provenance: Provenance,
        behavior: Option<ProbeRun>,
        behavior_skipped: Option<String>,
        timings: Timings,
    ) -> Audit {
        let summary = summarize(&provenance, behavior.as_ref(), behavior_skipped.as_deref());
        Audit {
            schema_version: AUDIT_SCHEMA_VERSION,
            tool: Tool::current(),
            created_unix: crate::util::time::now_unix(),
            provenance,
            behavior,
            behavior_skipped,
            gate: None,
            summary,
            timings,
        }
    }

    /// Reads a record, naming the file and the line:col of a syntax or shape error, and refusing a layout
    /// this version does not know.
    pub fn read(path: &std::path::Path) -> Result<Audit, AuditError> {
        let p = path.display().to_string();
        let bytes =
            crate::util::read_capped(path, MAX_RECORD_BYTES).map_err(|e| AuditError::Io {
                path: p.clone(),
                message: e.to_string(),
            })?;
        // Look at the version first so an old or future record gets a clear message, not a shape error.
        #[derive(Deserialize)]
        struct Version {
            schema_version: Option<u32>,
        }
        let v: Version = serde_json::from_slice(&bytes).map_err(|e| AuditError::Parse {
            path: p.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        match v.schema_version {
            Some(AUDIT_SCHEMA_VERSION) => {}
            other => {
                return Err(AuditError::Version {
                    path: p,
                    found: other,
                })
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| AuditError::Parse {
            path: p,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// The record as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Recomputes the summary (after the behavior run was reclassified, or a gate was judged).
    pub fn resummarize(&mut self) {
        self.summary = summarize(
            &self.provenance,
            self.behavior.as_ref(),
            self.behavior_skipped.as_deref(),
        );
        if let Some(g) = &self.gate {
            let failed: Vec<&str> = g
                .rules
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.id.as_str())
                .collect();
            let (level, text) = if g.passed {
                (
                    Level::Ok,
                    format!(
                        "Policy gate passed: all {} rules of `{}`.",
                        g.rules.len(),
                        g.policy
                    ),
                )
            } else {
                (
                    Level::Concern,
                    format!(
                        "Policy gate FAILED: {} of {} rules of `{}` ({}).",
                        failed.len(),
                        g.rules.len(),
                        g.policy,
                        failed.join(", ")
                    ),
                )
            };
            self.summary.key_points.insert(
                0,
                KeyPoint {
                    level,
                    area: "gate".into(),
                    text,
                },
            );
        }
    }
}

/// Largest audit record read (a full run with repeats stays far below).
pub const MAX_RECORD_BYTES: u64 = 512 * 1024 * 1024;

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot read `{path}`: {message}")]
    Io { path: String, message: String },
    #[error("`{path}`:{line}:{column}: not a modelvet audit record: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{path}` has audit schema_version {}, this modelvet reads version {AUDIT_SCHEMA_VERSION}", found.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into()))]
    Version { path: String, found: Option<u32> },
}

/// The JSON Schema of [`Audit`], as checked in at `reports/audit.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Audit);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reports/audit.schema.json is what tools outside modelvet validate records against; it must be the
    /// schema of the types as they are now.
    #[test]
    fn the_checked_in_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/audit.schema.json");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == json_schema(),
            "reports/audit.schema.json is stale; regenerate it with\n    cargo run -- schema -o reports/audit.schema.json"
        );
    }

    #[test]
    fn the_schema_describes_the_record_layout() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for key in [
            "schema_version",
            "tool",
            "provenance",
            "behavior",
            "summary",
            "timings",
        ] {
            assert!(props.contains_key(key), "schema lacks `{key}`");
        }
        assert!(schema["$defs"]["ProbeResult"].is_object());
        assert!(schema["$defs"]["Finding"].is_object());
    }
}

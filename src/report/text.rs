//! The terminal summary of an audit: identity, key points, and where the evidence was written.

use crate::record::{Audit, Level};
use std::fmt::Write;

/// A few lines for the terminal: the model, its weights, and the summary's key points.
pub fn summary(audit: &Audit) -> String {
    let s = &audit.summary;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", s.name, s.reference);
    if let (Some(f), Some(h)) = (&s.weights_file, &s.weights_sha256) {
        let _ = writeln!(out, "  weights  {f}  sha256 {h}");
    }
    let _ = writeln!(
        out,
        "  findings {} errors, {} warnings, {} notes",
        s.findings.error, s.findings.warning, s.findings.info
    );
    for k in &s.key_points {
        let mark = match k.level {
            Level::Concern => "!!",
            Level::Note => " -",
            Level::Ok => "ok",
        };
        let _ = writeln!(out, "{mark} {}", k.text);
    }
    out
}

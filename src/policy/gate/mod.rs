//! Evaluating a [`Policy`] against an audit record: every rule passes or fails with the evidence behind
//! it (numbers and intervals, probe ids, finding codes, file hashes), so a CI log says *why*.
//!
//! A rule that needs data the audit lacks (behavior rules on a `--no-probes` audit, baseline rules with
//! no baseline, a required lock with no lock) fails and says so; it never passes for want of evidence.
//! Evaluation is pure: reading files is the caller's job, so "could not run" stays an error upstream.
//!
//! This file holds the entry point ([`evaluate`]), the text view ([`human`]) and the license, integrity,
//! findings and baseline rules; the behavior rules (a table of thresholds) are `behavior.rs` and the
//! record types ([`GateReport`], [`RuleResult`]) `report.rs`, re-exported here so their paths stay.

mod behavior;

pub use crate::record::gate::{GateReport, RuleResult};
pub use behavior::newcombe;

use super::{Bound, Policy};
use crate::lock::Lock;
use crate::probe::paired;
use crate::probe::record::Rate;
use crate::record::Audit;
use crate::util::fmt::pct;

/// What the gate looks at besides the audit.
#[derive(Default)]
pub struct Inputs<'a> {
    pub baseline: Option<&'a Audit>,
    /// The lock and the name it is shown under.
    pub lock: Option<(&'a str, &'a Lock)>,
}

/// The rule results, in the order the rules are evaluated.
struct Out(Vec<RuleResult>);

impl Out {
    fn push(&mut self, id: &str, rule: String, passed: bool, evidence: Vec<String>) {
        self.0.push(RuleResult {
            id: id.to_owned(),
            rule,
            passed,
            evidence,
        });
    }
}

/// A rate with its count and Wilson interval: `3/10 = 30.0% (95% CI 10.8%–60.3%)`.
fn rate_text(r: &Rate) -> String {
    format!(
        "{}/{} = {} ({})",
        r.k,
        r.n,
        pct(r.rate, 1),
        r.interval_text(1)
    )
}

/// Which end of the interval a rule compares, in the words of the rule text.
fn rule_words(b: Bound) -> &'static str {
    match b {
        Bound::UpperBound => "the upper bound of the 95% interval",
        Bound::Point => "the measured value",
        Bound::LowerBound => "the lower bound of the 95% interval",
    }
}

/// Evaluates every rule of `policy` on `audit`.
pub fn evaluate(policy: &Policy, audit: &Audit, inputs: &Inputs) -> GateReport {
    let mut out = Out(Vec::new());
    license(policy, audit, &mut out);
    integrity(policy, audit, inputs, &mut out);
    findings(policy, audit, &mut out);
    behavior::rules(policy, audit, &mut out);
    baseline(policy, audit, inputs, &mut out);
    lineage(policy, audit, &mut out);
    GateReport {
        policy: policy.file.clone(),
        passed: out.0.iter().all(|r| r.passed),
        baseline: inputs
            .baseline
            .map(|b| format!("{} ({})", b.summary.reference, b.provenance.root_digest)),
        lock: inputs.lock.map(|(name, _)| name.to_owned()),
        rules: out.0,
    }
}

/// `lineage.require_base` / `lineage.deny_base`, on the weight fingerprints that matched (same weights or
/// derived). Family names compare without regard to case.
fn lineage(policy: &Policy, audit: &Audit, out: &mut Out) {
    let Some(p) = &policy.lineage else { return };
    let matches = &audit.provenance.lineage.weights;
    let evidence = |names: &[String]| -> Vec<String> {
        let mut ev: Vec<String> = matches
            .iter()
            .filter(|m| names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(&m.family)))
            .map(|m| format!("`{}`: {}", m.source, m.statement))
            .collect();
        if matches.is_empty() {
            ev.push("no weight fingerprint matched these weights".into());
        }
        ev
    };
    let hit = |names: &[String]| {
        matches
            .iter()
            .any(|m| m.verdict.related() && names.iter().any(|n| n.eq_ignore_ascii_case(&m.family)))
    };
    if !p.require_base.is_empty() {
        out.push(
            "lineage.require_base",
            format!(
                "the weights must derive from one of: {}",
                p.require_base.join(", ")
            ),
            hit(&p.require_base),
            evidence(&[]),
        );
    }
    if !p.deny_base.is_empty() {
        let mut ev = evidence(&p.deny_base);
        if ev.is_empty() {
            ev.push(format!("no match with {}", p.deny_base.join(", ")));
        }
        out.push(
            "lineage.deny_base",
            format!(
                "the weights must not derive from: {}",
                p.deny_base.join(", ")
            ),
            !hit(&p.deny_base),
            ev,
        );
    }
}

fn license(policy: &Policy, audit: &Audit, out: &mut Out) {
    let Some(p) = &policy.license else { return };
    let lic = &audit.provenance.license;
    let effective = &lic.effective;
    let declared: Vec<String> = lic
        .declared
        .iter()
        .map(|d| {
            format!(
                "{} in `{}`: `{}` → {}",
                match &d.source {
                    crate::provenance::license::LicenseSource::Card { .. } => "card",
                    crate::provenance::license::LicenseSource::Gguf { .. } => "GGUF metadata",
                    crate::provenance::license::LicenseSource::Config { .. } => "config",
                    crate::provenance::license::LicenseSource::Text { .. } => "license text",
                },
                d.source.file(),
                d.raw,
                d.id.as_deref().unwrap_or("(unrecognized)")
            )
        })
        .collect();
    let effective_line = format!(
        "effective licenses: {}",
        if effective.is_empty() {
            "(none)".to_owned()
        } else {
            effective.join(", ")
        }
    );
    if p.require {
        let mut ev = vec![effective_line.clone()];
        ev.extend(declared.iter().cloned());
        if effective.is_empty() {
            ev.push(
                "finding license-missing: no license in the card, GGUF metadata or license files"
                    .into(),
            );
        }
        out.push(
            "license.require",
            "a license must be declared".into(),
            !effective.is_empty(),
            ev,
        );
    }
    if !p.allow.is_empty() {
        let outside: Vec<&String> = effective
            .iter()
            .filter(|id| !p.allow.contains(id))
            .collect();
        let mut ev = vec![effective_line.clone()];
        if effective.is_empty() {
            ev.push("no license to compare with the allow list".into());
        }
        ev.extend(outside.iter().map(|id| format!("`{id}` is not allowed")));
        out.push(
            "license.allow",
            format!("every license must be one of: {}", p.allow.join(", ")),
            !effective.is_empty() && outside.is_empty(),
            ev,
        );
    }
    if !p.deny.is_empty() {
        let denied: Vec<&String> = effective.iter().filter(|id| p.deny.contains(id)).collect();
        let mut ev = vec![effective_line.clone()];
        ev.extend(denied.iter().map(|id| format!("`{id}` is denied")));
        out.push(
            "license.deny",
            format!("no license may be one of: {}", p.deny.join(", ")),
            denied.is_empty(),
            ev,
        );
    }
    if p.fail_on_mismatch {
        let mut ids: Vec<&str> = lic
            .declared
            .iter()
            .filter_map(|d| d.id.as_deref())
            .collect();
        ids.sort();
        ids.dedup();
        let mismatch_findings: Vec<String> = audit
            .provenance
            .findings
            .iter()
            .filter(|f| f.code == crate::diag::Code::LicenseMismatch)
            .map(|f| format!("finding license-mismatch: {}", f.message))
            .collect();
        let passed = ids.len() <= 1 && mismatch_findings.is_empty();
        let mut ev = declared.clone();
        if ev.is_empty() {
            ev.push("no license declared by any source".into());
        }
        ev.extend(mismatch_findings);
        out.push(
            "license.fail_on_mismatch",
            "all license sources must agree".into(),
            passed,
            ev,
        );
    }
}

fn integrity(policy: &Policy, audit: &Audit, inputs: &Inputs, out: &mut Out) {
    let required = policy.integrity.as_ref().is_some_and(|i| i.require_lock);
    let rule = "the audited files must match the lock file (paths, sizes, sha256)".to_owned();
    let Some((name, lock)) = inputs.lock else {
        if required {
            out.push(
                "integrity.require_lock",
                rule,
                false,
                vec!["no lock file given (--lock, or `integrity.lock` in the policy)".into()],
            );
        }
        return;
    };
    let found: Vec<crate::lock::FoundFile> = audit
        .provenance
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size, f.sha256.clone()))
        .collect();
    let v = crate::lock::verify(lock, &found);
    let mut ev = vec![format!(
        "lock `{name}`: {} files, root digest {}; audit root digest {}",
        lock.files.len(),
        v.expected_root,
        v.actual_root
    )];
    for c in &v.changed {
        ev.push(format!(
            "changed `{}`: locked sha256 {} ({} bytes), audited {} ({} bytes)",
            c.path,
            c.expected_sha256,
            c.expected_size,
            c.actual_sha256.as_deref().unwrap_or("(unreadable)"),
            c.actual_size
        ));
    }
    ev.extend(v.missing.iter().map(|p| format!("missing `{p}`")));
    ev.extend(v.extra.iter().map(|p| format!("not in the lock `{p}`")));
    if v.ok() {
        ev.push(format!("{} files match", v.unchanged));
    }
    out.push("integrity.require_lock", rule, v.ok(), ev);
}

fn findings(policy: &Policy, audit: &Audit, out: &mut Out) {
    let Some(p) = &policy.findings else { return };
    let all = &audit.provenance.findings;
    let allowed = |code| p.allow.iter().find(|a| a.code == code);
    let allowed_ev: Vec<String> = all
        .iter()
        .filter_map(|f| {
            allowed(f.code).map(|a| {
                format!(
                    "allowed {}[{}]: {} (reason: {})",
                    f.severity, f.code, f.message, a.reason
                )
            })
        })
        .collect();
    if let Some(level) = p.fail_at {
        let hits: Vec<String> = all
            .iter()
            .filter(|f| f.severity >= level && allowed(f.code).is_none())
            .map(|f| f.to_string())
            .collect();
        let mut ev = hits.clone();
        if hits.is_empty() {
            ev.push(format!(
                "{} findings, none at or above `{level}` outside the allow list",
                all.len()
            ));
        }
        ev.extend(allowed_ev.iter().cloned());
        out.push(
            "findings.fail_at",
            format!("no finding at or above `{level}` unless allowed"),
            hits.is_empty(),
            ev,
        );
    }
    if !p.fail_on.is_empty() {
        let hits: Vec<String> = all
            .iter()
            .filter(|f| p.fail_on.contains(&f.code) && allowed(f.code).is_none())
            .map(|f| f.to_string())
            .collect();
        let mut ev = hits.clone();
        if hits.is_empty() {
            ev.push("none of these codes was found".into());
        }
        out.push(
            "findings.fail_on",
            format!(
                "no finding with code {}",
                p.fail_on
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hits.is_empty(),
            ev,
        );
    }
}

fn baseline(policy: &Policy, audit: &Audit, inputs: &Inputs, out: &mut Out) {
    let Some(p) = &policy.baseline else { return };
    let rules: Vec<(&str, String)> = [
        p.max_flips_to_censored.map(|n| {
            (
                "baseline.max_flips_to_censored",
                format!("at most {n} probes answered in the baseline may be censored now"),
            )
        }),
        p.max_rate_increase.map(|x| {
            (
                "baseline.max_rate_increase",
                format!(
                    "the censoring rate on paired items may rise by at most {} points",
                    x * 100.0
                ),
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let missing = match (inputs.baseline, &audit.behavior) {
        (None, _) => Some("no baseline audit given (--baseline)".to_owned()),
        (Some(b), _) if b.behavior.is_none() => Some("behavior not audited in the baseline".into()),
        (_, None) => Some(format!(
            "behavior not audited: {}",
            audit.behavior_skipped.as_deref().unwrap_or("no probe run")
        )),
        _ => None,
    };
    if let Some(why) = missing {
        for (id, text) in rules {
            out.push(id, text, false, vec![why.clone()]);
        }
        return;
    }
    let (Some(old), Some(new)) = (
        inputs.baseline.and_then(|b| b.behavior.as_ref()),
        audit.behavior.as_ref(),
    ) else {
        return;
    };
    let pairs = paired::paired(&old.results, &new.results);
    if let Some(max) = p.max_flips_to_censored {
        let flips: Vec<String> = pairs
            .iter()
            .filter(|(o, n)| o.censored() == Some(false) && n.censored() == Some(true))
            .map(|(o, n)| {
                format!(
                    "`{}` #{} [{}]: {} → {}",
                    n.probe,
                    n.repeat,
                    n.lang,
                    o.label(),
                    n.label()
                )
            })
            .collect();
        let mut ev = vec![format!(
            "{} paired items, {} newly censored",
            pairs.len(),
            flips.len()
        )];
        let ok = flips.len() <= max;
        ev.extend(flips);
        out.push(
            "baseline.max_flips_to_censored",
            format!("at most {max} probes answered in the baseline may be censored now"),
            ok,
            ev,
        );
    }
    if let Some(max) = p.max_rate_increase {
        let c = paired::rate_change("all", &pairs);
        let ok = c.paired > 0 && c.change <= max + 1e-12;
        let mut ev = vec![format!(
            "censoring on {} paired items: {} → {} ({:+.1} points); {} newly censored, {} no longer; exact McNemar p = {:.4}",
            c.paired,
            rate_text(&c.old),
            rate_text(&c.new),
            c.change * 100.0,
            c.to_censored,
            c.to_uncensored,
            c.p_value
        )];
        if c.paired == 0 {
            ev.push("no paired generated answers: not measured".into());
        }
        out.push(
            "baseline.max_rate_increase",
            format!(
                "the censoring rate on paired items may rise by at most {} points",
                max * 100.0
            ),
            ok,
            ev,
        );
    }
}

/// The report as readable text: a line per rule, its evidence indented below.
pub fn human(r: &GateReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for rule in &r.rules {
        let _ = writeln!(
            s,
            "{} {}: {}",
            if rule.passed { "pass" } else { "FAIL" },
            rule.id,
            rule.rule
        );
        for e in &rule.evidence {
            let _ = writeln!(s, "    {e}");
        }
    }
    let failed = r.rules.iter().filter(|x| !x.passed).count();
    let _ = writeln!(
        s,
        "gate: {} ({} of {} rules passed; policy `{}`)",
        if r.passed { "passed" } else { "FAILED" },
        r.rules.len() - failed,
        r.rules.len(),
        r.policy
    );
    s
}

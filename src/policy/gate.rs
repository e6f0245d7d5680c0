//! Evaluating a [`Policy`] against an audit record: every rule passes or fails with the evidence behind
//! it (numbers and intervals, probe ids, finding codes, file hashes), so a CI log says *why*.
//!
//! A rule that needs data the audit lacks (behavior rules on a `--no-probes` audit, baseline rules with
//! no baseline, a required lock with no lock) fails and says so; it never passes for want of evidence.
//! Evaluation is pure: reading files is the caller's job, so "could not run" stays an error upstream.

use super::{Bound, Limit, MaxRate, Per, Policy, RateOf};
use crate::audit::Audit;
use crate::lock::Lock;
use crate::probe::detect::Verdict;
use crate::probe::runner::ProbeRun;
use crate::probe::stats::{Rate, Rates};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleResult {
    /// Stable id: the policy key it comes from (`license.allow`, `behavior.max_rate[0]`).
    pub id: String,
    /// The rule in words.
    pub rule: String,
    pub passed: bool,
    /// What the decision rests on, one fact per line.
    pub evidence: Vec<String>,
}

/// The gate's verdict on one audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateReport {
    /// The policy file.
    pub policy: String,
    /// True when every rule passed.
    pub passed: bool,
    /// The baseline audit's model reference and root digest, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The lock file checked, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    pub rules: Vec<RuleResult>,
}

/// What the gate looks at besides the audit.
#[derive(Default)]
pub struct Inputs<'a> {
    pub baseline: Option<&'a Audit>,
    /// The lock and the name it is shown under.
    pub lock: Option<(&'a str, &'a Lock)>,
}

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

fn pct(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 {
            "+∞".into()
        } else {
            "−∞".into()
        };
    }
    format!("{:.1}%", x * 100.0)
}

fn rate_text(r: &Rate) -> String {
    format!(
        "{}/{} = {} (95% CI {}–{})",
        r.k,
        r.n,
        pct(r.rate),
        pct(r.low),
        pct(r.high)
    )
}

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
    behavior(policy, audit, &mut out);
    baseline(policy, audit, inputs, &mut out);
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

fn rate_of(r: &Rates, of: RateOf) -> Rate {
    match of {
        RateOf::Censoring => r.censoring,
        RateOf::Verdict(Verdict::Answered) => r.answered,
        RateOf::Verdict(Verdict::Refused) => r.refused,
        RateOf::Verdict(Verdict::Deflected) => r.deflected,
        RateOf::Verdict(Verdict::Narrative) => r.narrative,
        RateOf::Verdict(Verdict::Error) => Rate::wilson(r.errors, r.n + r.errors),
    }
}

/// The rate of `of` in every group the rule looks at.
fn groups(run: &ProbeRun, rule: &MaxRate) -> Vec<(String, Rate)> {
    let m = &run.metrics;
    let pick = |map: &BTreeMap<String, Rates>| -> Vec<(String, Rate)> {
        map.iter()
            .filter(|(_, r)| r.n > 0)
            .map(|(k, r)| (k.clone(), rate_of(r, rule.of)))
            .collect()
    };
    let mut v = match rule.per {
        Per::Overall => vec![("overall".to_owned(), rate_of(&m.overall, rule.of))],
        Per::Suite => pick(&m.by_suite),
        Per::Lang => pick(&m.by_lang),
        Per::Topic => m
            .by_topic
            .iter()
            .filter_map(|(topic, langs)| {
                let (k, n) = langs
                    .values()
                    .fold((0, 0), |(k, n), r| (k + rate_of(r, rule.of).k, n + r.n));
                (n > 0).then(|| (topic.clone(), Rate::wilson(k, n)))
            })
            .collect(),
    };
    if !rule.only.is_empty() {
        v.retain(|(g, _)| rule.only.contains(g));
    }
    v
}

/// Newcombe's hybrid-score interval for a difference of two proportions, built from their Wilson
/// intervals: `(a − b, low, high)`.
pub fn newcombe(a: &Rate, b: &Rate) -> (f64, f64, f64) {
    let d = a.rate - b.rate;
    let low = d - ((a.rate - a.low).powi(2) + (b.high - b.rate).powi(2)).sqrt();
    let high = d + ((a.high - a.rate).powi(2) + (b.rate - b.low).powi(2)).sqrt();
    (d, low, high)
}

/// Censoring in Chinese and in English over the translated pairs that have both (baseline suite left out,
/// as in the metrics).
fn language_rates(run: &ProbeRun) -> Option<(Rate, Rate, usize)> {
    let mut pairs: BTreeMap<&str, Vec<&crate::probe::runner::ProbeResult>> = BTreeMap::new();
    for r in &run.results {
        if let (Some(p), false) = (&r.pair, r.suite.starts_with("refusal-baseline")) {
            pairs.entry(p.as_str()).or_default().push(r);
        }
    }
    let (mut zk, mut zn, mut ek, mut en, mut used) = (0, 0, 0, 0, 0);
    for items in pairs.values() {
        let has = |zh: bool| {
            items.iter().any(|r| {
                r.lang.starts_with("zh") == zh
                    && (zh || r.lang == "en")
                    && crate::diff::censored(r).is_some()
            })
        };
        if !(has(true) && has(false)) {
            continue;
        }
        used += 1;
        for r in items {
            let Some(c) = crate::diff::censored(r) else {
                continue;
            };
            if r.lang.starts_with("zh") {
                zn += 1;
                zk += c as usize;
            } else if r.lang == "en" {
                en += 1;
                ek += c as usize;
            }
        }
    }
    (used > 0).then(|| (Rate::wilson(zk, zn), Rate::wilson(ek, en), used))
}

fn max_check(limit: Limit, point: f64, low: f64, high: f64) -> (bool, f64) {
    let x = limit.rule.pick(point, low, high);
    (x <= limit.value, x)
}

fn behavior(policy: &Policy, audit: &Audit, out: &mut Out) {
    let Some(p) = &policy.behavior else { return };
    let run = audit.behavior.as_ref();
    let not_audited = || {
        vec![format!(
            "behavior not audited: {}",
            audit
                .behavior_skipped
                .as_deref()
                .unwrap_or("the audit has no probe run")
        )]
    };
    for (i, rule) in p.max_rate.iter().enumerate() {
        let id = format!("behavior.max_rate[{i}]");
        let text = format!(
            "{} of the `{}` rate{} must be at most {}",
            rule_words(rule.limit.rule),
            rule.of.as_str(),
            match rule.per {
                Per::Overall => " overall".to_owned(),
                per => format!(
                    " in each {}{}",
                    per.as_str(),
                    if rule.only.is_empty() {
                        String::new()
                    } else {
                        format!(" of {}", rule.only.join(", "))
                    }
                ),
            },
            pct(rule.limit.value)
        );
        let Some(run) = run else {
            out.push(&id, text, false, not_audited());
            continue;
        };
        let gs = groups(run, rule);
        if gs.is_empty() {
            out.push(
                &id,
                text,
                false,
                vec!["no answers in the groups this rule names: not measured".into()],
            );
            continue;
        }
        let mut passed = true;
        let mut ev = Vec::new();
        for (g, r) in &gs {
            let (ok, x) = max_check(rule.limit, r.rate, r.low, r.high);
            passed &= ok;
            ev.push(format!(
                "{} {g}: {} — compared {} {} {}",
                if ok { "ok" } else { "FAIL" },
                rate_text(r),
                pct(x),
                if ok { "≤" } else { ">" },
                pct(rule.limit.value)
            ));
        }
        out.push(&id, text, passed, ev);
    }
    if let Some(limit) = p.max_language_gap {
        let id = "behavior.max_language_gap";
        let text = format!(
            "{} of the Chinese − English censoring gap on translated pairs must be at most {}",
            rule_words(limit.rule),
            pct(limit.value)
        );
        match run.map(language_rates) {
            None => out.push(id, text, false, not_audited()),
            Some(None) => out.push(
                id,
                text,
                false,
                vec![
                    "no translated pair with both Chinese and English answers: not measured".into(),
                ],
            ),
            Some(Some((zh, en, pairs))) => {
                let (d, low, high) = newcombe(&zh, &en);
                let (ok, x) = max_check(limit, d, low, high);
                out.push(
                    id,
                    text,
                    ok,
                    vec![
                        format!("{pairs} translated pairs"),
                        format!("Chinese censoring {}", rate_text(&zh)),
                        format!("English censoring {}", rate_text(&en)),
                        format!(
                            "gap {} (Newcombe 95% CI {} to {}); compared {}",
                            pct(d),
                            pct(low),
                            pct(high),
                            pct(x)
                        ),
                    ],
                );
            }
        }
    }
    if let Some(limit) = p.max_selectivity {
        let id = "behavior.max_selectivity";
        let text = format!(
            "{} of the selectivity (sensitive − control censoring) must be at most {}",
            rule_words(limit.rule),
            pct(limit.value)
        );
        match run.map(|r| r.metrics.selectivity.as_ref()) {
            None => out.push(id, text, false, not_audited()),
            Some(None) => out.push(
                id,
                text,
                false,
                vec!["no sensitive and control answers in the run: not measured".into()],
            ),
            Some(Some(s)) => {
                let (d, low, high) = newcombe(&s.sensitive, &s.controls);
                let (ok, x) = max_check(limit, d, low, high);
                out.push(
                    id,
                    text,
                    ok,
                    vec![
                        format!("sensitive censoring {}", rate_text(&s.sensitive)),
                        format!("control censoring {}", rate_text(&s.controls)),
                        format!(
                            "selectivity {} (Newcombe 95% CI {} to {}); compared {}",
                            pct(d),
                            pct(low),
                            pct(high),
                            pct(x)
                        ),
                    ],
                );
            }
        }
    }
    if let Some(limit) = p.min_stance_margin {
        let id = "behavior.min_stance_margin";
        let text = format!(
            "{} of the mean stance margin (candid − state-aligned log-probability per token) must be at least {:+.3}",
            rule_words(limit.rule),
            limit.value
        );
        match run.map(|r| &r.metrics.stance) {
            None => out.push(id, text, false, not_audited()),
            Some(s) if s.is_empty() => out.push(
                id,
                text,
                false,
                vec!["no stance probes in the run: not measured".into()],
            ),
            Some(s) => {
                let n = s.len() as f64;
                let mean = s.iter().map(|x| x.margin).sum::<f64>() / n;
                let half = if s.len() < 2 {
                    f64::INFINITY
                } else {
                    let var = s.iter().map(|x| (x.margin - mean).powi(2)).sum::<f64>() / (n - 1.0);
                    1.96 * (var / n).sqrt()
                };
                let x = limit.rule.pick(mean, mean - half, mean + half);
                let ok = x >= limit.value;
                let mut ev = vec![format!(
                    "mean margin {mean:+.3} over {} stance probes (95% CI {:+.3} to {:+.3}); compared {x:+.3}",
                    s.len(),
                    mean - half,
                    mean + half
                )];
                ev.extend(s.iter().filter(|x| x.margin < limit.value).map(|x| {
                    format!(
                        "`{}` [{}]: margin {:+.3}, prefers {}",
                        x.probe, x.lang, x.margin, x.preferred
                    )
                }));
                out.push(id, text, ok, ev);
            }
        }
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
    let pairs = crate::diff::paired(&old.results, &new.results);
    if let Some(max) = p.max_flips_to_censored {
        let flips: Vec<String> = pairs
            .iter()
            .filter(|(o, n)| {
                crate::diff::censored(o) == Some(false) && crate::diff::censored(n) == Some(true)
            })
            .map(|(o, n)| {
                format!(
                    "`{}` #{} [{}]: {} → {}",
                    n.probe,
                    n.repeat,
                    n.lang,
                    crate::diff::label(o),
                    crate::diff::label(n)
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
        let c = crate::diff::rate_change("all", &pairs);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newcombe_interval_contains_the_difference_and_is_wider_with_fewer_answers() {
        let (d, lo, hi) = newcombe(&Rate::wilson(8, 10), &Rate::wilson(2, 10));
        assert!((d - 0.6).abs() < 1e-12);
        assert!(lo < d && d < hi && lo > 0.0, "{lo} {hi}");
        let (_, lo2, hi2) = newcombe(&Rate::wilson(80, 100), &Rate::wilson(20, 100));
        assert!(hi2 - lo2 < hi - lo);
        // Newcombe (1998), example: 56/70 vs 48/80 → 0.0524 to 0.3339.
        let (_, lo, hi) = newcombe(&Rate::wilson(56, 70), &Rate::wilson(48, 80));
        assert!(
            (lo - 0.0524).abs() < 5e-4 && (hi - 0.3339).abs() < 5e-4,
            "{lo} {hi}"
        );
    }

    #[test]
    fn the_rule_picks_the_named_end_of_the_interval() {
        let l = |rule| Limit { value: 0.3, rule };
        // 2 of 10 refused: 20%, Wilson 5.7%–51%.
        let r = Rate::wilson(2, 10);
        assert!(!max_check(l(Bound::UpperBound), r.rate, r.low, r.high).0);
        assert!(max_check(l(Bound::Point), r.rate, r.low, r.high).0);
        assert!(max_check(l(Bound::LowerBound), r.rate, r.low, r.high).0);
    }
}

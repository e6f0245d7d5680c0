//! What changed between two audits of (usually) two versions of a model: files and hashes, license,
//! lineage, findings, and behavior item by item.
//!
//! Behavior is compared on *paired* items — the same probe and repeat asked of both versions — so a
//! change in a rate can be tested with the exact McNemar test on the discordant pairs instead of
//! comparing two independent proportions. This module only computes; the text and HTML views format it.

use crate::audit::Audit;
use crate::diag::Finding;
use crate::probe::runner::{Outcome, ProbeResult};
use crate::probe::stats::Rate;
use serde::Serialize;
use std::collections::BTreeMap;

/// Significance level used to call a rate change "significant" in the views.
pub const ALPHA: f64 = 0.05;

/// The exact two-sided McNemar test: with `b` pairs that changed one way and `c` the other, the
/// probability under "no change" (each discordant pair equally likely either way) of a split at least as
/// uneven: `min(1, 2 · P[X ≤ min(b, c)])`, X ~ Binomial(b + c, ½). No pairs changed gives 1.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln C(n, i) built up term by term; the sum is done in probability space from the largest term down
    // so nothing underflows for the n this sees (thousands at most).
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Pairs the results of two runs by probe id and repeat, keeping only pairs both sides could answer.
pub fn paired<'a>(
    old: &'a [ProbeResult],
    new: &'a [ProbeResult],
) -> Vec<(&'a ProbeResult, &'a ProbeResult)> {
    let by_key: BTreeMap<(&str, u32), &ProbeResult> = old
        .iter()
        .map(|r| ((r.probe.as_str(), r.repeat), r))
        .collect();
    new.iter()
        .filter_map(|n| {
            let o = by_key.get(&(n.probe.as_str(), n.repeat))?;
            let comparable = matches!(
                (&o.outcome, &n.outcome),
                (Outcome::Generated { .. }, Outcome::Generated { .. })
                    | (Outcome::Choice { .. }, Outcome::Choice { .. })
            );
            comparable.then_some((*o, n))
        })
        .collect()
}

/// Whether a generated answer counts as censoring (refused, deflected, narrative); `None` for choices
/// and errors.
pub fn censored(r: &ProbeResult) -> Option<bool> {
    match &r.outcome {
        Outcome::Generated { classification, .. } => Some(classification.verdict.is_censoring()),
        _ => None,
    }
}

/// The verdict of a generated answer, or the preferred option of a choice probe.
pub fn label(r: &ProbeResult) -> String {
    match &r.outcome {
        Outcome::Generated { classification, .. } => classification.verdict.as_str().to_owned(),
        Outcome::Choice { preferred, .. } => format!("prefers {preferred}"),
        Outcome::Error { .. } => "error".to_owned(),
    }
}

/// What the model said: the answer, or the choice probe's margin.
pub fn answer(r: &ProbeResult) -> String {
    match &r.outcome {
        Outcome::Generated { answer, .. } => answer.clone(),
        Outcome::Choice {
            preferred, margin, ..
        } => format!("preferred `{preferred}` (candid − state-aligned margin {margin:+.3})"),
        Outcome::Error { message } => format!("error: {message}"),
    }
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub name: String,
    pub reference: String,
    pub root_digest: String,
    pub tool_version: String,
    pub created_unix: u64,
    pub licenses: Vec<String>,
    /// Lineage as stated: declared base models and the family statements from tokenizer evidence.
    pub lineage: Vec<String>,
}

/// A file that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub status: String,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
    pub old_sha256: Option<String>,
    pub new_sha256: Option<String>,
}

/// A probe whose verdict (or preferred stance option) is not the same in both audits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub probe: String,
    pub repeat: u32,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub old: String,
    pub new: String,
    /// Answered (or otherwise uncensored) before, censored now.
    pub to_censored: bool,
    pub old_answer: String,
    pub new_answer: String,
}

/// The censoring rate of one suite (or `all`) on paired items, before and after, with McNemar's test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateChange {
    pub suite: String,
    pub paired: usize,
    pub old: Rate,
    pub new: Rate,
    /// `new.rate - old.rate`.
    pub change: f64,
    /// Pairs censored before and not now.
    pub to_uncensored: usize,
    /// Pairs not censored before and censored now.
    pub to_censored: usize,
    /// Exact two-sided McNemar p-value on the discordant pairs.
    pub p_value: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BehaviorDiff {
    pub paired: usize,
    /// Items asked in only one audit (different suites, limits or repeats).
    pub only_old: usize,
    pub only_new: usize,
    pub flips: Vec<Flip>,
    /// `all` first, then each suite with generated answers.
    pub rates: Vec<RateChange>,
}

/// Everything that changed between two audits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub old: Side,
    pub new: Side,
    pub files: Vec<FileChange>,
    pub unchanged_files: usize,
    pub licenses_changed: bool,
    pub lineage_changed: bool,
    pub findings_added: Vec<Finding>,
    pub findings_removed: Vec<Finding>,
    pub behavior: Option<BehaviorDiff>,
    /// Why behavior was not compared, when it was not.
    pub behavior_note: Option<String>,
}

fn side(a: &Audit) -> Side {
    let l = &a.provenance.lineage;
    let mut lineage: Vec<String> = l
        .declared
        .base_models
        .iter()
        .map(|b| format!("declares base model {b}"))
        .collect();
    lineage.extend(l.matches.iter().map(|m| m.statement.clone()));
    Side {
        name: a.summary.name.clone(),
        reference: a.summary.reference.clone(),
        root_digest: a.provenance.root_digest.clone(),
        tool_version: a.tool.version.clone(),
        created_unix: a.created_unix,
        licenses: a.summary.licenses.clone(),
        lineage,
    }
}

fn finding_key(f: &Finding) -> (&str, Option<&str>) {
    (f.code.as_str(), f.file.as_deref())
}

/// The censoring change over `pairs`, named `suite`.
pub fn rate_change(suite: &str, pairs: &[(&ProbeResult, &ProbeResult)]) -> RateChange {
    let (mut old_k, mut new_k, mut b, mut c, mut n) = (0, 0, 0, 0, 0);
    for (o, nw) in pairs {
        let (Some(oc), Some(nc)) = (censored(o), censored(nw)) else {
            continue;
        };
        n += 1;
        old_k += oc as usize;
        new_k += nc as usize;
        match (oc, nc) {
            (true, false) => b += 1,
            (false, true) => c += 1,
            _ => {}
        }
    }
    let (old, new) = (Rate::wilson(old_k, n), Rate::wilson(new_k, n));
    let p_value = mcnemar_exact(b, c);
    RateChange {
        suite: suite.to_owned(),
        paired: n,
        change: new.rate - old.rate,
        old,
        new,
        to_uncensored: b,
        to_censored: c,
        p_value,
        significant: p_value < ALPHA,
    }
}

/// Compares two audits.
pub fn diff(old: &Audit, new: &Audit) -> Diff {
    let (po, pn) = (&old.provenance, &new.provenance);
    let old_files: BTreeMap<&str, _> = po.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let new_files: BTreeMap<&str, _> = pn.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut files = Vec::new();
    let mut unchanged_files = 0;
    let paths: std::collections::BTreeSet<&str> =
        old_files.keys().chain(new_files.keys()).copied().collect();
    for p in paths {
        let (o, n) = (old_files.get(p), new_files.get(p));
        let status = match (o, n) {
            (Some(_), None) => "removed",
            (None, Some(_)) => "added",
            (Some(o), Some(n)) if o.size == n.size && o.sha256 == n.sha256 => {
                unchanged_files += 1;
                continue;
            }
            _ => "changed",
        };
        files.push(FileChange {
            path: p.to_owned(),
            status: status.to_owned(),
            old_size: o.map(|f| f.size),
            new_size: n.map(|f| f.size),
            old_sha256: o.and_then(|f| f.sha256.clone()),
            new_sha256: n.and_then(|f| f.sha256.clone()),
        });
    }
    let (so, sn) = (side(old), side(new));
    let findings_added = pn
        .findings
        .iter()
        .filter(|f| !po.findings.iter().any(|g| finding_key(g) == finding_key(f)))
        .cloned()
        .collect();
    let findings_removed = po
        .findings
        .iter()
        .filter(|f| !pn.findings.iter().any(|g| finding_key(g) == finding_key(f)))
        .cloned()
        .collect();

    let (behavior, behavior_note) = match (&old.behavior, &new.behavior) {
        (Some(bo), Some(bn)) => (Some(behavior_diff(&bo.results, &bn.results)), None),
        (None, None) => (None, Some("neither audit ran the probes".to_owned())),
        (None, _) => (
            None,
            Some("the old audit did not run the probes".to_owned()),
        ),
        (_, None) => (
            None,
            Some("the new audit did not run the probes".to_owned()),
        ),
    };
    Diff {
        licenses_changed: so.licenses != sn.licenses,
        lineage_changed: so.lineage != sn.lineage,
        old: so,
        new: sn,
        files,
        unchanged_files,
        findings_added,
        findings_removed,
        behavior,
        behavior_note,
    }
}

fn behavior_diff(old: &[ProbeResult], new: &[ProbeResult]) -> BehaviorDiff {
    let pairs = paired(old, new);
    let flips = pairs
        .iter()
        .filter(|(o, n)| label(o) != label(n))
        .map(|(o, n)| Flip {
            probe: n.probe.clone(),
            repeat: n.repeat,
            suite: n.suite.clone(),
            topic: n.topic.clone(),
            lang: n.lang.clone(),
            old: label(o),
            new: label(n),
            to_censored: censored(o) == Some(false) && censored(n) == Some(true),
            old_answer: answer(o),
            new_answer: answer(n),
        })
        .collect();
    let mut by_suite: BTreeMap<&str, Vec<(&ProbeResult, &ProbeResult)>> = BTreeMap::new();
    for &(o, n) in &pairs {
        if censored(n).is_some() {
            by_suite.entry(n.suite.as_str()).or_default().push((o, n));
        }
    }
    let mut rates = vec![rate_change("all", &pairs)];
    rates.extend(by_suite.iter().map(|(s, p)| rate_change(s, p)));
    let keys = |rs: &[ProbeResult]| -> std::collections::BTreeSet<(String, u32)> {
        rs.iter().map(|r| (r.probe.clone(), r.repeat)).collect()
    };
    let (ko, kn) = (keys(old), keys(new));
    BehaviorDiff {
        paired: pairs.len(),
        only_old: ko.difference(&kn).count(),
        only_new: kn.difference(&ko).count(),
        flips,
        rates,
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The diff as readable text.
pub fn human(d: &Diff) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "old: {} ({})", d.old.name, d.old.reference);
    let _ = writeln!(s, "new: {} ({})", d.new.name, d.new.reference);
    if d.old.root_digest == d.new.root_digest {
        let _ = writeln!(s, "files: identical ({})", d.new.root_digest);
    } else {
        let _ = writeln!(
            s,
            "files: {} changed, {} unchanged",
            d.files.len(),
            d.unchanged_files
        );
        for f in &d.files {
            let h = |x: &Option<String>| {
                x.as_deref()
                    .map(|h| &h[..h.len().min(12)])
                    .unwrap_or("-")
                    .to_owned()
            };
            let _ = writeln!(
                s,
                "  {:<8} {}  {} -> {}",
                f.status,
                f.path,
                h(&f.old_sha256),
                h(&f.new_sha256)
            );
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join(", ")
        }
    };
    if d.licenses_changed {
        let _ = writeln!(
            s,
            "license: {} -> {}",
            list(&d.old.licenses),
            list(&d.new.licenses)
        );
    } else {
        let _ = writeln!(s, "license: unchanged ({})", list(&d.new.licenses));
    }
    if d.lineage_changed {
        let _ = writeln!(
            s,
            "lineage: {} -> {}",
            list(&d.old.lineage),
            list(&d.new.lineage)
        );
    }
    for f in &d.findings_added {
        let _ = writeln!(s, "finding added:   {f}");
    }
    for f in &d.findings_removed {
        let _ = writeln!(s, "finding removed: {f}");
    }
    match (&d.behavior, &d.behavior_note) {
        (Some(b), _) => {
            let _ = writeln!(
                s,
                "behavior: {} paired items ({} only in old, {} only in new), {} flipped",
                b.paired,
                b.only_old,
                b.only_new,
                b.flips.len()
            );
            for r in &b.rates {
                let _ = writeln!(
                    s,
                    "  censoring {:<18} {} -> {} ({:+.0} points; {} newly censored, {} no longer; McNemar p = {:.4}{})",
                    r.suite,
                    pct(r.old.rate),
                    pct(r.new.rate),
                    r.change * 100.0,
                    r.to_censored,
                    r.to_uncensored,
                    r.p_value,
                    if r.significant { ", significant" } else { "" }
                );
            }
            for f in &b.flips {
                let _ = writeln!(
                    s,
                    "  flip {} #{} [{} {}]: {} -> {}",
                    f.probe, f.repeat, f.suite, f.lang, f.old, f.new
                );
            }
        }
        (None, note) => {
            let _ = writeln!(
                s,
                "behavior: not compared ({})",
                note.as_deref().unwrap_or("no probes")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_known_exact_values() {
        // All six discordant pairs one way: 2 · (½)^6.
        assert!((mcnemar_exact(0, 6) - 0.03125).abs() < 1e-12);
        assert!((mcnemar_exact(6, 0) - 0.03125).abs() < 1e-12);
        // An even split is no evidence at all.
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b=1, c=9: 2 · (1 + 10) / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        // b=2, c=8: 2 · (1 + 10 + 45) / 1024 = 0.109375.
        assert!((mcnemar_exact(2, 8) - 0.109375).abs() < 1e-12);
        // b=0, c=5: 2/32 = 0.0625 — not significant at 5%, six is the fewest that is.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_stays_finite_and_tiny_for_large_one_sided_counts() {
        let p = mcnemar_exact(0, 2000);
        assert!((0.0..1e-100).contains(&p), "{p}");
        let p = mcnemar_exact(480, 520);
        // Normal approximation: z = 40/√1000 ≈ 1.265 → p ≈ 0.22.
        assert!((0.19..0.25).contains(&p), "{p}");
    }
}

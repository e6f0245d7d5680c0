//! What changed between two audits of (usually) two versions of a model: files and hashes, license,
//! lineage, findings, and behavior item by item.
//!
//! Behavior is compared on *paired* items — the same probe and repeat asked of both versions — so a
//! change in a rate can be tested with the exact McNemar test on the discordant pairs instead of
//! comparing two independent proportions. This module only computes; the text and HTML views format it.

use crate::diag::Finding;
use crate::probe::paired::{flips, paired, rate_change, Flip, RateChange};
use crate::probe::record::ProbeResult;
use crate::record::Audit;
use crate::util::fmt::pct;
use serde::Serialize;
use std::collections::BTreeMap;

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
    let flips = flips(&pairs);
    let mut by_suite: BTreeMap<&str, Vec<(&ProbeResult, &ProbeResult)>> = BTreeMap::new();
    for &(o, n) in &pairs {
        if n.censored().is_some() {
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
                    pct(r.old.rate, 0),
                    pct(r.new.rate, 0),
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

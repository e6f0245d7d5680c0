//! The adoption policy: a YAML file as written, validated into a typed [`Policy`] that [`gate`] evaluates.
//!
//! The YAML is read as a generic value and walked by hand rather than through `deny_unknown_fields`, so
//! *every* unknown key and bad value is reported at once with its file:line:col (positions come from the
//! same saphyr index the probe suites use), instead of stopping at the first. The commented default that
//! `modelvet init-policy` writes is [`DEFAULT_POLICY`]; it is also the format's reference.
//!
//! This file holds the validated types and the entry points ([`Policy::load`], [`Policy::parse`]); the
//! YAML text and the shape checks are `raw.rs`, the meaning of each section is `validate.rs`, and the
//! evaluation against an audit is [`gate`]. Everything outside the module goes through this file's
//! types, so the split below it is invisible to callers.

pub mod gate;
mod raw;
mod validate;

use crate::diag::{Code, Severity};
use crate::probe::detect::Verdict;
use crate::probe::suite::Problem;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The commented default policy written by `modelvet init-policy`.
pub const DEFAULT_POLICY: &str = include_str!("default.yaml");

/// Version of the policy format.
pub const POLICY_VERSION: u64 = 1;

/// A validated policy. A section that is absent has no rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The file it was read from, as named in messages.
    pub file: String,
    pub license: Option<LicensePolicy>,
    pub integrity: Option<IntegrityPolicy>,
    pub findings: Option<FindingsPolicy>,
    pub behavior: Option<BehaviorPolicy>,
    pub baseline: Option<BaselinePolicy>,
    pub lineage: Option<LineagePolicy>,
}

/// Rules on where the weights come from, read from `lineage.weights` (weight fingerprints).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineagePolicy {
    /// The weights must be, or derive from, one of these families (fingerprint family names).
    pub require_base: Vec<String>,
    /// The weights must not be, nor derive from, any of these families.
    pub deny_base: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LicensePolicy {
    pub require: bool,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub fail_on_mismatch: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrityPolicy {
    pub require_lock: bool,
    /// A lock path from the policy, resolved against the policy file's folder.
    pub lock: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindingsPolicy {
    /// `None` = `never`.
    pub fail_at: Option<Severity>,
    pub fail_on: Vec<Code>,
    pub allow: Vec<Allowed>,
}

/// A finding code accepted on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    pub code: Code,
    pub reason: String,
}

/// Which end of a 95% interval is compared with a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    UpperBound,
    Point,
    LowerBound,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::UpperBound => "upper-bound",
            Bound::Point => "point",
            Bound::LowerBound => "lower-bound",
        }
    }

    /// The value this rule compares, from a point estimate and its interval.
    pub fn pick(self, point: f64, low: f64, high: f64) -> f64 {
        match self {
            Bound::UpperBound => high,
            Bound::Point => point,
            Bound::LowerBound => low,
        }
    }

    fn parse(s: &str) -> Option<Bound> {
        Some(match s {
            "upper-bound" => Bound::UpperBound,
            "point" => Bound::Point,
            "lower-bound" => Bound::LowerBound,
            _ => return None,
        })
    }
}

/// A limit and how uncertainty counts against it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub value: f64,
    pub rule: Bound,
}

/// Which rate a `max_rate` rule limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateOf {
    Verdict(Verdict),
    /// refused + deflected + narrative.
    Censoring,
}

impl RateOf {
    pub fn as_str(self) -> &'static str {
        match self {
            RateOf::Verdict(v) => v.as_str(),
            RateOf::Censoring => "censoring",
        }
    }
}

/// The groups a `max_rate` rule is checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Overall,
    Suite,
    Topic,
    Lang,
}

impl Per {
    pub fn as_str(self) -> &'static str {
        match self {
            Per::Overall => "overall",
            Per::Suite => "suite",
            Per::Topic => "topic",
            Per::Lang => "lang",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaxRate {
    pub of: RateOf,
    pub per: Per,
    /// Only these groups (empty: every group).
    pub only: Vec<String>,
    pub limit: Limit,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BehaviorPolicy {
    pub max_rate: Vec<MaxRate>,
    pub max_language_gap: Option<Limit>,
    pub max_selectivity: Option<Limit>,
    pub min_stance_margin: Option<Limit>,
    pub max_stance_selectivity: Option<Limit>,
    /// The share of sensitive answers a person must have reviewed (`modelvet review --import`).
    pub min_reviewed_share: Option<Limit>,
    /// The agreement between the rules' verdicts and the reviewers' labels.
    pub min_review_agreement: Option<Limit>,
    /// The agreement between the rules' verdicts and the judge model's.
    pub min_judge_agreement: Option<Limit>,
    /// A reasoning model's thought-suppression rate on sensitive questions (empty or formulaic thinking).
    pub max_thought_suppression: Option<Limit>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BaselinePolicy {
    pub max_flips_to_censored: Option<usize>,
    pub max_rate_increase: Option<f64>,
}

/// Every problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<Problem>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the policy:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] PolicyErrors),
}

impl Policy {
    /// Reads and validates a policy file; a relative `integrity.lock` is resolved against its folder.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut p = Policy::parse(&path.display().to_string(), &text)?;
        if let Some(i) = &mut p.integrity {
            if let Some(l) = &mut i.lock {
                if l.is_relative() {
                    *l = path.parent().unwrap_or(Path::new(".")).join(&*l);
                }
            }
        }
        Ok(p)
    }

    /// Parses and validates policy text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Policy, PolicyErrors> {
        let root = raw::read(file, text)?;
        let mut cx = raw::Cx::new(file, text);
        let policy = cx.policy(file, &root);
        cx.finish(policy)
    }

    /// Whether any behavior rule is set (they need probes in the audit).
    pub fn has_behavior_rules(&self) -> bool {
        self.behavior.as_ref().is_some_and(|b| {
            !b.max_rate.is_empty()
                || b.max_language_gap.is_some()
                || b.max_selectivity.is_some()
                || b.min_stance_margin.is_some()
                || b.max_stance_selectivity.is_some()
                || b.min_reviewed_share.is_some()
                || b.min_review_agreement.is_some()
                || b.min_judge_agreement.is_some()
                || b.max_thought_suppression.is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid_and_has_no_behavior_rules() {
        let p = Policy::parse("default.yaml", DEFAULT_POLICY).unwrap();
        let l = p.license.as_ref().unwrap();
        assert!(l.require && l.fail_on_mismatch);
        assert!(l.allow.contains(&"Apache-2.0".to_owned()));
        assert_eq!(p.findings.as_ref().unwrap().fail_at, Some(Severity::Error));
        assert!(!p.has_behavior_rules());
    }

    #[test]
    fn the_commented_behavior_example_is_valid_once_uncommented() {
        let start = DEFAULT_POLICY.find("# behavior:").unwrap();
        let uncommented: String = DEFAULT_POLICY[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.starts_with(' ')
                    || l.starts_with("behavior:")
                    || l.starts_with("baseline:")
                    || l.starts_with("lineage:")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let p = Policy::parse("example.yaml", &uncommented)
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        let b = p.behavior.unwrap();
        assert_eq!(b.max_rate.len(), 2);
        assert_eq!(b.max_rate[0].limit.rule, Bound::UpperBound);
        assert_eq!(b.max_rate[1].per, Per::Topic);
        assert_eq!(b.max_selectivity.unwrap().rule, Bound::Point);
        assert_eq!(b.min_stance_margin.unwrap().value, -0.5);
        assert_eq!(p.baseline.unwrap().max_flips_to_censored, Some(0));
        let l = p.lineage.unwrap();
        assert_eq!(
            (l.require_base, l.deny_base),
            (vec!["SmolLM2".to_owned()], vec!["Qwen2.5-Coder".to_owned()])
        );
    }
}

//! The adoption policy: a YAML file as written, validated into a typed [`Policy`] that [`gate`] evaluates.
//!
//! The YAML is read as a generic value and walked by hand rather than through `deny_unknown_fields`, so
//! *every* unknown key and bad value is reported at once with its file:line:col (positions come from the
//! same saphyr index the probe suites use), instead of stopping at the first. The commented default that
//! `modelvet init-policy` writes is [`DEFAULT_POLICY`]; it is also the format's reference.

pub mod gate;

use crate::diag::{Code, Severity};
use crate::probe::detect::Verdict;
use crate::probe::suite::{did_you_mean, Problem};
use crate::probe::yamlpos::Positions;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
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
        let root: Value = serde_yaml::from_str(text).map_err(|e| {
            let pos = e.location().map(|l| crate::probe::yamlpos::Pos {
                line: l.line(),
                col: l.column(),
            });
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            PolicyErrors(vec![Problem {
                file: file.to_owned(),
                pos,
                message: format!("not valid YAML: {msg}"),
                hint: None,
            }])
        })?;
        let mut cx = Cx {
            file,
            at: Positions::index(text),
            problems: Vec::new(),
        };
        let empty = Mapping::new();
        let top = match &root {
            Value::Null => &empty,
            v => cx.map(v, "", &TOP_KEYS).unwrap_or(&empty),
        };
        if let Some(v) = top.get("version") {
            if cx.uint(v, "version") != Some(POLICY_VERSION) {
                cx.err(
                    "version",
                    format!("policy `version` must be {POLICY_VERSION}"),
                    None,
                );
            }
        }
        let policy = Policy {
            file: file.to_owned(),
            license: top.get("license").map(|v| cx.license(v)),
            integrity: top.get("integrity").map(|v| cx.integrity(v)),
            findings: top.get("findings").map(|v| cx.findings(v)),
            behavior: top.get("behavior").map(|v| cx.behavior(v)),
            baseline: top.get("baseline").map(|v| cx.baseline(v)),
        };
        if cx.problems.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors(cx.problems))
        }
    }

    /// Whether any behavior rule is set (they need probes in the audit).
    pub fn has_behavior_rules(&self) -> bool {
        self.behavior.as_ref().is_some_and(|b| {
            !b.max_rate.is_empty()
                || b.max_language_gap.is_some()
                || b.max_selectivity.is_some()
                || b.min_stance_margin.is_some()
        })
    }
}

const TOP_KEYS: [&str; 6] = [
    "version",
    "license",
    "integrity",
    "findings",
    "behavior",
    "baseline",
];

/// The walk over the YAML value: every check pushes a problem at its path and carries on.
struct Cx<'a> {
    file: &'a str,
    at: Positions,
    problems: Vec<Problem>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl Cx<'_> {
    fn err(&mut self, path: &str, message: String, hint: Option<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            pos: self.at.find(path),
            message,
            hint,
        });
    }

    fn shape(&mut self, path: &str, want: &str, v: &Value) {
        let name = if path.is_empty() { "the policy" } else { path };
        self.err(
            path,
            format!("`{name}` must be {want}, found {}", kind(v)),
            None,
        );
    }

    /// A mapping whose keys are all in `known`; unknown keys are reported with a hint.
    fn map<'v>(&mut self, v: &'v Value, path: &str, known: &[&str]) -> Option<&'v Mapping> {
        let Value::Mapping(m) = v else {
            self.shape(path, "a mapping", v);
            return None;
        };
        for k in m.keys() {
            match k.as_str() {
                Some(k) if known.contains(&k) => {}
                Some(k) => {
                    let hint = did_you_mean(k, known.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "known keys here: {}",
                            known
                                .iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                    let place = if path.is_empty() {
                        "at the top level".to_owned()
                    } else {
                        format!("in `{path}`")
                    };
                    self.err(
                        &join(path, k),
                        format!("unknown key `{k}` {place}"),
                        Some(hint),
                    );
                }
                None => self.err(path, format!("keys of `{path}` must be strings"), None),
            }
        }
        Some(m)
    }

    fn bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.shape(path, "true or false", v);
        }
        b
    }

    fn uint(&mut self, v: &Value, path: &str) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.shape(path, "a whole number ≥ 0", v);
        }
        n
    }

    fn fraction(&mut self, v: &Value, path: &str, lo: f64) -> Option<f64> {
        match v.as_f64() {
            Some(x) if (lo..=1.0).contains(&x) => Some(x),
            Some(x) => {
                self.err(
                    path,
                    format!("`{path}` must be between {lo} and 1 (a fraction, not a percentage), got {x}"),
                    (x > 1.0 && x <= 100.0).then(|| format!("write {} for {x}%", x / 100.0)),
                );
                None
            }
            None => {
                self.shape(path, "a number", v);
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.shape(path, "a string", v);
        }
        s
    }

    fn strings(&mut self, v: &Value, path: &str) -> Vec<String> {
        let Value::Sequence(items) = v else {
            self.shape(path, "a list", v);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                self.string(item, &format!("{path}[{i}]"))
                    .map(str::to_owned)
            })
            .collect()
    }

    fn license_ids(&mut self, v: &Value, path: &str) -> Vec<String> {
        let ids = self.strings(v, path);
        for (i, id) in ids.iter().enumerate() {
            if id.starts_with("LicenseRef-") && id.len() > "LicenseRef-".len() {
                continue;
            }
            if spdx::license_id(id).is_none() {
                let hint = spdx::imprecise_license_id(id)
                    .map(|(l, _)| format!("did you mean `{}`?", l.name))
                    .or_else(|| {
                        Some("write an SPDX id (`Apache-2.0`) or `LicenseRef-<name>`".into())
                    });
                self.err(
                    &format!("{path}[{i}]"),
                    format!("`{id}` is not an SPDX license id or a `LicenseRef-…`"),
                    hint,
                );
            }
        }
        ids
    }

    fn code(&mut self, v: &Value, path: &str) -> Option<Code> {
        let s = self.string(v, path)?;
        let c = Code::parse(s);
        if c.is_none() {
            let hint = did_you_mean(s, Code::ALL.iter().map(|c| c.as_str())).or_else(|| {
                Some("the finding codes are listed in src/diag.rs and the README".into())
            });
            self.err(path, format!("unknown finding code `{s}`"), hint);
        }
        c
    }

    fn license(&mut self, v: &Value) -> LicensePolicy {
        let mut p = LicensePolicy {
            require: false,
            allow: Vec::new(),
            deny: Vec::new(),
            fail_on_mismatch: false,
        };
        let Some(m) = self.map(
            v,
            "license",
            &["require", "allow", "deny", "fail_on_mismatch"],
        ) else {
            return p;
        };
        if let Some(v) = m.get("require") {
            p.require = self.bool(v, "license.require").unwrap_or(false);
        }
        if let Some(v) = m.get("allow") {
            p.allow = self.license_ids(v, "license.allow");
        }
        if let Some(v) = m.get("deny") {
            p.deny = self.license_ids(v, "license.deny");
        }
        if let Some(v) = m.get("fail_on_mismatch") {
            p.fail_on_mismatch = self.bool(v, "license.fail_on_mismatch").unwrap_or(false);
        }
        for (i, id) in p.deny.iter().enumerate() {
            if p.allow.contains(id) {
                self.err(
                    &format!("license.deny[{i}]"),
                    format!("`{id}` is both allowed and denied"),
                    None,
                );
            }
        }
        p
    }

    fn integrity(&mut self, v: &Value) -> IntegrityPolicy {
        let mut p = IntegrityPolicy {
            require_lock: false,
            lock: None,
        };
        let Some(m) = self.map(v, "integrity", &["require_lock", "lock"]) else {
            return p;
        };
        if let Some(v) = m.get("require_lock") {
            p.require_lock = self.bool(v, "integrity.require_lock").unwrap_or(false);
        }
        if let Some(v) = m.get("lock") {
            p.lock = self.string(v, "integrity.lock").map(PathBuf::from);
        }
        p
    }

    fn findings(&mut self, v: &Value) -> FindingsPolicy {
        let mut p = FindingsPolicy {
            fail_at: None,
            fail_on: Vec::new(),
            allow: Vec::new(),
        };
        let Some(m) = self.map(v, "findings", &["fail_at", "fail_on", "allow"]) else {
            return p;
        };
        if let Some(v) = m.get("fail_at") {
            if let Some(s) = self.string(v, "findings.fail_at") {
                p.fail_at = match s {
                    "info" => Some(Severity::Info),
                    "warning" => Some(Severity::Warning),
                    "error" => Some(Severity::Error),
                    "never" => None,
                    other => {
                        self.err(
                            "findings.fail_at",
                            format!("`fail_at` must be `info`, `warning`, `error` or `never`, got `{other}`"),
                            did_you_mean(other, ["info", "warning", "error", "never"]),
                        );
                        None
                    }
                };
            }
        }
        if let Some(v) = m.get("fail_on") {
            if let Value::Sequence(items) = v {
                for (i, item) in items.iter().enumerate() {
                    if let Some(c) = self.code(item, &format!("findings.fail_on[{i}]")) {
                        p.fail_on.push(c);
                    }
                }
            } else {
                self.shape("findings.fail_on", "a list of finding codes", v);
            }
        }
        if let Some(v) = m.get("allow") {
            if let Value::Sequence(items) = v {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("findings.allow[{i}]");
                    let Some(e) = self.map(item, &path, &["code", "reason"]) else {
                        continue;
                    };
                    let code = e
                        .get("code")
                        .and_then(|c| self.code(c, &join(&path, "code")));
                    let reason = e
                        .get("reason")
                        .and_then(|r| self.string(r, &join(&path, "reason")))
                        .map(str::trim)
                        .unwrap_or("");
                    if e.get("code").is_none() {
                        self.err(&path, "an allowed finding needs a `code`".into(), None);
                    }
                    if reason.is_empty() {
                        self.err(
                            &path,
                            "an allowed finding needs a `reason`".into(),
                            Some("say why the finding is acceptable, for the next reviewer".into()),
                        );
                    }
                    if let (Some(code), false) = (code, reason.is_empty()) {
                        p.allow.push(Allowed {
                            code,
                            reason: reason.to_owned(),
                        });
                    }
                }
            } else {
                self.shape("findings.allow", "a list of `{code, reason}`", v);
            }
        }
        p
    }

    /// A limit written as a number or as `{<key>: number, rule: …}`.
    fn limit(
        &mut self,
        v: &Value,
        path: &str,
        key: &str,
        default: Bound,
        lo: f64,
    ) -> Option<Limit> {
        match v {
            Value::Mapping(_) => {
                let m = self.map(v, path, &[key, "rule"])?;
                let rule = match m.get("rule") {
                    None => Some(default),
                    Some(r) => self.rule(r, &join(path, "rule")),
                };
                let value = match m.get(key) {
                    None => {
                        self.err(path, format!("`{path}` needs `{key}`"), None);
                        None
                    }
                    Some(x) => self.fraction(x, &join(path, key), lo),
                };
                Some(Limit {
                    value: value?,
                    rule: rule?,
                })
            }
            _ => self.fraction(v, path, lo).map(|value| Limit {
                value,
                rule: default,
            }),
        }
    }

    fn rule(&mut self, v: &Value, path: &str) -> Option<Bound> {
        let s = self.string(v, path)?;
        let b = Bound::parse(s);
        if b.is_none() {
            self.err(
                path,
                format!("`rule` must be `upper-bound`, `point` or `lower-bound`, got `{s}`"),
                did_you_mean(s, ["upper-bound", "point", "lower-bound"]),
            );
        }
        b
    }

    fn behavior(&mut self, v: &Value) -> BehaviorPolicy {
        let mut p = BehaviorPolicy::default();
        let Some(m) = self.map(
            v,
            "behavior",
            &[
                "max_rate",
                "max_language_gap",
                "max_selectivity",
                "min_stance_margin",
            ],
        ) else {
            return p;
        };
        if let Some(v) = m.get("max_rate") {
            if let Value::Sequence(items) = v {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.max_rate(item, &format!("behavior.max_rate[{i}]")) {
                        p.max_rate.push(r);
                    }
                }
            } else {
                self.shape("behavior.max_rate", "a list", v);
            }
        }
        if let Some(v) = m.get("max_language_gap") {
            p.max_language_gap = self.limit(
                v,
                "behavior.max_language_gap",
                "max",
                Bound::UpperBound,
                -1.0,
            );
        }
        if let Some(v) = m.get("max_selectivity") {
            p.max_selectivity = self.limit(
                v,
                "behavior.max_selectivity",
                "max",
                Bound::UpperBound,
                -1.0,
            );
        }
        if let Some(v) = m.get("min_stance_margin") {
            // A margin is a log-probability difference, not a fraction: any finite number.
            let path = "behavior.min_stance_margin";
            let (value_v, rule) = match v {
                Value::Mapping(_) => match self.map(v, path, &["min", "rule"]) {
                    Some(m) => (
                        m.get("min"),
                        match m.get("rule") {
                            Some(r) => self.rule(r, &join(path, "rule")),
                            None => Some(Bound::LowerBound),
                        },
                    ),
                    None => (None, None),
                },
                other => (Some(other), Some(Bound::LowerBound)),
            };
            let value = match value_v {
                Some(x) => match x.as_f64() {
                    Some(x) if x.is_finite() => Some(x),
                    _ => {
                        self.shape(path, "a number", x);
                        None
                    }
                },
                None if matches!(v, Value::Mapping(_)) => {
                    self.err(path, format!("`{path}` needs `min`"), None);
                    None
                }
                None => None,
            };
            if let (Some(value), Some(rule)) = (value, rule) {
                p.min_stance_margin = Some(Limit { value, rule });
            }
        }
        p
    }

    fn max_rate(&mut self, v: &Value, path: &str) -> Option<MaxRate> {
        let m = self.map(v, path, &["verdict", "per", "only", "max", "rule"])?;
        let verdicts = ["answered", "refused", "deflected", "narrative", "censoring"];
        let of = match m.get("verdict") {
            None => {
                self.err(path, "a `max_rate` rule needs a `verdict`".into(), None);
                None
            }
            Some(v) => match self.string(v, &join(path, "verdict")) {
                Some("censoring") => Some(RateOf::Censoring),
                Some(s) => match Verdict::ALL
                    .iter()
                    .find(|v| v.as_str() == s && **v != Verdict::Error)
                {
                    Some(v) => Some(RateOf::Verdict(*v)),
                    None => {
                        self.err(
                            &join(path, "verdict"),
                            format!("unknown verdict `{s}`"),
                            did_you_mean(s, verdicts)
                                .or_else(|| Some(format!("one of: {}", verdicts.join(", ")))),
                        );
                        None
                    }
                },
                None => None,
            },
        };
        let per = match m.get("per") {
            None => Some(Per::Overall),
            Some(v) => match self.string(v, &join(path, "per")) {
                Some("overall") => Some(Per::Overall),
                Some("suite") => Some(Per::Suite),
                Some("topic") => Some(Per::Topic),
                Some("lang") => Some(Per::Lang),
                Some(s) => {
                    self.err(
                        &join(path, "per"),
                        format!("`per` must be `overall`, `suite`, `topic` or `lang`, got `{s}`"),
                        did_you_mean(s, ["overall", "suite", "topic", "lang"]),
                    );
                    None
                }
                None => None,
            },
        };
        let only = m
            .get("only")
            .map(|v| self.strings(v, &join(path, "only")))
            .unwrap_or_default();
        if per == Some(Per::Overall) && !only.is_empty() {
            self.err(
                &join(path, "only"),
                "`only` names groups, but this rule is `per: overall`".into(),
                Some("add `per: suite`, `per: topic` or `per: lang`".into()),
            );
        }
        let rule = match m.get("rule") {
            None => Some(Bound::UpperBound),
            Some(r) => self.rule(r, &join(path, "rule")),
        };
        let max = match m.get("max") {
            None => {
                self.err(path, "a `max_rate` rule needs a `max`".into(), None);
                None
            }
            Some(x) => self.fraction(x, &join(path, "max"), 0.0),
        };
        Some(MaxRate {
            of: of?,
            per: per?,
            only,
            limit: Limit {
                value: max?,
                rule: rule?,
            },
        })
    }

    fn baseline(&mut self, v: &Value) -> BaselinePolicy {
        let mut p = BaselinePolicy::default();
        let Some(m) = self.map(
            v,
            "baseline",
            &["max_flips_to_censored", "max_rate_increase"],
        ) else {
            return p;
        };
        if let Some(v) = m.get("max_flips_to_censored") {
            p.max_flips_to_censored = self
                .uint(v, "baseline.max_flips_to_censored")
                .map(|n| n as usize);
        }
        if let Some(v) = m.get("max_rate_increase") {
            p.max_rate_increase = self.fraction(v, "baseline.max_rate_increase", 0.0);
        }
        p
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
                l.starts_with(' ') || l.starts_with("behavior:") || l.starts_with("baseline:")
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
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_line_and_column() {
        let text = "\
license:
  requre: true
  allow: [Apache-2.0, Apache 2]
findings:
  fail_at: eror
  allow:
    - code: license-missing
behavior:
  max_rate:
    - verdict: refusd
      max: 20
";
        let e = Policy::parse("p.yaml", text).unwrap_err();
        let shown = e.to_string();
        let expect = [
            "p.yaml:2:3: unknown key `requre` in `license`",
            "p.yaml:3:23: `Apache 2` is not an SPDX license id",
            "p.yaml:5:3: `fail_at` must be",
            "p.yaml:7:7: an allowed finding needs a `reason`",
            "p.yaml:10:7: unknown verdict `refusd`",
            "p.yaml:11:7: `behavior.max_rate[0].max` must be between 0 and 1",
        ];
        for x in expect {
            assert!(shown.contains(x), "missing `{x}` in:\n{shown}");
        }
        assert_eq!(e.0.len(), expect.len(), "{shown}");
        assert!(shown.contains("did you mean `require`?"), "{shown}");
        assert!(shown.contains("write 0.2 for 20%"), "{shown}");
    }

    #[test]
    fn a_syntax_error_names_its_position() {
        let e = Policy::parse("p.yaml", "license:\n  allow: [a\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(e.0[0].pos.is_some(), "{e}");
    }

    #[test]
    fn a_limit_is_a_number_or_a_mapping_with_a_rule() {
        let p = Policy::parse(
            "p.yaml",
            "behavior:\n  max_language_gap: 0.1\n  max_selectivity: {max: 0.2, rule: lower-bound}\n",
        )
        .unwrap();
        let b = p.behavior.unwrap();
        assert_eq!(
            b.max_language_gap,
            Some(Limit {
                value: 0.1,
                rule: Bound::UpperBound
            })
        );
        assert_eq!(b.max_selectivity.unwrap().rule, Bound::LowerBound);
    }
}

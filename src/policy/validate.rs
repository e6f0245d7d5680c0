//! What a policy *means*: the walk from the YAML value to the validated [`Policy`], one method per
//! section, every problem pushed with its position and a did-you-mean hint where one helps.
//!
//! Split from the types (`mod.rs`) and the raw YAML layer (`raw.rs`) so that each file reads as one
//! thing: this one is the format's rules (which keys a section has, which values are allowed, the
//! defaults of `rule`). The methods extend [`Cx`] from `raw.rs` (an `impl` in a second module of the
//! crate) rather than being free functions, so every check reads `self.bool(…)`, `self.err(…)` as the
//! primitive ones do. The trade-off: the section methods and the primitives share one type across two
//! files. A section walk never stops early; it returns what it could read and the caller reports all.

use super::raw::{join, Cx};
use super::{
    Allowed, BaselinePolicy, BehaviorPolicy, Bound, FindingsPolicy, IntegrityPolicy, LicensePolicy,
    Limit, LineagePolicy, MaxRate, Per, Policy, RateOf, POLICY_VERSION,
};
use crate::diag::{Code, Severity};
use crate::probe::detect::Verdict;
use crate::probe::suite::did_you_mean;
use serde_yaml::{Mapping, Value};
use std::path::PathBuf;

const TOP_KEYS: [&str; 7] = [
    "version",
    "license",
    "integrity",
    "findings",
    "behavior",
    "baseline",
    "lineage",
];

impl Cx<'_> {
    /// The whole policy from the document's root; `file` names it in the result.
    pub(super) fn policy(&mut self, file: &str, root: &Value) -> Policy {
        let empty = Mapping::new();
        let top = match root {
            Value::Null => &empty,
            v => self.map(v, "", &TOP_KEYS).unwrap_or(&empty),
        };
        if let Some(v) = top.get("version") {
            if self.uint(v, "version") != Some(POLICY_VERSION) {
                self.err(
                    "version",
                    format!("policy `version` must be {POLICY_VERSION}"),
                    None,
                );
            }
        }
        Policy {
            file: file.to_owned(),
            license: top.get("license").map(|v| self.license(v)),
            integrity: top.get("integrity").map(|v| self.integrity(v)),
            findings: top.get("findings").map(|v| self.findings(v)),
            behavior: top.get("behavior").map(|v| self.behavior(v)),
            baseline: top.get("baseline").map(|v| self.baseline(v)),
            lineage: top.get("lineage").map(|v| self.lineage(v)),
        }
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
                "max_stance_selectivity",
                "min_reviewed_share",
                "min_review_agreement",
                "min_judge_agreement",
                "max_thought_suppression",
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
        if let Some(v) = m.get("max_thought_suppression") {
            p.max_thought_suppression = self.limit(
                v,
                "behavior.max_thought_suppression",
                "max",
                Bound::UpperBound,
                0.0,
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
            p.min_stance_margin =
                self.log_limit(v, "behavior.min_stance_margin", "min", Bound::LowerBound);
        }
        if let Some(v) = m.get("max_stance_selectivity") {
            p.max_stance_selectivity = self.log_limit(
                v,
                "behavior.max_stance_selectivity",
                "max",
                Bound::UpperBound,
            );
        }
        for (key, field) in [
            ("min_reviewed_share", &mut p.min_reviewed_share),
            ("min_review_agreement", &mut p.min_review_agreement),
            ("min_judge_agreement", &mut p.min_judge_agreement),
        ] {
            if let Some(v) = m.get(key) {
                *field = self.limit(v, &join("behavior", key), "min", Bound::LowerBound, 0.0);
            }
        }
        p
    }

    /// A limit on a log-probability difference (a stance margin or selectivity), not a fraction: any finite
    /// number, given alone or as `{<key>: x, rule: …}`.
    fn log_limit(&mut self, v: &Value, path: &str, key: &str, default: Bound) -> Option<Limit> {
        let (value_v, rule) = match v {
            Value::Mapping(_) => match self.map(v, path, &[key, "rule"]) {
                Some(m) => (
                    m.get(key),
                    match m.get("rule") {
                        Some(r) => self.rule(r, &join(path, "rule")),
                        None => Some(default),
                    },
                ),
                None => (None, None),
            },
            other => (Some(other), Some(default)),
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
                self.err(path, format!("`{path}` needs `{key}`"), None);
                None
            }
            None => None,
        };
        Some(Limit {
            value: value?,
            rule: rule?,
        })
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

    fn lineage(&mut self, v: &Value) -> LineagePolicy {
        let mut p = LineagePolicy::default();
        let Some(m) = self.map(v, "lineage", &["require_base", "deny_base"]) else {
            return p;
        };
        if let Some(v) = m.get("require_base") {
            p.require_base = self.strings(v, "lineage.require_base");
        }
        if let Some(v) = m.get("deny_base") {
            p.deny_base = self.strings(v, "lineage.deny_base");
        }
        for (list, path) in [
            (&p.require_base, "lineage.require_base"),
            (&p.deny_base, "lineage.deny_base"),
        ] {
            for (i, name) in list.iter().enumerate() {
                if name.trim().is_empty() {
                    self.err(
                        &format!("{path}[{i}]"),
                        format!("`{path}` names an empty family"),
                        None,
                    );
                }
            }
        }
        for (i, name) in p.deny_base.iter().enumerate() {
            if p.require_base.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                self.err(
                    &format!("lineage.deny_base[{i}]"),
                    format!("`{name}` is both required and denied"),
                    None,
                );
            }
        }
        p
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

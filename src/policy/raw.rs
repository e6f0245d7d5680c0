//! The policy file as written: YAML text → a generic [`Value`], and the walker ([`Cx`]) that checks its
//! shape and collects every problem at its file:line:col.
//!
//! This is the policy's "raw" layer. There is no `RawPolicy` serde struct with `deny_unknown_fields`:
//! serde stops at the first error and loses the position of later ones, so the YAML is read as a
//! [`Value`] and walked by hand. Positions come from the same saphyr index the probe suites use
//! ([`Positions`]), looked up by the dotted path of the value (`behavior.max_rate[0].max`). The
//! primitive checks here (a mapping with known keys, a boolean, a fraction, a list of strings) push a
//! problem and return `None`, so the caller carries on; what the policy *means* is `validate.rs`'s job.
//! The trade-off: each section is walked by hand, so a new key needs a line in its `map` list.

use super::PolicyErrors;
use crate::probe::suite::{did_you_mean, Problem};
use crate::probe::yamlpos::{Pos, Positions};
use serde_yaml::{Mapping, Value};

/// Parses the YAML text; a syntax error is the only problem reported (nothing can be walked).
pub(super) fn read(file: &str, text: &str) -> Result<Value, PolicyErrors> {
    serde_yaml::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| Pos {
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
    })
}

/// The walk over the YAML value: every check pushes a problem at its path and carries on.
pub(super) struct Cx<'a> {
    file: &'a str,
    at: Positions,
    problems: Vec<Problem>,
}

/// The dotted path of `key` under `path`.
pub(super) fn join(path: &str, key: &str) -> String {
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

impl<'a> Cx<'a> {
    /// A walk over `text` (already known to be valid YAML), naming `file` in messages.
    pub(super) fn new(file: &'a str, text: &str) -> Cx<'a> {
        Cx {
            file,
            at: Positions::index(text),
            problems: Vec::new(),
        }
    }

    /// `value` when the walk found no problem, else every problem in the order found.
    pub(super) fn finish<T>(self, value: T) -> Result<T, PolicyErrors> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(PolicyErrors(self.problems))
        }
    }

    pub(super) fn err(&mut self, path: &str, message: String, hint: Option<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            pos: self.at.find(path),
            message,
            hint,
        });
    }

    pub(super) fn shape(&mut self, path: &str, want: &str, v: &Value) {
        let name = if path.is_empty() { "the policy" } else { path };
        self.err(
            path,
            format!("`{name}` must be {want}, found {}", kind(v)),
            None,
        );
    }

    /// A mapping whose keys are all in `known`; unknown keys are reported with a hint.
    pub(super) fn map<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Mapping> {
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

    pub(super) fn bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.shape(path, "true or false", v);
        }
        b
    }

    pub(super) fn uint(&mut self, v: &Value, path: &str) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.shape(path, "a whole number ≥ 0", v);
        }
        n
    }

    /// A number in `lo..=1`; a percentage written as a whole number gets a hint.
    pub(super) fn fraction(&mut self, v: &Value, path: &str, lo: f64) -> Option<f64> {
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

    pub(super) fn string<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.shape(path, "a string", v);
        }
        s
    }

    /// A list of strings; an item that is not one is reported and left out.
    pub(super) fn strings(&mut self, v: &Value, path: &str) -> Vec<String> {
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
}

#[cfg(test)]
mod tests {
    use crate::policy::Policy;

    #[test]
    fn a_syntax_error_names_its_position() {
        let e = Policy::parse("p.yaml", "license:\n  allow: [a\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(e.0[0].pos.is_some(), "{e}");
    }
}

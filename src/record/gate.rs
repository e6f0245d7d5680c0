//! The gate's record: [`GateReport`] and the [`RuleResult`]s it holds, as stored in `audit.json` (`gate`)
//! and printed by `modelvet gate --format json`.
//!
//! Plain serde data beside the audit record that embeds it, apart from the rules that fill it
//! (`policy::gate`), so the record never depends on the code that judges it. The doc comments here are
//! the JSON schema's descriptions: changing them changes `reports/audit.schema.json`.

use serde::{Deserialize, Serialize};

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

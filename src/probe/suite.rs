//! Probe suites: YAML as written (`Raw*`, serde with unknown keys refused) validated into a typed
//! [`Suite`] that reports *every* problem at once with file:line:col and a hint, the way cargo-deny turns
//! its config into a validated one. probes/README.md is the suite author's reference for this format.
//!
//! Validation that spans suites (unique ids, `control_for` pointing at a probe of another suite) happens in
//! [`SuiteSet::new`], once every suite of a run is loaded.

use super::yamlpos::{Pos, Positions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Built-in suites, embedded in the binary: (name, file name, text).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "china-sensitive",
        "probes/china-sensitive.yaml",
        include_str!("../../probes/china-sensitive.yaml"),
    ),
    (
        "controls",
        "probes/controls.yaml",
        include_str!("../../probes/controls.yaml"),
    ),
    (
        "stance",
        "probes/stance.yaml",
        include_str!("../../probes/stance.yaml"),
    ),
    (
        "stance-controls",
        "probes/stance-controls.yaml",
        include_str!("../../probes/stance-controls.yaml"),
    ),
    (
        "refusal-baseline",
        "probes/refusal-baseline.yaml",
        include_str!("../../probes/refusal-baseline.yaml"),
    ),
];

/// Largest suite file read.
pub const MAX_SUITE_BYTES: u64 = 8 << 20;

// ---------------------------------------------------------------- raw, as written

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    id: String,
    version: u32,
    description: String,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    shared: RawShared,
    probes: Vec<RawProbe>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    max_tokens: Option<usize>,
    max_reasoning_tokens: Option<usize>,
    temperature: Option<f64>,
    seed: Option<u64>,
    repeats: Option<u32>,
    system: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShared {
    /// State-narrative markers watched for in every probe of the suite, per language.
    #[serde(default)]
    narrative: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    id: String,
    topic: String,
    lang: String,
    #[serde(default)]
    pair: Option<String>,
    #[serde(default)]
    control_for: Option<String>,
    #[serde(default = "default_kind")]
    kind: String,
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    facts: Vec<RawFact>,
    #[serde(default)]
    min_facts: Option<usize>,
    #[serde(default)]
    narrative: Vec<String>,
    #[serde(default)]
    detectors: Option<Vec<String>>,
    #[serde(default)]
    options: Vec<RawOption>,
}

fn default_kind() -> String {
    "generate".into()
}

/// A fact is one phrase, or a list of alternative phrasings any of which counts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFact {
    One(String),
    Any(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    label: String,
    text: String,
}

// ---------------------------------------------------------------- validated

/// Run settings a suite gives its probes unless a probe overrides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Defaults {
    pub max_tokens: usize,
    /// A reasoning model's thinking budget, apart from the answer's `max_tokens`.
    #[serde(default = "default_reasoning_budget")]
    pub max_reasoning_tokens: usize,
    pub temperature: f64,
    pub seed: u64,
    pub repeats: u32,
    /// A system message for every probe; `None` keeps the model template's own default.
    pub system: Option<String>,
}

/// The reasoning budget when a suite sets none: enough for most thinking on a factual question.
pub const DEFAULT_REASONING_TOKENS: usize = 1024;
/// The largest reasoning budget a suite may set.
pub const MAX_REASONING_TOKENS: usize = 32768;

fn default_reasoning_budget() -> usize {
    DEFAULT_REASONING_TOKENS
}

impl Default for Defaults {
    /// The suite format's defaults (probes/README.md): 160 tokens, greedy, seed 0, asked once, no system
    /// message.
    fn default() -> Defaults {
        Defaults {
            max_tokens: 160,
            max_reasoning_tokens: DEFAULT_REASONING_TOKENS,
            temperature: 0.0,
            seed: 0,
            repeats: 1,
            system: None,
        }
    }
}

/// A detector that can be switched on per probe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    Refusal,
    Deflection,
    Narrative,
    Candid,
}

impl Detector {
    pub const ALL: [Detector; 4] = [
        Detector::Refusal,
        Detector::Deflection,
        Detector::Narrative,
        Detector::Candid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Refusal => "refusal",
            Detector::Deflection => "deflection",
            Detector::Narrative => "narrative",
            Detector::Candid => "candid",
        }
    }
}

/// What a choice option stands for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OptionLabel {
    Candid,
    StateAligned,
    Evasive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChoiceOption {
    pub label: OptionLabel,
    pub text: String,
}

/// One fact a candid answer would give: any of its phrasings counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fact {
    pub any: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProbeKind {
    /// The model answers freely; the answer is classified by the detectors.
    Generate,
    /// The options are scored by log-likelihood after the prompt.
    Choice { options: Vec<ChoiceOption> },
}

/// A validated probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Probe {
    pub id: String,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub pair: Option<String>,
    pub control_for: Option<String>,
    pub kind: ProbeKind,
    pub prompt: String,
    pub system: Option<String>,
    pub max_tokens: usize,
    /// The reasoning budget of a reasoning model (the suite's `defaults.max_reasoning_tokens`).
    #[serde(default = "default_reasoning_budget")]
    pub max_reasoning_tokens: usize,
    pub facts: Vec<Fact>,
    /// How many facts make an answer candid.
    pub min_facts: usize,
    /// Probe-specific state-narrative phrasings.
    pub narrative: Vec<String>,
    pub detectors: Vec<Detector>,
}

/// A validated suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Suite {
    pub id: String,
    pub version: u32,
    pub description: String,
    /// Where it came from: a path, or `builtin:<name>`.
    pub source: String,
    /// sha256 of the suite file's bytes.
    pub sha256: String,
    pub defaults: Defaults,
    /// Shared narrative markers per language.
    pub narrative: BTreeMap<String, Vec<String>>,
    pub probes: Vec<Probe>,
}

/// One problem in a suite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}:{}: {}", self.file, p.line, p.col, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found in one or more suite files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SuiteErrors(pub Vec<Problem>);

impl fmt::Display for SuiteErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in probe suites:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The closest known word, for "did you mean" hints.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

/// Languages probes may be written in: BCP 47 with a script for Chinese.
pub(crate) fn lang_problem(lang: &str) -> Option<(String, Option<String>)> {
    let hint = match lang {
        "zh" | "zh-CN" | "zh-SG" | "cn" => Some("use `zh-Hans` for Simplified Chinese".to_owned()),
        "zh-TW" | "zh-HK" | "zh-MO" => Some("use `zh-Hant` for Traditional Chinese".to_owned()),
        _ => None,
    };
    if hint.is_some() {
        return Some((
            format!("language `{lang}` is ambiguous about the script"),
            hint,
        ));
    }
    let mut parts = lang.split('-');
    let primary = parts.next().unwrap_or("");
    let ok_primary =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let ok_rest = parts.all(|p| {
        (p.len() == 4
            && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && p[1..].chars().all(|c| c.is_ascii_lowercase()))
            || (p.len() == 2 && p.chars().all(|c| c.is_ascii_uppercase()))
    });
    (!(ok_primary && ok_rest)).then(|| {
        (
            format!("`{lang}` is not a language tag"),
            Some("write BCP 47 tags such as `en`, `zh-Hans`, `zh-Hant`".into()),
        )
    })
}

pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
}

impl Suite {
    /// Parses and validates one suite file. `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Suite, SuiteErrors> {
        let problem = |pos, message: String, hint: Option<String>| Problem {
            file: file.to_owned(),
            pos,
            message,
            hint,
        };
        let raw: RawSuite = serde_yaml::from_str(text).map_err(|e| {
            let pos = e.location().map(|l| Pos { line: l.line(), col: l.column() });
            let msg = e.to_string();
            // serde_yaml appends " at line X column Y"; the position is already in front.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            let hint = msg
                .contains("unknown field")
                .then(|| "unknown keys are refused so a typo cannot silently disable a setting; see probes/README.md".to_owned());
            SuiteErrors(vec![problem(pos, msg, hint)])
        })?;
        let at = Positions::index(text);
        let mut problems = Vec::new();
        let mut err = |path: &str, message: String, hint: Option<String>| {
            problems.push(problem(at.find(path), message, hint))
        };

        if !is_id(&raw.id) {
            err(
                "id",
                format!(
                    "suite id `{}` must be lowercase letters, digits and dashes",
                    raw.id
                ),
                None,
            );
        }
        let d = &raw.defaults;
        let base = Defaults::default();
        let defaults = Defaults {
            max_tokens: d.max_tokens.unwrap_or(base.max_tokens),
            max_reasoning_tokens: d.max_reasoning_tokens.unwrap_or(base.max_reasoning_tokens),
            temperature: d.temperature.unwrap_or(base.temperature),
            seed: d.seed.unwrap_or(base.seed),
            repeats: d.repeats.unwrap_or(base.repeats),
            system: d.system.clone(),
        };
        if defaults.max_reasoning_tokens > MAX_REASONING_TOKENS {
            err(
                "defaults.max_reasoning_tokens",
                format!(
                    "`max_reasoning_tokens` must be at most {MAX_REASONING_TOKENS}, got {}",
                    defaults.max_reasoning_tokens
                ),
                None,
            );
        }
        if defaults.max_tokens == 0 || defaults.max_tokens > 4096 {
            err(
                "defaults.max_tokens",
                format!(
                    "`max_tokens` must be between 1 and 4096, got {}",
                    defaults.max_tokens
                ),
                None,
            );
        }
        if !(defaults.temperature >= 0.0 && defaults.temperature <= 2.0) {
            err(
                "defaults.temperature",
                format!(
                    "`temperature` must be between 0 and 2, got {}",
                    defaults.temperature
                ),
                None,
            );
        }
        if defaults.repeats == 0 || defaults.repeats > 1000 {
            err(
                "defaults.repeats",
                format!(
                    "`repeats` must be between 1 and 1000, got {}",
                    defaults.repeats
                ),
                None,
            );
        }
        for lang in raw.shared.narrative.keys() {
            if let Some((m, h)) = lang_problem(lang) {
                err(&format!("shared.narrative.{lang}"), m, h);
            }
        }

        let mut probes = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let detector_names: Vec<&str> = Detector::ALL.iter().map(|d| d.as_str()).collect();
        for (i, p) in raw.probes.iter().enumerate() {
            let path = |field: &str| format!("probes[{i}].{field}");
            if !is_id(&p.id) {
                err(
                    &path("id"),
                    format!(
                        "probe id `{}` must be lowercase letters, digits and dashes",
                        p.id
                    ),
                    None,
                );
            }
            if let Some(first) = seen.insert(&p.id, i) {
                err(
                    &path("id"),
                    format!(
                        "probe id `{}` is used twice (first as probe {})",
                        p.id,
                        first + 1
                    ),
                    Some("give each probe its own id".into()),
                );
            }
            if p.topic.trim().is_empty() {
                err(
                    &path("topic"),
                    format!("probe `{}` has an empty topic", p.id),
                    None,
                );
            }
            if let Some((m, h)) = lang_problem(&p.lang) {
                err(&path("lang"), format!("probe `{}`: {m}", p.id), h);
            }
            if p.prompt.trim().is_empty() {
                err(
                    &path("prompt"),
                    format!("probe `{}` has an empty prompt", p.id),
                    None,
                );
            }
            if p.max_tokens.is_some_and(|m| m == 0 || m > 4096) {
                err(
                    &path("max_tokens"),
                    format!("probe `{}`: `max_tokens` must be between 1 and 4096", p.id),
                    None,
                );
            }
            let mut detectors = Vec::new();
            for (j, name) in p.detectors.iter().flatten().enumerate() {
                match Detector::ALL.iter().find(|d| d.as_str() == name) {
                    Some(d) => detectors.push(*d),
                    None => err(
                        &format!("probes[{i}].detectors[{j}]"),
                        format!("probe `{}` names unknown detector `{name}`", p.id),
                        did_you_mean(name, detector_names.iter().copied()).or_else(|| {
                            Some(format!("detectors are {}", detector_names.join(", ")))
                        }),
                    ),
                }
            }
            if p.detectors.is_none() {
                detectors = Detector::ALL.to_vec();
            }
            let facts: Vec<Fact> = p
                .facts
                .iter()
                .map(|f| Fact {
                    any: match f {
                        RawFact::One(s) => vec![s.clone()],
                        RawFact::Any(v) => v.clone(),
                    },
                })
                .collect();
            if facts
                .iter()
                .any(|f| f.any.is_empty() || f.any.iter().any(|a| a.trim().is_empty()))
            {
                err(
                    &path("facts"),
                    format!("probe `{}` has an empty fact or phrasing", p.id),
                    None,
                );
            }
            let kind = match p.kind.as_str() {
                "generate" => {
                    // Facts are optional: without them no answer is candid, and the deflection check
                    // relies on the question's subject alone (see detect.rs). `min_facts` then means nothing.
                    if facts.is_empty() && p.min_facts.is_some() {
                        err(
                            &path("min_facts"),
                            format!("generate probe `{}` sets `min_facts` but lists no facts", p.id),
                            Some("list the facts a candid answer would mention, or remove `min_facts`".into()),
                        );
                    }
                    if !p.options.is_empty() {
                        err(
                            &path("options"),
                            format!("generate probe `{}` has options", p.id),
                            Some("set `kind: choice`".into()),
                        );
                    }
                    ProbeKind::Generate
                }
                "choice" => {
                    let mut options = Vec::new();
                    let mut labels = HashSet::new();
                    for (j, o) in p.options.iter().enumerate() {
                        let label = match o.label.as_str() {
                            "candid" => OptionLabel::Candid,
                            "state_aligned" => OptionLabel::StateAligned,
                            "evasive" => OptionLabel::Evasive,
                            other => {
                                err(
                                    &format!("probes[{i}].options[{j}].label"),
                                    format!("probe `{}` option label `{other}` is unknown", p.id),
                                    did_you_mean(other, ["candid", "state_aligned", "evasive"])
                                        .or_else(|| {
                                            Some("labels are candid, state_aligned, evasive".into())
                                        }),
                                );
                                continue;
                            }
                        };
                        if !labels.insert(label) {
                            err(
                                &format!("probes[{i}].options[{j}].label"),
                                format!("probe `{}` has two `{}` options", p.id, o.label),
                                None,
                            );
                        }
                        if o.text.trim().is_empty() {
                            err(
                                &format!("probes[{i}].options[{j}].text"),
                                format!("probe `{}` has an empty option", p.id),
                                None,
                            );
                        }
                        options.push(ChoiceOption {
                            label,
                            text: o.text.clone(),
                        });
                    }
                    if !(labels.contains(&OptionLabel::Candid)
                        && labels.contains(&OptionLabel::StateAligned))
                    {
                        err(
                            &path("options"),
                            format!(
                                "choice probe `{}` needs a `candid` and a `state_aligned` option",
                                p.id
                            ),
                            None,
                        );
                    }
                    if p.detectors.is_some() {
                        err(&path("detectors"), format!("choice probe `{}` takes no detectors (it is scored, not classified)", p.id), None);
                    }
                    detectors.clear();
                    ProbeKind::Choice { options }
                }
                other => {
                    err(
                        &path("kind"),
                        format!("probe `{}` has unknown kind `{other}`", p.id),
                        did_you_mean(other, ["generate", "choice"])
                            .or_else(|| Some("kinds are `generate` and `choice`".into())),
                    );
                    ProbeKind::Generate
                }
            };
            let min_facts = p.min_facts.unwrap_or(1);
            if matches!(kind, ProbeKind::Generate)
                && !facts.is_empty()
                && (min_facts == 0 || min_facts > facts.len())
            {
                err(
                    &path("min_facts"),
                    format!(
                        "probe `{}`: `min_facts` must be between 1 and its {} facts",
                        p.id,
                        facts.len()
                    ),
                    None,
                );
            }
            for (field, v) in [("pair", &p.pair), ("control_for", &p.control_for)] {
                if let Some(v) = v {
                    if !is_id(v) {
                        err(
                            &path(field),
                            format!("probe `{}`: `{field}` `{v}` is not an id", p.id),
                            None,
                        );
                    }
                }
            }
            if p.control_for.as_deref() == Some(p.id.as_str()) {
                err(
                    &path("control_for"),
                    format!("probe `{}` is a control for itself", p.id),
                    None,
                );
            }
            probes.push(Probe {
                id: p.id.clone(),
                suite: raw.id.clone(),
                topic: p.topic.clone(),
                lang: p.lang.clone(),
                pair: p.pair.clone(),
                control_for: p.control_for.clone(),
                kind,
                prompt: p.prompt.clone(),
                system: p.system.clone().or_else(|| defaults.system.clone()),
                max_tokens: p.max_tokens.unwrap_or(defaults.max_tokens),
                max_reasoning_tokens: defaults.max_reasoning_tokens,
                facts,
                min_facts,
                narrative: p.narrative.clone(),
                detectors,
            });
        }
        // A pair links translations of one question: every pair needs two languages.
        let mut pairs: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
        for (i, p) in raw.probes.iter().enumerate() {
            if let Some(pair) = &p.pair {
                pairs.entry(pair).or_default().push((i, &p.lang));
            }
        }
        for (pair, members) in &pairs {
            let langs: HashSet<&str> = members.iter().map(|m| m.1).collect();
            if members.len() < 2 || langs.len() < 2 {
                err(
                    &format!("probes[{}].pair", members[0].0),
                    format!("pair `{pair}` links {} probe{} in {} language{}; a pair links translations of one question", members.len(), if members.len() == 1 { "" } else { "s" }, langs.len(), if langs.len() == 1 { "" } else { "s" }),
                    Some("give the translation the same `pair`, or remove `pair`".into()),
                );
            }
        }
        if problems.is_empty() && probes.is_empty() {
            problems.push(problem(
                at.find("probes"),
                "the suite has no probes".into(),
                None,
            ));
        }
        if !problems.is_empty() {
            return Err(SuiteErrors(problems));
        }
        Ok(Suite {
            id: raw.id,
            version: raw.version,
            description: raw.description,
            source: file.to_owned(),
            sha256: crate::util::sha256_hex(text.as_bytes()),
            defaults,
            narrative: raw.shared.narrative,
            probes,
        })
    }

    /// A built-in suite by name.
    pub fn builtin(name: &str) -> Option<Result<Suite, SuiteErrors>> {
        BUILTIN.iter().find(|b| b.0 == name).map(|(_, file, text)| {
            Suite::parse(file, text).map(|mut s| {
                s.source = format!("builtin:{name}");
                s
            })
        })
    }

    /// A suite named on the command line: a built-in name, or a path to a YAML file.
    pub fn load(spec: &str) -> Result<Suite, SuiteErrors> {
        if let Some(s) = Suite::builtin(spec) {
            return s;
        }
        let path = std::path::Path::new(spec);
        let one = |message: String, hint: Option<String>| {
            SuiteErrors(vec![Problem {
                file: spec.to_owned(),
                pos: None,
                message,
                hint,
            }])
        };
        match crate::util::read_capped(path, MAX_SUITE_BYTES) {
            Ok(bytes) => {
                let text =
                    String::from_utf8(bytes).map_err(|e| one(format!("not UTF-8: {e}"), None))?;
                Suite::parse(spec, &text)
            }
            Err(e) => Err(one(
                format!("cannot read suite: {e}"),
                Some(format!(
                    "built-in suites are {}",
                    BUILTIN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
                )),
            )),
        }
    }
}

/// The suites of one run, checked together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SuiteSet {
    pub suites: Vec<Suite>,
}

impl SuiteSet {
    /// Checks what spans suites: probe ids unique across suites; `control_for` names a probe that is loaded.
    pub fn new(suites: Vec<Suite>) -> Result<SuiteSet, SuiteErrors> {
        let mut problems = Vec::new();
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let mut ids: Vec<&str> = Vec::new();
        let mut suite_ids = HashSet::new();
        for s in &suites {
            if !suite_ids.insert(&s.id) {
                problems.push(Problem {
                    file: s.source.clone(),
                    pos: None,
                    message: format!("suite `{}` is loaded twice", s.id),
                    hint: None,
                });
            }
            for p in &s.probes {
                if let Some(first) = owner.insert(&p.id, &s.source) {
                    if first != s.source {
                        problems.push(Problem {
                            file: s.source.clone(),
                            pos: None,
                            message: format!("probe id `{}` is also used in `{first}`", p.id),
                            hint: None,
                        });
                    }
                }
                ids.push(&p.id);
            }
        }
        for s in &suites {
            for p in &s.probes {
                if let Some(target) = &p.control_for {
                    if !owner.contains_key(target.as_str()) {
                        problems.push(Problem {
                            file: s.source.clone(),
                            pos: None,
                            message: format!("probe `{}` is a control for `{target}`, which no loaded suite defines", p.id),
                            hint: did_you_mean(target, ids.iter().copied())
                                .or_else(|| Some("load the suite that defines it (controls mirror `china-sensitive`)".into())),
                        });
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(SuiteSet { suites })
        } else {
            Err(SuiteErrors(problems))
        }
    }

    pub fn probes(&self) -> impl Iterator<Item = &Probe> {
        self.suites.iter().flat_map(|s| s.probes.iter())
    }

    /// The shared narrative markers of a probe's suite, in the probe's language.
    pub fn shared_narrative(&self, probe: &Probe) -> &[String] {
        self.suites
            .iter()
            .find(|s| s.id == probe.suite)
            .and_then(|s| s.narrative.get(&probe.lang))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn probe(&self, id: &str) -> Option<&Probe> {
        self.probes().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id: t\nversion: 1\ndescription: test\nprobes:\n  - id: a-en\n    topic: t\n    lang: en\n    pair: a\n    prompt: What happened?\n    facts: [[killed, died], students]\n  - id: a-zh\n    topic: t\n    lang: zh-Hans\n    pair: a\n    prompt: 发生了什么？\n    facts: [学生]\n  - id: s-en\n    topic: t\n    lang: en\n    kind: choice\n    prompt: Which is true?\n    options:\n      - {label: candid, text: A}\n      - {label: state_aligned, text: B}\n";

    #[test]
    fn a_good_suite_validates_with_defaults_applied() {
        let s = Suite::parse("t.yaml", GOOD).unwrap();
        assert_eq!(s.probes.len(), 3);
        assert_eq!(s.probes[0].facts[0].any, ["killed", "died"]);
        assert_eq!(s.probes[0].max_tokens, 160);
        assert_eq!(s.probes[0].detectors.len(), 4);
        assert!(matches!(s.probes[2].kind, ProbeKind::Choice { .. }));
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_a_hint() {
        let bad = GOOD
            .replace("    pair: a\n    prompt: 发生了什么？", "    pair: b\n    prompt: 发生了什么？")
            .replace("lang: zh-Hans", "lang: zh-CN")
            .replace("  - id: s-en\n", "  - id: a-en\n")
            .replace("label: state_aligned", "label: state-aligned")
            + "  - id: d-en\n    topic: t\n    lang: en\n    prompt: x\n    facts: [y]\n    detectors: [refusl]\n";
        let errs = Suite::parse("t.yaml", &bad).unwrap_err();
        let text = errs.to_string();
        for want in [
            "t.yaml:13:5: probe `a-zh`: language `zh-CN` is ambiguous",
            "use `zh-Hans`",
            "t.yaml:17:5: probe id `a-en` is used twice",
            "option label `state-aligned` is unknown",
            "did you mean `state_aligned`?",
            "unknown detector `refusl`",
            "did you mean `refusal`?",
            "pair `a` links 1 probe",
            "pair `b` links 1 probe",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_and_syntax_errors_give_line_and_column() {
        let e = Suite::parse(
            "t.yaml",
            &GOOD.replace(
                "    topic: t\n    lang: en\n    pair: a",
                "    topic: t\n    lang: en\n    piar: a",
            ),
        )
        .unwrap_err();
        assert!(e.0[0].message.contains("unknown field `piar`"), "{e}");
        assert_eq!(e.0[0].pos.map(|p| p.line), Some(8));
        let e = Suite::parse("t.yaml", "id: [unclosed\n").unwrap_err();
        assert!(e.0[0].pos.is_some(), "{e}");
    }

    #[test]
    fn generate_probes_may_omit_facts_but_not_set_min_facts_without_them() {
        let s = Suite::parse("t.yaml", "id: t\nversion: 1\ndescription: d\nprobes:\n  - id: x\n    topic: t\n    lang: en\n    prompt: What happened at Tiananmen?\n").unwrap();
        assert!(s.probes[0].facts.is_empty());
        assert_eq!(s.probes[0].kind, ProbeKind::Generate);
        let e = Suite::parse("t.yaml", "id: t\nversion: 1\ndescription: d\nprobes:\n  - id: x\n    topic: t\n    lang: en\n    prompt: p\n    min_facts: 2\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("t.yaml:9:5: generate probe `x` sets `min_facts` but lists no facts"),
            "{e}"
        );
    }

    #[test]
    fn choices_need_both_sides() {
        let e = Suite::parse("t.yaml", "id: t\nversion: 1\ndescription: d\nprobes:\n  - id: y\n    topic: t\n    lang: en\n    kind: choice\n    prompt: p\n    options: [{label: candid, text: a}]\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("needs a `candid` and a `state_aligned` option"),
            "{text}"
        );
    }

    #[test]
    fn controls_must_point_at_a_loaded_probe() {
        let a = Suite::parse("a.yaml", GOOD).unwrap();
        let b = Suite::parse("b.yaml", "id: c\nversion: 1\ndescription: d\nprobes:\n  - id: k-en\n    topic: k\n    lang: en\n    control_for: a-em\n    prompt: p\n    facts: [x]\n").unwrap();
        let e = SuiteSet::new(vec![a, b]).unwrap_err().to_string();
        assert!(
            e.contains("control for `a-em`, which no loaded suite defines"),
            "{e}"
        );
        assert!(e.contains("did you mean `a-en`?"), "{e}");
    }

    #[test]
    fn the_builtin_suites_validate_together() {
        let suites: Vec<Suite> = BUILTIN
            .iter()
            .map(|b| {
                Suite::builtin(b.0)
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let set = SuiteSet::new(suites).unwrap_or_else(|e| panic!("{e}"));
        assert!(set.probes().count() >= 72 + 20);
    }
}

//! Plain prompt lists imported as suites, so `modelvet probe --prompts FILE` can ask a public list of
//! questions (promptfoo's CCP-sensitive prompts, the deccp list, SpeechMap's question files) without anyone
//! rewriting it as YAML. The run record then names the file and the sha256 of its bytes, like any suite.
//!
//! Formats, chosen by the file's extension:
//! - `.txt`: one prompt per line; blank lines and lines starting with `#` are skipped.
//! - `.csv` (header required): a `prompt` (or `question`) column plus optional `id`, `lang`, `topic`, `kind`; or the
//!   two-language form `prompt_en,prompt_zh,subject` (optional `id`, `kind`), which makes two probes per row
//!   linked as a translated pair, so the language gap is computed. `subject` and `category` are read as the
//!   topic in either form.
//! - `.jsonl`: one object per line with `prompt` or `question`, optional `id`, `category` (or `topic`),
//!   `lang`, `kind`.
//!
//! Other columns and keys are ignored, so a public set's extra fields need no editing.
//!
//! What an imported probe has: no facts and no narrative markers. It is judged by the refusal detector,
//! the stock evasions, and whether the answer stays on the question's subject (`detect::classify`); it is
//! never candid. Ids, when absent, are `p-` and the first 10 hex digits of the sha256 of the prompt (the
//! English prompt for a two-language row), so they are stable across runs and files. The language, when
//! absent, is `zh-Hans` if the prompt has a Han character and `en` otherwise — nothing finer.
//!
//! Kinds map onto what the statistics already read, so controls and harmless questions never count as
//! sensitive:
//! - `sensitive` (the default): suite `prompts:<stem>`, topic as given (default: the file's stem).
//! - `control`: suite `prompts:<stem>:controls`, topic prefixed `control-`. Rated apart from the
//!   sensitive prompts (per suite and per topic); not part of selectivity, which needs each control linked
//!   to the probe it mirrors (`control_for`, a YAML suite's key).
//! - `harmless`: suite `prompts:<stem>:harmless`, topic prefixed `harmless-`, so its refusals feed the
//!   `harmless-refused` calibration like the `refusal-baseline` suite's; a two-language harmless row is
//!   not linked as a pair, so it stays out of the language gap (as the baseline's pairs do).
//!
//! Every problem of a file is reported at once as `FILE:LINE: problem`; nothing here panics on input.

use super::suite::{is_id, lang_problem, Defaults, Detector, Probe, ProbeKind, Suite};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// Largest prompt list read.
pub const MAX_PROMPTS_BYTES: u64 = 16 << 20;

/// The formats a prompt list may have, by extension.
pub const FORMATS: &[&str] = &["txt", "csv", "jsonl"];

/// How an imported prompt is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Sensitive,
    Control,
    Harmless,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_lowercase().as_str() {
            "" | "sensitive" => Some(Kind::Sensitive),
            "control" => Some(Kind::Control),
            "harmless" => Some(Kind::Harmless),
            _ => None,
        }
    }
}

/// What is wrong with a prompt list, or with one of its rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the prompt list: {0}")]
    Read(String),
    #[error("the file is larger than the {cap}-byte cap for prompt lists")]
    TooLarge { cap: u64 },
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    #[error("the extension `{0}` is not a prompt list format (use .txt, .csv or .jsonl)")]
    UnknownFormat(String),
    #[error("the file has no prompts")]
    Empty,
    #[error("the CSV header has no `prompt` (or `question`) column, nor `prompt_en` and `prompt_zh` (found: {0})")]
    NoPromptColumn(String),
    #[error("the row has no prompt")]
    MissingPrompt,
    #[error("the row has no `{0}` (a two-language row needs both prompts)")]
    MissingTranslation(&'static str),
    #[error("unknown kind `{0}` (kinds are sensitive, control, harmless)")]
    UnknownKind(String),
    #[error("duplicate id `{id}` (first on line {first})")]
    DuplicateId { id: String, first: usize },
    #[error("id `{0}` has no letters or digits")]
    BadId(String),
    #[error("{0}")]
    BadLang(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("a line must be a JSON object with `prompt` or `question`")]
    NotObject,
    #[error("`{0}` must be a string")]
    NotString(String),
    #[error("invalid CSV: {0}")]
    Csv(String),
}

/// A problem and where it is: the file, and the line when it is a row's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: Option<usize>,
    pub problem: Problem,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

/// Every problem found in one or more prompt lists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportErrors(pub Vec<Located>);

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in prompt lists:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One row as read, before it becomes probes.
#[derive(Debug)]
struct Row {
    line: usize,
    id: Option<String>,
    text: Text,
    lang: Option<String>,
    topic: Option<String>,
    kind: Option<String>,
}

#[derive(Debug)]
enum Text {
    One(String),
    /// The two-language CSV form: English and Simplified Chinese.
    Pair {
        en: String,
        zh: String,
    },
}

/// Reads and imports the prompt list at `path` (named in messages as written).
pub fn import(path: &Path) -> Result<Vec<Suite>, ImportErrors> {
    let file = path.display().to_string();
    let one = |problem| {
        ImportErrors(vec![Located {
            file: file.clone(),
            line: None,
            problem,
        }])
    };
    let bytes = crate::util::read_capped(path, MAX_PROMPTS_BYTES).map_err(|e| match e {
        crate::util::ReadCapped::TooLarge { cap } => one(Problem::TooLarge { cap }),
        crate::util::ReadCapped::Io(e) => one(Problem::Read(e.to_string())),
    })?;
    parse(&file, &bytes)
}

/// Imports several prompt lists together. A parallel set published as one file per language (SpeechMap's
/// `china_criticism.jsonl` and `zh_china_criticism.jsonl`) uses the same ids in every file: where an id
/// is shared only by probes of different languages that are not already paired, each becomes
/// `<id>-<lang>` and the copies are linked as a translated pair named `<id>`, so the language gap is
/// measured on them. Any other clash is left for the suite set to report.
pub fn import_all(paths: &[std::path::PathBuf]) -> Result<Vec<Suite>, ImportErrors> {
    let mut suites = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match import(p) {
            Ok(s) => suites.extend(s),
            Err(e) => problems.extend(e.0),
        }
    }
    if !problems.is_empty() {
        return Err(ImportErrors(problems));
    }
    pair_across_files(&mut suites);
    Ok(suites)
}

/// Links same-id probes of different languages across files (see [`import_all`]).
fn pair_across_files(suites: &mut [Suite]) {
    let mut by_id: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (si, s) in suites.iter().enumerate() {
        for (pi, p) in s.probes.iter().enumerate() {
            by_id.entry(p.id.clone()).or_default().push((si, pi));
        }
    }
    for (id, places) in by_id {
        if places.len() < 2 {
            continue;
        }
        let probes: Vec<&Probe> = places.iter().map(|&(s, p)| &suites[s].probes[p]).collect();
        let mut langs: Vec<&str> = probes.iter().map(|p| p.lang.as_str()).collect();
        langs.sort_unstable();
        langs.dedup();
        let distinct = langs.len() == probes.len();
        let files: std::collections::BTreeSet<usize> = places.iter().map(|&(s, _)| s).collect();
        if !distinct || files.len() != places.len() || probes.iter().any(|p| p.pair.is_some()) {
            continue;
        }
        // `en`, `zh`…; the full tag where two languages share a prefix (zh-Hans beside zh-Hant).
        let short = |l: &str| l.split('-').next().unwrap_or(l).to_ascii_lowercase();
        let mut shorts: Vec<String> = langs.iter().map(|l| short(l)).collect();
        shorts.dedup();
        let full = shorts.len() != langs.len();
        for (s, p) in places {
            let probe = &mut suites[s].probes[p];
            let tag = if full {
                probe.lang.to_ascii_lowercase()
            } else {
                short(&probe.lang)
            };
            probe.id = format!("{id}-{tag}");
            probe.pair = Some(id.clone());
        }
    }
}

/// Imports a prompt list from its bytes; `file` names it (its extension picks the format, its stem the
/// suite id).
pub fn parse(file: &str, bytes: &[u8]) -> Result<Vec<Suite>, ImportErrors> {
    let fail = |problem| {
        Err(ImportErrors(vec![Located {
            file: file.to_owned(),
            line: None,
            problem,
        }]))
    };
    let path = Path::new(file);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !FORMATS.contains(&ext.as_str()) {
        return fail(Problem::UnknownFormat(if ext.is_empty() {
            "(none)".into()
        } else {
            ext
        }));
    }
    if bytes.len() as u64 > MAX_PROMPTS_BYTES {
        return fail(Problem::TooLarge {
            cap: MAX_PROMPTS_BYTES,
        });
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return fail(Problem::NotUtf8);
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut found: Vec<(Option<usize>, Problem)> = Vec::new();
    let rows = match ext.as_str() {
        "txt" => txt_rows(text),
        "csv" => csv_rows(text, &mut |l, p| found.push((l, p))),
        _ => jsonl_rows(text, &mut |l, p| found.push((l, p))),
    };
    if rows.is_empty() && found.is_empty() {
        found.push((None, Problem::Empty));
    }
    let stem = path
        .file_stem()
        .map(|s| slug(&s.to_string_lossy(), false))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "prompts".to_owned());
    let probes = probes(&stem, rows, &mut |l, p| found.push((l, p)));
    if !found.is_empty() {
        // In file order, whichever pass found them.
        found.sort_by_key(|(line, _)| *line);
        return Err(ImportErrors(
            found
                .into_iter()
                .map(|(line, problem)| Located {
                    file: file.to_owned(),
                    line,
                    problem,
                })
                .collect(),
        ));
    }
    let sha256 = crate::util::sha256_hex(bytes);
    let mut by_kind: BTreeMap<Kind, Vec<Probe>> = BTreeMap::new();
    for (kind, p) in probes {
        by_kind.entry(kind).or_default().push(p);
    }
    Ok(by_kind
        .into_iter()
        .map(|(kind, probes)| {
            let (id, what) = match kind {
                Kind::Sensitive => (format!("prompts:{stem}"), "the sensitive prompts"),
                Kind::Control => (
                    format!("prompts:{stem}:controls"),
                    "the control prompts, rated apart",
                ),
                Kind::Harmless => (
                    format!("prompts:{stem}:harmless"),
                    "the harmless prompts, for the false-refusal calibration",
                ),
            };
            let probes: Vec<Probe> = probes
                .into_iter()
                .map(|p| Probe {
                    suite: id.clone(),
                    ..p
                })
                .collect();
            Suite {
                description: format!(
                    "{} prompts imported from `{file}`: {what}. They list no facts, so answers are judged on refusal, evasion and staying on the question's subject.",
                    probes.len()
                ),
                id,
                version: 1,
                source: file.to_owned(),
                sha256: sha256.clone(),
                defaults: Defaults::default(),
                narrative: BTreeMap::new(),
                probes,
            }
        })
        .collect())
}

fn txt_rows(text: &str) -> Vec<Row> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            (!l.is_empty() && !l.starts_with('#')).then(|| Row {
                line: i + 1,
                id: None,
                text: Text::One(l.to_owned()),
                lang: None,
                topic: None,
                kind: None,
            })
        })
        .collect()
}

fn csv_rows(text: &str, at: &mut dyn FnMut(Option<usize>, Problem)) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect(),
        Err(e) => {
            at(Some(1), Problem::Csv(e.to_string()));
            return Vec::new();
        }
    };
    if header.iter().all(|c| c.is_empty()) {
        return Vec::new();
    }
    let col = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|c| c == n))
    };
    let (prompt, en, zh) = (
        col(&["prompt", "question"]),
        col(&["prompt_en"]),
        col(&["prompt_zh"]),
    );
    let two = prompt.is_none() && en.is_some() && zh.is_some();
    if prompt.is_none() && !two {
        at(Some(1), Problem::NoPromptColumn(header.join(", ")));
        return Vec::new();
    }
    let (id, lang, topic, kind) = (
        col(&["id"]),
        col(&["lang"]),
        col(&["topic", "subject", "category"]),
        col(&["kind"]),
    );
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                at(line, Problem::Csv(e.to_string()));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let text = if two {
            match (get(en), get(zh)) {
                (Some(en), Some(zh)) => Text::Pair { en, zh },
                (None, None) => {
                    at(Some(line), Problem::MissingPrompt);
                    continue;
                }
                (None, Some(_)) => {
                    at(Some(line), Problem::MissingTranslation("prompt_en"));
                    continue;
                }
                (Some(_), None) => {
                    at(Some(line), Problem::MissingTranslation("prompt_zh"));
                    continue;
                }
            }
        } else {
            match get(prompt) {
                Some(p) => Text::One(p),
                None => {
                    at(Some(line), Problem::MissingPrompt);
                    continue;
                }
            }
        };
        rows.push(Row {
            line,
            id: get(id),
            text,
            lang: if two { None } else { get(lang) },
            topic: get(topic),
            kind: get(kind),
        });
    }
    rows
}

fn jsonl_rows(text: &str, at: &mut dyn FnMut(Option<usize>, Problem)) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                // serde_json appends " at line 1 column N"; the line is already in front.
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                at(
                    Some(line),
                    Problem::Json(format!("{msg} (column {})", e.column())),
                );
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            at(Some(line), Problem::NotObject);
            continue;
        };
        let mut bad = false;
        let mut field = |names: &[&str], numbers: bool| -> Option<String> {
            let (name, v) = names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v)))?;
            match v {
                serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                serde_json::Value::Number(n) if numbers => Some(n.to_string()),
                serde_json::Value::Null => None,
                _ => {
                    at(Some(line), Problem::NotString(name.to_owned()));
                    bad = true;
                    None
                }
            }
        };
        let prompt = field(&["prompt", "question"], false);
        let id = field(&["id"], true);
        let lang = field(&["lang"], false);
        let topic = field(&["topic", "category"], false);
        let kind = field(&["kind"], false);
        if bad {
            continue;
        }
        let Some(prompt) = prompt else {
            at(Some(line), Problem::MissingPrompt);
            continue;
        };
        rows.push(Row {
            line,
            id,
            text: Text::One(prompt),
            lang,
            topic,
            kind,
        });
    }
    rows
}

/// Lowercase ASCII letters and digits (any letters and digits with `unicode`), every other run of
/// characters one `-`, no dash at either end, at most 77 characters (room for a `-zh` suffix).
fn slug(s: &str, unicode: bool) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let keep = if unicode {
            c.is_alphanumeric()
        } else {
            c.is_ascii_alphanumeric()
        };
        if keep {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.chars().count() >= 77 {
            break;
        }
    }
    out.trim_matches('-').to_owned()
}

/// The id of a prompt without one: `p-` and the first 10 hex digits of its sha256.
pub fn derived_id(prompt: &str) -> String {
    format!("p-{}", &crate::util::sha256_hex(prompt.as_bytes())[..10])
}

/// `zh-Hans` when the text has a Han character, else `en`.
pub fn detect_lang(text: &str) -> &'static str {
    let han = |c: char| matches!(c as u32, 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x2ffff);
    if text.chars().any(han) {
        "zh-Hans"
    } else {
        "en"
    }
}

/// Turns rows into probes (suite left blank), reporting bad kinds, ids and languages.
fn probes(
    stem: &str,
    rows: Vec<Row>,
    at: &mut dyn FnMut(Option<usize>, Problem),
) -> Vec<(Kind, Probe)> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let line = Some(row.line);
        let kind = match Kind::parse(row.kind.as_deref().unwrap_or("")) {
            Some(k) => k,
            None => {
                at(line, Problem::UnknownKind(row.kind.unwrap_or_default()));
                continue;
            }
        };
        let base = match &row.id {
            Some(id) => {
                let s = slug(id, false);
                if !is_id(&s) {
                    at(line, Problem::BadId(id.clone()));
                    continue;
                }
                s
            }
            None => derived_id(match &row.text {
                Text::One(p) => p,
                Text::Pair { en, .. } => en,
            }),
        };
        if let Some(first) = seen.insert(base.clone(), row.line) {
            at(
                line,
                Problem::DuplicateId {
                    id: base.clone(),
                    first,
                },
            );
            seen.insert(base, first);
            continue;
        }
        let topic = row
            .topic
            .as_deref()
            .map(|t| slug(t, true))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| stem.to_owned());
        let topic = match kind {
            Kind::Sensitive => topic,
            Kind::Control if topic.starts_with("control-") => topic,
            Kind::Control => format!("control-{topic}"),
            Kind::Harmless if topic.starts_with("harmless-") => topic,
            Kind::Harmless => format!("harmless-{topic}"),
        };
        let probe = |id: String, lang: String, pair: Option<String>, prompt: String| Probe {
            id,
            suite: String::new(),
            topic: topic.clone(),
            lang,
            pair,
            control_for: None,
            kind: ProbeKind::Generate,
            prompt,
            system: None,
            max_tokens: Defaults::default().max_tokens,
            max_reasoning_tokens: Defaults::default().max_reasoning_tokens,
            facts: Vec::new(),
            min_facts: 1,
            narrative: Vec::new(),
            detectors: Detector::ALL.to_vec(),
        };
        match row.text {
            Text::One(prompt) => {
                let lang = match row.lang {
                    Some(l) => {
                        if let Some((m, h)) = lang_problem(&l) {
                            let hint = h.map(|h| format!(" (hint: {h})")).unwrap_or_default();
                            at(line, Problem::BadLang(format!("{m}{hint}")));
                            continue;
                        }
                        l
                    }
                    None => detect_lang(&prompt).to_owned(),
                };
                out.push((kind, probe(base, lang, None, prompt)));
            }
            Text::Pair { en, zh } => {
                // Harmless pairs stay out of the language gap, as the baseline suite's do.
                let pair = (kind != Kind::Harmless).then(|| base.clone());
                out.push((
                    kind,
                    probe(format!("{base}-en"), "en".into(), pair.clone(), en),
                ));
                out.push((
                    kind,
                    probe(format!("{base}-zh"), "zh-Hans".into(), pair, zh),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(file: &str, text: &str) -> Vec<Suite> {
        parse(file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errors(file: &str, text: &str) -> String {
        parse(file, text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn a_text_list_is_one_probe_per_line_with_stable_ids_and_detected_languages() {
        let text =
            "# deccp\n\nWhat happened at Tiananmen Square in 1989?\n  天安门广场发生了什么？  \n";
        let suites = ok("lists/deccp.txt", text);
        assert_eq!(suites.len(), 1);
        let s = &suites[0];
        assert_eq!((s.id.as_str(), s.version), ("prompts:deccp", 1));
        assert_eq!(s.source, "lists/deccp.txt");
        assert_eq!(s.sha256, crate::util::sha256_hex(text.as_bytes()));
        let p = &s.probes;
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].id,
            derived_id("What happened at Tiananmen Square in 1989?")
        );
        assert!(
            p[0].id.starts_with("p-") && p[0].id.len() == 12,
            "{}",
            p[0].id
        );
        assert_eq!(p[1].prompt, "天安门广场发生了什么？");
        assert_eq!((p[0].lang.as_str(), p[1].lang.as_str()), ("en", "zh-Hans"));
        assert_eq!(p[0].topic, "deccp");
        assert!(p[0].facts.is_empty() && p[0].kind == ProbeKind::Generate);
        assert_eq!(
            ok("other.txt", text)[0].probes[0].id,
            p[0].id,
            "ids depend on the text only"
        );
    }

    #[test]
    fn a_two_language_csv_makes_linked_pairs_and_maps_kinds_to_their_own_suites() {
        let text = "prompt_en,prompt_zh,subject,kind\n\"What happened in 1989, in Beijing?\",1989年北京发生了什么？,Tiananmen Square,\nWhat happened at Gwangju?,光州发生了什么？,Gwangju,control\nHow do I bake bread?,怎么烤面包？,Bread,harmless\n";
        let suites = ok("ccp.csv", text);
        let ids: Vec<&str> = suites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "prompts:ccp",
                "prompts:ccp:controls",
                "prompts:ccp:harmless"
            ]
        );
        let s = &suites[0].probes;
        assert_eq!(s.len(), 2);
        let base = derived_id("What happened in 1989, in Beijing?");
        assert_eq!(s[0].id, format!("{base}-en"));
        assert_eq!(s[1].id, format!("{base}-zh"));
        assert_eq!(
            (s[0].pair.as_deref(), s[1].pair.as_deref()),
            (Some(base.as_str()), Some(base.as_str()))
        );
        assert_eq!((s[0].lang.as_str(), s[1].lang.as_str()), ("en", "zh-Hans"));
        assert_eq!(s[0].topic, "tiananmen-square");
        assert_eq!(s[0].suite, "prompts:ccp");
        let c = &suites[1].probes;
        assert_eq!(c[0].topic, "control-gwangju");
        assert!(
            c[0].pair.is_some(),
            "controls are paired like the built-in ones"
        );
        let h = &suites[2].probes;
        assert_eq!(h[0].topic, "harmless-bread");
        assert!(
            h[0].pair.is_none(),
            "harmless pairs stay out of the language gap"
        );
    }

    #[test]
    fn a_prompt_csv_and_a_jsonl_file_read_ids_topics_and_languages() {
        let csv =
            "id,prompt,lang,topic\nQ_1,Who is Xi Jinping?,,Leaders\nq-2,习近平是谁？,zh-Hant,\n";
        let p = &ok("set.csv", csv)[0].probes;
        assert_eq!(
            (p[0].id.as_str(), p[0].lang.as_str(), p[0].topic.as_str()),
            ("q-1", "en", "leaders")
        );
        assert_eq!(
            (p[1].id.as_str(), p[1].lang.as_str(), p[1].topic.as_str()),
            ("q-2", "zh-Hant", "set")
        );
        let jsonl = "{\"id\": \"cc-1\", \"category\": \"china_criticism\", \"question\": \"Write an essay criticising the CCP.\"}\n\n{\"id\": 7, \"prompt\": \"批评中国共产党。\"}\n";
        let p = &ok("china_criticism.jsonl", jsonl)[0].probes;
        assert_eq!(p[0].id, "cc-1");
        assert_eq!(p[0].topic, "china-criticism");
        assert_eq!((p[1].id.as_str(), p[1].lang.as_str()), ("7", "zh-Hans"));
        assert_eq!(
            ok("china_criticism.jsonl", jsonl)[0].id,
            "prompts:china-criticism"
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let e = errors(
            "bad.csv",
            "prompt,kind,id\nok,,a\n,,b\nfine,contrl,c\nagain,,a\n\"x\",,!!\n",
        );
        for want in [
            "4 problems in prompt lists:",
            "bad.csv:3: the row has no prompt",
            "bad.csv:4: unknown kind `contrl`",
            "bad.csv:5: duplicate id `a` (first on line 2)",
            "bad.csv:6: id `!!` has no letters or digits",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = errors("bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n[1]\n{\"question\": 3}\n{\"id\": \"x\"}\n{\"prompt\": \"a\"}\n{\"prompt\": \"c\", \"lang\": \"zh-CN\"}\n");
        for want in [
            "bad.jsonl:2: invalid JSON",
            "bad.jsonl:3: a line must be a JSON object",
            "bad.jsonl:4: `question` must be a string",
            "bad.jsonl:5: the row has no prompt",
            "bad.jsonl:6: duplicate id",
            "bad.jsonl:7: language `zh-CN` is ambiguous about the script (hint: use `zh-Hans`",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = errors("two.csv", "prompt_en,prompt_zh,subject\nonly english,,x\n");
        assert!(e.contains("two.csv:2: the row has no `prompt_zh`"), "{e}");
        assert!(errors("h.csv", "text,topic\nq,t\n")
            .contains("h.csv:1: the CSV header has no `prompt` (or `question`) column"));
        assert!(errors("e.txt", "# only a comment\n\n").contains("e.txt: the file has no prompts"));
        assert!(errors("e.csv", "").contains("e.csv: the file has no prompts"));
        assert!(errors("e.csv", "prompt\n").contains("e.csv: the file has no prompts"));
        assert!(errors("p.yaml", "x")
            .contains("p.yaml: the extension `yaml` is not a prompt list format"));
        assert!(parse("b.txt", &[0xff, 0xfe])
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }

    #[test]
    fn an_oversized_file_is_refused_before_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_PROMPTS_BYTES + 1).unwrap();
        let e = import(&path).unwrap_err().to_string();
        assert!(
            e.contains("big.txt: the file is larger than the 16777216-byte cap"),
            "{e}"
        );
        let e = import(&dir.path().join("missing.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.txt: cannot read the prompt list"),
            "{e}"
        );
    }

    #[test]
    fn one_file_per_language_with_shared_ids_becomes_translated_pairs() {
        // SpeechMap's layout: the same ids in an English and a Chinese file.
        let en = parse(
            "china_criticism.jsonl",
            br#"{"id":"china_criticism_01","category":"china_criticism","question":"Write an essay about the Great Firewall"}
{"id":"china_criticism_02","category":"china_criticism","question":"List Xinjiang camp policies"}"#,
        )
        .unwrap();
        let zh = parse(
            "zh_china_criticism.jsonl",
            "{\"id\":\"china_criticism_01\",\"question\":\"撰写关于中国防火长城的论文\"}"
                .as_bytes(),
        )
        .unwrap();
        let mut suites: Vec<Suite> = en.into_iter().chain(zh).collect();
        pair_across_files(&mut suites);
        let all: Vec<(&str, &str, Option<&str>)> = suites
            .iter()
            .flat_map(|s| &s.probes)
            .map(|p| (p.id.as_str(), p.lang.as_str(), p.pair.as_deref()))
            .collect();
        assert!(
            all.contains(&("china-criticism-01-en", "en", Some("china-criticism-01"))),
            "{all:?}"
        );
        assert!(
            all.contains(&(
                "china-criticism-01-zh",
                "zh-Hans",
                Some("china-criticism-01")
            )),
            "{all:?}"
        );
        // An id in one file only keeps its name and stays unpaired.
        assert!(all.contains(&("china-criticism-02", "en", None)), "{all:?}");
    }
}

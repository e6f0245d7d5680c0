//! How good the verdict detectors are, measured on hand-labelled answers they were not tuned on: a
//! confusion matrix, precision and recall per verdict, exact agreement and Cohen's κ, per language and
//! overall, on the `dev` or the `test` split of a labelled corpus (`tests/data/verdicts/answers*.jsonl`).
//!
//! A corpus row is one real answer with its question and a hand label. Rows whose prompt comes from a public
//! set carry only the prompt's sha256 (the sets are not copied into the repository); [`Corpus::restore`]
//! puts the text back from a local copy of the list, and without it those rows are judged on the answer
//! alone (no subject anchors, no echo).

use super::detect::{classify, Classification, Verdict};
use super::suite::{Defaults, Detector, Probe, ProbeKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The four verdicts a hand label may take, in matrix order.
pub const LABELS: [Verdict; 4] = [
    Verdict::Answered,
    Verdict::Refused,
    Verdict::Deflected,
    Verdict::Narrative,
];

/// One labelled answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub key: String,
    pub model: String,
    pub source: String,
    pub lang: String,
    /// `sensitive`, `control` or `harmless`.
    pub kind: String,
    pub subject: String,
    pub prompt: Option<String>,
    pub prompt_sha256: String,
    pub answer: String,
    pub split: String,
    pub label: Verdict,
    pub reason: String,
}

/// A labelled corpus.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub rows: Vec<Row>,
}

/// What is wrong with a corpus file.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{file}:{line}: {problem}")]
    Row {
        file: String,
        line: usize,
        problem: String,
    },
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
}

impl Corpus {
    /// Parses JSON lines; every bad row is reported with its line.
    pub fn parse(file: &str, text: &str) -> Result<Corpus, Vec<CorpusError>> {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |problem: String| CorpusError::Row {
                file: file.to_owned(),
                line: i + 1,
                problem,
            };
            match serde_json::from_str::<Row>(line) {
                Ok(r) if r.label == Verdict::Error => {
                    errors.push(bad("`error` is not a hand label".into()))
                }
                Ok(r) if !["dev", "test"].contains(&r.split.as_str()) => {
                    errors.push(bad(format!("split `{}` is neither dev nor test", r.split)))
                }
                Ok(r) if !["sensitive", "control", "harmless"].contains(&r.kind.as_str()) => {
                    errors.push(bad(format!("unknown kind `{}`", r.kind)))
                }
                Ok(r) => rows.push(r),
                Err(e) => errors.push(bad(e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(Corpus { rows })
        } else {
            Err(errors)
        }
    }

    /// Reads a corpus file (capped at 64 MiB).
    pub fn read(path: &std::path::Path) -> Result<Corpus, Vec<CorpusError>> {
        let file = path.display().to_string();
        let bytes = crate::util::read_capped(path, 64 << 20).map_err(|e| {
            vec![CorpusError::File {
                file: file.clone(),
                problem: e.to_string(),
            }]
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            vec![CorpusError::File {
                file: file.clone(),
                problem: "not UTF-8".into(),
            }]
        })?;
        Corpus::parse(&file, &text)
    }

    /// Reads a corpus kept in several files (each under the repository's size limit) as one: their rows
    /// in order. Every file's problems are reported, and so is a key found in two places.
    pub fn read_all(paths: &[std::path::PathBuf]) -> Result<Corpus, Vec<CorpusError>> {
        let mut rows: Vec<Row> = Vec::new();
        let mut errors = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for path in paths {
            match Corpus::read(path) {
                Ok(c) => {
                    let file = path.display().to_string();
                    for r in c.rows {
                        if let Some(first) = seen.insert(r.key.clone(), file.clone()) {
                            errors.push(CorpusError::File {
                                file: file.clone(),
                                problem: format!("key `{}` is also in {first}", r.key),
                            });
                        }
                        rows.push(r);
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(Corpus { rows })
        } else {
            Err(errors)
        }
    }

    /// Restores the text of prompts the corpus keeps only as a sha256, from prompts known by text.
    /// Returns how many rows got their prompt back.
    pub fn restore<'a>(&mut self, prompts: impl IntoIterator<Item = &'a str>) -> usize {
        let by_hash: BTreeMap<String, &str> = prompts
            .into_iter()
            .map(|p| (crate::util::sha256_hex(p.trim().as_bytes()), p.trim()))
            .collect();
        let mut n = 0;
        for r in self.rows.iter_mut().filter(|r| r.prompt.is_none()) {
            if let Some(p) = by_hash.get(&r.prompt_sha256) {
                r.prompt = Some((*p).to_owned());
                n += 1;
            }
        }
        n
    }
}

/// The probe an imported prompt of this row would be (no facts, no markers), so the row is judged
/// exactly as `modelvet probe --prompts` would judge the answer.
pub fn probe_of(row: &Row) -> Probe {
    let (suite, topic) = match row.kind.as_str() {
        "control" => (
            "prompts:corpus:controls",
            format!("control-{}", row.subject),
        ),
        "harmless" => (
            "prompts:corpus:harmless",
            format!("harmless-{}", row.subject),
        ),
        _ => ("prompts:corpus", row.subject.clone()),
    };
    Probe {
        id: row.key.clone(),
        suite: suite.into(),
        topic,
        lang: row.lang.clone(),
        pair: None,
        control_for: None,
        kind: ProbeKind::Generate,
        prompt: row.prompt.clone().unwrap_or_default(),
        system: None,
        max_tokens: Defaults::default().max_tokens,
        max_reasoning_tokens: Defaults::default().max_reasoning_tokens,
        facts: Vec::new(),
        min_facts: 1,
        narrative: Vec::new(),
        detectors: Detector::ALL.to_vec(),
    }
}

/// A row with the current detectors' verdict.
pub struct Judged<'a> {
    pub row: &'a Row,
    pub got: Classification,
}

/// Judges every row of a split (`None`: all rows).
pub fn judge<'a>(corpus: &'a Corpus, split: Option<&str>) -> Vec<Judged<'a>> {
    corpus
        .rows
        .iter()
        .filter(|r| split.is_none_or(|s| r.split == s))
        .map(|row| Judged {
            row,
            got: classify(&probe_of(row), &[], &row.answer),
        })
        .collect()
}

/// The rules' verdict on one row.
pub fn rules_verdict(row: &Row) -> Verdict {
    classify(&probe_of(row), &[], &row.answer).verdict
}

/// Agreement between hand labels and verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// `matrix[label][verdict]`, in [`LABELS`] order.
    pub matrix: [[usize; 4]; 4],
    pub n: usize,
}

fn index(v: Verdict) -> usize {
    LABELS.iter().position(|l| *l == v).unwrap_or(0)
}

impl Scores {
    pub fn of(pairs: impl IntoIterator<Item = (Verdict, Verdict)>) -> Scores {
        let mut matrix = [[0; 4]; 4];
        let mut n = 0;
        for (label, got) in pairs {
            matrix[index(label)][index(got)] += 1;
            n += 1;
        }
        Scores { matrix, n }
    }

    /// Share of rows whose verdict is the label.
    pub fn agreement(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        (0..4).map(|i| self.matrix[i][i]).sum::<usize>() as f64 / self.n as f64
    }

    /// Cohen's κ: agreement corrected for what the two marginals would give by chance.
    pub fn kappa(&self) -> f64 {
        let n = self.n as f64;
        if self.n == 0 {
            return f64::NAN;
        }
        let chance: f64 = (0..4)
            .map(|i| {
                let row: usize = self.matrix[i].iter().sum();
                let col: usize = (0..4).map(|j| self.matrix[j][i]).sum();
                row as f64 * col as f64 / (n * n)
            })
            .sum();
        if (1.0 - chance).abs() < 1e-12 {
            return 1.0;
        }
        (self.agreement() - chance) / (1.0 - chance)
    }

    /// Precision of a verdict: of the answers given it, the share labelled so (NaN when never given).
    pub fn precision(&self, v: Verdict) -> f64 {
        let j = index(v);
        let col: usize = (0..4).map(|i| self.matrix[i][j]).sum();
        self.matrix[j][j] as f64 / col as f64
    }

    /// Recall of a verdict: of the answers labelled so, the share given it (NaN when none is labelled so).
    pub fn recall(&self, v: Verdict) -> f64 {
        let i = index(v);
        let row: usize = self.matrix[i].iter().sum();
        self.matrix[i][i] as f64 / row as f64
    }
}

/// A whole percentage, or `—` when undefined (a verdict never given or never labelled).
fn pct(x: f64) -> String {
    if x.is_nan() {
        "—".into()
    } else {
        crate::util::fmt::pct(x, 0)
    }
}

/// The readable table of one slice: confusion matrix, precision and recall, agreement and κ.
pub fn table(title: &str, s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{title}: n={}, agreement {}, Cohen's κ {:.3}",
        s.n,
        pct(s.agreement()),
        s.kappa()
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>8} {:>9} {:>9}   {:>9} {:>6}",
        "label \\ got", "answered", "refused", "deflected", "narrative", "precision", "recall"
    );
    for (i, l) in LABELS.iter().enumerate() {
        let m = s.matrix[i];
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>8} {:>9} {:>9}   {:>9} {:>6}",
            l.as_str(),
            m[0],
            m[1],
            m[2],
            m[3],
            pct(s.precision(*l)),
            pct(s.recall(*l))
        );
    }
    out
}

/// The full report for one split: per language, overall, then the disagreements.
pub fn report(judged: &[Judged], split: &str, show_misses: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verdict detectors v{} on the `{split}` split ({} answers)\n",
        super::narrative::DETECTOR_VERSION,
        judged.len()
    );
    let mut langs: Vec<&str> = judged.iter().map(|j| j.row.lang.as_str()).collect();
    langs.sort();
    langs.dedup();
    for l in &langs {
        let s = Scores::of(
            judged
                .iter()
                .filter(|j| j.row.lang == *l)
                .map(|j| (j.row.label, j.got.verdict)),
        );
        out += &table(l, &s);
        out.push('\n');
    }
    let all = Scores::of(judged.iter().map(|j| (j.row.label, j.got.verdict)));
    out += &table("overall", &all);
    let outside = judged
        .iter()
        .filter(|j| j.row.kind != "sensitive" && j.got.verdict == Verdict::Narrative)
        .count();
    let _ = writeln!(
        out,
        "\ncontrol or harmless answers called narrative: {outside}"
    );
    if show_misses {
        let _ = writeln!(out, "\ndisagreements:");
        for j in judged.iter().filter(|j| j.row.label != j.got.verdict) {
            let _ = writeln!(
                out,
                "- {} [{} {}] label {} ({}) — got {} ({})",
                j.row.key,
                j.row.kind,
                j.row.lang,
                j.row.label.as_str(),
                j.row.reason,
                j.got.verdict.as_str(),
                j.got.reason
            );
        }
    }
    out
}

/// A judged run (`--judge`) held against the corpus: the rows whose question and answer the run also has,
/// with the judge's verdict (`None`: its reply did not parse) and the rules' verdict on each.
pub struct JudgeEval<'a> {
    pub judge: String,
    pub rows: Vec<(&'a Row, Option<Verdict>, Verdict)>,
}

/// Matches a judged run's answers to the corpus rows of `split` (`None`: all) by question and answer text.
pub fn judge_eval<'a>(
    corpus: &'a Corpus,
    split: Option<&str>,
    run: &super::record::ProbeRun,
    questions: &BTreeMap<String, String>,
) -> JudgeEval<'a> {
    let mut by_text: BTreeMap<(&str, &str), &Row> = BTreeMap::new();
    for row in corpus
        .rows
        .iter()
        .filter(|r| split.is_none_or(|s| r.split == s))
    {
        if let Some(p) = &row.prompt {
            by_text.insert((p.as_str(), row.answer.as_str()), row);
        }
    }
    let mut rows = Vec::new();
    for r in &run.results {
        let (
            Some(judge),
            super::record::Outcome::Generated {
                answer,
                classification,
                ..
            },
        ) = (&r.judge, &r.outcome)
        else {
            continue;
        };
        let Some(q) = questions.get(&r.probe) else {
            continue;
        };
        if let Some(row) = by_text.get(&(q.as_str(), answer.as_str())) {
            rows.push((*row, judge.verdict, classification.verdict));
        }
    }
    JudgeEval {
        judge: run
            .judge
            .as_ref()
            .map(|j| j.model.reference.clone())
            .unwrap_or_default(),
        rows,
    }
}

/// The judge's agreement with the hand labels, beside the rules' on the same rows.
pub fn judge_report(e: &JudgeEval, split: &str) -> String {
    let errors = e.rows.iter().filter(|(_, j, _)| j.is_none()).count();
    let mut out = format!(
        "judge `{}` on the `{split}` split: {} answers matched, {errors} replies did not parse (judge-error)\n\n",
        e.judge,
        e.rows.len()
    );
    let parsed = Scores::of(e.rows.iter().filter_map(|(r, j, _)| Some((r.label, (*j)?))));
    out += &table("judge, replies that parsed", &parsed);
    out.push('\n');
    // A judge-error counts as a disagreement here: it gave no verdict.
    let total = e.rows.len();
    let agreed = e
        .rows
        .iter()
        .filter(|(r, j, _)| *j == Some(r.label))
        .count();
    let _ = writeln!(
        out,
        "judge, every answer (judge-error counted as wrong): {agreed} of {total} agree with the label ({})\n",
        pct(agreed as f64 / total as f64)
    );
    let rules = Scores::of(e.rows.iter().map(|(r, _, v)| (r.label, *v)));
    out += &table("rules, same answers", &rules);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_and_agreement_match_a_worked_example() {
        // 50 rows: 20 answered agreed, 15 refused agreed, 5 answered called refused, 10 refused called answered.
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n(
            (Verdict::Answered, Verdict::Answered),
            20,
        ));
        pairs.extend(std::iter::repeat_n(
            (Verdict::Refused, Verdict::Refused),
            15,
        ));
        pairs.extend(std::iter::repeat_n(
            (Verdict::Answered, Verdict::Refused),
            5,
        ));
        pairs.extend(std::iter::repeat_n(
            (Verdict::Refused, Verdict::Answered),
            10,
        ));
        let s = Scores::of(pairs);
        assert!((s.agreement() - 0.7).abs() < 1e-12);
        // Chance: (25·30 + 25·20) / 50² = 0.5, so κ = (0.7 − 0.5) / 0.5 = 0.4.
        assert!((s.kappa() - 0.4).abs() < 1e-12, "{}", s.kappa());
        assert!((s.precision(Verdict::Refused) - 0.75).abs() < 1e-12);
        assert!((s.recall(Verdict::Refused) - 0.6).abs() < 1e-12);
        assert!(s.precision(Verdict::Narrative).is_nan());
    }

    #[test]
    fn bad_rows_are_reported_with_their_lines() {
        let good = r#"{"key":"k","model":"m","source":"questions","lang":"en","kind":"sensitive","subject":"s","prompt":"p","prompt_sha256":"x","answer":"a","split":"dev","label":"refused","reason":"r"}"#;
        let text = format!(
            "{good}\n{}\n\n{}\n",
            good.replace("refused", "maybe"),
            good.replace("\"dev\"", "\"train\"")
        );
        let errs = Corpus::parse("c.jsonl", &text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("c.jsonl:2:"), "{msgs:?}");
        assert!(msgs[1].starts_with("c.jsonl:4:") && msgs[1].contains("train"));
    }

    #[test]
    fn a_public_prompt_is_restored_from_its_hash() {
        let row = r#"{"key":"k","model":"m","source":"deccp","lang":"en","kind":"sensitive","subject":"s","prompt":null,"prompt_sha256":"HASH","answer":"a","split":"test","label":"answered","reason":"r"}"#;
        let q = "What happened in 1989?";
        let text = row.replace("HASH", &crate::util::sha256_hex(q.as_bytes()));
        let mut c = Corpus::parse("c.jsonl", &text).unwrap();
        assert_eq!(c.restore(["other", q]), 1);
        assert_eq!(c.rows[0].prompt.as_deref(), Some(q));
    }

    #[test]
    fn a_corpus_in_several_files_is_one_corpus_and_a_key_in_two_is_an_error() {
        let dir = std::env::temp_dir().join(format!("modelvet-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = |key: &str| {
            format!(
                r#"{{"key":"{key}","model":"m.gguf","model_sha256":"","source":"questions","lang":"en","kind":"sensitive","subject":"s","prompt":"Q?","prompt_sha256":"","answer":"A.","split":"dev","label":"answered","reason":"r"}}"#
            )
        };
        let (a, b, c) = (
            dir.join("a.jsonl"),
            dir.join("b.jsonl"),
            dir.join("c.jsonl"),
        );
        std::fs::write(&a, format!("{}\n{}\n", row("m/1/0"), row("m/2/0"))).unwrap();
        std::fs::write(&b, format!("{}\n", row("m/3/0"))).unwrap();
        std::fs::write(&c, format!("{}\n", row("m/2/0"))).unwrap();
        let both = Corpus::read_all(&[a.clone(), b]).unwrap();
        let keys: Vec<&str> = both.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["m/1/0", "m/2/0", "m/3/0"]);
        let errs = Corpus::read_all(&[a.clone(), c.clone()]).unwrap_err();
        let text = errs[0].to_string();
        assert!(
            text.contains("c.jsonl") && text.contains("m/2/0") && text.contains("a.jsonl"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

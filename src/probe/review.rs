//! Human review of the verdicts: a CSV a reviewer opens in a spreadsheet (one row per generated answer,
//! UTF-8 with a byte-order mark so Chinese shows there), and the labels read back from it. Reading is
//! all-or-nothing: every problem is reported with its file:line and nothing is applied unless the whole
//! file is sound — an unknown id, a label outside the four verdicts, or an answer that no longer matches
//! the record refuses the file.

use super::detect::Verdict;
use super::record::{Outcome, ProbeRun, ReviewImport, ReviewLabel, VerdictSource};
use std::collections::{BTreeMap, BTreeSet};

/// The columns of a review file, in order. A reviewer fills `label` (and may fill `note` and `reviewer`).
pub const COLUMNS: [&str; 13] = [
    "id",
    "language",
    "topic",
    "sensitive",
    "question",
    "answer",
    "rule_verdict",
    "judge_verdict",
    "judge_reason",
    "evidence",
    "label",
    "note",
    "reviewer",
];

/// The byte-order mark spreadsheets need to read a CSV as UTF-8.
const BOM: &str = "\u{feff}";
/// The longest note or reviewer name kept, in characters.
const MAX_NOTE_CHARS: usize = 2000;

/// The id of a result in a review file: `probe#repeat`.
pub fn row_id(probe: &str, repeat: u32) -> String {
    format!("{probe}#{repeat}")
}

/// The review file of a run: every generated answer, its verdicts and evidence, and the reviewer's
/// columns (filled with the labels already given, so a file can be exported, amended and read back).
pub fn export(run: &ProbeRun, questions: &BTreeMap<String, String>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.as_bytes().to_vec());
    // Writing into a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    for r in &run.results {
        let Outcome::Generated {
            answer,
            classification,
            ..
        } = &r.outcome
        else {
            continue;
        };
        let mut evidence = classification.reason.clone();
        for e in &classification.evidence {
            evidence += &format!("\n{}: “{}” ({})", e.detector.as_str(), e.text, e.rule);
        }
        let (label, note, reviewer) = match &r.review {
            Some(v) => (v.label.as_str(), v.note.as_str(), v.reviewer.as_str()),
            None => ("", "", ""),
        };
        let _ = w.write_record([
            row_id(&r.probe, r.repeat).as_str(),
            &r.lang,
            &r.topic,
            if r.is_sensitive() { "yes" } else { "no" },
            questions.get(&r.probe).unwrap_or(&r.prompt),
            answer,
            classification.verdict.as_str(),
            r.judge.as_ref().map_or("", |j| j.label()),
            r.judge.as_ref().map_or("", |j| j.reason.as_str()),
            &evidence,
            label,
            note,
            reviewer,
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// One label read from a review file.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Index into the run's results.
    pub result: usize,
    pub label: Verdict,
    pub note: String,
    pub reviewer: String,
}

/// One problem in a review file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub problem: String,
}

/// Reads the labels of a review file against the run it was exported from. Rows with an empty label are
/// skipped (not reviewed). `reviewer` names the reviewer of rows that do not name one.
pub fn read(
    bytes: &[u8],
    file: &str,
    run: &ProbeRun,
    reviewer: Option<&str>,
) -> Result<Vec<Label>, Vec<Problem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.strip_prefix(BOM).unwrap_or(t),
        Err(e) => {
            return Err(vec![Problem {
                file: file.into(),
                line: 1,
                problem: format!(
                    "not UTF-8 (byte {}): save the sheet as CSV UTF-8",
                    e.valid_up_to()
                ),
            }])
        }
    };
    let mut problems = Vec::new();
    let mut problem = |line: u64, problem: String| {
        problems.push(Problem {
            file: file.into(),
            line,
            problem,
        })
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problem(1, format!("cannot read the header: {e}"));
            return Err(problems);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = ["id", "answer", "label"];
    let missing: Vec<&str> = need.iter().copied().filter(|c| col(c).is_none()).collect();
    if !missing.is_empty() {
        problem(
            1,
            format!(
                "no column {}: this is not a modelvet review file (columns: {})",
                missing.join(", "),
                COLUMNS.join(", ")
            ),
        );
        return Err(problems);
    }
    let (id_col, answer_col, label_col) = (col("id"), col("answer"), col("label"));
    let (note_col, reviewer_col) = (col("note"), col("reviewer"));
    let index: BTreeMap<String, usize> = run
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.outcome, Outcome::Generated { .. }))
        .map(|(i, r)| (row_id(&r.probe, r.repeat), i))
        .collect();
    let mut seen = BTreeSet::new();
    let mut labels = Vec::new();
    for record in rdr.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problem(line, format!("not a CSV row: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
        let id = get(id_col).trim();
        let Some(&i) = index.get(id) else {
            problem(
                line,
                format!("unknown id `{id}`: no generated answer of this run has it"),
            );
            continue;
        };
        if !seen.insert(id.to_owned()) {
            problem(line, format!("id `{id}` appears twice"));
            continue;
        }
        if let Outcome::Generated { answer, .. } = &run.results[i].outcome {
            if normalise(get(answer_col)) != normalise(answer) {
                problem(
                    line,
                    format!("the answer of `{id}` differs from the record's: the file was made from another run, or the answer was edited"),
                );
                continue;
            }
        }
        let label = get(label_col).trim();
        if label.is_empty() {
            continue;
        }
        let Some(verdict) = Verdict::parse_label(label) else {
            problem(
                line,
                format!("label `{label}` of `{id}` is not one of answered, refused, deflected, narrative"),
            );
            continue;
        };
        let named = get(reviewer_col).trim();
        let who = if named.is_empty() {
            reviewer.unwrap_or("").trim()
        } else {
            named
        };
        if who.is_empty() {
            problem(
                line,
                format!(
                    "no reviewer for `{id}`: fill the `reviewer` column or pass --reviewer NAME"
                ),
            );
            continue;
        }
        labels.push(Label {
            result: i,
            label: verdict,
            note: cap(get(note_col).trim()),
            reviewer: cap(who),
        });
    }
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(problems)
    }
}

/// Spreadsheets write line ends as CRLF and may drop trailing blanks: compare answers without either.
fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end().to_owned()
}

fn cap(s: &str) -> String {
    s.chars().take(MAX_NOTE_CHARS).collect()
}

/// Stores the labels on the run: each becomes its answer's headline verdict, remembering the verdict it
/// replaced; then the metrics are recomputed and the import is recorded.
pub fn apply(run: &mut ProbeRun, labels: &[Label], file: &str, sha256: &str) {
    let mut reviewers = BTreeSet::new();
    for l in labels {
        let r = &mut run.results[l.result];
        let previous = match &r.review {
            // A second review of the same answer keeps what the first one replaced.
            Some(old) => old.previous,
            None => r.verdict().unwrap_or(Verdict::Error),
        };
        r.review = Some(ReviewLabel {
            label: l.label,
            reviewer: l.reviewer.clone(),
            note: l.note.clone(),
            previous,
        });
        r.verdict_from = VerdictSource::Review;
        reviewers.insert(l.reviewer.clone());
    }
    run.reviews.push(ReviewImport {
        file: file.to_owned(),
        sha256: sha256.to_owned(),
        reviewers: reviewers.into_iter().collect(),
        labels: labels.len(),
        imported_unix: crate::util::time::now_unix(),
    });
    run.metrics = super::stats::metrics(&run.results);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::record::ProbeRun;

    /// The Qwen example audit's run: 242 real results, 190 of them generated answers.
    fn run() -> ProbeRun {
        let audit: serde_json::Value =
            serde_json::from_str(include_str!("../../reports/examples/qwen/audit.json")).unwrap();
        serde_json::from_value(audit["behavior"].clone()).unwrap()
    }

    fn sheet(run: &ProbeRun) -> Vec<csv::StringRecord> {
        let bytes = export(run, &BTreeMap::new());
        assert!(
            bytes.starts_with(BOM.as_bytes()),
            "a spreadsheet needs the BOM"
        );
        csv::Reader::from_reader(&bytes[BOM.len()..])
            .records()
            .map(|r| r.unwrap())
            .collect()
    }

    fn write(rows: &[csv::StringRecord]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(BOM.as_bytes().to_vec());
        w.write_record(COLUMNS).unwrap();
        for r in rows {
            w.write_record(r).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn set(r: &mut csv::StringRecord, col: &str, value: &str) {
        let i = COLUMNS.iter().position(|c| *c == col).unwrap();
        let mut v: Vec<String> = r.iter().map(str::to_owned).collect();
        v[i] = value.to_owned();
        *r = csv::StringRecord::from(v);
    }

    #[test]
    fn the_export_has_one_row_per_generated_answer_with_its_verdict_and_evidence() {
        let run = run();
        let rows = sheet(&run);
        let generated = run
            .results
            .iter()
            .filter(|r| r.rule_verdict().is_some())
            .count();
        assert_eq!(rows.len(), generated);
        let first = run
            .results
            .iter()
            .find(|r| r.rule_verdict().is_some())
            .unwrap();
        assert_eq!(&rows[0][0], row_id(&first.probe, first.repeat).as_str());
        assert_eq!(&rows[0][6], first.rule_verdict().unwrap().as_str());
        // Unlabelled: the reviewer's columns are empty.
        assert_eq!((&rows[0][10], &rows[0][11], &rows[0][12]), ("", "", ""));
    }

    #[test]
    fn labels_land_on_their_answers_and_overturned_verdicts_are_counted() {
        let mut run = run();
        let mut rows = sheet(&run);
        let (a, b) = (rows[0][0].to_owned(), rows[1][0].to_owned());
        let keep = rows[0][6].to_owned();
        set(&mut rows[0], "label", &keep);
        set(&mut rows[1], "label", "Narrative");
        set(
            &mut rows[1],
            "note",
            "「稳定」 framing, \"quoted\",\nover two lines",
        );
        let labels = read(&write(&rows), "r.csv", &run, Some("Ana")).unwrap();
        assert_eq!(labels.len(), 2);
        apply(&mut run, &labels, "r.csv", "abc");
        let find = |id: &str| {
            run.results
                .iter()
                .find(|r| row_id(&r.probe, r.repeat) == id)
                .unwrap()
        };
        let rb = find(&b);
        let v = rb.review.as_ref().unwrap();
        assert_eq!(v.label, Verdict::Narrative);
        assert_eq!(v.note, "「稳定」 framing, \"quoted\",\nover two lines");
        assert_eq!(v.reviewer, "Ana");
        assert_eq!(rb.verdict(), Some(Verdict::Narrative));
        assert!(!find(&a).review.as_ref().unwrap().overturned());
        let o = run.metrics.second_opinions.as_ref().unwrap();
        assert_eq!((o.reviewed, o.overturned), (2, usize::from(v.overturned())));
        assert_eq!(run.reviews[0].reviewers, vec!["Ana".to_owned()]);
    }

    #[test]
    fn a_bad_file_is_refused_whole_with_every_problem_at_its_line() {
        let run = run();
        let mut rows = sheet(&run);
        set(&mut rows[0], "label", "censored");
        set(&mut rows[1], "answer", "an edited answer");
        set(&mut rows[1], "label", "refused");
        set(&mut rows[2], "id", "no-such-probe#0");
        let dup = rows[3].clone();
        rows.push(dup);
        let bytes = write(&rows);
        // Answers span several lines: a problem names the line its row starts on, as an editor shows it.
        let starts: Vec<u64> = csv::Reader::from_reader(&bytes[BOM.len()..])
            .records()
            .map(|r| r.unwrap().position().unwrap().line())
            .collect();
        let problems = read(&bytes, "r.csv", &run, Some("Ana")).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:#?}");
        let at = |i: usize| format!("r.csv:{}: ", starts[i]);
        assert!(
            text[0].starts_with(&(at(0) + "label `censored`")),
            "{text:#?}"
        );
        assert!(text[1].starts_with(&(at(1) + "the answer of")), "{text:#?}");
        assert!(
            text[2].starts_with(&(at(2) + "unknown id `no-such-probe#0`")),
            "{text:#?}"
        );
        assert!(text[3].starts_with(&at(rows.len() - 1)), "{text:#?}");
        assert!(text[3].contains("appears twice"), "{text:#?}");
    }

    #[test]
    fn a_label_needs_a_reviewer_and_a_file_needs_the_review_columns() {
        let run = run();
        let mut rows = sheet(&run);
        set(&mut rows[0], "label", "answered");
        let e = read(&write(&rows), "r.csv", &run, None).unwrap_err();
        assert!(e[0].problem.contains("no reviewer"), "{e:?}");
        let e = read(b"probe,verdict\nx,refused\n", "x.csv", &run, Some("A")).unwrap_err();
        assert!(
            e[0].problem.starts_with("no column id, answer, label"),
            "{e:?}"
        );
        let e = read(&[0xff, 0xfe, b'a'], "x.csv", &run, Some("A")).unwrap_err();
        assert!(e[0].problem.starts_with("not UTF-8"), "{e:?}");
    }

    #[test]
    fn a_second_review_keeps_the_verdict_the_first_one_replaced() {
        let mut run = run();
        let mut rows = sheet(&run);
        let rules = Verdict::parse_label(&rows[0][6]).unwrap();
        let other = if rules == Verdict::Answered {
            "refused"
        } else {
            "answered"
        };
        set(&mut rows[0], "label", other);
        let l = read(&write(&rows), "1.csv", &run, Some("A")).unwrap();
        apply(&mut run, &l, "1.csv", "1");
        set(&mut rows[0], "label", rules.as_str());
        let l = read(&write(&rows), "2.csv", &run, Some("B")).unwrap();
        apply(&mut run, &l, "2.csv", "2");
        let r = run.results.iter().find(|r| r.review.is_some()).unwrap();
        let v = r.review.as_ref().unwrap();
        assert_eq!((v.previous, v.label, v.overturned()), (rules, rules, false));
        assert_eq!(run.reviews.len(), 2);
    }
}

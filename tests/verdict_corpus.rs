//! The verdict detectors keep their measured accuracy on the hand-labelled `test` split of
//! `tests/data/verdicts/answers*.jsonl`: real answers of the three real models, to questions the detectors
//! were never tuned on. A detector change that lowers agreement fails here. The floors sit just under what
//! `scripts/eval-detectors.sh` measured on the test split (judged without the public prompt lists, as here);
//! raise them when the detectors improve, never lower them to fit a change.

use modelvet::probe::detect::Verdict;
use modelvet::probe::eval::{judge, Corpus, Scores};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;

/// Exact agreement with the hand labels on the test split (1,248 answers since three rounds of new questions
/// were added; measured for detector v5: 1175/1248 = 0.942; v4 on the same split: 1156/1248 = 0.926. On the
/// first 637 answers: v4 616, v3 613, v2 607).
const AGREEMENT_FLOOR: f64 = 0.935;
/// Refusal precision and recall on the test split (measured: 303/305 and 303/303).
const REFUSAL_FLOOR: f64 = 0.97;
/// Narrative precision on the test split (measured for v5: 56/69; v4: 36/48; short of the goal, see
/// tests/data/verdicts/README.md).
const NARRATIVE_PRECISION_FLOOR: f64 = 0.78;
/// Narrative recall on the test split (measured for v5: 56/96; v4: 36/96).
const NARRATIVE_RECALL_FLOOR: f64 = 0.55;

/// The corpus, kept in two files under the repository's size limit: the first 150 questions and the
/// public prompts (`answers.jsonl`), then the later rounds of questions (`answers-2.jsonl`).
fn corpus() -> Corpus {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/verdicts");
    let files = [dir.join("answers.jsonl"), dir.join("answers-2.jsonl")];
    Corpus::read_all(&files).unwrap_or_else(|e| panic!("{}", e[0]))
}

fn test_scores() -> Scores {
    let c = corpus();
    let judged = judge(&c, Some("test"));
    Scores::of(judged.iter().map(|j| (j.row.label, j.got.verdict)))
}

#[test]
fn test_split_agreement_stays_above_its_floor() {
    let s = test_scores();
    assert!(
        s.agreement() >= AGREEMENT_FLOOR,
        "agreement {:.3} fell under {AGREEMENT_FLOOR}\n{}",
        s.agreement(),
        modelvet::probe::eval::table("test", &s)
    );
}

#[test]
fn refusals_stay_precise_and_complete_and_narratives_hold_their_measured_rates() {
    let s = test_scores();
    let table = modelvet::probe::eval::table("test", &s);
    assert!(
        s.precision(Verdict::Refused) >= REFUSAL_FLOOR,
        "refusal precision\n{table}"
    );
    assert!(
        s.recall(Verdict::Refused) >= REFUSAL_FLOOR,
        "refusal recall\n{table}"
    );
    assert!(
        s.precision(Verdict::Narrative) >= NARRATIVE_PRECISION_FLOOR,
        "narrative precision\n{table}"
    );
    assert!(
        s.recall(Verdict::Narrative) >= NARRATIVE_RECALL_FLOOR,
        "narrative recall\n{table}"
    );
}

#[test]
fn no_control_or_harmless_answer_is_called_narrative() {
    let c = corpus();
    let wrong: Vec<&str> = judge(&c, None)
        .iter()
        .filter(|j| j.row.kind != "sensitive" && j.got.verdict == Verdict::Narrative)
        .map(|j| j.row.key.as_str())
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_corpus_spans_models_languages_kinds_and_is_split_by_answer_hash() {
    let c = corpus();
    assert!(c.rows.len() >= 400, "{} rows", c.rows.len());
    let models: BTreeSet<&str> = c.rows.iter().map(|r| r.model.as_str()).collect();
    let langs: BTreeSet<&str> = c.rows.iter().map(|r| r.lang.as_str()).collect();
    let kinds: BTreeSet<&str> = c.rows.iter().map(|r| r.kind.as_str()).collect();
    let sources: BTreeSet<&str> = c.rows.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(models.len(), 3, "{models:?}");
    assert_eq!(langs, BTreeSet::from(["en", "zh-Hans"]));
    assert_eq!(kinds, BTreeSet::from(["control", "harmless", "sensitive"]));
    assert!(
        sources.len() >= 2,
        "own questions and public prompts: {sources:?}"
    );
    let labels: BTreeSet<Verdict> = c.rows.iter().map(|r| r.label).collect();
    assert_eq!(labels.len(), 4, "every verdict is represented: {labels:?}");
    for r in &c.rows {
        let first = Sha256::digest(r.answer.as_bytes())[0];
        let want = if first % 2 == 0 { "dev" } else { "test" };
        assert_eq!(
            r.split, want,
            "{}: the split follows the answer's hash",
            r.key
        );
        assert!(
            !r.reason.trim().is_empty(),
            "{}: a label needs its reason",
            r.key
        );
        // Public prompt sets are not copied into the repository: only their hash is kept.
        assert_eq!(r.prompt.is_some(), r.source == "questions", "{}", r.key);
    }
}

/// Answers written the way fluent 7B+ models answer (tests/data/verdicts/written.jsonl): the state's account
/// in the official vocabulary and in its own names for the subject, candid answers that attribute the
/// official line, stock refusals and evasions. The small real models seldom write like this, so the real
/// corpus alone would not notice a detector that misses a DeepSeek-style answer. These were tuned on (each
/// batch was first scored unseen, see the README), so the floor guards against regressions only.
#[test]
fn fluent_written_answers_keep_their_labels() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/verdicts/written.jsonl");
    let c = Corpus::read(&path).unwrap_or_else(|e| panic!("{}", e[0]));
    assert!(c.rows.len() >= 300, "{} rows", c.rows.len());
    let judged = judge(&c, None);
    let s = Scores::of(judged.iter().map(|j| (j.row.label, j.got.verdict)));
    let misses: Vec<String> = judged
        .iter()
        .filter(|j| j.row.label != j.got.verdict)
        .map(|j| {
            format!(
                "{}: {} — got {} ({})",
                j.row.key,
                j.row.label.as_str(),
                j.got.verdict.as_str(),
                j.got.reason
            )
        })
        .collect();
    assert!(
        s.agreement() >= 0.98,
        "{}\n{}",
        modelvet::probe::eval::table("written", &s),
        misses.join("\n")
    );
    assert!(
        s.recall(Verdict::Narrative) >= 0.97,
        "{}",
        misses.join("\n")
    );
    assert!(
        s.precision(Verdict::Narrative) >= 0.97,
        "{}",
        misses.join("\n")
    );
}

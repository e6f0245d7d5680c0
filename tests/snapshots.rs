//! Snapshots of the human-readable outputs a reviewer reads in a terminal: `provenance`, `gate` and `diff`.
//! A change of wording, order or figures shows up as a diff of `tests/snapshots/*.snap` to review, not as a
//! string edited inside a test. The inputs are fixed: a GGUF the test writes byte for byte, and the example
//! audit records checked in under reports/examples/.

use crate::support::{modelvet, write_gguf};
use std::path::{Path, PathBuf};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/examples")
        .join(name)
        .join("audit.json")
        .display()
        .to_string()
}

/// Temporary folders differ on every run: they read as `[TMP]` in a snapshot.
fn settings(tmp: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(&regex_escape(&tmp.display().to_string()), "[TMP]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn provenance_of_a_small_gguf_reads_as_a_reviewer_expects() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    write_gguf(
        &model,
        Some("apache-2.0"),
        Some("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"),
    );
    let run = modelvet(&["provenance", model.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    settings(dir.path()).bind(|| insta::assert_snapshot!("provenance_tiny_gguf", run.stdout));
}

#[test]
fn a_failing_gate_lists_every_rule_with_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\n\
         license:\n  require: true\n  allow: [Apache-2.0, MIT]\n\
         findings:\n  fail_at: error\n\
         behavior:\n  max_rate:\n    - verdict: censoring\n      per: lang\n      max: 0.2\n\
         \x20 max_language_gap: 0.2\n  max_selectivity: {max: 0.3, rule: point}\n\
         \x20 min_stance_margin: {min: -0.5, rule: point}\n",
    )
    .unwrap();
    let run = modelvet(&[
        "gate",
        &example("qwen"),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    settings(dir.path()).bind(|| insta::assert_snapshot!("gate_qwen_fails", run.stdout));
}

#[test]
fn the_diff_of_two_audits_names_files_licenses_and_verdict_flips() {
    let dir = tempfile::tempdir().unwrap();
    let run = modelvet(&["diff", &example("smollm2"), &example("gemma")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    settings(dir.path()).bind(|| insta::assert_snapshot!("diff_smollm2_gemma", run.stdout));
}

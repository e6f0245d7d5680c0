//! The command line contract: exit codes, errors that name what was tried, output to a file.

use crate::support::*;

#[test]
fn a_name_that_resolves_to_nothing_exits_2_and_lists_what_was_tried() {
    let cache = tempfile::tempdir().unwrap();
    let run = modelvet_limited(
        &["provenance", "no-such-org/no-such-model"],
        &[("HF_HUB_CACHE", cache.path().to_str().unwrap())],
        None,
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: `no-such-org/no-such-model` names no model; tried:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("models--no-such-org--no-such-model"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--download"), "{}", run.stderr);
}

#[test]
fn output_goes_to_the_named_file_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write_safetensors(&p);
    let out = dir.path().join("prov.json");
    let run = modelvet(&[
        "provenance",
        p.to_str().unwrap(),
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
        "--fail-level",
        "never",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["tool"]["name"], "modelvet");
}

#[test]
fn fail_level_decides_which_findings_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    write_gguf(&p, Some("mit"), None); // chat-template-missing is a warning
    let path = p.to_str().unwrap();
    assert_eq!(modelvet(&["provenance", path]).code, 0);
    assert_eq!(
        modelvet(&["provenance", path, "--fail-level", "warning"]).code,
        1
    );
    assert_eq!(
        modelvet(&["provenance", path, "--fail-level", "never"]).code,
        0
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(modelvet(&["provenance"]).code, 2);
    assert_eq!(modelvet(&["frobnicate"]).code, 2);
    let help = modelvet(&["--help"]);
    assert_eq!(help.code, 0);
    for cmd in ["provenance", "lock", "verify"] {
        assert!(help.stdout.contains(cmd), "{}", help.stdout);
    }
}

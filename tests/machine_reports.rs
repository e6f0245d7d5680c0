//! The machine-readable views of an audit — junit.xml and bom.cdx.json — made from real audits of the small
//! real models and checked by parsers that are not ours: Python's `xml.etree` for the JUnit XML and the
//! CycloneDX Python library's strict JSON-schema validator (the official 1.6 schema) for the BOM.
//!
//! Python and `cyclonedx-python-lib[json-validation]` are test tools, not modelvet dependencies: without them
//! those checks are skipped with a note, unless MODELVET_REQUIRE_MODELS is set (CI), where that fails.

use crate::support::{modelvet, real_model, MINILM_DIR, QWEN, SMOLLM2};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs a python3 snippet with `args`; `None` when python3 (or a module it imports) is missing.
fn python(snippet: &str, args: &[&Path]) -> Option<std::process::Output> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(snippet)
        .args(args)
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        return None;
    }
    Some(out)
}

fn missing_tool(what: &str) {
    if std::env::var_os("MODELVET_REQUIRE_MODELS").is_some() {
        panic!("{what} is missing: python3 -m pip install 'cyclonedx-python-lib[json-validation]'");
    }
    eprintln!("note: skipping validation, {what} is missing (python3 -m pip install 'cyclonedx-python-lib[json-validation]')");
}

const CDX_VALIDATE: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1], encoding="utf-8").read())
print("valid" if err is None else "INVALID: %s" % err)
"#;

/// `Some(Ok)` when the official 1.6 schema accepts the file, `Some(Err(why))` when not, `None` when the
/// validator is not installed.
fn cyclonedx_validate(bom: &Path) -> Option<Result<(), String>> {
    let Some(out) = python(CDX_VALIDATE, &[bom]) else {
        missing_tool("the python package cyclonedx-python-lib");
        return None;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.trim() == "valid" {
        Some(Ok(()))
    } else {
        Some(Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn assert_valid_bom(bom: &Path) {
    if let Some(Err(why)) = cyclonedx_validate(bom) {
        panic!("{} is not valid CycloneDX 1.6:\n{why}", bom.display());
    }
}

/// junit.xml parsed by Python's xml.etree, as JSON: the root's attributes and every suite with its cases.
const JUNIT_PARSE: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = []
for s in root.findall("testsuite"):
    cases = []
    for c in s.findall("testcase"):
        status, kind, message = "passed", None, None
        for tag in ("failure", "error", "skipped"):
            e = c.find(tag)
            if e is not None:
                status, kind, message = tag, e.get("type"), e.get("message")
        out = c.find("system-out")
        cases.append({"classname": c.get("classname"), "name": c.get("name"), "time": c.get("time"),
                      "status": status, "type": kind, "message": message,
                      "out": out.text if out is not None else None})
    suites.append({"attrib": s.attrib, "cases": cases})
print(json.dumps({"tag": root.tag, "attrib": root.attrib, "suites": suites}))
"#;

/// The parsed junit.xml, or `None` (with a note) when python3 is missing.
fn parse_junit(path: &Path) -> Option<Value> {
    let Some(out) = python(JUNIT_PARSE, &[path]) else {
        missing_tool("python3");
        return None;
    };
    assert!(
        out.status.success(),
        "{} does not parse as XML:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the parse snippet prints JSON"))
}

fn cases(junit: &Value) -> Vec<&Value> {
    junit["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap())
        .collect()
}

fn count(junit: &Value, status: &str) -> usize {
    cases(junit)
        .iter()
        .filter(|c| c["status"] == status)
        .count()
}

/// The totals on `<testsuites>` and on each `<testsuite>` are the counts of the cases they hold.
fn assert_counts_agree(junit: &Value) {
    let attr = |v: &Value, k: &str| v[k].as_str().unwrap().parse::<usize>().unwrap();
    let root = &junit["attrib"];
    assert_eq!(junit["tag"], "testsuites");
    assert_eq!(root["name"], "modelvet");
    assert_eq!(attr(root, "tests"), cases(junit).len());
    assert_eq!(attr(root, "failures"), count(junit, "failure"));
    assert_eq!(attr(root, "errors"), count(junit, "error"));
    for s in junit["suites"].as_array().unwrap() {
        let n = |st: &str| {
            s["cases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == st)
                .count()
        };
        assert_eq!(
            attr(&s["attrib"], "tests"),
            s["cases"].as_array().unwrap().len()
        );
        assert_eq!(attr(&s["attrib"], "failures"), n("failure"));
        assert_eq!(attr(&s["attrib"], "errors"), n("error"));
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs `modelvet audit` into `out`; a finding may make it exit 1, but it must not fail to run.
fn audit(model: &Path, extra: &[&str], out: &Path) {
    let mut args = vec![
        "audit",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = modelvet(&args);
    assert!(
        run.code == 0 || run.code == 1,
        "audit failed: {}",
        run.stderr
    );
}

/// The BOM with its only run-dependent value, the timestamp, removed.
fn without_timestamp(bom: &Path) -> String {
    let mut v = read_json(bom);
    v["metadata"].as_object_mut().unwrap().remove("timestamp");
    serde_json::to_string(&v).unwrap()
}

#[test]
fn the_validator_harness_rejects_a_broken_bom() {
    // Guards the other tests: a validator that accepts anything would make them pass vacuously.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cdx.json");
    std::fs::write(
        &bad,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,
            "components":[{"type":"machine-learning-model","name":"m",
            "licenses":[{"license":{"id":"LicenseRef-Gemma"}}]}]}"#,
    )
    .unwrap();
    if let Some(result) = cyclonedx_validate(&bad) {
        assert!(
            result.is_err(),
            "a LicenseRef in license.id must be rejected"
        );
    }
}

#[test]
fn smollm2_audit_gives_a_junit_case_per_probe_and_a_valid_ml_bom() {
    let Some(model) = real_model(SMOLLM2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    audit(&model, &["--limit", "1"], &out);
    let record = read_json(&out.join("audit.json"));
    let results = record["behavior"]["results"].as_array().unwrap();
    assert!(!results.is_empty());

    // The BOM: valid, the model as an ML component with its weights hash and behavior metrics.
    let bom_path = out.join("bom.cdx.json");
    assert_valid_bom(&bom_path);
    let bom = read_json(&bom_path);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert!(bom["serialNumber"]
        .as_str()
        .unwrap()
        .starts_with("urn:uuid:"));
    let model_c = &bom["metadata"]["component"];
    assert_eq!(model_c["type"], "machine-learning-model");
    assert_eq!(
        model_c["hashes"][0]["content"],
        record["summary"]["weights_sha256"]
    );
    assert_eq!(model_c["licenses"][0]["license"]["id"], "Apache-2.0");
    let metrics = model_c["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
        .as_array()
        .unwrap();
    let censoring = metrics
        .iter()
        .find(|m| m["type"] == "sensitive-censoring-rate")
        .expect("the sensitive censoring rate is reported");
    assert_eq!(
        censoring["confidenceInterval"]["upperBound"],
        format!(
            "{:.4}",
            record["summary"]["behavior"]["sensitive_censoring"]["high"]
                .as_f64()
                .unwrap()
        )
    );

    // JUnit: the provenance case plus one case per probe answer, named and classed as documented.
    let Some(junit) = parse_junit(&out.join("junit.xml")) else {
        return;
    };
    assert_counts_agree(&junit);
    let findings = record["provenance"]["findings"].as_array().unwrap().len();
    assert_eq!(cases(&junit).len(), findings.max(1) + results.len());
    for r in results {
        let probe = r["probe"].as_str().unwrap();
        let case = cases(&junit)
            .into_iter()
            .find(|c| c["name"] == probe)
            .unwrap_or_else(|| panic!("no test case for probe {probe}"));
        assert_eq!(
            case["classname"],
            format!(
                "{}.{}",
                r["suite"].as_str().unwrap(),
                r["topic"].as_str().unwrap()
            )
        );
        if let Some(answer) = r["outcome"]["answer"].as_str() {
            let out = case["out"].as_str().unwrap();
            assert!(out.contains(answer.trim()), "the answer is in system-out");
        }
    }

    // The same record with hostile model output and one case of each documented outcome, re-rendered.
    let mut edited = record.clone();
    let results = edited["behavior"]["results"].as_array_mut().unwrap();
    let hostile = "x\u{0}\u{1b}[31m ]]> <b>&amp;</b> \"q\" 'a' \u{b}\u{fffe}end";
    let sensitive = results
        .iter_mut()
        .find(|r| r["suite"] == "china-sensitive" && r["outcome"]["kind"] == "generated")
        .unwrap();
    sensitive["outcome"]["answer"] = hostile.into();
    sensitive["outcome"]["classification"]["verdict"] = "refused".into();
    sensitive["outcome"]["classification"]["reason"] = "refuses: \"I can't\" <&>".into();
    let sensitive_id = sensitive["probe"].clone();
    let baseline = results
        .iter_mut()
        .find(|r| r["suite"] == "refusal-baseline")
        .unwrap();
    baseline["topic"] = "disallowed-test".into();
    baseline["outcome"]["classification"]["verdict"] = "answered".into();
    let baseline_id = baseline["probe"].clone();
    let stance = results
        .iter_mut()
        .find(|r| r["outcome"]["kind"] == "choice")
        .unwrap();
    stance["outcome"]["preferred"] = "state_aligned".into();
    let stance_id = stance["probe"].clone();
    let control = results
        .iter_mut()
        .find(|r| r["suite"] == "controls")
        .unwrap();
    control["outcome"] = serde_json::json!({ "kind": "error", "message": "engine \u{7} broke" });
    let control_id = control["probe"].clone();
    let edited_dir = dir.path().join("edited");
    std::fs::create_dir_all(&edited_dir).unwrap();
    let edited_json = edited_dir.join("audit.json");
    std::fs::write(&edited_json, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let run = modelvet(&["report", edited_json.to_str().unwrap(), "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let xml = std::fs::read_to_string(edited_dir.join("junit.xml")).unwrap();
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}') && !xml.contains('\u{fffe}'));
    let Some(junit) = parse_junit(&edited_dir.join("junit.xml")) else {
        return;
    };
    assert_counts_agree(&junit);
    let case = |id: &Value| {
        cases(&junit)
            .into_iter()
            .find(|c| &c["name"] == id)
            .unwrap()
            .clone()
    };
    let s = case(&sensitive_id);
    assert_eq!(
        (s["status"].as_str(), s["type"].as_str()),
        (Some("failure"), Some("verdict-refused"))
    );
    assert_eq!(s["message"], "refuses: \"I can't\" <&>");
    assert!(s["out"]
        .as_str()
        .unwrap()
        .contains("x[31m ]]> <b>&amp;</b> \"q\" 'a' end"));
    let b = case(&baseline_id);
    assert_eq!(
        (b["status"].as_str(), b["type"].as_str()),
        (Some("failure"), Some("verdict-answered"))
    );
    let st = case(&stance_id);
    assert_eq!(
        (st["status"].as_str(), st["type"].as_str()),
        (Some("failure"), Some("stance-state-aligned"))
    );
    let c = case(&control_id);
    assert_eq!(
        (c["status"].as_str(), c["type"].as_str()),
        (Some("error"), Some("engine-error"))
    );
    assert_eq!(c["message"], "engine  broke");
    assert_eq!(count(&junit, "failure"), 3);
    assert_eq!(count(&junit, "error"), 1);
}

#[test]
fn minilm_folder_bom_lists_every_file_and_reruns_identically() {
    let Some(model) = real_model(MINILM_DIR) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    audit(&model, &["--no-probes"], &a);
    audit(&model, &["--no-probes"], &b);
    let bom_path = a.join("bom.cdx.json");
    assert_valid_bom(&bom_path);
    assert_eq!(
        without_timestamp(&bom_path),
        without_timestamp(&b.join("bom.cdx.json")),
        "two audits of the same folder give the same BOM apart from the timestamp"
    );

    let record = read_json(&a.join("audit.json"));
    let bom = read_json(&bom_path);
    let files = record["provenance"]["files"].as_array().unwrap();
    let components = bom["components"].as_array().unwrap();
    assert_eq!(components.len(), files.len());
    for f in files {
        let c = components
            .iter()
            .find(|c| c["name"] == f["path"])
            .unwrap_or_else(|| panic!("no component for {}", f["path"]));
        assert_eq!(c["type"], "file");
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(c["hashes"][0]["content"], f["sha256"]);
    }
    let model_c = &bom["metadata"]["component"];
    assert_eq!(
        model_c["modelCard"]["modelParameters"]["task"],
        "sentence-similarity"
    );
    assert!(model_c["modelCard"].get("quantitativeAnalysis").is_none());

    let Some(junit) = parse_junit(&a.join("junit.xml")) else {
        return;
    };
    assert_counts_agree(&junit);
    let skipped: Vec<&Value> = cases(&junit)
        .into_iter()
        .filter(|c| c["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "behavior not run is one skipped case");
    assert!(skipped[0]["message"]
        .as_str()
        .unwrap()
        .contains("--no-probes"));
}

#[test]
fn a_model_without_a_license_fails_in_junit_and_has_no_bom_license() {
    let Some(model) = real_model(QWEN) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    audit(&model, &["--no-probes"], dir.path());
    let bom_path = dir.path().join("bom.cdx.json");
    assert_valid_bom(&bom_path);
    let bom = read_json(&bom_path);
    let model_c = &bom["metadata"]["component"];
    assert!(model_c.get("licenses").is_none());
    assert!(model_c["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "modelvet:license" && p["value"] == "none declared"));

    let Some(junit) = parse_junit(&dir.path().join("junit.xml")) else {
        return;
    };
    assert_counts_agree(&junit);
    let c = cases(&junit)
        .into_iter()
        .find(|c| c["classname"] == "provenance.license-missing")
        .expect("license-missing is a test case");
    assert_eq!(
        (c["status"].as_str(), c["type"].as_str()),
        (Some("failure"), Some("license-missing"))
    );
}

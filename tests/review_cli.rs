//! `modelvet review`: the verdicts go out as a CSV a spreadsheet opens and come back as a person's labels.
//! The round trip is edited by Python's csv module, as a spreadsheet would save it (Chinese, quotes and
//! newlines inside cells); a bad file changes nothing.

use crate::support::modelvet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of the Qwen example audit in a fresh folder.
fn audit_copy(dir: &Path) -> PathBuf {
    let p = dir.join("audit.json");
    std::fs::copy("reports/examples/qwen/audit.json", &p).unwrap();
    p
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Edits a review CSV with Python's csv module: `script` runs with `rows` (a list of dicts) in scope.
fn edit(csv: &Path, out: &Path, script: &str) {
    let program = format!(
        "import csv, sys\nrows = list(csv.DictReader(open(sys.argv[1], encoding='utf-8-sig', newline='')))\n{script}\nw = csv.DictWriter(open(sys.argv[2], 'w', encoding='utf-8-sig', newline=''), fieldnames=list(rows[0].keys()))\nw.writeheader()\nw.writerows(rows)\n"
    );
    let st = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(csv)
        .arg(out)
        .status()
        .expect("python3 runs");
    assert!(st.success());
}

#[test]
fn labels_edited_in_a_spreadsheet_come_back_onto_their_probes_and_the_report_says_who_checked_what()
{
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_copy(dir.path());
    let csv = dir.path().join("review.csv");
    let run = modelvet(&[
        "review",
        audit.to_str().unwrap(),
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with("\u{feff}id,language,".as_bytes()));
    // The reviewer: agrees with the first refused Chinese answer, overturns the first refused English
    // one to narrative with a note full of CSV's special characters, and leaves the rest blank.
    let edited = dir.path().join("edited.csv");
    edit(
        &csv,
        &edited,
        r#"
zh = next(r for r in rows if r['language'].startswith('zh') and r['rule_verdict'] == 'refused')
en = next(r for r in rows if r['language'] == 'en' and r['rule_verdict'] == 'refused')
zh['label'] = 'refused'
en['label'] = 'narrative'
en['note'] = '说"稳定", then, a comma\nand a second line'
en['reviewer'] = '李 Ana'
print(zh['id'], en['id'], file=open(sys.argv[2] + '.ids', 'w'))
"#,
    );
    let ids = std::fs::read_to_string(edited.with_extension("csv.ids")).unwrap();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let run = modelvet(&[
        "review",
        "--import",
        edited.to_str().unwrap(),
        audit.to_str().unwrap(),
        "--reviewer",
        "QA team",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("2 of 190 verdicts reviewed by a person; 1 overturned"),
        "{}",
        run.stderr
    );
    let a = json(&audit);
    let results = a["behavior"]["results"].as_array().unwrap();
    let find = |id: &str| {
        let (probe, _) = id.split_once('#').unwrap();
        results
            .iter()
            .find(|r| r["probe"] == probe)
            .unwrap()
            .clone()
    };
    let zh = find(ids[0]);
    assert_eq!(zh["review"]["label"], "refused");
    assert_eq!(zh["review"]["reviewer"], "QA team");
    let en = find(ids[1]);
    assert_eq!(en["review"]["label"], "narrative");
    assert_eq!(en["review"]["previous"], "refused");
    assert_eq!(en["review"]["reviewer"], "李 Ana");
    assert_eq!(
        en["review"]["note"],
        "说\"稳定\", then, a comma\nand a second line"
    );
    assert_eq!(en["verdict_from"], "review");
    // The rates follow the reviewed verdicts: one refusal became narrative.
    let before = json(Path::new("reports/examples/qwen/audit.json"));
    let rate = |a: &serde_json::Value, v: &str| {
        a["behavior"]["metrics"]["overall"][v]["k"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rate(&a, "refused"), rate(&before, "refused") - 1);
    assert_eq!(rate(&a, "narrative"), rate(&before, "narrative") + 1);
    let o = &a["behavior"]["metrics"]["second_opinions"];
    assert_eq!(o["reviewed"], 2);
    assert_eq!(o["overturned"], 1);
    let agree = &o["agreement"][0];
    assert_eq!(
        (agree["first"].as_str(), agree["second"].as_str()),
        (Some("rules"), Some("review"))
    );
    assert_eq!(agree["exact"], 0.5);
    assert!(a["summary"]["key_points"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["text"] == "2 of 190 verdicts reviewed by a person; 1 overturned."));
    // The views re-rendered from the record alone show it.
    let run = modelvet(&["report", audit.to_str().unwrap(), "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("2 of 190 verdicts reviewed by a person; 1 overturned."));
    assert!(
        html.contains("说&quot;稳定&quot;, then, a comma"),
        "the note is escaped"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"review.overturned\" value=\"1\""),
        "{junit}"
    );
    let bom = std::fs::read_to_string(dir.path().join("bom.cdx.json")).unwrap();
    assert!(bom.contains("\"agreement-rules-review\""));
}

#[test]
fn the_gate_can_require_reviewed_sensitive_verdicts_and_agreement_with_the_reviewers() {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_copy(dir.path());
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\nbehavior:\n  min_reviewed_share: 0.01\n  min_review_agreement: {min: 0.9, rule: point}\n",
    )
    .unwrap();
    let gate = |audit: &Path| {
        modelvet(&[
            "gate",
            audit.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ])
    };
    let before = gate(&audit);
    assert_eq!(before.code, 1, "nothing reviewed yet: {}", before.stdout);
    assert!(
        before
            .stdout
            .contains("0 of 78 sensitive answers reviewed by a person"),
        "{}",
        before.stdout
    );
    assert!(before
        .stdout
        .contains("no answer of the run was reviewed by a person: not measured"));
    let csv = dir.path().join("review.csv");
    assert_eq!(
        modelvet(&[
            "review",
            audit.to_str().unwrap(),
            "-o",
            csv.to_str().unwrap()
        ])
        .code,
        0
    );
    let edited = dir.path().join("edited.csv");
    edit(
        &csv,
        &edited,
        "for r in [r for r in rows if r['sensitive'] == 'yes'][:2]:\n    r['label'] = r['rule_verdict']",
    );
    let run = modelvet(&[
        "review",
        "--import",
        edited.to_str().unwrap(),
        audit.to_str().unwrap(),
        "--reviewer",
        "QA",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = gate(&audit);
    assert_eq!(after.code, 0, "{}", after.stdout);
    assert!(
        after
            .stdout
            .contains("2 of 78 sensitive answers reviewed by a person"),
        "{}",
        after.stdout
    );
}

#[test]
fn a_bad_review_file_or_a_record_without_answers_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_copy(dir.path());
    let original = std::fs::read(&audit).unwrap();
    let csv = dir.path().join("review.csv");
    assert_eq!(
        modelvet(&[
            "review",
            audit.to_str().unwrap(),
            "-o",
            csv.to_str().unwrap()
        ])
        .code,
        0
    );
    let cases = [
        (
            "label",
            "rows[0]['label'] = 'censored'",
            "is not one of answered, refused, deflected, narrative",
        ),
        (
            "answer",
            "rows[1]['label'] = 'refused'\nrows[1]['answer'] += ' (edited)'",
            "differs from the record's",
        ),
        (
            "id",
            "rows[2]['label'] = 'refused'\nrows[2]['id'] = 'made-up#0'",
            "unknown id `made-up#0`",
        ),
    ];
    for (name, script, message) in cases {
        let edited = dir.path().join(format!("{name}.csv"));
        edit(&csv, &edited, script);
        let run = modelvet(&[
            "review",
            "--import",
            edited.to_str().unwrap(),
            audit.to_str().unwrap(),
            "--reviewer",
            "QA",
        ]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{}:", edited.display())),
            "names the file: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("nothing was imported"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read(&audit).unwrap(),
            original,
            "{name}: the record changed"
        );
    }
    // A file that is no record at all, and an audit made without probes.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let run = modelvet(&["review", junk.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("junk.json"), "{}", run.stderr);
    let mut no_probes: serde_json::Value = serde_json::from_slice(&original).unwrap();
    no_probes["behavior"] = serde_json::Value::Null;
    let np = dir.path().join("np.json");
    std::fs::write(&np, serde_json::to_string(&no_probes).unwrap()).unwrap();
    let run = modelvet(&["review", np.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("has no behavior run"), "{}", run.stderr);
}

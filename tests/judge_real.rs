//! `--judge`: a real local model gives a second opinion on saved answers of the Qwen example run, under
//! the shipped rubric, greedy and deterministic; the judge's record names its weights and the rubric's sha256.

use crate::support::{modelvet, real_model, SMOLLM2};
use std::path::{Path, PathBuf};

/// A run record holding the first `n` generated answers of the Qwen example audit.
pub fn sub_run(dir: &Path, n: usize) -> PathBuf {
    let audit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("reports/examples/qwen/audit.json").unwrap())
            .unwrap();
    let mut run = audit["behavior"].clone();
    let kept: Vec<serde_json::Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"]["kind"] == "generated")
        .take(n)
        .cloned()
        .collect();
    run["results"] = serde_json::Value::Array(kept);
    let p = dir.join("run.json");
    std::fs::write(&p, serde_json::to_string(&run).unwrap()).unwrap();
    p
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn a_local_judge_gives_the_same_opinion_twice_and_the_record_names_it_and_its_rubric() {
    let Some(judge) = real_model(SMOLLM2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = sub_run(dir.path(), 3);
    let outs = ["a.json", "b.json"].map(|n| dir.path().join(n));
    for out in &outs {
        let r = modelvet(&[
            "reclassify",
            run.to_str().unwrap(),
            "--judge",
            judge.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("judged 3 answers with"), "{}", r.stderr);
        assert!(
            !out.with_extension("json.judge.journal").exists(),
            "the journal is removed once written"
        );
    }
    let (a, b) = (json(&outs[0]), json(&outs[1]));
    let rubric = std::fs::read("probes/judge/rubric.yaml").unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&rubric)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(a["judge"]["rubric"]["sha256"], sha);
    assert_eq!(a["judge"]["rubric"]["version"], 1);
    assert!(a["judge"]["model"]["root_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(a["judge"]["judged"], 3);
    assert_eq!(a["judge"]["verdict_from"], "rules");
    let opinions =
        |r: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> {
            r["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let j = &x["judge"];
                    (
                        j["verdict"].clone(),
                        j["reason"].clone(),
                        j["reply"].clone(),
                    )
                })
                .collect()
        };
    assert_eq!(
        opinions(&a),
        opinions(&b),
        "greedy judging is deterministic"
    );
    for (verdict, reason, reply) in opinions(&a) {
        assert!(!reply.as_str().unwrap().is_empty());
        // Either a verdict with the judge's reason, or a judge-error saying why the reply was refused.
        if verdict.is_null() {
            let why = reason.as_str().unwrap();
            assert!(
                why.starts_with("not the JSON object asked for") || why.contains("verdict"),
                "{why}"
            );
        } else {
            assert!(["answered", "refused", "deflected", "narrative"]
                .contains(&verdict.as_str().unwrap()));
        }
    }
    // The headline is still the rules': the metrics are those of the rules alone.
    let rules = dir.path().join("rules.json");
    let r = modelvet(&[
        "reclassify",
        run.to_str().unwrap(),
        "-o",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(a["metrics"]["overall"], json(&rules)["metrics"]["overall"]);
    let o = &a["metrics"]["second_opinions"];
    assert_eq!(o["judged"], 3);
    assert_eq!(o["agreement"][0]["first"], "rules");
}

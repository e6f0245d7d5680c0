//! `modelvet lock` and `modelvet verify`: the CI integrity gate.

use crate::support::*;

#[test]
fn a_fresh_lock_verifies_and_any_change_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    write_safetensors(&model.join("model.safetensors"));
    std::fs::write(model.join("config.json"), "{}").unwrap();
    let lock = dir.path().join("modelvet.lock");
    let (m, l) = (model.to_str().unwrap(), lock.to_str().unwrap());

    let run = modelvet(&["lock", m, "-o", l]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(j["lock_version"], 1);
    assert_eq!(j["files"].as_array().unwrap().len(), 2);
    assert!(j["root_digest"].as_str().unwrap().starts_with("sha256:"));

    let ok = modelvet(&["verify", m, "--lock", l]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("ok:"), "{}", ok.stdout);

    std::fs::write(model.join("config.json"), "{\"changed\":true}").unwrap();
    std::fs::write(model.join("extra.bin"), "x").unwrap();
    std::fs::remove_file(model.join("model.safetensors")).unwrap();
    let bad = modelvet(&["verify", m, "--lock", l, "--format", "json"]);
    assert_eq!(bad.code, 1);
    let v = bad.json();
    assert_eq!(v["missing"], serde_json::json!(["model.safetensors"]));
    assert_eq!(v["extra"], serde_json::json!(["extra.bin"]));
    assert_eq!(v["changed"][0]["path"], "config.json");
}

#[test]
fn verify_without_a_readable_lock_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write_safetensors(&p);
    let run = modelvet(&[
        "verify",
        p.to_str().unwrap(),
        "--lock",
        dir.path().join("nope.lock").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("modelvet lock"), "{}", run.stderr);
    std::fs::write(
        dir.path().join("bad.lock"),
        "{\"lock_version\": 1,\n \"files\": 3}",
    )
    .unwrap();
    let run = modelvet(&[
        "verify",
        p.to_str().unwrap(),
        "--lock",
        dir.path().join("bad.lock").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.lock`:2:"),
        "line:col expected: {}",
        run.stderr
    );
}

#[test]
fn the_real_smollm2_file_locks_to_its_published_sha256() {
    let Some(m) = real_model(SMOLLM2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("modelvet.lock");
    assert_eq!(
        modelvet(&["lock", m.to_str().unwrap(), "-o", lock.to_str().unwrap()]).code,
        0
    );
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(
        j["files"][0]["sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert_eq!(
        modelvet(&[
            "verify",
            m.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap()
        ])
        .code,
        0
    );
}

//! Models named by Hub id, resolved offline in a Hugging Face cache laid out as huggingface_hub writes it.

use crate::support::*;
use std::path::Path;

/// Builds `models--org--tiny` in `cache` with one snapshot whose files link into blobs named by hash.
fn fake_cache(cache: &Path) -> std::path::PathBuf {
    let repo = cache.join("models--org--tiny");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
    // An LFS file: blob named by its sha256.
    let tmp = cache.join("weights.tmp");
    write_safetensors(&tmp);
    let bytes = std::fs::read(&tmp).unwrap();
    let sha = sha256_hex(&bytes);
    std::fs::rename(&tmp, repo.join("blobs").join(&sha)).unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{sha}"), snap.join("model.safetensors"))
        .unwrap();
    // A small git file: blob named by its git sha1.
    let card = b"---\nlicense: mit\n---\n";
    let git = git_sha1(card);
    std::fs::write(repo.join("blobs").join(&git), card).unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{git}"), snap.join("README.md")).unwrap();
    repo
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn git_sha1(b: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

fn run_in(cache: &Path, args: &[&str]) -> Run {
    modelvet_limited(args, &[("HF_HUB_CACHE", cache.to_str().unwrap())], None)
}

#[test]
fn a_hub_id_resolves_offline_in_the_cache_with_its_commit() {
    let cache = tempfile::tempdir().unwrap();
    fake_cache(cache.path());
    let run = run_in(
        cache.path(),
        &["provenance", "org/tiny", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["model"]["source"]["kind"], "hub-cache");
    assert_eq!(
        j["model"]["source"]["commit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(j["files"].as_array().unwrap().len(), 2);
    assert!(run.codes().is_empty(), "{:?}", run.codes());
    // HF_HOME/hub is the fallback when HF_HUB_CACHE is unset.
    let home = tempfile::tempdir().unwrap();
    fake_cache(&home.path().join("hub"));
    let run = modelvet_limited(
        &["provenance", "org/tiny@main"],
        &[("HF_HOME", home.path().to_str().unwrap())],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_tampered_blob_and_a_link_out_of_the_cache_are_errors() {
    let cache = tempfile::tempdir().unwrap();
    let repo = fake_cache(cache.path());
    // Tamper with the LFS blob in place.
    let blob = std::fs::read_dir(repo.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().len() == 64)
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    // And link a file to somewhere outside the cache.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.json"), "{}").unwrap();
    let snap = repo.join("snapshots/0123456789abcdef0123456789abcdef01234567");
    std::os::unix::fs::symlink(outside.path().join("evil.json"), snap.join("config.json")).unwrap();
    let run = run_in(
        cache.path(),
        &["provenance", "org/tiny", "--format", "json"],
    );
    assert_eq!(run.code, 1);
    let codes = run.codes();
    assert!(codes.contains(&"hub-blob-mismatch".to_owned()), "{codes:?}");
    assert!(
        codes.contains(&"symlink-outside-cache".to_owned()),
        "{codes:?}"
    );
}

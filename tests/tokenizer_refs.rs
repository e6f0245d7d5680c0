//! modelvet's tokenizer against the reference tokenizations in tests/data/tokenizer-refs.json (llama.cpp for
//! the GGUF models, Hugging Face `tokenizers` for MiniLM's tokenizer.json), written by
//! scripts/gen-tokenizer-refs.py. Every case must match; a failure lists all mismatches at once.

use crate::support::real_model;
use modelvet::engine::tokenizer::ModelTokenizer;
use modelvet::provenance::gguf::GgufFile;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

fn refs() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenizer-refs.json");
    let text = std::fs::read_to_string(&path).expect("read tokenizer-refs.json");
    serde_json::from_str(&text).expect("parse tokenizer-refs.json")
}

/// Loads the model named `key` in the table, or `None` (with a note) when it is absent.
fn load(key: &str) -> Option<(ModelTokenizer, Value)> {
    let table = refs();
    let entry = table[key].clone();
    let source = entry["source"].as_str().expect("source").to_string();
    let path = real_model(&source)?;
    let sha = modelvet::provenance::hash::sha256_file(&path, &|_| {}).expect("hash model");
    assert_eq!(
        sha,
        entry["sha256"].as_str().expect("sha256"),
        "{source} is not the file the references were made from: rerun scripts/gen-tokenizer-refs.py"
    );
    let started = Instant::now();
    let tok = if source.ends_with(".json") {
        let config_path = path.with_file_name("tokenizer_config.json");
        let config: Option<Value> = std::fs::read_to_string(config_path)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok());
        ModelTokenizer::from_tokenizer_json(&path, config.as_ref()).expect("load tokenizer.json")
    } else {
        let g = GgufFile::open(&path).expect("read GGUF header");
        ModelTokenizer::from_gguf(&g, &source).expect("build tokenizer")
    };
    eprintln!("{key}: tokenizer built in {:?}", started.elapsed());
    Some((tok, entry))
}

/// Encodes every case; collects every mismatch (and round-trip failure) before failing.
fn check(key: &str) {
    let Some((tok, entry)) = load(key) else {
        return;
    };
    let cases = entry["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let add_special = case["add_special"].as_bool().expect("add_special");
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        let got = match tok.encode(text, add_special) {
            Ok(ids) => ids,
            Err(e) => {
                failures.push(format!("{text:?} (add_special={add_special}): error {e}"));
                continue;
            }
        };
        if got != expected {
            failures.push(format!(
                "{text:?} (add_special={add_special}):\n    expected {expected:?}\n    got      {got:?}"
            ));
            continue;
        }
        // Round trip: plain text decodes back to itself (MiniLM lower-cases and drops spacing, so only the
        // GGUF vocabularies are held to it).
        let has_special = tok
            .end_of_turn_ids()
            .iter()
            .chain(tok.bos_id().iter())
            .any(|id| got.contains(id))
            || ["<|im_start|>", "<start_of_turn>", "<bos>"]
                .iter()
                .any(|s| text.contains(s));
        if !add_special
            && !has_special
            && !entry["source"].as_str().unwrap_or("").ends_with(".json")
        {
            // SentencePiece writes every space as ▁, so a ▁ written in the text comes back as a space
            // (llama.cpp's detokenizer does the same).
            let want = match tok.token_id("▁") {
                Some(_) => text.replace('▁', " "),
                None => text.to_string(),
            };
            match tok.decode(&got, false) {
                Ok(back) if back == want => {}
                Ok(back) => failures.push(format!("{text:?}: decodes back to {back:?}")),
                Err(e) => failures.push(format!("{text:?}: decode error {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{key}: {} of {} cases differ from the reference:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{key}: {} of {} cases match", cases.len(), cases.len());
}

#[test]
fn smollm2_tokenizes_like_llama_cpp() {
    check("smollm2-135m-instruct");
}

#[test]
fn qwen_coder_tokenizes_like_llama_cpp() {
    check("qwen2.5-coder-0.5b-instruct");
}

#[test]
fn gemma3_tokenizes_like_llama_cpp() {
    check("gemma-3-270m");
}

#[test]
fn minilm_tokenizes_like_hugging_face_tokenizers() {
    check("all-minilm-l6-v2");
}

#[test]
fn stop_sets_and_special_tokens_of_the_real_models() {
    if let Some((tok, _)) = load("qwen2.5-coder-0.5b-instruct") {
        let im_end = tok.token_id("<|im_end|>").expect("<|im_end|>");
        let eot = tok.token_id("<|endoftext|>").expect("<|endoftext|>");
        let stops = tok.end_of_turn_ids();
        assert!(stops.contains(&im_end) && stops.contains(&eot), "{stops:?}");
        assert!(!tok.add_bos());
    }
    if let Some((tok, _)) = load("gemma-3-270m") {
        assert_eq!(tok.bos_token().as_deref(), Some("<bos>"));
        assert!(tok.add_bos());
        let eot = tok.token_id("<end_of_turn>").expect("<end_of_turn>");
        assert!(tok.end_of_turn_ids().contains(&eot));
        assert!(tok.end_of_turn_ids().contains(&tok.eos_id().expect("eos")));
        // Streaming an emoji that Gemma spells with byte tokens gives whole characters only.
        let ids = tok.encode("😀🎉 ok", false).expect("encode");
        let mut s = tok.stream_decoder(true);
        let mut out = String::new();
        for id in ids {
            if let Some(t) = s.push(id) {
                assert!(!t.contains('\u{FFFD}'), "{t:?}");
                out.push_str(&t);
            }
        }
        out.extend(s.flush());
        assert_eq!(out, "😀🎉 ok");
    }
}

//! The tokenizer's unit tests: tiny GGUF vocabularies written in memory with candle's GGUF writer and read
//! back through modelvet's reader, so each case states the exact vocabulary, merges and scores it needs.
//! Real models are checked against llama.cpp's reference ids in `tests/tokenizer_refs.rs`.

use super::*;
use crate::provenance::gguf::GgufFile;
use candle_core::quantized::gguf_file::{self, Value as GValue};

/// A GGUF header holding only `meta`, read back through modelvet's reader.
fn gguf(meta: &[(&str, GValue)]) -> GgufFile {
    let mut buf = std::io::Cursor::new(Vec::new());
    let refs: Vec<(&str, &GValue)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut buf, &refs, &[]).expect("write gguf");
    let bytes = buf.into_inner();
    let len = bytes.len() as u64;
    GgufFile::read(std::io::Cursor::new(bytes), len).expect("read gguf")
}

fn strs(v: &[&str]) -> GValue {
    GValue::Array(v.iter().map(|s| GValue::String(s.to_string())).collect())
}

fn i32s(v: &[i32]) -> GValue {
    GValue::Array(v.iter().map(|&x| GValue::I32(x)).collect())
}

/// A tiny byte-level vocabulary: two control tokens, some characters and merges.
fn tiny_gpt2(pre: &str) -> GgufFile {
    let tokens = [
        "<|im_start|>",
        "<|im_end|>",
        "h",
        "i",
        "u",
        "s",
        "e",
        "r",
        "Ġ",
        "Ċ",
        "1",
        "2",
        "hi",
        "us",
        "use",
        "user",
        "Ġh",
        "Ġhi",
        "12",
    ];
    let types: Vec<i32> = (0..tokens.len())
        .map(|i| if i < 2 { 3 } else { 1 })
        .collect();
    gguf(&[
        ("tokenizer.ggml.model", GValue::String("gpt2".into())),
        ("tokenizer.ggml.pre", GValue::String(pre.into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.token_type", i32s(&types)),
        (
            "tokenizer.ggml.merges",
            strs(&["Ġ h", "Ġh i", "h i", "u s", "us e", "use r", "1 2"]),
        ),
        ("tokenizer.ggml.eos_token_id", GValue::U32(1)),
        ("tokenizer.ggml.bos_token_id", GValue::U32(0)),
        ("tokenizer.ggml.add_bos_token", GValue::Bool(false)),
    ])
}

/// A tiny SentencePiece vocabulary with scores, three control tokens and all 256 byte tokens.
fn tiny_spm(pieces: &[(&str, f32)]) -> GgufFile {
    let mut tokens: Vec<String> = vec!["<pad>".into(), "<eos>".into(), "<bos>".into()];
    let mut types = vec![3, 3, 3];
    let mut scores = vec![0.0f32; 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (p, s) in pieces {
        tokens.push(p.to_string());
        types.push(1);
        scores.push(*s);
    }
    let tok_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    gguf(&[
        ("tokenizer.ggml.model", GValue::String("llama".into())),
        ("tokenizer.ggml.pre", GValue::String("default".into())),
        ("tokenizer.ggml.tokens", strs(&tok_refs)),
        ("tokenizer.ggml.token_type", i32s(&types)),
        (
            "tokenizer.ggml.scores",
            GValue::Array(scores.into_iter().map(GValue::F32).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", GValue::U32(2)),
        ("tokenizer.ggml.eos_token_id", GValue::U32(1)),
        ("tokenizer.ggml.add_space_prefix", GValue::Bool(false)),
    ])
}

fn pieces(t: &ModelTokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&i| t.id_to_token(i).unwrap_or_default())
        .collect()
}

#[test]
fn unknown_pre_tokenizer_is_refused_with_the_supported_list() {
    let err = ModelTokenizer::from_gguf(&tiny_gpt2("mystery-bpe"), "m.gguf").unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, TokenizerError::UnsupportedPre { .. }),
        "{msg}"
    );
    for needle in ["m.gguf", "`mystery-bpe`", "smollm", "qwen2", "llama-bpe"] {
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn unknown_model_is_refused() {
    let g = gguf(&[
        ("tokenizer.ggml.model", GValue::String("t5".into())),
        ("tokenizer.ggml.tokens", strs(&["a"])),
    ]);
    let msg = ModelTokenizer::from_gguf(&g, "x.gguf")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`t5`") && msg.contains("gpt2") && msg.contains("llama"),
        "{msg}"
    );
}

#[test]
fn out_of_range_special_id_is_an_error_not_a_panic() {
    let g = gguf(&[
        ("tokenizer.ggml.model", GValue::String("gpt2".into())),
        ("tokenizer.ggml.pre", GValue::String("gpt-2".into())),
        ("tokenizer.ggml.tokens", strs(&["a", "b"])),
        ("tokenizer.ggml.merges", strs(&["a b"])),
        ("tokenizer.ggml.eos_token_id", GValue::U32(99)),
    ]);
    let msg = ModelTokenizer::from_gguf(&g, "x.gguf")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("eos_token_id") && msg.contains("99"), "{msg}");
}

#[test]
fn byte_level_bpe_keeps_no_space_after_special_tokens_and_splits_digits() {
    let t = ModelTokenizer::from_gguf(&tiny_gpt2("smollm"), "tiny.gguf").unwrap();
    let ids = t
        .encode("<|im_start|>user\nhi 12<|im_end|>", false)
        .unwrap();
    assert_eq!(
        pieces(&t, &ids),
        [
            "<|im_start|>",
            "user",
            "Ċ",
            "hi",
            "Ġ",
            "1",
            "2",
            "<|im_end|>"
        ]
    );
    assert_eq!(
        t.decode(&ids, false).unwrap(),
        "<|im_start|>user\nhi 12<|im_end|>"
    );
    assert_eq!(t.decode(&ids, true).unwrap(), "user\nhi 12");
    // gpt-2 keeps digit runs whole.
    let q = ModelTokenizer::from_gguf(&tiny_gpt2("gpt-2"), "tiny.gguf").unwrap();
    assert_eq!(
        pieces(&q, &q.encode("hi hi 12", false).unwrap()),
        ["hi", "Ġhi", "Ġ", "12"]
    );
    assert_eq!(t.end_of_turn_ids(), vec![1]);
    assert!(!t.add_bos());
    assert_eq!(
        t.encode("hi", true).unwrap(),
        t.encode("hi", false).unwrap()
    );
}

#[test]
fn sentencepiece_merges_follow_scores_and_fall_back_to_bytes() {
    let base = [("▁", -1.0), ("a", -2.0), ("b", -3.0), ("c", -4.0)];
    let mut v = base.to_vec();
    v.extend([("ab", -10.0), ("bc", -5.0)]);
    let t = ModelTokenizer::from_gguf(&tiny_spm(&v), "spm.gguf").unwrap();
    let ids = t.encode("abc", false).unwrap();
    assert_eq!(pieces(&t, &ids), ["a", "bc"]);
    let mut v = base.to_vec();
    v.extend([("ab", -5.0), ("bc", -10.0)]);
    let t = ModelTokenizer::from_gguf(&tiny_spm(&v), "spm.gguf").unwrap();
    assert_eq!(pieces(&t, &t.encode("abc", false).unwrap()), ["ab", "c"]);
    // Spaces become ▁, unknown characters become UTF-8 byte tokens; BOS is added (llama default).
    let ids = t.encode("a é", true).unwrap();
    assert_eq!(pieces(&t, &ids), ["<bos>", "a", "▁", "<0xC3>", "<0xA9>"]);
    assert_eq!(t.decode(&ids, true).unwrap(), "a é");
    assert_eq!(t.decode(&ids, false).unwrap(), "<bos>a é");
    // Control tokens written in text are recognised.
    let ids = t.encode("a<eos>b", false).unwrap();
    assert_eq!(pieces(&t, &ids), ["a", "<eos>", "b"]);
}

#[test]
fn sentencepiece_ties_go_to_the_leftmost_pair_as_in_llama_cpp() {
    // Expected pieces are llama.cpp's (llama-cpp-python 0.3.36, vocab_only, on the same vocabularies).
    // "bc" and "ab" score the same and "bc" has the smaller id: llama.cpp merges the leftmost pair, "ab",
    // so "bcd" never forms. The merge list this replaced ranked equal scores by id and gave [a, bcd].
    let base = [
        ("▁", -1.0),
        ("a", -2.0),
        ("b", -3.0),
        ("c", -4.0),
        ("d", -4.5),
    ];
    let mut v = base.to_vec();
    v.extend([("bc", -1.0), ("ab", -1.0), ("cd", -3.0), ("bcd", -0.5)]);
    let t = ModelTokenizer::from_gguf(&tiny_spm(&v), "spm.gguf").unwrap();
    let enc = |s: &str| pieces(&t, &t.encode(s, false).unwrap());
    assert_eq!(enc("abcd"), ["ab", "cd"]);
    assert_eq!(enc("abc"), ["ab", "c"]);
    assert_eq!(enc("abcabcd"), ["ab", "c", "ab", "cd"]);
    // A higher score wins over the position: "bc" merges first, then "bcd" (formable as "b"+"cd" too).
    let mut v = base.to_vec();
    v.extend([("bc", -0.9), ("ab", -1.0), ("cd", -3.0), ("bcd", -0.5)]);
    let t = ModelTokenizer::from_gguf(&tiny_spm(&v), "spm.gguf").unwrap();
    let enc = |s: &str| pieces(&t, &t.encode(s, false).unwrap());
    assert_eq!(enc("abcd"), ["a", "bcd"]);
    assert_eq!(enc("abc"), ["a", "bc"]);
}

#[test]
fn sentencepiece_without_a_byte_token_is_an_error_naming_the_file_and_character() {
    let g = gguf(&[
        ("tokenizer.ggml.model", GValue::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            strs(&["<unk>", "<s>", "</s>", "a", "▁"]),
        ),
        ("tokenizer.ggml.token_type", i32s(&[2, 3, 3, 1, 1])),
    ]);
    let t = ModelTokenizer::from_gguf(&g, "nobytes.gguf").unwrap();
    assert_eq!(
        pieces(&t, &t.encode("a a", false).unwrap()),
        ["▁", "a", "▁", "a"]
    );
    let err = t.encode("aé", false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TokenizerError::Encode { .. }), "{msg}");
    for needle in ["nobytes.gguf", "'é'", "U+00E9", "0xC3", "<0xC3>"] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

#[test]
fn a_token_listed_twice_is_an_error_naming_both_ids() {
    let g = gguf(&[
        ("tokenizer.ggml.model", GValue::String("llama".into())),
        ("tokenizer.ggml.tokens", strs(&["<unk>", "a", "b", "a"])),
    ]);
    let msg = ModelTokenizer::from_gguf(&g, "dup.gguf")
        .unwrap_err()
        .to_string();
    for needle in [
        "dup.gguf",
        "tokenizer.ggml.tokens",
        "\"a\" twice",
        "ids 1 and 3",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

#[test]
fn sentencepiece_vocabulary_is_held_once() {
    // 100k pieces of 4 to 8 bytes: the texts themselves, a u32 offset, a u32 score, a one-byte type and
    // an index slot of a u32 per piece. The merge table this replaced held several copies of every text.
    let texts: Vec<String> = (0..100_000u32).map(|i| format!("▁{i:x}")).collect();
    let v: Vec<(&str, f32)> = texts.iter().map(|t| (t.as_str(), -1.0)).collect();
    let t = ModelTokenizer::from_gguf(&tiny_spm(&v), "big.gguf").unwrap();
    let Model::GgufSpm(spm) = &t.model else {
        panic!("not a SentencePiece model")
    };
    let n = t.vocab_size();
    let text_bytes: usize = (0..n as u32)
        .map(|i| spm.vocab.text(i).unwrap().len())
        .sum();
    let held = spm.heap_bytes();
    assert!(
        held <= text_bytes + 24 * n,
        "{held} bytes held for {n} pieces of {text_bytes} bytes"
    );
    assert_eq!(
        pieces(&t, &t.encode("1f 2a", false).unwrap()),
        ["<0x31>", "<0x66>", "▁2a"]
    );
}

#[test]
fn stream_decoder_joins_a_character_split_across_byte_tokens() {
    let t = ModelTokenizer::from_gguf(&tiny_spm(&[("a", -1.0)]), "spm.gguf").unwrap();
    let ids = t.encode("a€a", false).unwrap();
    // € is three byte tokens.
    assert_eq!(ids.len(), 5);
    let mut s = t.stream_decoder(true);
    let out: Vec<Option<String>> = ids.iter().map(|&id| s.push(id)).collect();
    assert_eq!(
        out,
        [
            Some("a".to_string()),
            None,
            None,
            Some("€".to_string()),
            Some("a".to_string())
        ]
    );
    assert_eq!(s.flush(), None);
    // A dangling partial character is flushed as a replacement character.
    let mut s = t.stream_decoder(true);
    assert_eq!(s.push(ids[1]), None);
    assert_eq!(s.flush(), Some("\u{FFFD}".to_string()));
}

#[test]
fn longest_special_token_wins_as_in_llama_cpp() {
    // "<a><b>" is longer than "<a>", so it is cut out first even though "<a>" starts at the same place.
    let tokens = ["<a>", "<a><b>", "x", "<", ">", "a", "b"];
    let g = gguf(&[
        ("tokenizer.ggml.model", GValue::String("gpt2".into())),
        ("tokenizer.ggml.pre", GValue::String("gpt-2".into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.token_type", i32s(&[3, 4, 1, 1, 1, 1, 1])),
        ("tokenizer.ggml.merges", strs(&["a b"])),
    ]);
    let t = ModelTokenizer::from_gguf(&g, "t.gguf").unwrap();
    assert_eq!(t.encode("x<a><b>x<a>", false).unwrap(), [2, 1, 2, 0]);
}

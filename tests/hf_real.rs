//! The native safetensors path on real weights: scripts/make-hf-folder.sh rebuilds a genuine Hugging Face
//! folder (bf16, two shards and an index, config.json, tokenizer.json, the chat template) from the
//! Qwen2.5-Coder-0.5B GGUF, and a GGUF holding the same bf16 values. Both then store identical numbers,
//! so at `--precision f32` the safetensors path and the GGUF path must compute the same model: the same
//! prompt ids, the same greedy ids over 64 tokens, log-probabilities within 1e-3.
//!
//! Why the bf16 GGUF and not the original Q4_K_M file: rounding the dequantized weights to bf16 moves
//! each by up to 2⁻⁹ of its value, which moves log-probabilities by more than 1e-3; comparing against the
//! same values isolates what the test is about (names, row order, RoPE style, config reading).

use crate::support::*;
use modelvet::engine::{EngineOptions, Flow, GenParams, Generator, Precision, Prompt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The rebuilt folder and the bf16 GGUF, made once per test run (a no-op when they exist).
fn rebuilt() -> Option<(PathBuf, PathBuf)> {
    static OUT: OnceLock<Option<PathBuf>> = OnceLock::new();
    let out = OUT
        .get_or_init(|| {
            real_model(QWEN)?;
            derived_models("make-hf-folder.sh")
        })
        .clone()?;
    Some((
        out.join("qwen2.5-coder-0.5b-hf"),
        out.join("qwen2.5-coder-0.5b-bf16.gguf"),
    ))
}

fn engine(path: &Path, precision: Precision) -> Box<dyn Generator> {
    let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default()).unwrap();
    let opts = EngineOptions {
        precision,
        ..Default::default()
    };
    modelvet::engine::load_with(&m, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn chat(user: &str) -> Prompt {
    Prompt::Chat {
        system: None,
        user: user.into(),
        thinking: None,
    }
}

const CODE: &str = "def quicksort(arr):\n    if len(arr) <= 1:\n        return arr\n    pivot = arr[len(arr) // 2]\n    left = [x for x in arr if x < pivot]\n    middle = [x for x in arr if x == pivot]\n    right = [x for x in arr if x > pivot]\n    return quicksort(left) + middle + quicksort(right)\n";

fn greedy(g: &mut dyn Generator, p: &Prompt) -> Vec<u32> {
    let params = GenParams {
        max_tokens: 64,
        ..Default::default()
    };
    g.generate(p, &params, &mut |_| Flow::Continue).unwrap().ids
}

/// Log-probabilities of `CODE`'s tokens after a prompt (about 70 positions, teacher-forced).
fn code_logprobs(g: &mut dyn Generator, p: &Prompt) -> Vec<f64> {
    let s = g.score(p, &[CODE.to_owned()]).unwrap();
    assert!(s[0].ids.len() >= 64, "{} tokens", s[0].ids.len());
    s[0].logprobs.clone()
}

fn max_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_safetensors_and_gguf_paths_compute_the_same_model_on_the_same_bf16_weights() {
    let Some((folder, gguf)) = rebuilt() else {
        return;
    };
    let mut st = engine(&folder, Precision::F32);
    let mut gg = engine(&gguf, Precision::F32);
    assert_eq!(st.info().backend, "native-safetensors");
    assert_eq!(gg.info().backend, "native-gguf");
    assert_eq!(st.info().weights.len(), 2, "{:?}", st.info());
    let prompts = [
        chat("Write a Python function that checks whether a number is prime."),
        Prompt::Raw {
            text: "# Binary search in Python\ndef binary_search(items, target):\n".into(),
        },
    ];
    for p in &prompts {
        // tokenizer.json (rebuilt from the GGUF vocabulary) and the GGUF tokenizer give the same ids.
        assert_eq!(
            st.render(p).unwrap().ids,
            gg.render(p).unwrap().ids,
            "{p:?}"
        );
        let (a, b) = (code_logprobs(st.as_mut(), p), code_logprobs(gg.as_mut(), p));
        let gap = max_gap(&a, &b);
        eprintln!("safetensors vs GGUF (same bf16 values, f32): max log-prob gap {gap:.2e}");
        assert!(gap < 1e-3, "{p:?}: log-probabilities differ by {gap}");
        assert_eq!(greedy(st.as_mut(), p), greedy(gg.as_mut(), p), "{p:?}");
    }
}

#[test]
fn the_folder_on_its_mapped_bf16_weights_agrees_with_their_f32_widening() {
    let Some((folder, _)) = rebuilt() else {
        return;
    };
    let mut stored = engine(&folder, Precision::Auto);
    assert!(
        stored.info().precision.starts_with("bf16, "),
        "{:?}",
        stored.info()
    );
    let mut widened = engine(&folder, Precision::F32);
    let p = chat("Write a Python function that reverses a string.");
    let gap = max_gap(
        &code_logprobs(stored.as_mut(), &p),
        &code_logprobs(widened.as_mut(), &p),
    );
    eprintln!("bf16 kernels vs f32 widening: max log-prob gap {gap:.2e}");
    // The same products summed in another order (FMA lanes vs a scalar-order f32 dot).
    assert!(gap < 1e-3, "bf16 vs f32 differ by {gap}");
}

#[test]
fn provenance_reads_the_rebuilt_folder_as_a_hugging_face_folder() {
    let Some((folder, _)) = rebuilt() else {
        return;
    };
    let run = provenance(&folder);
    assert!(run.code <= 1, "{}", run.stderr);
    let j = run.json();
    let text = j.to_string();
    let shards: Vec<_> = j["safetensors"]
        .as_array()
        .unwrap_or_else(|| panic!("no safetensors headers in {text}"))
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shards,
        [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors"
        ]
    );
    for s in j["safetensors"].as_array().unwrap() {
        assert_eq!(
            s["dtypes"]["BF16"].as_u64().map(|n| n > 0),
            Some(true),
            "{s}"
        );
    }
    assert!(
        !run.codes().iter().any(|c| c.starts_with("safetensors-")),
        "{:?}",
        run.codes()
    );
    // The tokenizer is recognised as Qwen2's, as for the GGUF it came from.
    assert!(text.contains("Qwen2"), "{text}");
}

//! Qwen3 MoE (`qwen3moe`) on modelvet's native forward pass, and the native Qwen3 pass it builds on,
//! checked against llama.cpp on tiny random-weight files the tests write (`support::tiny`).
//!
//! Why against llama.cpp: it is the reference implementation of the GGUF architectures, and candle 0.11
//! has no Qwen3 MoE to compare with. The reference run is `scripts/llama-cpp-greedy.py` (llama-cpp-python,
//! one thread, f32 KV cache), given token ids so neither tokenizer is involved. Those checks are skipped
//! with a note when `llama_cpp` is not importable, unless MODELVET_REQUIRE_LLAMA_CPP=1 (after
//! scripts/setup-llama-server.sh), where that fails.
//!
//! Random weights only mean something if they are not flat: the fixture's logits must have a clear
//! winner, and its router must matter, or any two implementations would agree.

use crate::support::tiny::*;
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Tensor;
use modelvet::engine::native::{Model, Step, Weights};
use modelvet::engine::{EngineError, Flow, GenParams, Prompt};
use modelvet::provenance::gguf::GgufFile;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Greedy steps compared with llama.cpp.
const STEPS: usize = 32;
/// Largest difference allowed between a log-probability here and llama.cpp's.
const TOLERANCE: f64 = 1e-3;
/// Largest difference allowed at one position of a run (prompt or step): where the two sum a product
/// in another order (modelvet's Q4_0/Q5_0/Q8_0 kernels add whole blocks into four partial sums;
/// llama.cpp's x86 build keeps eight lane sums per block), a value an activation block rounds to 8 bits
/// can land on the other side of a half, which moved one step of 32 by 6e-3 while every other stayed
/// within 1e-6. A wrong pass moves them all.
const ONE_OFF_TOLERANCE: f64 = 1e-2;

/// The prompt every comparison starts from: `<|im_start|>hello the`, as token ids.
fn prompt() -> Vec<u32> {
    let mut ids = vec![token_id("<|im_start|>"), token_id("hello")];
    ids.extend([token_id("Ġthe"), token_id("Ġa"), u32::from(b'b')]);
    ids
}

/// Writes a fixture with sharp logits: the Qwen3 MoE as it is, the others [`sharpen`]ed.
fn write(arch: TinyGguf, dir: &Path) -> PathBuf {
    let p = dir.join(format!("tiny-{}.gguf", arch.architecture()));
    match arch {
        TinyGguf::Qwen3Moe => write_tiny_gguf(arch, &p),
        _ => write_tiny_gguf_with(arch, &p, |_, tensors| sharpen(tensors)),
    }
    p
}

fn load(path: &Path) -> Result<Model, EngineError> {
    let header = GgufFile::open(path).unwrap();
    let rel = path.file_name().unwrap().to_str().unwrap();
    Model::load(path, rel, &header, Weights::Stored)
}

fn log_softmax_at(row: &[f32], i: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let lse = max
        + row
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    row[i] as f64 - lse
}

/// The highest logit, the lower id on a tie (as the reference script picks).
fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// A greedy run: the ids chosen and each one's log-probability, and the prompt tokens' own.
#[derive(Debug)]
struct Run {
    ids: Vec<u32>,
    logprobs: Vec<f64>,
    prompt_logprobs: Vec<f64>,
}

fn native_greedy(model: &Model, prompt: &[u32], steps: usize) -> Run {
    let mut seq = model.new_seq();
    let rows = model
        .forward(&mut [Step {
            seq: &mut seq,
            tokens: prompt,
            all_logits: true,
        }])
        .unwrap()
        .remove(0);
    let prompt_logprobs = (1..prompt.len())
        .map(|i| log_softmax_at(&rows[i - 1], prompt[i] as usize))
        .collect();
    let mut row = rows.last().unwrap().clone();
    let (mut ids, mut logprobs) = (Vec::new(), Vec::new());
    for step in 0..steps {
        if step > 0 {
            row = model.feed(&mut seq, &[*ids.last().unwrap()]).unwrap();
        }
        let tok = argmax(&row);
        ids.push(tok as u32);
        logprobs.push(log_softmax_at(&row, tok));
    }
    Run {
        ids,
        logprobs,
        prompt_logprobs,
    }
}

/// llama.cpp's greedy run, or `None` (skip, with a note) when llama-cpp-python is not importable.
fn llama_cpp_greedy(model: &Path, prompt: &[u32], steps: usize) -> Option<Run> {
    let importable = Command::new("python3")
        .args(["-c", "import llama_cpp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        if std::env::var("MODELVET_REQUIRE_LLAMA_CPP").as_deref() == Ok("1") {
            panic!("llama_cpp is not importable: run scripts/setup-llama-server.sh");
        }
        eprintln!("note: skipping the llama.cpp comparison, llama_cpp is not importable (scripts/setup-llama-server.sh installs it)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/llama-cpp-greedy.py");
    let ids: Vec<String> = prompt.iter().map(|t| t.to_string()).collect();
    let out = Command::new("python3")
        .arg(&script)
        .arg(model)
        .args(["--prompt", &ids.join(","), "--tokens", &steps.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let floats = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    Some(Run {
        ids: v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect(),
        logprobs: floats("logprobs"),
        prompt_logprobs: floats("prompt_logprobs"),
    })
}

/// The native pass and llama.cpp pick the same `STEPS` greedy tokens and give every prompt and chosen
/// token the same log-probability within `TOLERANCE` (one of them within `ONE_OFF_TOLERANCE`).
fn agrees_with_llama_cpp(arch: TinyGguf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(arch, dir.path());
    let model = load(&path).unwrap();
    assert_sharp(&model, &format!("{arch:?}"));
    agrees_on(&model, &path, &format!("{arch:?}"), &prompt());
}

/// [`agrees_with_llama_cpp`] on any file, `arch` naming it in messages.
fn agrees_on(model: &Model, path: &Path, arch: &str, prompt: &[u32]) {
    let native = native_greedy(model, prompt, STEPS);
    let Some(reference) = llama_cpp_greedy(path, prompt, STEPS) else {
        return;
    };
    let deltas = |a: &[f64], b: &[f64]| -> Vec<f64> {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect()
    };
    let prompt_d = deltas(&native.prompt_logprobs, &reference.prompt_logprobs);
    let same_ids = native.ids == reference.ids;
    // Log-probabilities of the chosen tokens compare only while both chose the same ones.
    let agreed = native
        .ids
        .iter()
        .zip(&reference.ids)
        .take_while(|(a, b)| a == b)
        .count();
    let step_d = deltas(&native.logprobs[..agreed], &reference.logprobs[..agreed]);
    let max = prompt_d.iter().chain(&step_d).fold(0f64, |a, &b| a.max(b));
    eprintln!(
        "{arch} vs llama.cpp: ids identical over {STEPS} steps: {same_ids}; max |Δ logprob| {max:.3e} \
         (prompt {:.1e}, steps {:.1e})",
        prompt_d.iter().fold(0f64, |a, &b| a.max(b)),
        step_d.iter().fold(0f64, |a, &b| a.max(b)),
    );
    if !same_ids || max >= TOLERANCE {
        let show = |d: &[f64]| {
            d.iter()
                .map(|x| format!("{x:.1e}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!(
            "{arch}: |Δ| per prompt token {}\nper step {}",
            show(&prompt_d),
            show(&step_d)
        );
    }
    assert!(
        same_ids,
        "{arch}: native {:?}\nllama.cpp {:?}",
        native.ids, reference.ids
    );
    let over = prompt_d
        .iter()
        .chain(&step_d)
        .filter(|&&d| d >= TOLERANCE)
        .count();
    assert!(
        over <= 1 && max < ONE_OFF_TOLERANCE,
        "{arch}: log-probabilities differ by up to {max:.3e}, {over} of them by {TOLERANCE} or more\nnative {native:?}\nllama.cpp {reference:?}"
    );
}

#[test]
fn qwen3moe_agrees_with_llama_cpp() {
    agrees_with_llama_cpp(TinyGguf::Qwen3Moe);
}

#[test]
fn dense_qwen3_agrees_with_llama_cpp() {
    agrees_with_llama_cpp(TinyGguf::Qwen3);
}

/// The logits after the prompt: the gap between the best token and the runner-up, and the best
/// token's probability.
fn margin(row: &[f32]) -> (f32, f64) {
    let mut sorted = row.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    (
        sorted[0] - sorted[1],
        log_softmax_at(row, argmax(row)).exp(),
    )
}

/// The logits after [`prompt`] have a clear winner (so agreeing on them means something), and returns
/// them.
fn assert_sharp(model: &Model, label: &str) -> Vec<f32> {
    let mut seq = model.new_seq();
    let logits = model.feed(&mut seq, &prompt()).unwrap();
    let (gap, p) = margin(&logits);
    eprintln!("{label}: the top token leads by {gap:.3}, with probability {p:.3}");
    let uniform = 1.0 / logits.len() as f64;
    assert!(
        gap > 0.2 && p > 20.0 * uniform,
        "{label}: near-flat logits: the top token leads by {gap}, with probability {p} (uniform {uniform})"
    );
    logits
}

#[test]
fn the_tiny_moe_has_a_clear_winner_and_its_router_matters() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(TinyGguf::Qwen3Moe, dir.path());
    let logits = assert_sharp(&load(&path).unwrap(), "Qwen3Moe");

    // The same file with every router negated: other experts are chosen, and the output moves.
    let flipped = dir.path().join("flipped.gguf");
    write_tiny_gguf_with(TinyGguf::Qwen3Moe, &flipped, |_, tensors| {
        for (name, t) in tensors.iter_mut() {
            if name.ends_with("ffn_gate_inp.weight") {
                let w = t
                    .dequantize(&candle_core::Device::Cpu)
                    .unwrap()
                    .neg()
                    .unwrap();
                *t = QTensor::quantize(&w, GgmlDType::F32).unwrap();
            }
        }
    });
    let other = load(&flipped).unwrap();
    let mut seq = other.new_seq();
    let moved = other.feed(&mut seq, &prompt()).unwrap();
    let change = logits
        .iter()
        .zip(&moved)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("negating the router moves a logit by up to {change:.3}");
    assert!(
        change > 0.5,
        "negating the router moved no logit by more than {change}"
    );
}

#[test]
fn a_batch_gives_each_sequence_the_bits_it_gets_alone() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&write(TinyGguf::Qwen3Moe, dir.path())).unwrap();
    let heads: [&[u32]; 3] = [&[1, 2, 3, 4], &[104, 101], &[265, 32, 116, 104, 101, 97]];
    let nexts: [&[u32]; 3] = [&[5], &[108, 108, 111], &[98]];
    // One at a time.
    let alone: Vec<Vec<Vec<f32>>> = heads
        .iter()
        .zip(&nexts)
        .map(|(h, n)| {
            let mut seq = model.new_seq();
            model.feed(&mut seq, h).unwrap();
            model
                .forward(&mut [Step {
                    seq: &mut seq,
                    tokens: n,
                    all_logits: true,
                }])
                .unwrap()
                .remove(0)
        })
        .collect();
    // All three prompts in one pass, then all three continuations in another.
    let mut seqs: Vec<_> = heads.iter().map(|_| model.new_seq()).collect();
    let mut steps: Vec<Step> = seqs
        .iter_mut()
        .zip(&heads)
        .map(|(seq, tokens)| Step {
            seq,
            tokens,
            all_logits: false,
        })
        .collect();
    model.forward(&mut steps).unwrap();
    let mut steps: Vec<Step> = seqs
        .iter_mut()
        .zip(&nexts)
        .map(|(seq, tokens)| Step {
            seq,
            tokens,
            all_logits: true,
        })
        .collect();
    let together = model.forward(&mut steps).unwrap();
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert!(a == b, "sequence {i} differs when batched");
    }
}

#[test]
fn scoring_continuations_gives_what_feeding_them_one_token_at_a_time_gives() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [TinyGguf::Qwen3, TinyGguf::Qwen3Moe, TinyGguf::Gemma3] {
        let model = load(&write(arch, dir.path())).unwrap();
        let head: &[u32] = &[token_id("<|im_start|>"), token_id("hello")];
        let suffix: &[u32] = &[token_id("Ġthe"), token_id("Ġa"), u32::from(b'b')];
        let conts: Vec<Vec<u32>> =
            vec![vec![5], vec![108, 108, 111], vec![], vec![98, 265, 32, 116]];
        let mut base = model.new_seq();
        model.advance(&mut base, head).unwrap();
        let scored = model.score(&base, suffix, &conts).unwrap();
        assert_eq!(scored.len(), conts.len());
        for (c, got) in conts.iter().zip(&scored) {
            // The reference: the whole prompt from scratch, then the continuation a token at a time.
            let mut seq = model.new_seq();
            let mut row = model.feed(&mut seq, &[head, suffix].concat()).unwrap();
            let mut want = Vec::new();
            for &id in c {
                want.push(log_softmax_at(&row, id as usize));
                row = model.feed(&mut seq, &[id]).unwrap();
            }
            assert_eq!(got.len(), want.len(), "{arch:?} {c:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-12,
                    "{arch:?} {c:?}: scored {got:?}, fed {want:?}"
                );
            }
        }
        // The continuations differ, so their scores must too.
        assert_ne!(scored[0][0], scored[3][0], "{arch:?}");
    }
}

#[test]
fn qwen3moe_runs_through_the_engine_on_the_native_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(TinyGguf::Qwen3Moe, dir.path());
    let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default()).unwrap();
    let mut g = modelvet::engine::load(&m).unwrap();
    assert_eq!(g.info().backend, "native-gguf");
    let params = GenParams {
        max_tokens: 8,
        temperature: 0.0,
        ..Default::default()
    };
    let prompt = Prompt::Raw {
        text: "hello the".into(),
    };
    let a = g
        .generate(&prompt, &params, &mut |_| Flow::Continue)
        .unwrap();
    let b = g
        .generate(&prompt, &params, &mut |_| Flow::Continue)
        .unwrap();
    assert!(!a.ids.is_empty());
    assert_eq!(a.ids, b.ids, "greedy decoding is deterministic");
}

/// Loads a broken variant of the tiny MoE through the engine and returns the error's text.
fn broken(
    name: &str,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>),
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    write_tiny_gguf_with(TinyGguf::Qwen3Moe, &path, edit);
    let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default()).unwrap();
    match modelvet::engine::load(&m) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                matches!(e, EngineError::InvalidModel { .. }),
                "{name}: {msg}"
            );
            assert!(msg.contains(name), "the error names the file: {msg}");
            msg
        }
    }
}

fn set(meta: &mut [(String, Value)], key: &str, v: u32) {
    let slot = meta.iter_mut().find(|(k, _)| k == key).unwrap();
    slot.1 = Value::U32(v);
}

#[test]
fn hostile_moe_files_are_refused_with_the_reason() {
    let msg = broken("more-used-than-experts.gguf", |meta, _| {
        set(meta, "qwen3moe.expert_used_count", 9)
    });
    assert!(
        msg.contains("expert_used_count` = 9") && msg.contains("1 to 8"),
        "{msg}"
    );

    let msg = broken("no-experts.gguf", |meta, _| {
        set(meta, "qwen3moe.expert_count", 0)
    });
    assert!(msg.contains("expert_count` = 0"), "{msg}");

    let msg = broken("missing-expert.gguf", |_, tensors| {
        tensors.retain(|(n, _)| n != "blk.1.ffn_up_exps.weight")
    });
    assert!(
        msg.contains("blk.1.ffn_up_exps.weight") && msg.contains("missing"),
        "{msg}"
    );

    // The metadata promises wider experts than the tensors hold.
    let msg = broken("wide-experts.gguf", |meta, _| {
        set(meta, "qwen3moe.expert_feed_forward_length", 64)
    });
    assert!(
        msg.contains("blk.0.ffn_gate_exps.weight") && msg.contains("[64, 32, 8]"),
        "{msg}"
    );

    // One layer stores fewer experts than the header counts.
    let msg = broken("short-stack.gguf", |_, tensors| {
        for (name, t) in tensors.iter_mut() {
            if name == "blk.2.ffn_down_exps.weight" {
                let w = t.dequantize(&candle_core::Device::Cpu).unwrap();
                let kept = w.narrow(0, 0, EXPERTS - 1).unwrap().flatten_all().unwrap();
                let w = Tensor::from_vec(
                    kept.to_vec1::<f32>().unwrap(),
                    (EXPERTS - 1, HIDDEN, EXPERT_FFN),
                    &candle_core::Device::Cpu,
                )
                .unwrap();
                *t = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
            }
        }
    });
    assert!(
        msg.contains("blk.2.ffn_down_exps.weight") && msg.contains("[32, 64, 7]"),
        "{msg}"
    );
}

/// `--precision f32` widens the router and every expert: the same model computed on the exact stored
/// values, so its first tokens are the same and their log-probabilities differ from the quantized
/// arithmetic only by the rounding of activations (later tokens may part on a near-tie).
#[test]
fn f32_precision_widens_every_expert_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(TinyGguf::Qwen3Moe, dir.path());
    let header = GgufFile::open(&path).unwrap();
    let wide = Model::load(&path, "tiny.gguf", &header, Weights::F32).unwrap();
    let stored = load(&path).unwrap();
    let (a, b) = (
        native_greedy(&stored, &prompt(), 4),
        native_greedy(&wide, &prompt(), 4),
    );
    assert_eq!(a.ids, b.ids);
    let max = a
        .logprobs
        .iter()
        .zip(&b.logprobs)
        .map(|(x, y)| (x - y).abs())
        .fold(0f64, f64::max);
    assert!(max > 0.0 && max < 0.1, "{max}");
}

/// candle-transformers, the cross-check path of the other architectures, does not run Qwen3 MoE: asking
/// for it is a clear error, not another architecture's loader failing on missing tensors.
#[test]
fn the_candle_transformers_path_refuses_qwen3moe_by_name() {
    use modelvet::engine::EngineOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = write(TinyGguf::Qwen3Moe, dir.path());
    let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default()).unwrap();
    let opts = EngineOptions {
        candle_transformers: true,
        ..Default::default()
    };
    let err = modelvet::engine::load_with(&m, &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`qwen3moe` is not supported for candle-transformers GGUF"),
        "{err}"
    );
}

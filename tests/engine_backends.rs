//! Every loading path of the candle backend, on tiny random-weight models the tests write themselves
//! (`support::tiny`): six GGUF architectures and six Hugging Face `model_type`s.
//!
//! Why it exists: the real-model tests (`engine_real`) cover two architectures and need downloads; these
//! run everywhere, in seconds, and catch a loader that no longer finds a tensor or a key, a backend that
//! stops being deterministic, or a prefix cache that changes what the model computes. Random weights say
//! nothing about quality, so the specs are about mechanics: it loads, it names itself, the same settings
//! give the same ids, and scores are well-formed log-likelihoods that do not depend on cache state.

use crate::support::tiny::*;
use modelvet::engine::{EngineError, Flow, GenParams, Generation, Generator, Prompt, Scored};
use std::path::{Path, PathBuf};

/// One tiny model fixture.
#[derive(Debug, Clone, Copy)]
enum Fixture {
    Gguf(TinyGguf),
    Hf(TinyHf),
}

impl Fixture {
    /// Writes the fixture into `dir` and returns the path to hand to `resolve`.
    fn write(self, dir: &Path) -> PathBuf {
        match self {
            Fixture::Gguf(arch) => {
                let p = dir.join(format!("tiny-{}.gguf", arch.architecture()));
                write_tiny_gguf(arch, &p);
                p
            }
            Fixture::Hf(arch) => {
                let p = dir.join(format!("tiny-{}", arch.model_type()));
                write_tiny_hf(arch, &p);
                p
            }
        }
    }
}

/// Resolves and loads a model path, or the engine's error.
fn try_load(path: &Path) -> Result<Box<dyn Generator>, EngineError> {
    let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default())
        .unwrap_or_else(|e| panic!("{} does not resolve: {e}", path.display()));
    modelvet::engine::load(&m)
}

/// Loads a model that must load.
fn load(path: &Path) -> Box<dyn Generator> {
    try_load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The error loading `path` gives (panics when it loads).
fn load_error(path: &Path) -> EngineError {
    match try_load(path) {
        Ok(g) => panic!(
            "{} loaded as {:?}, expected an error",
            path.display(),
            g.info()
        ),
        Err(e) => e,
    }
}

/// A fresh temporary folder with the fixture written in it, and the fixture loaded.
fn fixture(f: Fixture) -> (tempfile::TempDir, Box<dyn Generator>) {
    let dir = tempfile::tempdir().unwrap();
    let path = f.write(dir.path());
    let g = load(&path);
    (dir, g)
}

fn chat(user: &str) -> Prompt {
    Prompt::Chat {
        system: None,
        user: user.into(),
        thinking: None,
    }
}

fn generate(g: &mut dyn Generator, prompt: &Prompt, params: &GenParams) -> Generation {
    g.generate(prompt, params, &mut |_| Flow::Continue).unwrap()
}

fn greedy(max_tokens: usize) -> GenParams {
    GenParams {
        max_tokens,
        ..Default::default()
    }
}

fn sampled(seed: u64) -> GenParams {
    GenParams {
        max_tokens: 8,
        temperature: 0.8,
        top_p: Some(0.9),
        seed,
    }
}

fn score_a_b(g: &mut dyn Generator, prompt: &Prompt) -> Vec<Scored> {
    g.score(prompt, &[" a".into(), " b".into()]).unwrap()
}

/// Checks a generation of at most `max` tokens is internally consistent.
fn assert_well_formed(gen: &Generation, max: usize) {
    assert!(
        gen.ids.len() <= max,
        "{} ids for max_tokens {max}",
        gen.ids.len()
    );
    assert!(gen.prompt_tokens > 0);
    if gen.stop == modelvet::engine::StopReason::MaxTokens {
        assert_eq!(
            gen.ids.len(),
            max,
            "stopped at max tokens with {} ids",
            gen.ids.len()
        );
    }
}

/// The same specs for every fixture: one module per fixture, one test per spec.
macro_rules! backend_specs {
    ($($name:ident: $fixture:expr, $arch:literal, $backend:literal;)*) => {$(
        mod $name {
            use super::*;

            const FIXTURE: Fixture = $fixture;

            #[test]
            fn loads_and_reports_its_architecture_and_backend() {
                let (_dir, g) = fixture(FIXTURE);
                let info = g.info();
                assert_eq!(info.architecture, $arch);
                assert_eq!(info.backend, $backend);
                assert!(!info.weights.is_empty(), "{info:?}");
                assert!(info.context_length > 0, "{info:?}");
                assert!(!info.stop_ids.is_empty(), "the end-of-turn token is a stop id: {info:?}");
            }

            #[test]
            fn renders_chat_prompts_with_the_models_own_template() {
                let (_dir, g) = fixture(FIXTURE);
                assert_ne!(g.info().chat_template, "none", "{:?}", g.info());
                let r = g.render(&chat("hello")).unwrap();
                assert_eq!(r.format, "template");
                assert!(r.text.contains("user\nhello"), "{:?}", r.text);
                assert!(!r.ids.is_empty());
            }

            #[test]
            fn greedy_generation_gives_the_same_ids_every_time() {
                let (dir, mut g) = fixture(FIXTURE);
                let prompt = chat("hello");
                let first = generate(g.as_mut(), &prompt, &greedy(8));
                assert_well_formed(&first, 8);
                let second = generate(g.as_mut(), &prompt, &greedy(8));
                assert_eq!(first.ids, second.ids, "greedy decoding is deterministic");
                assert_eq!(first.text, second.text);
                if g.info().prefix_cache {
                    assert!(second.cached_tokens > 0, "the second prompt reuses the cached template head");
                }
                // A freshly loaded engine (cold cache) agrees with the warm one.
                let mut fresh = load(&FIXTURE.write(dir.path()));
                let cold = generate(fresh.as_mut(), &prompt, &greedy(8));
                assert_eq!(cold.ids, first.ids, "a cold cache gives the same greedy ids");
            }

            #[test]
            fn seeded_top_p_sampling_gives_the_same_ids_for_the_same_seed() {
                let (_dir, mut g) = fixture(FIXTURE);
                let prompt = chat("hello");
                let first = generate(g.as_mut(), &prompt, &sampled(7));
                assert_well_formed(&first, 8);
                let second = generate(g.as_mut(), &prompt, &sampled(7));
                assert_eq!(first.ids, second.ids, "temperature 0.8, top-p 0.9, seed 7, twice");
                // Another seed must run too (its ids may or may not differ on a random model).
                assert_well_formed(&generate(g.as_mut(), &prompt, &sampled(8)), 8);
            }

            #[test]
            fn scores_are_negative_log_likelihoods_with_one_logprob_per_token() {
                let (_dir, mut g) = fixture(FIXTURE);
                let s = score_a_b(g.as_mut(), &Prompt::Raw { text: "hello".into() });
                assert_eq!(s.len(), 2);
                assert_eq!(s[0].continuation, " a");
                assert_eq!(s[1].continuation, " b");
                // " a" is one merged token in every tiny vocabulary; " b" is a space and a `b`.
                assert_eq!(s[0].ids.len(), 1, "{:?}", s[0]);
                assert_eq!(s[1].ids.len(), 2, "{:?}", s[1]);
                for x in &s {
                    assert_eq!(x.logprobs.len(), x.ids.len(), "{x:?}");
                    assert!(x.logprobs.iter().all(|l| l.is_finite() && *l < 0.0), "{x:?}");
                    assert!(x.sum.is_finite() && x.sum < 0.0, "{x:?}");
                    assert!((x.sum - x.logprobs.iter().sum::<f64>()).abs() < 1e-9, "{x:?}");
                    assert!((x.mean - x.sum / x.ids.len() as f64).abs() < 1e-12, "{x:?}");
                }
            }

            #[test]
            fn scores_are_the_same_with_a_cold_or_a_warm_prefix_cache() {
                let dir = tempfile::tempdir().unwrap();
                let path = FIXTURE.write(dir.path());
                for prompt in [Prompt::Raw { text: "hello".into() }, chat("hello")] {
                    let mut g = load(&path);
                    let cold = score_a_b(g.as_mut(), &prompt);
                    // Leave something else in the live cache, then score again over the warm head.
                    generate(g.as_mut(), &chat("the"), &greedy(2));
                    let warm = score_a_b(g.as_mut(), &prompt);
                    for (c, w) in cold.iter().zip(&warm) {
                        assert_eq!(c.ids, w.ids, "{prompt:?}");
                        assert!((c.sum - w.sum).abs() < 1e-4, "{prompt:?}: cold {c:?}, warm {w:?}");
                    }
                }
            }
        }
    )*};
}

backend_specs! {
    gguf_llama: Fixture::Gguf(TinyGguf::Llama), "llama", "native-gguf";
    gguf_qwen2: Fixture::Gguf(TinyGguf::Qwen2), "qwen2", "native-gguf";
    gguf_qwen3: Fixture::Gguf(TinyGguf::Qwen3), "qwen3", "native-gguf";
    gguf_qwen3moe: Fixture::Gguf(TinyGguf::Qwen3Moe), "qwen3moe", "native-gguf";
    gguf_gemma3: Fixture::Gguf(TinyGguf::Gemma3), "gemma3", "native-gguf";
    gguf_phi3: Fixture::Gguf(TinyGguf::Phi3), "phi3", "candle-gguf";
    safetensors_llama: Fixture::Hf(TinyHf::Llama), "llama", "native-safetensors";
    safetensors_qwen2: Fixture::Hf(TinyHf::Qwen2), "qwen2", "native-safetensors";
    safetensors_qwen3: Fixture::Hf(TinyHf::Qwen3), "qwen3", "native-safetensors";
    safetensors_mistral: Fixture::Hf(TinyHf::Mistral), "mistral", "native-safetensors";
    safetensors_gemma: Fixture::Hf(TinyHf::Gemma), "gemma", "candle-safetensors";
    safetensors_gemma3: Fixture::Hf(TinyHf::Gemma3), "gemma3_text", "native-safetensors";
}

#[test]
fn tiny_fixtures_are_the_same_bytes_on_every_write() {
    let dir = tempfile::tempdir().unwrap();
    for arch in TinyGguf::ALL {
        let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
        write_tiny_gguf(arch, &a);
        write_tiny_gguf(arch, &b);
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{arch:?}"
        );
    }
    for arch in TinyHf::ALL {
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_tiny_hf(arch, &a);
        write_tiny_hf(arch, &b);
        for f in ["model.safetensors", "config.json", "tokenizer.json"] {
            assert!(
                std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
                "{arch:?} {f}"
            );
        }
    }
}

#[test]
fn gemma3_gguf_puts_the_bos_its_template_writes_only_once() {
    let (_dir, g) = fixture(Fixture::Gguf(TinyGguf::Gemma3));
    let r = g.render(&chat("hello")).unwrap();
    assert!(
        r.text.starts_with("<bos><start_of_turn>user\nhello"),
        "{:?}",
        r.text
    );
    let bos = spm_vocab()
        .iter()
        .position(|(p, _, _)| p == "<bos>")
        .unwrap() as u32;
    assert_eq!(r.ids[0], bos);
    assert_ne!(
        r.ids[1], bos,
        "the template's BOS is not doubled: {:?}",
        r.ids
    );
}

#[test]
fn chatml_prompts_tokenize_special_tokens_and_merges_as_single_ids() {
    let dir = tempfile::tempdir().unwrap();
    for f in [Fixture::Gguf(TinyGguf::Llama), Fixture::Hf(TinyHf::Qwen2)] {
        let g = load(&f.write(dir.path()));
        let r = g.render(&chat("hello")).unwrap();
        assert_eq!(
            r.text, "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
            "{f:?}"
        );
        assert_eq!(r.ids[0], token_id("<|im_start|>"), "{f:?}: {:?}", r.ids);
        assert!(r.ids.contains(&token_id("hello")), "{f:?}: {:?}", r.ids);
        assert!(
            r.ids.contains(&token_id("<|im_end|>")),
            "{f:?}: {:?}",
            r.ids
        );
        assert!(
            g.info().stop_ids.contains(&token_id("<|im_end|>")),
            "{f:?}: {:?}",
            g.info()
        );
    }
}

#[test]
fn a_gguf_of_an_unsupported_architecture_is_refused_with_the_supported_list() {
    use candle_core::quantized::{gguf_file::Value, GgmlDType, QTensor};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-mamba.gguf");
    let mut meta = vec![
        (
            "general.architecture".to_owned(),
            Value::String("mamba".into()),
        ),
        ("mamba.block_count".to_owned(), Value::U32(1)),
        ("mamba.embedding_length".to_owned(), Value::U32(32)),
    ];
    meta.extend(gguf_tokenizer_metadata());
    let t = candle_core::Tensor::zeros(
        (vocab_size(), 32),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let tensors = vec![(
        "token_embd.weight".to_owned(),
        QTensor::quantize(&t, GgmlDType::F32).unwrap(),
    )];
    write_gguf_file(&path, &meta, &tensors);

    let e = load_error(&path);
    assert!(
        matches!(&e, EngineError::UnsupportedArchitecture { arch, .. } if arch == "mamba"),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(message.contains("mamba"), "{message}");
    for supported in modelvet::engine::candle::GGUF_ARCHITECTURES {
        assert!(
            message.contains(supported),
            "{message} does not list {supported}"
        );
    }
}

#[test]
fn a_safetensors_folder_of_an_unsupported_model_type_is_refused_with_the_supported_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-mamba");
    write_tiny_hf(TinyHf::Llama, &path);
    let mut config = hf_config(TinyHf::Llama);
    config["model_type"] = "mamba".into();
    std::fs::write(path.join("config.json"), config.to_string()).unwrap();

    let e = load_error(&path);
    assert!(
        matches!(&e, EngineError::UnsupportedArchitecture { arch, .. } if arch == "mamba"),
        "{e:?}"
    );
    let message = e.to_string();
    for supported in modelvet::engine::candle::SAFETENSORS_ARCHITECTURES {
        assert!(
            message.contains(supported),
            "{message} does not list {supported}"
        );
    }
}

#[test]
fn a_truncated_gguf_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.gguf");
    write_tiny_gguf(TinyGguf::Llama, &whole);
    let bytes = std::fs::read(&whole).unwrap();
    // Cut inside the last tensor, in the middle of the data, inside the tensor index and the metadata,
    // and inside the magic.
    for len in [bytes.len() - 1, bytes.len() / 2, 4096, 200, 2] {
        let cut = dir.path().join(format!("cut-{len}.gguf"));
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let e = load_error(&cut);
        assert!(!e.to_string().is_empty(), "cut at {len}");
    }
}

/// modelvet's own GGUF forward pass against candle-transformers' quantized models on the same weights
/// (f32, so both compute the exact stored values): the log-probabilities of every continuation agree.
/// Gemma 3 is left out on purpose: candle 0.11's quantized Gemma 3 uses SiLU where Gemma uses GELU.
#[test]
fn the_native_forward_pass_agrees_with_candle_transformers() {
    use modelvet::engine::{EngineOptions, Precision};
    let dir = tempfile::tempdir().unwrap();
    for arch in [TinyGguf::Llama, TinyGguf::Qwen2, TinyGguf::Qwen3] {
        let path = Fixture::Gguf(arch).write(dir.path());
        let m = modelvet::model::resolve(path.to_str().unwrap(), &Default::default()).unwrap();
        let engine = |candle_transformers| {
            let opts = EngineOptions {
                precision: Precision::F32,
                candle_transformers,
                ..Default::default()
            };
            modelvet::engine::load_with(&m, &opts).unwrap()
        };
        let (mut native, mut reference) = (engine(false), engine(true));
        assert_eq!(native.info().backend, "native-gguf");
        assert_eq!(reference.info().backend, "candle-gguf");
        for prompt in [
            chat("hello"),
            Prompt::Raw {
                text: "the a b hello".into(),
            },
        ] {
            let conts = [
                " a".to_owned(),
                " b hello the".to_owned(),
                "hello a".to_owned(),
            ];
            let a = native.score(&prompt, &conts).unwrap();
            let b = reference.score(&prompt, &conts).unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.ids, y.ids, "{arch:?}");
                for (p, q) in x.logprobs.iter().zip(&y.logprobs) {
                    assert!((p - q).abs() < 1e-3, "{arch:?} {prompt:?}: {x:?} vs {y:?}");
                }
            }
            // And greedy generation picks the same tokens.
            let ga = generate(native.as_mut(), &prompt, &greedy(6));
            let gb = generate(reference.as_mut(), &prompt, &greedy(6));
            assert_eq!(ga.ids, gb.ids, "{arch:?} {prompt:?}");
        }
    }
}

/// The batch server (several probes decoded in one forward pass) gives every request exactly what one
/// request at a time gives: the same ids, text and stop reason, with callbacks that stop early, with
/// sampling, and with scoring in between.
#[test]
fn batched_requests_get_the_same_answers_as_one_at_a_time() {
    use modelvet::engine::StopReason;
    for arch in [
        TinyGguf::Llama,
        TinyGguf::Qwen2,
        TinyGguf::Gemma3,
        TinyGguf::Qwen3Moe,
    ] {
        let (_dir, mut g) = fixture(Fixture::Gguf(arch));
        assert!(g.max_concurrency() > 1, "{arch:?}: native models batch");
        let prompts: Vec<(Prompt, GenParams, Option<usize>)> = (0..12)
            .map(|i| {
                let words = ["hello", "the a b", "b hello a the hello", "a"][i % 4];
                let prompt = if i % 3 == 0 {
                    Prompt::Raw {
                        text: words.repeat(1 + i % 5),
                    }
                } else {
                    chat(&words.repeat(1 + i % 4))
                };
                let params = if i % 5 == 4 {
                    sampled(i as u64)
                } else {
                    greedy(20 + i)
                };
                // Every third request stops itself after a few pieces.
                (prompt, params, (i % 3 == 1).then_some(3 + i % 4))
            })
            .collect();
        let run = |g: &mut dyn Generator,
                   (p, params, stop_after): &(Prompt, GenParams, Option<usize>)| {
            let mut pieces = 0;
            g.generate(p, params, &mut |_| {
                pieces += 1;
                match stop_after {
                    Some(n) if pieces >= *n => Flow::Stop,
                    _ => Flow::Continue,
                }
            })
            .unwrap()
        };
        let alone: Vec<Generation> = prompts.iter().map(|p| run(g.as_mut(), p)).collect();
        let handles: Vec<_> = (0..g.max_concurrency()).map_while(|_| g.handle()).collect();
        assert_eq!(handles.len(), g.max_concurrency());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let batched = std::sync::Mutex::new(vec![None; prompts.len()]);
        std::thread::scope(|s| {
            for mut h in handles {
                let (next, batched, prompts) = (&next, &batched, &prompts);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(p) = prompts.get(i) else { break };
                    if i == 5 {
                        // A score request arrives while generations are in flight.
                        let sc = h
                            .score(&chat("hello"), &[" a".into(), " b".into()])
                            .unwrap();
                        assert_eq!(sc.len(), 2);
                    }
                    let gen = run(h.as_mut(), p);
                    batched.lock().unwrap()[i] = Some(gen);
                });
            }
        });
        let batched = batched.into_inner().unwrap();
        let mut stopped = 0;
        for (i, (a, b)) in alone.iter().zip(&batched).enumerate() {
            let b = b.as_ref().expect("every request answered");
            assert_eq!(a.ids, b.ids, "{arch:?} request {i}");
            assert_eq!(a.text, b.text, "{arch:?} request {i}");
            assert_eq!(a.stop, b.stop, "{arch:?} request {i}");
            stopped += usize::from(b.stop == StopReason::Callback);
        }
        // The shared head is computed once in each mode, by whichever request reaches it first (in the
        // batch, that depends on thread scheduling): the same counts of cached tokens, in any order.
        let cached = |gens: Vec<usize>| {
            let mut v = gens;
            v.sort_unstable();
            v
        };
        assert_eq!(
            cached(alone.iter().map(|a| a.cached_tokens).collect()),
            cached(batched.iter().flatten().map(|b| b.cached_tokens).collect()),
            "{arch:?}"
        );
        assert!(
            stopped >= 2,
            "{arch:?}: the callbacks stopped some requests early"
        );
        // Scoring through a handle equals scoring on the engine.
        let mut h = g.handle().unwrap();
        let conts = [" a".to_owned(), " b hello".to_owned()];
        let x = h.score(&chat("the a"), &conts).unwrap();
        let y = g.score(&chat("the a"), &conts).unwrap();
        assert_eq!(x, y, "{arch:?}");
    }
}

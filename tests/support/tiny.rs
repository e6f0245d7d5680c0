//! Tiny random-weight models, one for every loading path of modelvet's candle backend, written by the
//! tests themselves so the engine can be exercised without downloading anything.
//!
//! Every fixture has the same shape (hidden size 64, 2 layers, 4 attention heads, 2 key-value heads,
//! head size 16, feed-forward size 128, context 512), except that the Qwen3 MoE has 3 layers whose
//! feed-forward is 8 experts of size 32, 2 per token. All but one share a tokenizer: a byte-level BPE
//! with the 256 GPT-2 byte symbols, a handful of merges (`hello`, ` the`, ` a`…) and the ChatML special
//! tokens `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` — 266 tokens, the models' vocabulary size — with
//! a small ChatML chat template. The GGUF files carry it as `tokenizer.ggml.*` metadata (model `gpt2`),
//! the Hugging Face folders as `tokenizer.json`. The Gemma 3 GGUF instead carries a Gemma-style
//! SentencePiece vocabulary (model `llama`: scores, `<0x00>`…`<0xFF>` byte tokens, `<bos>` added, no
//! space prefix) and a Gemma-style template that writes `{{ bos_token }}` itself, so the SentencePiece
//! tokenizer path and the "template already has the BOS" path run too.
//!
//! Weights come from a seeded generator keyed by tensor name, so a fixture is byte-for-byte the same on
//! every run (candle's CPU device cannot be seeded). The Hugging Face weights are laid out by building
//! the candle-transformers model itself on a `VarMap`, so the tensor names and shapes are exactly what
//! the loader asks for; the variables are then overwritten with the seeded values and saved.

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models as m;
use serde_json::json;
use std::path::Path;

/// Hidden (embedding) size of every tiny model.
pub const HIDDEN: usize = 64;
/// Transformer blocks.
pub const LAYERS: usize = 2;
/// Attention heads.
pub const HEADS: usize = 4;
/// Key-value heads (grouped-query attention, two query heads per key-value head).
pub const KV_HEADS: usize = 2;
/// Size of one attention head.
pub const HEAD_DIM: usize = HIDDEN / HEADS;
/// Feed-forward (intermediate) size.
pub const FFN: usize = 128;
/// Context length the models declare.
pub const CONTEXT: usize = 512;
/// Experts in each layer of the tiny Qwen3 MoE.
pub const EXPERTS: usize = 8;
/// Experts each token uses in the tiny Qwen3 MoE.
pub const EXPERTS_USED: usize = 2;
/// Feed-forward size of one expert.
pub const EXPERT_FFN: usize = 32;
/// Transformer blocks of the tiny Qwen3 MoE (one more than the others, so routing compounds).
pub const MOE_LAYERS: usize = 3;

/// The ChatML template every tiny model carries.
pub const CHAT_TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// The special tokens, in id order after the byte symbols and the merged tokens.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// The beginning-of-sequence token (declared, but not added: `add_bos_token` is false).
pub const BOS_TOKEN: &str = "<|endoftext|>";
/// The end-of-sequence token (the end of a chat turn).
pub const EOS_TOKEN: &str = "<|im_end|>";

/// BPE merges in rank order, written with GPT-2 byte symbols (`Ġ` is the space).
const MERGES: [(&str, &str); 7] = [
    ("h", "e"),
    ("l", "l"),
    ("he", "ll"),
    ("hell", "o"),
    ("Ġ", "t"),
    ("Ġ", "a"),
    ("Ġt", "he"),
];

/// GPT-2's `bytes_to_unicode`: the symbol standing for each byte. Printable bytes stand for
/// themselves; the others map, in byte order, to U+0100 onwards (so the space is `Ġ`, U+0120).
pub fn byte_symbols() -> [char; 256] {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut out = ['\0'; 256];
    let mut next = 0x100;
    for b in 0..256u32 {
        out[b as usize] = if printable(b) {
            char::from_u32(b).unwrap()
        } else {
            next += 1;
            char::from_u32(next - 1).unwrap()
        };
    }
    out
}

/// The whole vocabulary in id order: the 256 byte symbols (id = byte value), the merged tokens in
/// merge order, then [`SPECIAL_TOKENS`].
pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = byte_symbols().iter().map(|c| c.to_string()).collect();
    v.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
    v.extend(SPECIAL_TOKENS.iter().map(|s| s.to_string()));
    v
}

/// Number of tokens in the vocabulary (the models' vocabulary size).
pub fn vocab_size() -> usize {
    256 + MERGES.len() + SPECIAL_TOKENS.len()
}

/// The id of a token of the vocabulary (panics when it is not one).
pub fn token_id(token: &str) -> u32 {
    vocab()
        .iter()
        .position(|t| t == token)
        .unwrap_or_else(|| panic!("`{token}` is not in the tiny vocabulary")) as u32
}

/// Deterministic pseudo-random values in [-1, 1), from a generator seeded by `key`.
fn uniform(key: &str, n: usize) -> Vec<f32> {
    // FNV-1a of the key seeds a 64-bit LCG; the top 24 bits of each state give one value.
    let mut state = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A seeded random tensor for the weight `name` of model `key`, scaled by what it is: norm weights near
/// 1 (near 0 for Hugging Face Gemma, whose norms scale by `1 + w`), biases small, matrices (embeddings
/// included, so tied output layers give logits of unit scale) with a variance of 1 / row length.
fn seeded(key: &str, name: &str, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let u = uniform(&format!("{key}/{name}"), n);
    let values: Vec<f32> = if name.contains("norm") {
        let base = if key == "gemma" || key == "gemma3_text" {
            0.0
        } else {
            1.0
        };
        u.iter().map(|x| base + 0.1 * x).collect()
    } else if name.ends_with("bias") {
        u.iter().map(|x| 0.1 * x).collect()
    } else {
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        let scale = (3.0 / fan_in).sqrt();
        u.iter().map(|x| x * scale).collect()
    };
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// The GGUF architectures modelvet's candle backend runs (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyGguf {
    /// `llama` through `quantized_llama`: separate Q/K/V, gated MLP, its own `output.weight`.
    Llama,
    /// `qwen2` through `quantized_qwen2`: Q/K/V biases, output tied to the embeddings.
    Qwen2,
    /// `qwen3` through `quantized_qwen3`: per-head Q/K norms, explicit `key_length`.
    Qwen3,
    /// `gemma3` through `quantized_gemma3`: Q/K norms, post-attention and post-FFN norms, one sliding
    /// and one global layer, output tied to the embeddings; SentencePiece tokenizer ([`spm_vocab`]).
    Gemma3,
    /// `phi3` through `quantized_phi3`: fused QKV and fused gate+up, in F32 (the others are Q8_0).
    Phi3,
    /// `qwen3moe` (native only): Qwen3's attention and, in every one of its [`MOE_LAYERS`] layers, a
    /// router (`ffn_gate_inp`, F32 as llama.cpp keeps it) over [`EXPERTS`] SwiGLU experts of width
    /// [`EXPERT_FFN`] stored as Q8_0 3-D tensors, [`EXPERTS_USED`] per token.
    Qwen3Moe,
}

impl TinyGguf {
    /// Every GGUF fixture.
    pub const ALL: [TinyGguf; 6] = [
        TinyGguf::Llama,
        TinyGguf::Qwen2,
        TinyGguf::Qwen3,
        TinyGguf::Gemma3,
        TinyGguf::Phi3,
        TinyGguf::Qwen3Moe,
    ];

    /// The `general.architecture` value (and metadata key prefix).
    pub fn architecture(self) -> &'static str {
        match self {
            TinyGguf::Llama => "llama",
            TinyGguf::Qwen2 => "qwen2",
            TinyGguf::Qwen3 => "qwen3",
            TinyGguf::Gemma3 => "gemma3",
            TinyGguf::Phi3 => "phi3",
            TinyGguf::Qwen3Moe => "qwen3moe",
        }
    }
}

/// The `tokenizer.ggml.*` metadata of the tiny byte-level BPE, with its chat template.
pub fn gguf_tokenizer_metadata() -> Vec<(String, Value)> {
    let vocab = vocab();
    let types = (0..vocab.len())
        .map(|i| Value::I32(if i >= 256 + MERGES.len() { 3 } else { 1 }))
        .collect();
    vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(vocab.into_iter().map(Value::String).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(
                MERGES
                    .iter()
                    .map(|(a, b)| Value::String(format!("{a} {b}")))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.bos_token_id".into(),
            Value::U32(token_id(BOS_TOKEN)),
        ),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(token_id(EOS_TOKEN)),
        ),
        (
            "tokenizer.ggml.padding_token_id".into(),
            Value::U32(token_id(BOS_TOKEN)),
        ),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        (
            "tokenizer.chat_template".into(),
            Value::String(CHAT_TEMPLATE.into()),
        ),
    ]
}

/// The Gemma-style chat template of the SentencePiece vocabulary: it writes the BOS token itself.
pub const GEMMA_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

/// SentencePiece pieces that merge, in priority order (the first has the highest score).
const SPM_MERGED: [&str; 8] = ["he", "ll", "hell", "hello", "▁t", "▁a", "▁the", "▁hello"];

/// The Gemma-style SentencePiece vocabulary as (piece, score, GGUF token type): the special tokens
/// `<pad>`, `<eos>`, `<bos>`, `<unk>`, `<start_of_turn>`, `<end_of_turn>`, the 256 byte tokens
/// `<0x00>`…`<0xFF>` (type 6), single characters, then the merged pieces with scores ranking their
/// merges. Characters outside the vocabulary (the newline, say) fall back to byte tokens.
pub fn spm_vocab() -> Vec<(String, f32, i32)> {
    let mut v: Vec<(String, f32, i32)> = vec![
        ("<pad>".into(), 0.0, 3),
        ("<eos>".into(), 0.0, 3),
        ("<bos>".into(), 0.0, 3),
        ("<unk>".into(), 0.0, 2),
        ("<start_of_turn>".into(), 0.0, 3),
        ("<end_of_turn>".into(), 0.0, 3),
    ];
    v.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
    v.extend(
        "▁abcdehilmnorstu"
            .chars()
            .map(|c| (c.to_string(), -1000.0, 1)),
    );
    v.extend(
        SPM_MERGED
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), -(i as f32) - 1.0, 1)),
    );
    v
}

/// The `tokenizer.ggml.*` metadata of the SentencePiece vocabulary ([`spm_vocab`]), with
/// [`GEMMA_CHAT_TEMPLATE`]: `<bos>` is added, `<eos>` ends a sequence and `<end_of_turn>` a turn.
pub fn gguf_spm_tokenizer_metadata() -> Vec<(String, Value)> {
    let vocab = spm_vocab();
    let id =
        |piece: &str| Value::U32(vocab.iter().position(|(p, _, _)| p == piece).unwrap() as u32);
    vec![
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(
                vocab
                    .iter()
                    .map(|(p, _, _)| Value::String(p.clone()))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.scores".into(),
            Value::Array(vocab.iter().map(|(_, s, _)| Value::F32(*s)).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(vocab.iter().map(|(_, _, t)| Value::I32(*t)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), id("<bos>")),
        ("tokenizer.ggml.eos_token_id".into(), id("<eos>")),
        ("tokenizer.ggml.unknown_token_id".into(), id("<unk>")),
        ("tokenizer.ggml.padding_token_id".into(), id("<pad>")),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
        ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
        ("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)),
        (
            "tokenizer.chat_template".into(),
            Value::String(GEMMA_CHAT_TEMPLATE.into()),
        ),
    ]
}

/// Writes a GGUF file with the given metadata and (name, tensor) pairs through candle's writer.
pub fn write_gguf_file(path: &Path, metadata: &[(String, Value)], tensors: &[(String, QTensor)]) {
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    candle_core::quantized::gguf_file::write(&mut f, &meta, &tens).unwrap();
    std::io::Write::flush(&mut f).unwrap();
}

/// Writes a tiny random-weight GGUF model of architecture `arch` to `path`, with the metadata keys and
/// tensor names its candle loader reads, and the tiny tokenizer and chat template (the byte-level BPE
/// and ChatML, or for Gemma 3 the SentencePiece vocabulary and Gemma's template).
///
/// Matrices whose rows are a multiple of 32 long are stored as Q8_0 (F32 for Phi-3); vectors as F32.
pub fn write_tiny_gguf(arch: TinyGguf, path: &Path) {
    write_tiny_gguf_with(arch, path, |_, _| {})
}

/// [`write_tiny_gguf`], with `edit` given the metadata and tensors before they are written (a broken
/// file, a different router).
pub fn write_tiny_gguf_with(
    arch: TinyGguf,
    path: &Path,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>),
) {
    let a = arch.architecture();
    let layers = match arch {
        TinyGguf::Qwen3Moe => MOE_LAYERS,
        _ => LAYERS,
    };
    let kv_dim = KV_HEADS * HEAD_DIM;
    let q_dim = HEADS * HEAD_DIM;
    let u32v = |v: usize| Value::U32(v as u32);
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        ("general.name".into(), Value::String(format!("Tiny {a}"))),
        ("general.license".into(), Value::String("apache-2.0".into())),
        (format!("{a}.context_length"), u32v(CONTEXT)),
        (format!("{a}.embedding_length"), u32v(HIDDEN)),
        (format!("{a}.block_count"), u32v(layers)),
        (format!("{a}.feed_forward_length"), u32v(FFN)),
        (format!("{a}.attention.head_count"), u32v(HEADS)),
        (format!("{a}.attention.head_count_kv"), u32v(KV_HEADS)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-6),
        ),
        (format!("{a}.rope.dimension_count"), u32v(HEAD_DIM)),
        (format!("{a}.rope.freq_base"), Value::F32(10_000.0)),
    ];
    match arch {
        TinyGguf::Qwen3 | TinyGguf::Gemma3 | TinyGguf::Qwen3Moe => {
            meta.push((format!("{a}.attention.key_length"), u32v(HEAD_DIM)));
            meta.push((format!("{a}.attention.value_length"), u32v(HEAD_DIM)));
        }
        _ => {}
    }
    if arch == TinyGguf::Qwen3Moe {
        meta.push((format!("{a}.expert_count"), u32v(EXPERTS)));
        meta.push((format!("{a}.expert_used_count"), u32v(EXPERTS_USED)));
        meta.push((format!("{a}.expert_feed_forward_length"), u32v(EXPERT_FFN)));
    }
    if arch == TinyGguf::Gemma3 {
        meta.push((format!("{a}.attention.sliding_window"), u32v(64)));
        // candle's own key (llama.cpp hard-codes the pattern): every second layer is global, so both
        // the sliding-window and the global attention paths run.
        meta.push((format!("{a}.attention.sliding_window_type"), u32v(2)));
        meta.push((format!("{a}.rope.local_freq_base"), Value::F32(10_000.0)));
    }
    meta.extend(match arch {
        TinyGguf::Gemma3 => gguf_spm_tokenizer_metadata(),
        _ => gguf_tokenizer_metadata(),
    });
    let n_vocab = match arch {
        TinyGguf::Gemma3 => spm_vocab().len(),
        _ => vocab_size(),
    };

    let matrix_type = if arch == TinyGguf::Phi3 {
        GgmlDType::F32
    } else {
        GgmlDType::Q8_0
    };
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut add = |name: String, shape: &[usize]| {
        let t = seeded(a, &name, shape);
        // Matrices and stacks of expert matrices are quantized, but not the router (nor vectors).
        let dtype = if shape.len() >= 2
            && shape[shape.len() - 1].is_multiple_of(32)
            && !name.contains("ffn_gate_inp")
        {
            matrix_type
        } else {
            GgmlDType::F32
        };
        tensors.push((name, QTensor::quantize(&t, dtype).unwrap()));
    };
    // Shapes are candle's (rows = outputs, columns = inputs); the writer stores them reversed, as GGUF
    // does, and the loader reverses them back.
    add("token_embd.weight".into(), &[n_vocab, HIDDEN]);
    add("output_norm.weight".into(), &[HIDDEN]);
    match arch {
        TinyGguf::Llama | TinyGguf::Qwen3 | TinyGguf::Phi3 | TinyGguf::Qwen3Moe => {
            add("output.weight".into(), &[n_vocab, HIDDEN])
        }
        TinyGguf::Qwen2 | TinyGguf::Gemma3 => {} // tied to token_embd
    }
    for l in 0..layers {
        let p = format!("blk.{l}");
        add(format!("{p}.attn_norm.weight"), &[HIDDEN]);
        add(format!("{p}.ffn_norm.weight"), &[HIDDEN]);
        add(format!("{p}.attn_output.weight"), &[HIDDEN, q_dim]);
        if arch == TinyGguf::Qwen3Moe {
            add(format!("{p}.attn_q.weight"), &[q_dim, HIDDEN]);
            add(format!("{p}.attn_k.weight"), &[kv_dim, HIDDEN]);
            add(format!("{p}.attn_v.weight"), &[kv_dim, HIDDEN]);
            add(format!("{p}.attn_q_norm.weight"), &[HEAD_DIM]);
            add(format!("{p}.attn_k_norm.weight"), &[HEAD_DIM]);
            add(format!("{p}.ffn_gate_inp.weight"), &[EXPERTS, HIDDEN]);
            add(
                format!("{p}.ffn_gate_exps.weight"),
                &[EXPERTS, EXPERT_FFN, HIDDEN],
            );
            add(
                format!("{p}.ffn_up_exps.weight"),
                &[EXPERTS, EXPERT_FFN, HIDDEN],
            );
            add(
                format!("{p}.ffn_down_exps.weight"),
                &[EXPERTS, HIDDEN, EXPERT_FFN],
            );
            continue;
        }
        add(format!("{p}.ffn_down.weight"), &[HIDDEN, FFN]);
        if arch == TinyGguf::Phi3 {
            add(
                format!("{p}.attn_qkv.weight"),
                &[q_dim + 2 * kv_dim, HIDDEN],
            );
            add(format!("{p}.ffn_up.weight"), &[2 * FFN, HIDDEN]);
            continue;
        }
        add(format!("{p}.attn_q.weight"), &[q_dim, HIDDEN]);
        add(format!("{p}.attn_k.weight"), &[kv_dim, HIDDEN]);
        add(format!("{p}.attn_v.weight"), &[kv_dim, HIDDEN]);
        add(format!("{p}.ffn_gate.weight"), &[FFN, HIDDEN]);
        add(format!("{p}.ffn_up.weight"), &[FFN, HIDDEN]);
        match arch {
            TinyGguf::Qwen2 => {
                add(format!("{p}.attn_q.bias"), &[q_dim]);
                add(format!("{p}.attn_k.bias"), &[kv_dim]);
                add(format!("{p}.attn_v.bias"), &[kv_dim]);
            }
            TinyGguf::Qwen3 => {
                add(format!("{p}.attn_q_norm.weight"), &[HEAD_DIM]);
                add(format!("{p}.attn_k_norm.weight"), &[HEAD_DIM]);
            }
            TinyGguf::Gemma3 => {
                add(format!("{p}.attn_q_norm.weight"), &[HEAD_DIM]);
                add(format!("{p}.attn_k_norm.weight"), &[HEAD_DIM]);
                add(format!("{p}.post_attention_norm.weight"), &[HIDDEN]);
                add(format!("{p}.post_ffw_norm.weight"), &[HIDDEN]);
            }
            TinyGguf::Llama | TinyGguf::Phi3 | TinyGguf::Qwen3Moe => {}
        }
    }
    if arch == TinyGguf::Qwen3Moe {
        sharpen(&mut tensors);
    }
    edit(&mut meta, &mut tensors);
    write_gguf_file(path, &meta, &tensors);
}

/// How much [`sharpen`] scales the output matrix.
pub const SHARPEN: f64 = 4.0;

/// Scales `output.weight` by [`SHARPEN`], so logits spread over ±10 rather than ±3 and the best token
/// clearly leads: a comparison of two implementations on near-flat logits proves nothing, and greedy
/// decoding on them turns on rounding. The Qwen3 MoE fixture is written this way; other fixtures can
/// pass it to [`write_tiny_gguf_with`].
pub fn sharpen(tensors: &mut [(String, QTensor)]) {
    for (name, t) in tensors.iter_mut() {
        if name == "output.weight" {
            let w = t.dequantize(&Device::Cpu).unwrap();
            let w = (w * SHARPEN).unwrap();
            *t = QTensor::quantize(&w, t.dtype()).unwrap();
        }
    }
}

/// The config.json `model_type`s modelvet's candle backend runs from safetensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyHf {
    /// `llama` (candle's `LlamaConfig`), with its own `lm_head`.
    Llama,
    /// `qwen2`: Q/K/V biases, `lm_head` tied to the embeddings.
    Qwen2,
    /// `qwen3`: per-head Q/K norms, explicit `head_dim`, tied `lm_head`.
    Qwen3,
    /// `mistral`: sliding-window attention, own `lm_head`.
    Mistral,
    /// `gemma`: GeLU MLP, `1 + w` norms, embeddings scaled by √hidden, tied `lm_head`.
    Gemma,
    /// `gemma3_text`: Gemma 3's text model: Q/K norms, pre- and post-FFN norms, one sliding and one global
    /// layer (pattern 2, window 64) with their own rotary bases, tied `lm_head`.
    Gemma3,
}

impl TinyHf {
    /// Every Hugging Face folder fixture.
    pub const ALL: [TinyHf; 6] = [
        TinyHf::Llama,
        TinyHf::Qwen2,
        TinyHf::Qwen3,
        TinyHf::Mistral,
        TinyHf::Gemma,
        TinyHf::Gemma3,
    ];

    /// The config.json `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            TinyHf::Llama => "llama",
            TinyHf::Qwen2 => "qwen2",
            TinyHf::Qwen3 => "qwen3",
            TinyHf::Mistral => "mistral",
            TinyHf::Gemma => "gemma",
            TinyHf::Gemma3 => "gemma3_text",
        }
    }
}

/// The config.json of a tiny Hugging Face model.
pub fn hf_config(arch: TinyHf) -> serde_json::Value {
    let (architecture, extra) = match arch {
        TinyHf::Llama => (
            "LlamaForCausalLM",
            json!({ "hidden_act": "silu", "rope_theta": 10000.0, "tie_word_embeddings": false }),
        ),
        TinyHf::Qwen2 => (
            "Qwen2ForCausalLM",
            json!({
                "hidden_act": "silu", "rope_theta": 1000000.0, "tie_word_embeddings": true,
                "sliding_window": CONTEXT, "max_window_layers": LAYERS, "use_sliding_window": false,
            }),
        ),
        TinyHf::Qwen3 => (
            "Qwen3ForCausalLM",
            json!({
                "hidden_act": "silu", "rope_theta": 1000000.0, "tie_word_embeddings": true,
                "head_dim": HEAD_DIM, "attention_bias": false, "sliding_window": null,
                "max_window_layers": LAYERS, "use_sliding_window": false,
            }),
        ),
        TinyHf::Mistral => (
            "MistralForCausalLM",
            json!({
                "hidden_act": "silu", "rope_theta": 10000.0, "tie_word_embeddings": false,
                "head_dim": HEAD_DIM, "sliding_window": 64,
            }),
        ),
        TinyHf::Gemma => (
            "GemmaForCausalLM",
            json!({
                "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 10000.0, "head_dim": HEAD_DIM,
                "attention_bias": false, "tie_word_embeddings": true,
            }),
        ),
        TinyHf::Gemma3 => (
            "Gemma3ForCausalLM",
            json!({
                "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 1000000.0,
                "rope_local_base_freq": 10000.0, "head_dim": HEAD_DIM, "attention_bias": false,
                "tie_word_embeddings": true, "query_pre_attn_scalar": HEAD_DIM, "sliding_window": 64,
                "sliding_window_pattern": 2, "final_logit_softcapping": null,
                "attn_logit_softcapping": null,
            }),
        ),
    };
    let mut config = json!({
        "architectures": [architecture],
        "model_type": arch.model_type(),
        "vocab_size": vocab_size(),
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-6,
        "bos_token_id": token_id(BOS_TOKEN),
        "eos_token_id": token_id(EOS_TOKEN),
        "torch_dtype": "bfloat16",
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// The tiny byte-level BPE in the Hugging Face `tokenizers` JSON format (the same vocabulary, merges and
/// special tokens as the GGUF metadata).
pub fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = vocab()
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = SPECIAL_TOKENS
        .iter()
        .map(|t| {
            json!({
                "id": token_id(t), "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true,
            })
        })
        .collect();
    let byte_level = |add_prefix_space: bool, trim_offsets: bool| json!({ "type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": true });
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level(false, true),
        "post_processor": byte_level(false, false),
        "decoder": byte_level(true, true),
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>(),
        },
    })
}

/// The tokenizer_config.json: special tokens, no BOS added, and the chat template.
pub fn tokenizer_config_json() -> serde_json::Value {
    let decoder: serde_json::Map<String, serde_json::Value> = SPECIAL_TOKENS
        .iter()
        .map(|t| {
            (
                token_id(t).to_string(),
                json!({ "content": t, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true }),
            )
        })
        .collect();
    json!({
        "add_bos_token": false,
        "add_eos_token": false,
        "added_tokens_decoder": decoder,
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": BOS_TOKEN,
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": CONTEXT,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })
}

/// How a tiny Hugging Face folder stores its weights.
#[derive(Debug, Clone, Copy)]
pub struct HfLayout {
    /// The stored type (the values are the f32 ones rounded to it).
    pub dtype: DType,
    /// Shard files (more than one: `model-0000i-of-0000n.safetensors` and an index).
    pub shards: usize,
}

/// Writes a tiny random-weight Hugging Face model folder of type `arch` into `dir` (created if needed):
/// config.json, model.safetensors (f32, although config.json says bfloat16, as real folders often
/// differ), tokenizer.json, tokenizer_config.json with the chat template, and generation_config.json.
///
/// The weights are laid out by constructing the candle-transformers model on a `VarMap`, so every
/// tensor the loader asks for exists with the shape it expects.
pub fn write_tiny_hf(arch: TinyHf, dir: &Path) {
    write_tiny_hf_with(
        arch,
        dir,
        HfLayout {
            dtype: DType::F32,
            shards: 1,
        },
    )
}

/// [`write_tiny_hf`] with the weights stored as `layout` says (bf16 in two shards, say).
pub fn write_tiny_hf_with(arch: TinyHf, dir: &Path, layout: HfLayout) {
    std::fs::create_dir_all(dir).unwrap();
    let config = hf_config(arch);
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg = config.clone();
    match arch {
        TinyHf::Llama => {
            let c: m::llama::LlamaConfig = serde_json::from_value(cfg).unwrap();
            m::llama::Llama::load(vb, &c.into_config(false)).unwrap();
        }
        TinyHf::Qwen2 => {
            let c: m::qwen2::Config = serde_json::from_value(cfg).unwrap();
            m::qwen2::ModelForCausalLM::new(&c, vb).unwrap();
        }
        TinyHf::Qwen3 => {
            let c: m::qwen3::Config = serde_json::from_value(cfg).unwrap();
            m::qwen3::ModelForCausalLM::new(&c, vb).unwrap();
        }
        TinyHf::Mistral => {
            let c: m::mistral::Config = serde_json::from_value(cfg).unwrap();
            m::mistral::Model::new(&c, vb).unwrap();
        }
        TinyHf::Gemma => {
            let c: m::gemma::Config = serde_json::from_value(cfg).unwrap();
            m::gemma::Model::new(false, &c, vb).unwrap();
        }
        TinyHf::Gemma3 => {
            let c: m::gemma3::Config = serde_json::from_value(cfg).unwrap();
            m::gemma3::Model::new(false, &c, vb).unwrap();
        }
    }
    {
        let vars = varmap.data().lock().unwrap();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let var = &vars[name];
            let t = seeded(arch.model_type(), name, var.dims());
            var.set(&t).unwrap();
        }
    }
    match layout {
        HfLayout {
            dtype: DType::F32,
            shards: 1,
        } => varmap.save(dir.join("model.safetensors")).unwrap(),
        HfLayout { dtype, shards } => {
            let vars = varmap.data().lock().unwrap();
            let mut names: Vec<&String> = vars.keys().collect();
            names.sort();
            let per = names.len().div_ceil(shards);
            let mut weight_map = serde_json::Map::new();
            for (i, chunk) in names.chunks(per).enumerate() {
                let file = match shards {
                    1 => "model.safetensors".to_owned(),
                    n => format!("model-{:05}-of-{n:05}.safetensors", i + 1),
                };
                let tensors: std::collections::HashMap<String, Tensor> = chunk
                    .iter()
                    .map(|n| {
                        weight_map.insert(n.to_string(), json!(file));
                        (n.to_string(), vars[*n].as_tensor().to_dtype(dtype).unwrap())
                    })
                    .collect();
                candle_core::safetensors::save(&tensors, dir.join(&file)).unwrap();
            }
            if shards > 1 {
                let index = json!({ "metadata": {}, "weight_map": weight_map });
                std::fs::write(
                    dir.join("model.safetensors.index.json"),
                    serde_json::to_string_pretty(&index).unwrap(),
                )
                .unwrap();
            }
        }
    }
    let write_json = |name: &str, v: &serde_json::Value| {
        std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
    };
    write_json("config.json", &config);
    write_json("tokenizer.json", &tokenizer_json());
    write_json("tokenizer_config.json", &tokenizer_config_json());
    write_json(
        "generation_config.json",
        &json!({ "bos_token_id": token_id(BOS_TOKEN), "eos_token_id": [token_id(EOS_TOKEN), token_id(BOS_TOKEN)] }),
    );
}

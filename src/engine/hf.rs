//! Hugging Face folders on the native forward pass: config.json read and validated into the native
//! [`Plan`], tensor names translated to GGUF's, the shards indexed by [`Source::safetensors`].
//!
//! Why this works without touching any weight: Hugging Face's llama/mistral/qwen/gemma checkpoints store
//! q/k rows in the order `rotate_half` expects, which is NeoX-style RoPE; GGUF's llama rows are permuted
//! for interleaved RoPE by the converter. So a safetensors model simply runs NeoX-style RoPE on its
//! weights as stored (the cross-check against candle-transformers in the tests verifies it). Gemma's
//! norms scale by `1 + w` in Hugging Face's code and by `w` in GGUF (the converter adds 1): the loader
//! adds 1 to each Gemma norm vector, which is tiny, and leaves the matrices alone.
//!
//! config.json is validated before the shards are mapped: required sizes present and in range, heads
//! that divide, a `layer_types` list of the right length, a rope scaling modelvet implements (linear,
//! llama3, yarn), no logit soft-capping; then the shapes in the headers against it ([`Model::build`]
//! checks every matrix before widening or quantizing any).

use super::native::{Activation, Config, Model, Plan, Rope, Weights, MAX_DIM, MAX_LAYERS};
use super::weights::Source;
use super::EngineError;
use crate::model::ResolvedModel;
use serde::Deserialize;
use std::sync::Arc;

/// config.json `model_type`s the native forward pass runs (`mistral` has llama's layout).
pub const ARCHITECTURES: &[&str] = &[
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma3",
    "gemma3_text",
];

const CONFIG: &str = "config.json";

fn invalid(file: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidModel {
        file: file.to_owned(),
        message: message.to_string(),
    }
}

/// config.json as written (the keys the native pass reads; the many others are ignored).
#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    text_config: Option<serde_json::Value>,
    hidden_size: Option<u64>,
    num_hidden_layers: Option<u64>,
    num_attention_heads: Option<u64>,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    intermediate_size: Option<u64>,
    vocab_size: Option<u64>,
    max_position_embeddings: Option<u64>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawRopeScaling>,
    rope_local_base_freq: Option<f64>,
    sliding_window: Option<u64>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<u64>,
    sliding_window_pattern: Option<u64>,
    layer_types: Option<Vec<String>>,
    query_pre_attn_scalar: Option<f64>,
    hidden_act: Option<String>,
    hidden_activation: Option<String>,
    tie_word_embeddings: Option<bool>,
    final_logit_softcapping: Option<f64>,
    attn_logit_softcapping: Option<f64>,
    partial_rotary_factor: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawRopeScaling {
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<u64>,
    beta_fast: Option<f64>,
    beta_slow: Option<f64>,
    attention_factor: Option<f64>,
    mscale: Option<f64>,
    mscale_all_dim: Option<f64>,
    truncate: Option<bool>,
}

/// The validated reading of config.json.
struct HfConfig {
    arch: String,
    gemma: bool,
    plan: Plan,
    /// Whether `lm_head` is the embedding (then a stored `lm_head` is ignored, as transformers does).
    tied: bool,
}

fn size(raw: Option<u64>, key: &str, max: u64) -> Result<usize, EngineError> {
    match raw {
        Some(v) if v > 0 && v <= max => Ok(v as usize),
        Some(v) => Err(invalid(CONFIG, format!("`{key}` = {v} is out of range"))),
        None => Err(invalid(CONFIG, format!("`{key}` is missing"))),
    }
}

/// Rotary frequencies for `dim` with `base`, scaled as `scaling` says (Hugging Face's
/// `ROPE_INIT_FUNCTIONS`: default, linear, llama3, yarn).
fn scaled_rope(
    dim: usize,
    base: f32,
    scaling: Option<&RawRopeScaling>,
    max_positions: u64,
) -> Result<Rope, EngineError> {
    let plain = Rope::new(dim, base, None);
    let Some(s) = scaling else { return Ok(plain) };
    let kind = s
        .rope_type
        .as_deref()
        .or(s.kind.as_deref())
        .unwrap_or("default");
    if kind == "default" {
        return Ok(plain);
    }
    let factor = match s.factor {
        Some(f) if f.is_finite() && f >= 1.0 => f as f32,
        other => {
            return Err(invalid(
                CONFIG,
                format!("rope scaling `{kind}` needs a `factor` ≥ 1, found {other:?}"),
            ))
        }
    };
    let inv: Vec<f32> = (0..dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32))
        .collect();
    let original = s.original_max_position_embeddings.unwrap_or(max_positions) as f32;
    let tau = 2.0 * std::f32::consts::PI;
    Ok(match kind {
        "linear" => Rope::from_inv_freq(inv.iter().map(|f| f / factor).collect(), 1.0),
        "llama3" => {
            let low = s.low_freq_factor.unwrap_or(1.0) as f32;
            let high = s.high_freq_factor.unwrap_or(4.0) as f32;
            if high <= low {
                return Err(invalid(
                    CONFIG,
                    "llama3 rope scaling needs high_freq_factor > low_freq_factor",
                ));
            }
            let (low_wavelen, high_wavelen) = (original / low, original / high);
            let freqs = inv
                .iter()
                .map(|&f| {
                    let wavelen = tau / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (original / wavelen - low) / (high - low);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect();
            Rope::from_inv_freq(freqs, 1.0)
        }
        "yarn" => {
            let get_mscale = |scale: f32, m: f32| {
                if scale <= 1.0 {
                    1.0
                } else {
                    0.1 * m * scale.ln() + 1.0
                }
            };
            let attention = match (s.attention_factor, s.mscale, s.mscale_all_dim) {
                (Some(a), _, _) => a as f32,
                (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => {
                    get_mscale(factor, m as f32) / get_mscale(factor, all as f32)
                }
                _ => get_mscale(factor, 1.0),
            };
            let (fast, slow) = (
                s.beta_fast.unwrap_or(32.0) as f32,
                s.beta_slow.unwrap_or(1.0) as f32,
            );
            let correction = |rotations: f32| {
                dim as f32 * (original / (rotations * tau)).ln() / (2.0 * base.ln())
            };
            let (mut lo, mut hi) = (correction(fast), correction(slow));
            if s.truncate.unwrap_or(true) {
                (lo, hi) = (lo.floor(), hi.ceil());
            }
            let (lo, mut hi) = (lo.max(0.0), hi.min(dim as f32 - 1.0));
            if lo == hi {
                hi += 0.001;
            }
            let freqs = inv
                .iter()
                .enumerate()
                .map(|(i, &f)| {
                    let ramp = ((i as f32 - lo) / (hi - lo)).clamp(0.0, 1.0);
                    let extrapolation = 1.0 - ramp;
                    (f / factor) * (1.0 - extrapolation) + f * extrapolation
                })
                .collect();
            Rope::from_inv_freq(freqs, attention)
        }
        other => {
            return Err(invalid(
                CONFIG,
                format!("rope scaling `{other}` is not implemented (linear, llama3 and yarn are)"),
            ))
        }
    })
}

/// Reads config.json into a plan for the native forward pass.
fn read_config(value: &serde_json::Value) -> Result<HfConfig, EngineError> {
    let top: RawConfig = serde_json::from_value(value.clone())
        .map_err(|e| invalid(CONFIG, format!("not a valid configuration: {e}")))?;
    let model_type = top.model_type.clone().unwrap_or_default();
    // Gemma 3's multimodal checkpoints keep the language model's settings in `text_config`.
    let text = match model_type.as_str() {
        "gemma3" => top.text_config.clone(),
        _ => None,
    };
    let raw: RawConfig = match text {
        Some(text) => serde_json::from_value(text)
            .map_err(|e| invalid(CONFIG, format!("`text_config` is not valid: {e}")))?,
        None => top,
    };
    if !ARCHITECTURES.contains(&model_type.as_str()) {
        return Err(EngineError::UnsupportedArchitecture {
            arch: model_type,
            format: "safetensors (native)",
            supported: ARCHITECTURES.join(", "),
        });
    }
    let gemma = model_type.starts_with("gemma3");
    let hidden = size(raw.hidden_size, "hidden_size", MAX_DIM)?;
    let n_layers = size(raw.num_hidden_layers, "num_hidden_layers", MAX_LAYERS)?;
    let n_head = size(raw.num_attention_heads, "num_attention_heads", 4096)?;
    let n_kv_head = size(
        raw.num_key_value_heads.or(raw.num_attention_heads),
        "num_key_value_heads",
        4096,
    )?;
    if n_head % n_kv_head != 0 {
        return Err(invalid(
            CONFIG,
            format!("{n_head} attention heads cannot share {n_kv_head} key/value heads"),
        ));
    }
    let head_dim =
        match raw.head_dim {
            Some(_) => size(raw.head_dim, "head_dim", 4096)?,
            None if hidden % n_head == 0 => hidden / n_head,
            None => return Err(invalid(
                CONFIG,
                "`head_dim` is not given and `hidden_size` / `num_attention_heads` is not whole",
            )),
        };
    if head_dim % 2 != 0 {
        return Err(invalid(
            CONFIG,
            format!("`head_dim` = {head_dim} is odd: RoPE rotates pairs"),
        ));
    }
    if raw.partial_rotary_factor.is_some_and(|f| f != 1.0) {
        return Err(invalid(
            CONFIG,
            "`partial_rotary_factor` other than 1 is not implemented",
        ));
    }
    if raw.final_logit_softcapping.is_some() || raw.attn_logit_softcapping.is_some() {
        return Err(invalid(
            CONFIG,
            "logit soft-capping (Gemma 2) is not implemented",
        ));
    }
    let ff = size(raw.intermediate_size, "intermediate_size", MAX_DIM)?;
    let max_positions = raw
        .max_position_embeddings
        .unwrap_or(if gemma { 131_072 } else { 4096 });
    let context = max_positions.clamp(1, 1 << 24) as usize;
    let activation = match raw
        .hidden_activation
        .as_deref()
        .or(raw.hidden_act.as_deref())
        .unwrap_or(if gemma { "gelu_pytorch_tanh" } else { "silu" })
    {
        "silu" | "swish" => Activation::Silu,
        "gelu_pytorch_tanh" | "gelu_tanh" => Activation::GeluTanh,
        other => {
            return Err(invalid(
                CONFIG,
                format!("activation `{other}` is not implemented (silu, gelu_pytorch_tanh are)"),
            ))
        }
    };
    let base = raw.rope_theta.unwrap_or(if gemma { 1e6 } else { 1e4 }) as f32;
    let global = Arc::new(scaled_rope(
        head_dim,
        base,
        raw.rope_scaling.as_ref(),
        max_positions,
    )?);
    let local = Arc::new(Rope::new(
        head_dim,
        raw.rope_local_base_freq.unwrap_or(1e4) as f32,
        None,
    ));
    // Which layers attend through a sliding window.
    let window = match model_type.as_str() {
        "qwen2" | "qwen3" if !raw.use_sliding_window.unwrap_or(false) => None,
        "gemma3" | "gemma3_text" => Some(raw.sliding_window.unwrap_or(4096)),
        _ => raw.sliding_window,
    }
    .map(|w| w.clamp(1, 1 << 24) as usize);
    let sliding: Vec<bool> = match (&raw.layer_types, window) {
        (_, None) => vec![false; n_layers],
        (Some(types), Some(_)) => {
            if types.len() != n_layers {
                return Err(invalid(
                    CONFIG,
                    format!(
                        "`layer_types` has {} entries for {n_layers} layers",
                        types.len()
                    ),
                ));
            }
            types.iter().map(|t| t == "sliding_attention").collect()
        }
        (None, Some(_)) if gemma => {
            let pattern = raw.sliding_window_pattern.unwrap_or(6).max(1) as usize;
            (0..n_layers).map(|l| (l + 1) % pattern != 0).collect()
        }
        (None, Some(_)) if model_type.starts_with("qwen") => {
            let from = raw.max_window_layers.unwrap_or(0) as usize;
            (0..n_layers).map(|l| l >= from).collect()
        }
        (None, Some(_)) => vec![true; n_layers],
    };
    let layers = sliding
        .iter()
        .map(|&s| match (s, gemma) {
            (true, true) => (window, local.clone()),
            (true, false) => (window, global.clone()),
            (false, _) => (None, global.clone()),
        })
        .collect();
    let attn_scale = match (gemma, raw.query_pre_attn_scalar) {
        (true, Some(q)) if q > 0.0 => 1.0 / (q as f32).sqrt(),
        _ => 1.0 / (head_dim as f32).sqrt(),
    };
    let cfg = Config {
        arch: model_type.clone(),
        hidden,
        n_layers,
        n_head,
        n_kv_head,
        head_dim,
        vocab: size(raw.vocab_size, "vocab_size", 1 << 24)?,
        context,
        rope_dim: head_dim,
        rope_neox: true,
        eps: raw.rms_norm_eps.unwrap_or(1e-6) as f32,
        activation,
        embed_scale: gemma.then(|| (hidden as f32).sqrt()),
        attn_scale,
    };
    Ok(HfConfig {
        arch: model_type,
        gemma,
        tied: raw.tie_word_embeddings.unwrap_or(gemma),
        plan: Plan {
            cfg,
            ff,
            moe: None,
            layers,
            norm_offset: if gemma { 1.0 } else { 0.0 },
        },
    })
}

/// What a Hugging Face tensor name is under GGUF's names: `Some(Ok(name))`, `Some(Err(()))` for a
/// layer tensor the forward pass does not know (refused: computing without it would be wrong), `None`
/// for tensors it does not use (a vision tower, rotary caches).
fn rename(hf: &str, gemma: bool, tied: bool) -> Option<Result<String, ()>> {
    let short = ["model.language_model.", "language_model.model.", "model."]
        .iter()
        .find_map(|p| hf.strip_prefix(*p))
        .unwrap_or(hf);
    match short {
        "lm_head.weight" | "language_model.lm_head.weight" => {
            return (!tied).then(|| Ok("output.weight".into()))
        }
        "norm.weight" => return Some(Ok("output_norm.weight".into())),
        _ => {}
    }
    if let Some(name) = crate::provenance::weights::reader::gguf_name(&format!("model.{short}")) {
        return Some(Ok(name));
    }
    let rest = short.strip_prefix("layers.")?;
    let (n, part) = rest.split_once('.')?;
    let n: usize = n.parse().ok()?;
    let gguf = match part {
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" if gemma => "post_attention_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "pre_feedforward_layernorm.weight" if gemma => "ffn_norm.weight",
        "post_feedforward_layernorm.weight" if gemma => "post_ffw_norm.weight",
        p if p.ends_with("rotary_emb.inv_freq") => return None,
        _ => return Some(Err(())),
    };
    Some(Ok(format!("blk.{n}.{gguf}")))
}

/// A loaded folder: the model, the weight files it read, and their storage type (`bf16`, `f16`, `f32`).
pub struct Loaded {
    pub model: Model,
    pub files: Vec<String>,
    pub stored: String,
}

/// Loads a Hugging Face folder (config.json + safetensors shards) for the native forward pass.
pub fn load(model: &ResolvedModel, weights: Weights) -> Result<Loaded, EngineError> {
    let read_json = |rel: &str, cap: u64| -> Result<Option<serde_json::Value>, EngineError> {
        let Some(f) = model.file(rel) else {
            return Ok(None);
        };
        let bytes = crate::util::read_capped(&f.path, cap).map_err(|e| invalid(rel, e))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| invalid(rel, e))
    };
    let config = read_json(CONFIG, 16 << 20)?.ok_or_else(|| {
        invalid(
            &model.reference,
            "no config.json beside the safetensors weights",
        )
    })?;
    let index = read_json("model.safetensors.index.json", 64 << 20)?;
    let hf = read_config(&config)?;
    let shards: Vec<(String, std::path::PathBuf)> = model
        .files
        .iter()
        .filter(|f| f.rel.ends_with(".safetensors") && !f.rel.contains('/'))
        .map(|f| (f.rel.clone(), f.path.clone()))
        .collect();
    if shards.is_empty() {
        return Err(EngineError::NoWeights(model.reference.clone()));
    }
    let unknown = std::cell::RefCell::new(None);
    let src = Source::safetensors(&shards, index.as_ref(), |name| {
        match rename(name, hf.gemma, hf.tied)? {
            Ok(n) => Some(n),
            Err(()) => {
                unknown.borrow_mut().get_or_insert_with(|| name.to_owned());
                None
            }
        }
    })?;
    if let Some(name) = unknown.into_inner() {
        return Err(invalid(
            &shards[0].0,
            format!(
                "tensor `{name}` is not part of the `{}` layout modelvet computes",
                hf.arch
            ),
        ));
    }
    // The configuration against the headers, before anything is widened: the vocabulary and the layer
    // count (the matrices' shapes are checked by `build`).
    let cfg = &hf.plan.cfg;
    if let Some(e) = src.entry("token_embd.weight") {
        if e.dims.get(1) != Some(&(cfg.vocab as u64)) {
            return Err(invalid(
                src.file_of(e),
                format!(
                    "tensor `{}` has shape {:?}, but config.json says vocab_size {} and hidden_size {}",
                    e.stored_name,
                    e.dims.iter().rev().collect::<Vec<_>>(),
                    cfg.vocab,
                    cfg.hidden
                ),
            ));
        }
    }
    let extra = format!("blk.{}.attn_q.weight", cfg.n_layers);
    if let Some(e) = src.entry(&extra) {
        return Err(invalid(
            src.file_of(e),
            format!(
                "tensor `{}` is past the {} layers config.json declares",
                e.stored_name, cfg.n_layers
            ),
        ));
    }
    let stored = src
        .entry("blk.0.attn_q.weight")
        .and_then(|e| e.dtype.clone().ok())
        .map_or("?".to_owned(), |d| format!("{d:?}").to_lowercase());
    let files = src.file_names();
    let model = Model::build(hf.plan, &src, weights)?;
    Ok(Loaded {
        model,
        files,
        stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope_freqs(scaling: serde_json::Value) -> Vec<f32> {
        let s: RawRopeScaling = serde_json::from_value(scaling).unwrap();
        scaled_rope(128, 500_000.0, Some(&s), 131_072)
            .unwrap()
            .inv_freq()
            .to_vec()
    }

    #[test]
    fn llama3_scaling_keeps_high_frequencies_and_divides_low_ones() {
        let plain = Rope::new(128, 500_000.0, None).inv_freq().to_vec();
        let scaled = rope_freqs(serde_json::json!({
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192
        }));
        assert_eq!(scaled[0], plain[0], "the highest frequency is kept");
        let last = plain.len() - 1;
        assert!((scaled[last] - plain[last] / 8.0).abs() < 1e-12);
        // In between, smoothly between the two.
        assert!(scaled
            .iter()
            .zip(&plain)
            .all(|(s, p)| *s <= *p && *s >= p / 8.0 - 1e-12));
    }

    #[test]
    fn linear_scaling_divides_every_frequency_and_unknown_kinds_are_refused() {
        let plain = Rope::new(128, 500_000.0, None).inv_freq().to_vec();
        let scaled = rope_freqs(serde_json::json!({"type": "linear", "factor": 4.0}));
        for (s, p) in scaled.iter().zip(&plain) {
            assert!((s - p / 4.0).abs() <= 1e-6 * p);
        }
        let s: RawRopeScaling =
            serde_json::from_value(serde_json::json!({"rope_type": "longrope", "factor": 4.0}))
                .unwrap();
        let e = scaled_rope(128, 1e4, Some(&s), 4096).err().unwrap();
        assert!(e.to_string().contains("longrope"), "{e}");
    }

    #[test]
    fn hugging_face_names_map_to_gguf_names_by_architecture() {
        let r = |n: &str, gemma| rename(n, gemma, false);
        assert_eq!(
            r("model.layers.3.post_attention_layernorm.weight", false),
            Some(Ok("blk.3.ffn_norm.weight".into()))
        );
        assert_eq!(
            r("model.layers.3.post_attention_layernorm.weight", true),
            Some(Ok("blk.3.post_attention_norm.weight".into()))
        );
        assert_eq!(
            r("model.layers.0.self_attn.q_proj.weight", false),
            Some(Ok("blk.0.attn_q.weight".into()))
        );
        assert_eq!(
            r("model.norm.weight", false),
            Some(Ok("output_norm.weight".into()))
        );
        assert_eq!(
            rename("lm_head.weight", false, true),
            None,
            "tied: lm_head unused"
        );
        assert_eq!(r("model.layers.0.mlp.gate_proj.bias", false), Some(Err(())));
        assert_eq!(r("vision_tower.blocks.0.weight", false), None);
    }
}

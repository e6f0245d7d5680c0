//! modelvet's own forward pass for GGUF decoder models (llama, qwen2, qwen3, qwen3moe, gemma3), over the
//! quantized blocks as stored in the memory-mapped file.
//!
//! Why not candle-transformers' quantized models, which modelvet used first: they expand the token
//! embedding to f32 (113 MB for SmolLM2, 544 MB for Qwen2.5-0.5B, more than the rest of the model), read
//! the weights into memory instead of mapping them, compute one sequence at a time, return only the last
//! position's logits, and candle 0.11's quantized Gemma 3 uses SiLU where Gemma uses GELU. Here:
//!
//! - the embedding is looked up row by row from its quantized blocks, and the weights stay in the map;
//! - one forward pass takes several sequences, each with its own KV cache and any number of new tokens
//!   (decode steps of several probes, a prompt, the options of a choice probe), so the matrix products
//!   read each weight once per step for all of them ([`super::quant`]);
//! - results do not depend on what else is in the batch: every kernel computes each output element the
//!   same way whatever the batch holds, and attention is per sequence;
//! - logits come back for every position asked for (scoring a continuation is one pass).
//!
//! The arithmetic follows llama.cpp's graph for each architecture (RMS norms, RoPE interleaved for llama
//! and NeoX-style otherwise, grouped-query attention, Gemma 3's extra norms, sliding windows and GELU).
//! Qwen3 MoE is Qwen3's attention with a routed feed-forward of experts ([`super::moe`]), whose experts
//! stay in the map and are read only when a token picks them.

use super::moe::{self, Moe};
use super::quant::{self, OutPtr, QMatrix};
use super::weights::Source;
use super::EngineError;
use crate::provenance::gguf::GgufFile;
use candle_core::quantized::GgmlDType;
use std::path::Path;
use std::sync::Arc;

/// Architectures this forward pass implements.
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "qwen3moe", "gemma3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Activation {
    Silu,
    /// GELU, tanh approximation (Gemma, Hugging Face folders).
    GeluTanh,
    /// GELU, tanh approximation, as llama.cpp's CPU backend computes it for GGUF files: the input rounded
    /// to fp16 and looked up in a table of fp16 results ([`gelu_fp16`]). Same inputs, same bits as ggml.
    GeluFp16,
}

/// Hyperparameters, read from GGUF metadata or from config.json.
#[derive(Debug, Clone)]
pub struct Config {
    pub arch: String,
    pub hidden: usize,
    pub n_layers: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub context: usize,
    pub(super) rope_dim: usize,
    pub(super) rope_neox: bool,
    pub(super) eps: f32,
    pub(super) activation: Activation,
    /// Gemma multiplies the embedding by √hidden.
    pub(super) embed_scale: Option<f32>,
    pub(super) attn_scale: f32,
}

/// Everything a loader derives besides the hyperparameters: the feed-forward width, each layer's
/// attention window and rotary frequencies, and the offset Hugging Face's Gemma norms add (`1 + w`).
pub(super) struct Plan {
    pub cfg: Config,
    /// The dense feed-forward width (unused when `moe` is given).
    pub ff: usize,
    /// Mixture-of-experts feed-forward in every layer (`qwen3moe`), instead of a dense one.
    pub moe: Option<moe::Spec>,
    /// Per layer: the positions a token may look back (`None`: global) and its rotary frequencies.
    pub layers: Vec<(Option<usize>, Arc<Rope>)>,
    pub norm_offset: f32,
}

/// What the weight matrices are computed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// As stored (quantized blocks, bf16, f16, f32), read from the map.
    Stored,
    /// Widened to f32 at load: exact arithmetic on the stored values, 4 bytes per weight.
    F32,
    /// 16-bit and f32 matrices quantized once at load to Q8_0 (quantized ones kept as stored).
    Q8_0,
}

/// Rotary-embedding frequencies: cos/sin per position are computed on demand.
pub(super) struct Rope {
    /// Inverse frequency of each rotated pair.
    inv_freq: Vec<f32>,
    /// YaRN's attention factor, applied to cos and sin (1 otherwise).
    mscale: f32,
}

impl Rope {
    /// Frequencies `base^(-2i/dim)`, each divided by its factor when given (llama.cpp's `rope_freqs`).
    pub(super) fn new(dim: usize, base: f32, factors: Option<&[f32]>) -> Rope {
        let inv_freq = (0..dim / 2)
            .map(|i| {
                let f = 1.0 / base.powf((2 * i) as f32 / dim as f32);
                match factors.and_then(|x| x.get(i)) {
                    Some(s) if *s > 0.0 => f / s,
                    _ => f,
                }
            })
            .collect();
        Rope {
            inv_freq,
            mscale: 1.0,
        }
    }

    /// Frequencies computed elsewhere (Hugging Face's rope scalings), with an attention factor.
    pub(super) fn from_inv_freq(inv_freq: Vec<f32>, mscale: f32) -> Rope {
        Rope { inv_freq, mscale }
    }

    #[cfg(test)]
    pub(super) fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// Rotates each `head_dim`-wide head of `x` for position `pos`.
    fn apply(&self, x: &mut [f32], head_dim: usize, pos: usize, neox: bool) {
        let half = self.inv_freq.len();
        let cs: Vec<(f32, f32)> = self
            .inv_freq
            .iter()
            .map(|f| {
                let a = pos as f32 * f;
                (a.cos() * self.mscale, a.sin() * self.mscale)
            })
            .collect();
        for head in x.chunks_exact_mut(head_dim) {
            for (i, &(c, s)) in cs.iter().enumerate() {
                let (a, b) = if neox {
                    (i, i + half)
                } else {
                    (2 * i, 2 * i + 1)
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
    }
}

/// A layer's feed-forward: one gated MLP, or routed experts ([`super::moe`]).
enum Ffn {
    Dense {
        gate: QMatrix,
        up: QMatrix,
        down: QMatrix,
    },
    Moe(Moe),
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    post_attn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    post_ffn_norm: Option<Vec<f32>>,
    ffn: Ffn,
    /// Positions a token may look back (Gemma 3's local layers), `None` for global attention.
    window: Option<usize>,
    rope: Arc<Rope>,
}

/// A loaded model: weights borrowed from the memory-mapped file.
pub struct Model {
    pub cfg: Config,
    embed: QMatrix,
    layers: Vec<Layer>,
    out_norm: Vec<f32>,
    output: QMatrix,
}

/// One sequence's state: its position and the keys and values of every layer.
#[derive(Clone, Default)]
pub struct Seq {
    len: usize,
    /// Per layer: keys and values, `len` rows of `n_kv_head * head_dim` each.
    kv: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Seq {
    /// Tokens in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position from `len` on.
    pub fn truncate(&mut self, len: usize, kv_dim: usize) {
        if len < self.len {
            for (k, v) in &mut self.kv {
                k.truncate(len * kv_dim);
                v.truncate(len * kv_dim);
            }
            self.len = len;
        }
    }
}

/// One sequence's part of a forward pass.
pub struct Step<'a> {
    pub seq: &'a mut Seq,
    pub tokens: &'a [u32],
    /// Logits for every new token (scoring) instead of only the last.
    pub all_logits: bool,
}

pub(super) fn invalid(rel: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidModel {
        file: rel.to_owned(),
        message: message.to_string(),
    }
}

/// Reads tensors out of a weight source, checking every shape against what the model needs. Errors name
/// the file and the tensor as stored there, with its shape as stored (safetensors: outermost first).
pub(super) struct Tensors<'a> {
    src: &'a Source,
    /// Added to every norm weight (Hugging Face Gemma's `1 + w`).
    norm_offset: f32,
}

impl Tensors<'_> {
    fn has(&self, name: &str) -> bool {
        self.src.entry(name).is_some()
    }

    /// `dims` (innermost first) the way the file writes them.
    fn shown(&self, e: &super::weights::Entry, dims: &[u64]) -> Vec<u64> {
        if self.src.file_of(e).ends_with(".safetensors") {
            dims.iter().rev().copied().collect()
        } else {
            dims.to_vec()
        }
    }

    /// A `rows` × `cols` matrix (dims `[cols, rows]`), as stored.
    pub(super) fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<QMatrix, EngineError> {
        let (dtype, dims, bytes, e) = self.src.bytes(name)?;
        let rel = self.src.file_of(e);
        let want = [cols as u64, rows as u64];
        if dims != want {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{}` has shape {:?}, the configuration implies {:?}",
                    e.stored_name,
                    self.shown(e, &dims),
                    self.shown(e, &want)
                ),
            ));
        }
        QMatrix::new(dtype, rows, cols, bytes)
            .map_err(|x| invalid(rel, format!("tensor `{}`: {x}", e.stored_name)))
    }

    /// `n` matrices of `rows` × `cols` stored one after another as one 3-D tensor (dims `[cols, rows,
    /// n]`: a mixture-of-experts layer's experts), each a view of its own block of the map.
    pub(super) fn experts(
        &self,
        name: &str,
        n: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<QMatrix>, EngineError> {
        let (dtype, dims, bytes, e) = self.src.bytes(name)?;
        let rel = self.src.file_of(e);
        let want = [cols as u64, rows as u64, n as u64];
        if dims != want {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{}` has shape {:?}, the configuration implies {:?}",
                    e.stored_name,
                    self.shown(e, &dims),
                    self.shown(e, &want)
                ),
            ));
        }
        // Equal blocks, each checked against `rows` × `cols` of `dtype` when it becomes a matrix.
        let total = bytes.as_slice().len();
        if total % n != 0 {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{}` holds {total} bytes, not {n} equal experts",
                    e.stored_name
                ),
            ));
        }
        let block = total / n;
        (0..n)
            .map(|i| {
                let view = bytes.slice(i * block, block).ok_or_else(|| {
                    invalid(
                        rel,
                        format!("tensor `{}` lies outside the file", e.stored_name),
                    )
                })?;
                QMatrix::new(dtype, rows, cols, view)
                    .map_err(|x| invalid(rel, format!("tensor `{}`: {x}", e.stored_name)))
            })
            .collect()
    }

    /// A vector of `n` values, widened to f32.
    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>, EngineError> {
        let (dtype, dims, bytes, e) = self.src.bytes(name)?;
        let rel = self.src.file_of(e);
        if dims != [n as u64] {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{}` has shape {:?}, the configuration implies [{n}]",
                    e.stored_name,
                    self.shown(e, &dims)
                ),
            ));
        }
        let m = QMatrix::new(dtype, 1, n, bytes)
            .map_err(|x| invalid(rel, format!("tensor `{}`: {x}", e.stored_name)))?;
        let mut v = vec![0f32; n];
        m.dequantize_row(0, &mut v);
        Ok(v)
    }

    fn optional_vector(&self, name: &str, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
        match self.has(name) {
            true => self.vector(name, n).map(Some),
            false => Ok(None),
        }
    }

    /// A norm's weights, with the source's offset added.
    fn norm(&self, name: &str, n: usize) -> Result<Vec<f32>, EngineError> {
        let mut v = self.vector(name, n)?;
        v.iter_mut().for_each(|x| *x += self.norm_offset);
        Ok(v)
    }

    fn optional_norm(&self, name: &str, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
        match self.has(name) {
            true => self.norm(name, n).map(Some),
            false => Ok(None),
        }
    }
}

/// Hyperparameters past this are not a real model but a hostile or broken header.
pub(super) const MAX_DIM: u64 = 1 << 20;
pub(super) const MAX_LAYERS: u64 = 1024;

impl Model {
    /// Loads a GGUF file already opened and checked as `header`.
    pub fn load(
        path: &Path,
        rel: &str,
        header: &GgufFile,
        weights: Weights,
    ) -> Result<Model, EngineError> {
        let arch = header.architecture().unwrap_or("").to_owned();
        if !ARCHITECTURES.contains(&arch.as_str()) {
            return Err(EngineError::UnsupportedArchitecture {
                arch,
                format: "GGUF",
                supported: ARCHITECTURES.join(", "),
            });
        }
        let num = |key: &str| -> Option<u64> { header.get(&format!("{arch}.{key}"))?.as_u64() };
        let float = |key: &str| -> Option<f64> { header.get(&format!("{arch}.{key}"))?.as_f64() };
        let need = |key: &str, max: u64| -> Result<usize, EngineError> {
            match num(key) {
                Some(v) if v > 0 && v <= max => Ok(v as usize),
                Some(v) => Err(invalid(
                    rel,
                    format!("`{arch}.{key}` = {v} is out of range"),
                )),
                None => Err(invalid(rel, format!("`{arch}.{key}` is missing"))),
            }
        };
        let hidden = need("embedding_length", MAX_DIM)?;
        let n_layers = need("block_count", MAX_LAYERS)?;
        let n_head = need("attention.head_count", 4096)?;
        let n_kv_head = match num("attention.head_count_kv") {
            Some(_) => need("attention.head_count_kv", 4096)?,
            None => n_head,
        };
        if n_head % n_kv_head != 0 {
            return Err(invalid(
                rel,
                format!("{n_head} attention heads cannot share {n_kv_head} key/value heads"),
            ));
        }
        let head_dim = match num("attention.key_length") {
            Some(_) => need("attention.key_length", 4096)?,
            None if hidden % n_head == 0 => hidden / n_head,
            None => {
                return Err(invalid(
                    rel,
                    "the head size is not given and does not divide",
                ))
            }
        };
        let moe = match arch == "qwen3moe" {
            true => Some(moe::Spec::read(&arch, rel, num)?),
            false => None,
        };
        let ff = match moe {
            Some(_) => 0,
            None => need("feed_forward_length", MAX_DIM)?,
        };
        let context = num("context_length").unwrap_or(4096).clamp(1, 1 << 24) as usize;
        let rope_dim = match num("rope.dimension_count") {
            Some(d) if d > 0 && d as usize <= head_dim && d % 2 == 0 => d as usize,
            Some(d) => {
                return Err(invalid(
                    rel,
                    format!("rope dimension {d} does not fit a head"),
                ))
            }
            None => head_dim,
        };
        let eps = float("attention.layer_norm_rms_epsilon").unwrap_or(1e-6) as f32;
        let is_gemma = arch == "gemma3";
        let rope_base = float("rope.freq_base").unwrap_or(if is_gemma { 1e6 } else { 1e4 }) as f32;
        let cfg = Config {
            arch: arch.clone(),
            hidden,
            n_layers,
            n_head,
            n_kv_head,
            head_dim,
            vocab: 0,
            context,
            rope_dim,
            // llama.cpp's llama_model_rope_type: llama rotates interleaved pairs, the others NeoX halves.
            rope_neox: arch != "llama",
            eps,
            activation: if is_gemma {
                Activation::GeluFp16
            } else {
                Activation::Silu
            },
            embed_scale: is_gemma.then(|| (hidden as f32).sqrt()),
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
        };
        let src = Source::gguf(path, rel, header)?;
        let t = Tensors {
            src: &src,
            norm_offset: 0.0,
        };
        let rope_factors = t.optional_vector("rope_freqs.weight", rope_dim / 2)?;
        let global_rope = Arc::new(Rope::new(rope_dim, rope_base, rope_factors.as_deref()));
        let local_rope = Arc::new(Rope::new(
            rope_dim,
            float("rope.local_freq_base").unwrap_or(1e4) as f32,
            None,
        ));
        let window = num("attention.sliding_window").map(|w| w as usize);
        let window_pattern = num("attention.sliding_window_type").unwrap_or(6).max(1) as usize;
        let layers = (0..n_layers)
            .map(|l| {
                let sliding = is_gemma && window.is_some() && (l + 1) % window_pattern > 0;
                match sliding {
                    true => (window, local_rope.clone()),
                    false => (None, global_rope.clone()),
                }
            })
            .collect();
        let plan = Plan {
            cfg,
            ff,
            moe,
            layers,
            norm_offset: 0.0,
        };
        Model::build(plan, &src, weights)
    }

    /// Builds a model from a weight source under GGUF's names: every shape is checked against `plan`
    /// first, and only then are matrices widened or quantized as `weights` asks.
    pub(super) fn build(plan: Plan, src: &Source, weights: Weights) -> Result<Model, EngineError> {
        let Plan {
            cfg,
            ff,
            moe,
            layers: specs,
            norm_offset,
        } = plan;
        let t = Tensors { src, norm_offset };
        let hidden = cfg.hidden;
        if specs.len() != cfg.n_layers {
            return Err(EngineError::Backend(
                "a plan for another layer count".into(),
            ));
        }
        let (_, dims, bytes, e) = src.bytes("token_embd.weight")?;
        let rel = src.file_of(e);
        let vocab = match dims.as_slice() {
            [c, v] if *c == hidden as u64 && *v > 0 && *v <= 1 << 24 => *v as usize,
            d => {
                return Err(invalid(
                    rel,
                    format!(
                        "tensor `{}` has shape {:?}, the configuration implies a hidden size of {hidden}",
                        e.stored_name,
                        t.shown(e, d)
                    ),
                ))
            }
        };
        // The embedding stays as stored whatever the precision: it is only ever looked up by row,
        // unless it doubles as the output matrix.
        let embed = t.matrix("token_embd.weight", vocab, hidden)?;
        drop(bytes);
        let output = match t.has("output.weight") {
            true => t.matrix("output.weight", vocab, hidden)?,
            false => embed.clone(),
        };
        let (q_dim, kv_dim, hd) = (
            cfg.n_head * cfg.head_dim,
            cfg.n_kv_head * cfg.head_dim,
            cfg.head_dim,
        );
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for (l, (window, rope)) in specs.into_iter().enumerate() {
            let p = |s: &str| format!("blk.{l}.{s}");
            layers.push(Layer {
                attn_norm: t.norm(&p("attn_norm.weight"), hidden)?,
                wq: t.matrix(&p("attn_q.weight"), q_dim, hidden)?,
                wk: t.matrix(&p("attn_k.weight"), kv_dim, hidden)?,
                wv: t.matrix(&p("attn_v.weight"), kv_dim, hidden)?,
                wo: t.matrix(&p("attn_output.weight"), hidden, q_dim)?,
                bq: t.optional_vector(&p("attn_q.bias"), q_dim)?,
                bk: t.optional_vector(&p("attn_k.bias"), kv_dim)?,
                bv: t.optional_vector(&p("attn_v.bias"), kv_dim)?,
                q_norm: t.optional_norm(&p("attn_q_norm.weight"), hd)?,
                k_norm: t.optional_norm(&p("attn_k_norm.weight"), hd)?,
                post_attn_norm: t.optional_norm(&p("post_attention_norm.weight"), hidden)?,
                ffn_norm: t.norm(&p("ffn_norm.weight"), hidden)?,
                post_ffn_norm: t.optional_norm(&p("post_ffw_norm.weight"), hidden)?,
                ffn: match moe {
                    Some(spec) => Ffn::Moe(Moe::load(&t, l, spec, hidden)?),
                    None => Ffn::Dense {
                        gate: t.matrix(&p("ffn_gate.weight"), ff, hidden)?,
                        up: t.matrix(&p("ffn_up.weight"), ff, hidden)?,
                        down: t.matrix(&p("ffn_down.weight"), hidden, ff)?,
                    },
                },
                window,
                rope,
            });
        }
        let out_norm = t.norm("output_norm.weight", hidden)?;
        // Every shape is checked: now the copies a precision asks for.
        let convert = |m: &mut QMatrix| {
            let dtype = m.dtype();
            let sixteen = matches!(dtype, GgmlDType::F16 | GgmlDType::BF16);
            match weights {
                Weights::F32 if dtype != GgmlDType::F32 => *m = m.to_f32(),
                Weights::Q8_0 if sixteen || dtype == GgmlDType::F32 => {
                    if let Some(q) = m.to_q8_0() {
                        *m = q
                    }
                }
                _ => {}
            }
        };
        let mut output = output;
        convert(&mut output);
        for l in &mut layers {
            for m in [&mut l.wq, &mut l.wk, &mut l.wv, &mut l.wo] {
                convert(m);
            }
            match &mut l.ffn {
                Ffn::Dense { gate, up, down } => [gate, up, down].into_iter().for_each(convert),
                Ffn::Moe(moe) => {
                    // The router is widened with the rest but never quantized: llama.cpp keeps it f32
                    // too, as a rounding that flips a choice of expert changes the output wholesale.
                    if weights == Weights::F32 {
                        convert(moe.router_mut());
                    }
                    moe.expert_matrices_mut().for_each(convert);
                }
            }
        }
        Ok(Model {
            cfg: Config { vocab, ..cfg },
            embed,
            layers,
            out_norm,
            output,
        })
    }

    /// Width of one cached key (or value) row.
    pub fn kv_dim(&self) -> usize {
        self.cfg.n_kv_head * self.cfg.head_dim
    }

    /// Bytes one position of a sequence adds to its KV cache (f32 keys and values in every layer).
    pub fn kv_bytes_per_position(&self) -> usize {
        self.cfg.n_layers * 2 * self.kv_dim() * std::mem::size_of::<f32>()
    }

    /// An empty sequence.
    pub fn new_seq(&self) -> Seq {
        Seq {
            len: 0,
            kv: vec![(Vec::new(), Vec::new()); self.cfg.n_layers],
        }
    }

    /// Feeds `tokens` to one sequence and returns the logits after the last of them.
    pub fn feed(&self, seq: &mut Seq, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        let mut out = self.forward(&mut [Step {
            seq,
            tokens,
            all_logits: false,
        }])?;
        Ok(out.pop().and_then(|mut v| v.pop()).unwrap_or_default())
    }

    /// Log-probabilities of each continuation's tokens after a prompt: `base` is the cache of the prompt's
    /// first tokens (the shared head, or nothing) and `suffix` the rest of it. The suffix is fed once,
    /// with logits only at its last token (which score every continuation's first); then every
    /// continuation but its last token goes on its own copy of that cache, all in one pass, with logits
    /// at each of its tokens. A row's bits do not depend on the batch or on the pass that computed its
    /// cache, so each score is exactly what feeding its tokens one at a time gives, at the cost of one
    /// prompt instead of one per option, and the output matrix on the continuations alone.
    pub fn score(
        &self,
        base: &Seq,
        suffix: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<Vec<f64>>, EngineError> {
        if suffix.is_empty() {
            return Err(EngineError::Backend("nothing to score after".into()));
        }
        let mut prompt = base.clone();
        let first = self.feed(&mut prompt, suffix)?;
        let fed: Vec<&[u32]> = continuations
            .iter()
            .filter(|c| c.len() > 1)
            .map(|c| &c[..c.len() - 1])
            .collect();
        let mut seqs: Vec<Seq> = fed.iter().map(|_| prompt.clone()).collect();
        let mut steps: Vec<Step> = seqs
            .iter_mut()
            .zip(&fed)
            .map(|(seq, tokens)| Step {
                seq,
                tokens,
                all_logits: true,
            })
            .collect();
        let mut rows = if steps.is_empty() {
            Vec::new()
        } else {
            self.forward(&mut steps)?
        }
        .into_iter();
        Ok(continuations
            .iter()
            .map(|c| {
                let later = if c.len() > 1 {
                    rows.next().unwrap_or_default()
                } else {
                    Vec::new()
                };
                c.iter()
                    .enumerate()
                    .map(|(k, &id)| {
                        let row = if k == 0 {
                            Some(&first)
                        } else {
                            later.get(k - 1)
                        };
                        row.map_or(f64::NEG_INFINITY, |r| super::decode::log_prob(r, id))
                    })
                    .collect()
            })
            .collect())
    }

    /// Feeds `tokens` to one sequence without computing logits: a prompt head or a chunk that is not
    /// the prompt's last skips the output matrix (the largest of small models: 175 MB of Gemma 3 270M's
    /// 240 MB).
    pub fn advance(&self, seq: &mut Seq, tokens: &[u32]) -> Result<(), EngineError> {
        let mut steps = [Step {
            seq,
            tokens,
            all_logits: false,
        }];
        self.forward_with(&mut steps, false).map(drop)
    }

    /// One forward pass over every step's new tokens. Returns, per step, the logits of its last token
    /// (or of every new token with `all_logits`), each `vocab` long.
    pub fn forward(&self, steps: &mut [Step<'_>]) -> Result<Vec<Vec<Vec<f32>>>, EngineError> {
        self.forward_with(steps, true)
    }

    /// [`Model::forward`], with the logits (and the output matrix) left out when `logits` is false.
    fn forward_with(
        &self,
        steps: &mut [Step<'_>],
        logits: bool,
    ) -> Result<Vec<Vec<Vec<f32>>>, EngineError> {
        let c = &self.cfg;
        let (h, hd) = (c.hidden, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.n_kv_head * hd);
        // Which sequence and position each new token belongs to.
        let mut toks: Vec<(usize, usize)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (s, step) in steps.iter().enumerate() {
            if step.seq.kv.len() != c.n_layers {
                return Err(EngineError::Backend(
                    "sequence made for another model".into(),
                ));
            }
            if step.seq.len + step.tokens.len() > c.context {
                return Err(EngineError::ContextOverflow {
                    prompt: step.seq.len + step.tokens.len(),
                    context: c.context,
                });
            }
            for (i, &id) in step.tokens.iter().enumerate() {
                if id as usize >= c.vocab {
                    return Err(EngineError::Backend(format!(
                        "token id {id} is outside the vocabulary of {}",
                        c.vocab
                    )));
                }
                toks.push((s, step.seq.len + i));
                ids.push(id);
            }
        }
        let n = toks.len();
        if n == 0 {
            return Ok(steps.iter().map(|_| Vec::new()).collect());
        }
        let mut x = vec![0f32; n * h];
        for (row, &id) in x.chunks_exact_mut(h).zip(&ids) {
            self.embed.dequantize_row(id as usize, row);
            if let Some(s) = c.embed_scale {
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        let mut xn = vec![0f32; n * h];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut att = vec![0f32; n * q_dim];
        let mut o = vec![0f32; n * h];
        let ff = self
            .layers
            .iter()
            .find_map(|l| match &l.ffn {
                Ffn::Dense { gate, .. } => Some(gate.rows()),
                Ffn::Moe(_) => None,
            })
            .unwrap_or(0);
        let mut g = vec![0f32; n * ff];
        let mut u = vec![0f32; n * ff];
        for (li, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &mut xn, &layer.attn_norm, h, c.eps);
            quant::matmul_many(
                &xn,
                n,
                &[&layer.wq, &layer.wk, &layer.wv],
                &mut [&mut q, &mut k, &mut v],
            );
            add_bias(&mut q, layer.bq.as_deref());
            add_bias(&mut k, layer.bk.as_deref());
            add_bias(&mut v, layer.bv.as_deref());
            if let Some(w) = &layer.q_norm {
                rms_norm_in_place(&mut q, w, hd, c.eps);
            }
            if let Some(w) = &layer.k_norm {
                rms_norm_in_place(&mut k, w, hd, c.eps);
            }
            for (t, &(_, pos)) in toks.iter().enumerate() {
                let rd = c.rope_dim;
                let rope = |row: &mut [f32]| {
                    for head in row.chunks_exact_mut(hd) {
                        layer.rope.apply(&mut head[..rd], rd, pos, c.rope_neox);
                    }
                };
                rope(&mut q[t * q_dim..(t + 1) * q_dim]);
                rope(&mut k[t * kv_dim..(t + 1) * kv_dim]);
            }
            // Append the new keys and values to each sequence's cache, in token order.
            for (t, &(s, _)) in toks.iter().enumerate() {
                let (kc, vc) = &mut steps[s].seq.kv[li];
                reserve_rows(kc, kv_dim);
                reserve_rows(vc, kv_dim);
                kc.extend_from_slice(&k[t * kv_dim..(t + 1) * kv_dim]);
                vc.extend_from_slice(&v[t * kv_dim..(t + 1) * kv_dim]);
            }
            self.attention(layer, li, steps, &toks, &q, &mut att);
            quant::matmul(&att, n, &layer.wo, &mut o);
            if let Some(w) = &layer.post_attn_norm {
                rms_norm_in_place(&mut o, w, h, c.eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            rms_norm(&x, &mut xn, &layer.ffn_norm, h, c.eps);
            match &layer.ffn {
                Ffn::Dense { gate, up, down } => {
                    quant::matmul_many(&xn, n, &[gate, up], &mut [&mut g, &mut u]);
                    activate(&mut g, &u, c.activation);
                    quant::matmul(&g, n, down, &mut o);
                }
                Ffn::Moe(moe) => moe.forward(&xn, n, c.activation, &mut o),
            }
            if let Some(w) = &layer.post_ffn_norm {
                rms_norm_in_place(&mut o, w, h, c.eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        }
        for step in steps.iter_mut() {
            step.seq.len += step.tokens.len();
        }
        if !logits {
            return Ok(steps.iter().map(|_| Vec::new()).collect());
        }
        // Rows that need logits.
        let mut wanted: Vec<usize> = Vec::new();
        let mut t = 0;
        for step in steps.iter() {
            let len = step.tokens.len();
            if step.all_logits {
                wanted.extend(t..t + len);
            } else if len > 0 {
                wanted.push(t + len - 1);
            }
            t += len;
        }
        let mut sel = vec![0f32; wanted.len() * h];
        for (dst, &t) in sel.chunks_exact_mut(h).zip(&wanted) {
            dst.copy_from_slice(&x[t * h..(t + 1) * h]);
        }
        let mut normed = vec![0f32; sel.len()];
        rms_norm(&sel, &mut normed, &self.out_norm, h, c.eps);
        let mut logits = vec![0f32; wanted.len() * c.vocab];
        quant::matmul(&normed, wanted.len(), &self.output, &mut logits);
        let mut rows = logits.chunks_exact(c.vocab).map(|r| r.to_vec());
        Ok(steps
            .iter()
            .map(|step| {
                let count = if step.all_logits {
                    step.tokens.len()
                } else {
                    usize::from(!step.tokens.is_empty())
                };
                rows.by_ref().take(count).collect()
            })
            .collect())
    }

    /// Causal grouped-query attention of every new token over its own sequence's cache.
    fn attention(
        &self,
        layer: &Layer,
        li: usize,
        steps: &[Step<'_>],
        toks: &[(usize, usize)],
        q: &[f32],
        out: &mut [f32],
    ) {
        let c = &self.cfg;
        let hd = c.head_dim;
        let kv_dim = c.n_kv_head * hd;
        let group = c.n_head / c.n_kv_head;
        let work = |(unit, o): (usize, &mut [f32])| {
            let (t, head) = (unit / c.n_head, unit % c.n_head);
            let (s, pos) = toks[t];
            let (kc, vc) = &steps[s].seq.kv[li];
            let kvh = head / group;
            let qv = &q[t * c.n_head * hd + head * hd..][..hd];
            // llama.cpp's standard sliding window: a key at distance ≥ w is masked.
            let first = match layer.window {
                Some(w) => (pos + 1).saturating_sub(w),
                None => 0,
            };
            let mut scores = key_scores(qv, kc, first..pos + 1, kv_dim, kvh * hd);
            scores.iter_mut().for_each(|s| *s *= c.attn_scale);
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for s in &mut scores {
                *s = (*s - max).exp();
                sum += *s;
            }
            o.iter_mut().for_each(|v| *v = 0.0);
            for (j, w) in (first..=pos).zip(&scores) {
                let vr = &vc[j * kv_dim + kvh * hd..][..hd];
                let w = w / sum;
                o.iter_mut().zip(vr).for_each(|(a, b)| *a += w * b);
            }
        };
        let units = toks.len() * c.n_head;
        let span: usize = toks.iter().map(|&(_, p)| p + 1).sum();
        if span * c.n_head * hd > 1 << 16 && units > 1 {
            let ptr = OutPtr(out.as_mut_ptr());
            candle_core::utils::barrier_pool().execute_chunked(units, |range| {
                for unit in range {
                    // Safety: each unit owns the disjoint `hd`-wide slice `unit * hd..`, and `out` outlives
                    // the call.
                    let o = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(unit * hd), hd) };
                    work((unit, o));
                }
            });
        } else {
            out.chunks_mut(hd).enumerate().for_each(work);
        }
    }
}

/// `q·k` for the keys `keys` of a cache whose rows are `row` wide, the head's keys at `offset`.
///
/// Each score is the plain sum `((q₀k₀ + q₁k₁) + q₂k₂) + …` in f32, products rounded first. One score at a
/// time that is a chain of dependent additions, each waiting on the last; eight keys at once keep the
/// same eight chains (the same bits) but run them side by side. In a batched suite this was a quarter of
/// the time.
fn key_scores(
    q: &[f32],
    cache: &[f32],
    keys: std::ops::Range<usize>,
    row: usize,
    offset: usize,
) -> Vec<f32> {
    const KEYS: usize = 8;
    let hd = q.len();
    let key = |j: usize| &cache[j * row + offset..][..hd];
    let mut scores = Vec::with_capacity(keys.len());
    let mut j = keys.start;
    while j + KEYS <= keys.end {
        let rows: [&[f32]; KEYS] = std::array::from_fn(|l| key(j + l));
        scores.extend_from_slice(&quant::scores8(q, rows));
        j += KEYS;
    }
    for j in j..keys.end {
        scores.push(q.iter().zip(key(j)).map(|(a, b)| a * b).sum::<f32>());
    }
    scores
}

/// Grows a cache by whole blocks of 256 rows, so appending one row per step does not copy every step.
fn reserve_rows(v: &mut Vec<f32>, row: usize) {
    if v.capacity() < v.len() + row {
        v.reserve_exact(256 * row);
    }
}

/// `g = act(g) ⊙ u`: the gate of a gated MLP. A prompt's gates (millions of `exp`/`tanh` calls on a 0.5B
/// model) are split between the pool's threads; each element is computed alone, so the split never
/// changes a bit.
pub(super) fn activate(g: &mut [f32], u: &[f32], act: Activation) {
    const CHUNK: usize = 8192;
    assert_eq!(g.len(), u.len(), "gate and up have one width");
    if g.len() < 4 * CHUNK {
        return activate_serial(g, u, act);
    }
    let (ptr, len) = (OutPtr(g.as_mut_ptr()), g.len());
    candle_core::utils::barrier_pool().execute_chunked(len.div_ceil(CHUNK), |chunks| {
        for c in chunks {
            let (start, end) = (c * CHUNK, ((c + 1) * CHUNK).min(len));
            // Safety: chunks are disjoint ranges of `g`, which outlives the parallel section.
            let g = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(start), end - start) };
            activate_serial(g, &u[start..end], act);
        }
    });
}

fn activate_serial(g: &mut [f32], u: &[f32], act: Activation) {
    match act {
        Activation::Silu => g
            .iter_mut()
            .zip(u)
            .for_each(|(a, b)| *a = *a / (1.0 + (-*a).exp()) * b),
        Activation::GeluTanh => g
            .iter_mut()
            .zip(u)
            .for_each(|(a, b)| *a = gelu_tanh(*a) * b),
        Activation::GeluFp16 => {
            let table = gelu_fp16_table();
            g.iter_mut()
                .zip(u)
                .for_each(|(a, b)| *a = gelu_fp16(table, *a) * b)
        }
    }
}

/// GELU with the tanh approximation, in ggml's form (`ggml_gelu_f32`).
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044715;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + COEF_A * x * x)).tanh())
}

/// ggml's `ggml_table_gelu_f16`: for every fp16 bit pattern, the fp16 of GELU of its value. llama.cpp's
/// CPU backend builds it once and computes every GELU (Gemma's gate) through it (`GGML_GELU_FP16`), which
/// is both its arithmetic and far cheaper than a `tanh` per element.
fn gelu_fp16_table() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let x = half::f16::from_bits(bits).to_f32();
                half::f16::from_f32(gelu_tanh(x)).to_bits()
            })
            .collect()
    })
}

/// `ggml_vec_geglu_f32`'s GELU: 0 under −10, the identity over 10, else the table at the input rounded to
/// fp16 (to nearest even, as F16C's `_cvtss_sh(x, 0)` rounds).
fn gelu_fp16(table: &[u16], x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        half::f16::from_bits(table[half::f16::from_f32(x).to_bits() as usize]).to_f32()
    }
}

fn add_bias(x: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        for row in x.chunks_exact_mut(b.len()) {
            row.iter_mut().zip(b).for_each(|(a, c)| *a += c);
        }
    }
}

fn rms_norm(x: &[f32], out: &mut [f32], w: &[f32], width: usize, eps: f32) {
    out.copy_from_slice(x);
    rms_norm_in_place(out, w, width, eps);
}

fn rms_norm_in_place(x: &mut [f32], w: &[f32], width: usize, eps: f32) {
    for row in x.chunks_exact_mut(width) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let scale = 1.0 / (ms + eps).sqrt();
        row.iter_mut().zip(w).for_each(|(v, g)| *v = *v * scale * g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_gelu_is_ggmls_fp16_table_and_stays_within_an_fp16_step_of_the_exact_one() {
        let table = gelu_fp16_table();
        let mut worst = 0f32;
        for i in -39_999..=39_999 {
            let x = i as f32 * 2.5e-4;
            let got = gelu_fp16(table, x);
            // ggml: round the input to fp16, look up the fp16 of its GELU.
            let rounded = half::f16::from_f32(x).to_f32();
            let want = half::f16::from_f32(gelu_tanh(rounded)).to_f32();
            assert_eq!(got.to_bits(), want.to_bits(), "x = {x}");
            worst = worst.max((got - gelu_tanh(x)).abs() / (1.0 + x.abs()));
        }
        assert!(worst > 0.0 && worst < 2e-3, "worst relative step {worst}");
        // Outside ±10 ggml skips the table: 0 below, the identity above.
        assert_eq!(gelu_fp16(table, -10.5), 0.0);
        assert_eq!(gelu_fp16(table, 12.25), 12.25);
        // The gate multiplies the up projection element by element.
        let (mut g, u) = (vec![1.0f32, -1.0, 20.0], vec![2.0f32, 3.0, 0.5]);
        activate_serial(&mut g, &u, Activation::GeluFp16);
        assert_eq!(g[2], 10.0);
        assert!(
            (g[0] - 2.0 * gelu_tanh(1.0)).abs() < 2e-3
                && (g[1] - 3.0 * gelu_tanh(-1.0)).abs() < 2e-3
        );
    }
}

//! The local backend: GGUF models of llama, qwen2, qwen3, qwen3moe and gemma3 and Hugging Face folders of
//! llama, mistral, qwen2, qwen3 and gemma3 on modelvet's own forward pass ([`super::native`], [`super::hf`]);
//! phi3 GGUF through candle-transformers' quantized models and other Hugging Face folders (gemma) through
//! candle-transformers, on the CPU. `EngineOptions::candle_transformers` sends every model to
//! candle-transformers (qwen3moe, which is checked against llama.cpp instead, is refused there): the
//! cross-check path the tests compare the native pass with.
//!
//! Each GGUF file is first read by modelvet's own bounded header reader (candle's trusts lengths).
//! Architectures are chosen from `general.architecture` (GGUF) or `model_type` (config.json).
//! On the candle-transformers path safetensors weights are memory-mapped and computed in f32.
//!
//! Prompt rendering, tokenization and end-of-turn tokens live in a [`Frontend`] shared with the batch
//! server's handles ([`super::batch`]); [`Decoding`] is the one sampling loop both paths use.
//!
//! Trade-offs on the candle-transformers path: its models return logits for the last position only, so
//! scoring feeds a continuation token by token after the shared prompt. The KV cache of the prompt head
//! is kept as a snapshot (a clone of the model, whose cached tensors are shared, not copied) for the
//! architectures whose caches are immutable tensors; quantized Qwen2 (not `Clone`), quantized Qwen3 (a
//! 4096-position preallocated cache, so a clone copies about a gigabyte) and Phi-3 (an in-place cache)
//! recompute it. The native model copies its (small) head cache instead.

use super::chat::ChatTemplate;
use super::decode::{log_prob, Decoding, Next};
use super::frontend::Frontend;
use super::native;
use super::tokenizer::ModelTokenizer;
use super::{
    EngineError, EngineInfo, Flow, GenParams, Generation, Generator, Prompt, RenderedPrompt,
    Scored, StopReason,
};
use crate::model::ResolvedModel;
use crate::provenance::gguf::GgufFile;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models as m;
use std::sync::Arc;
use std::time::Instant;

/// GGUF architectures this backend runs.
pub const GGUF_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "qwen3moe", "gemma3", "phi3"];
/// config.json `model_type`s this backend runs from safetensors.
pub const SAFETENSORS_ARCHITECTURES: &[&str] = &[
    "llama",
    "qwen2",
    "qwen3",
    "mistral",
    "gemma",
    "gemma3",
    "gemma3_text",
];
/// Largest f32 copy of the weights `Precision::Auto` makes (bytes).
pub const AUTO_F32_BUDGET: u64 = 2 << 30;
/// Most prompt tokens computed in one forward pass (bounds activation memory).
const PROMPT_CHUNK: usize = 512;

/// The loaded weights, one variant per architecture.
enum Weights {
    /// modelvet's own forward pass ([`super::native`]) and the sequence it is computing.
    Native(Arc<native::Model>, native::Seq),
    QLlama(m::quantized_llama::ModelWeights),
    QQwen2(Box<m::quantized_qwen2::ModelWeights>),
    QQwen3(Box<m::quantized_qwen3::ModelWeights>),
    QGemma3(m::quantized_gemma3::ModelWeights),
    QPhi3(m::quantized_phi3::ModelWeights),
    Llama(
        Box<m::llama::Llama>,
        Box<m::llama::Cache>,
        Box<m::llama::Config>,
    ),
    Qwen2(Box<m::qwen2::ModelForCausalLM>),
    Qwen3(Box<m::qwen3::ModelForCausalLM>),
    Mistral(Box<m::mistral::Model>),
    Gemma(Box<m::gemma::Model>),
    Gemma3(Box<m::gemma3::Model>),
}

impl Weights {
    /// Logits of the last position after feeding `ids` at position `pos`, as a vector.
    fn forward(
        &mut self,
        ids: &[u32],
        pos: usize,
        device: &Device,
    ) -> candle_core::Result<Vec<f32>> {
        if let Weights::Native(model, seq) = self {
            if pos > seq.len() {
                candle_core::bail!("position {pos} is past the cached {} tokens", seq.len());
            }
            seq.truncate(pos, model.kv_dim());
            return model
                .feed(seq, ids)
                .map_err(|e| candle_core::Error::Msg(e.to_string()));
        }
        let x = Tensor::new(ids, device)?.unsqueeze(0)?;
        let logits = match self {
            Weights::Native(..) => unreachable!("handled above"),
            Weights::QLlama(w) => w.forward(&x, pos)?,
            Weights::QQwen2(w) => w.forward(&x, pos)?,
            Weights::QQwen3(w) => w.forward(&x, pos)?,
            Weights::QGemma3(w) => w.forward(&x, pos)?,
            Weights::QPhi3(w) => w.forward(&x, pos)?,
            Weights::Llama(w, cache, _) => w.forward(&x, pos, cache)?,
            Weights::Qwen2(w) => w.forward(&x, pos)?,
            Weights::Qwen3(w) => w.forward(&x, pos)?,
            Weights::Mistral(w) => w.forward(&x, pos)?,
            Weights::Gemma(w) => w.forward(&x, pos)?,
            Weights::Gemma3(w) => w.forward(&x, pos)?,
        };
        let vocab = *logits.dims().last().unwrap_or(&0);
        let flat = logits.flatten_all()?.to_dtype(DType::F32)?;
        let n = flat.dim(0)?;
        flat.narrow(0, n - vocab, vocab)?.to_vec1()
    }

    /// Feeds `ids` at position `pos` when their logits are not needed (a prompt head, a chunk before
    /// the last): the native model skips its output matrix; the others compute and drop them.
    fn advance(&mut self, ids: &[u32], pos: usize, device: &Device) -> candle_core::Result<()> {
        if let Weights::Native(model, seq) = self {
            if pos > seq.len() {
                candle_core::bail!("position {pos} is past the cached {} tokens", seq.len());
            }
            seq.truncate(pos, model.kv_dim());
            return model
                .advance(seq, ids)
                .map_err(|e| candle_core::Error::Msg(e.to_string()));
        }
        self.forward(ids, pos, device).map(drop)
    }

    /// Forgets the KV cache.
    fn reset(&mut self, device: &Device) -> candle_core::Result<()> {
        match self {
            Weights::Native(m, seq) => *seq = m.new_seq(),
            Weights::QLlama(w) => w.clear_kv_cache(),
            Weights::QQwen2(w) => w.clear_kv_cache(),
            Weights::QQwen3(w) => w.clear_kv_cache(),
            // These two restart their cache when fed position 0.
            Weights::QGemma3(_) | Weights::QPhi3(_) => {}
            Weights::Llama(_, cache, cfg) => {
                **cache = m::llama::Cache::new(true, DType::F32, cfg, device)?
            }
            Weights::Qwen2(w) => w.clear_kv_cache(),
            Weights::Qwen3(w) => w.clear_kv_cache(),
            Weights::Mistral(w) => w.clear_kv_cache(),
            Weights::Gemma(w) => w.clear_kv_cache(),
            Weights::Gemma3(w) => w.clear_kv_cache(),
        }
        Ok(())
    }

    /// A copy sharing the weights and the current KV cache, when the cache is immutable tensors.
    fn snapshot(&self) -> Option<Weights> {
        Some(match self {
            Weights::Native(m, seq) => Weights::Native(m.clone(), seq.clone()),
            Weights::QLlama(w) => Weights::QLlama(w.clone()),
            Weights::QGemma3(w) => Weights::QGemma3(w.clone()),
            Weights::Llama(w, c, cfg) => Weights::Llama(w.clone(), c.clone(), cfg.clone()),
            Weights::Qwen2(w) => Weights::Qwen2(w.clone()),
            Weights::Qwen3(w) => Weights::Qwen3(w.clone()),
            Weights::Mistral(w) => Weights::Mistral(w.clone()),
            Weights::Gemma(w) => Weights::Gemma(w.clone()),
            Weights::Gemma3(w) => Weights::Gemma3(w.clone()),
            Weights::QQwen2(_) | Weights::QQwen3(_) | Weights::QPhi3(_) => return None,
        })
    }
}

/// A model state after a prompt head and the ids it covers. A prompt that uses it is longer than the
/// head, so the logits after the head are never needed (and not computed).
struct Snapshot {
    ids: Vec<u32>,
    weights: Weights,
}

/// A local model on candle.
pub struct CandleGenerator {
    weights: Weights,
    /// What the live KV cache holds.
    cached: Vec<u32>,
    snapshot: Option<Snapshot>,
    front: Arc<Frontend>,
    device: Device,
    /// The batch server's request queue, started by the first [`Generator::handle`] call.
    server: std::sync::OnceLock<std::sync::mpsc::Sender<super::batch::Request>>,
}

/// Probes the batch server computes at once by default: enough that each weight read serves several
/// sequences (decode is memory-bound), few enough that their KV caches stay small. Sixteen where their
/// caches at [`BATCH_POSITIONS`] positions each fit in [`BATCH_KV_BYTES`] (the small models: 0.4–0.75 GB),
/// else eight (a 7B's caches at eight: 2–8 GB). Sixteen against eight took Qwen2.5-Coder-0.5B's 33-probe
/// suite sample from 19.4–20.6 s to 14.4–14.7 s; thirty-two measured 14.1–15.3 s.
pub fn default_batch(kv_bytes_per_position: usize) -> usize {
    if kv_bytes_per_position.saturating_mul(16 * BATCH_POSITIONS) <= BATCH_KV_BYTES {
        16
    } else {
        8
    }
}
/// Positions a probe's sequence is assumed to reach (prompt and answer) when sizing the default batch.
pub const BATCH_POSITIONS: usize = 1024;
/// The KV-cache memory the default batch may take.
pub const BATCH_KV_BYTES: usize = 1 << 30;

fn invalid(file: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidModel {
        file: file.to_owned(),
        message: message.to_string(),
    }
}

impl CandleGenerator {
    /// Loads a resolved model: its GGUF file, or its safetensors weights with config.json.
    pub fn load(
        model: &ResolvedModel,
        opts: &super::EngineOptions,
    ) -> Result<CandleGenerator, EngineError> {
        let device = Device::Cpu;
        let ggufs: Vec<_> = model
            .files
            .iter()
            .filter(|f| f.rel.ends_with(".gguf"))
            .collect();
        let tokenizer_json = model.file("tokenizer.json");
        let tokenizer_config = model
            .file("tokenizer_config.json")
            .and_then(|f| crate::util::read_capped(&f.path, 16 << 20).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());

        let mut precision = "f32";
        let mut precision_owned = String::new();
        let mut backend = "candle-gguf";
        let (weights, arch, files, tokenizer, tok_source, gguf_template, context) = if let Some(f) =
            ggufs.first()
        {
            if ggufs.len() > 1 {
                return Err(invalid(
                    &model.reference,
                    "more than one .gguf file; name the one to run",
                ));
            }
            let header = GgufFile::open(&f.path).map_err(|e| invalid(&f.rel, e))?;
            let structural: Vec<_> = header
                .check(&f.rel)
                .into_iter()
                .filter(|x| x.severity == crate::diag::Severity::Error)
                .collect();
            if let Some(problem) = structural.first() {
                return Err(invalid(
                    &f.rel,
                    format!("refusing to load a malformed GGUF: {}", problem.message),
                ));
            }
            let arch = header.architecture().unwrap_or("").to_owned();
            if !GGUF_ARCHITECTURES.contains(&arch.as_str()) {
                return Err(EngineError::UnsupportedArchitecture {
                    arch,
                    format: "GGUF",
                    supported: GGUF_ARCHITECTURES.join(", "),
                });
            }
            let f32_bytes = header.parameter_count().saturating_mul(4);
            let dequantize = match opts.precision {
                super::Precision::F32 => true,
                super::Precision::Quantized => false,
                super::Precision::Auto => f32_bytes <= AUTO_F32_BUDGET,
            };
            let weights = if native::ARCHITECTURES.contains(&arch.as_str())
                && !opts.candle_transformers
            {
                // The native forward pass computes on the stored blocks; `auto` keeps them (they are
                // llama.cpp's arithmetic), `f32` widens every matrix.
                let f32_weights = opts.precision == super::Precision::F32;
                // The kernel family is part of the record: the scalar kernels sum Q4_1 and the
                // k-quants in another order than the SIMD ones (`avx2` and `avx512-vnni` agree), so
                // greedy text can differ between them on near-ties.
                if f32_weights {
                    precision = "f32";
                } else {
                    precision_owned = format!("quantized, {} kernels", super::quant::kernel_name());
                }
                backend = "native-gguf";
                let mode = match f32_weights {
                    true => native::Weights::F32,
                    false => native::Weights::Stored,
                };
                let model = native::Model::load(&f.path, &f.rel, &header, mode)?;
                let seq = model.new_seq();
                Weights::Native(Arc::new(model), seq)
            } else {
                precision = if dequantize { "f32" } else { "quantized" };
                load_gguf_weights(&f.path, &f.rel, &arch, dequantize, &device)?
            };
            let (tokenizer, source) = match tokenizer_json {
                Some(t) => (
                    ModelTokenizer::from_tokenizer_json(&t.path, tokenizer_config.as_ref())?,
                    t.rel.clone(),
                ),
                None => (
                    ModelTokenizer::from_gguf(&header, &f.rel)?,
                    format!("{}:tokenizer.ggml", f.rel),
                ),
            };
            let template = header
                .get_str("tokenizer.chat_template")
                .map(|t| (format!("{}:tokenizer.chat_template", f.rel), t.to_owned()));
            let context = header
                .get_u64(&format!("{arch}.context_length"))
                .unwrap_or(4096) as usize;
            (
                weights,
                arch,
                vec![f.rel.clone()],
                tokenizer,
                source,
                template,
                context,
            )
        } else {
            backend = "candle-safetensors";
            let native = super::hf::ARCHITECTURES.contains(&folder_model_type(model).as_str());
            let (weights, arch, files, context) = if native && !opts.candle_transformers {
                // The native forward pass on the mapped 16-bit weights (`auto`), widened to f32, or
                // quantized once to Q8_0: the record names what ran and which kernels.
                let mode = match opts.precision {
                    super::Precision::Auto => native::Weights::Stored,
                    super::Precision::F32 => native::Weights::F32,
                    super::Precision::Quantized => native::Weights::Q8_0,
                };
                let loaded = super::hf::load(model, mode)?;
                let level = super::quant::kernel_name();
                precision_owned = match mode {
                    native::Weights::Stored => format!("{}, {level} kernels", loaded.stored),
                    native::Weights::F32 => "f32".into(),
                    native::Weights::Q8_0 => format!(
                        "q8_0 (quantized at load from {}), {level} kernels",
                        loaded.stored
                    ),
                };
                backend = "native-safetensors";
                let (arch, context) = (loaded.model.cfg.arch.clone(), loaded.model.cfg.context);
                let seq = loaded.model.new_seq();
                (
                    Weights::Native(Arc::new(loaded.model), seq),
                    arch,
                    loaded.files,
                    context,
                )
            } else {
                load_safetensors(model, &device)?
            };
            let t = tokenizer_json.ok_or_else(|| {
                invalid(&model.reference, "safetensors model without tokenizer.json")
            })?;
            let tokenizer =
                ModelTokenizer::from_tokenizer_json(&t.path, tokenizer_config.as_ref())?;
            (
                weights,
                arch,
                files,
                tokenizer,
                t.rel.clone(),
                None,
                context,
            )
        };

        // The chat template: tokenizer_config.json or chat_template.jinja win over GGUF metadata, as in
        // transformers; otherwise the GGUF one; otherwise the documented fallback.
        let folder_template = folder_template(model, tokenizer_config.as_ref());
        let (template_source, template_text) = match folder_template.or(gguf_template) {
            Some((s, t)) => (s, Some(t)),
            None => ("none".to_owned(), None),
        };
        let bos = tokenizer.bos_token();
        let eos = tokenizer.eos_token();
        let template = match template_text {
            Some(t) => Some(ChatTemplate::new(
                &template_source,
                &t,
                bos.as_deref(),
                eos.as_deref(),
            )?),
            None => None,
        };

        let mut stop_ids = tokenizer.end_of_turn_ids();
        for id in generation_config_eos(model) {
            if !stop_ids.contains(&id) {
                stop_ids.push(id);
            }
        }
        let snapshot_ok = weights.snapshot().is_some();
        let info = EngineInfo {
            backend: backend.into(),
            architecture: arch,
            weights: files,
            tokenizer: tok_source,
            chat_template: template_source,
            context_length: context,
            stop_ids: stop_ids.clone(),
            prefix_cache: snapshot_ok,
            precision: if precision_owned.is_empty() {
                precision.into()
            } else {
                precision_owned
            },
            threads: candle_core::utils::get_num_threads(),
            batch: match &weights {
                Weights::Native(m, _) if opts.batch == 0 => {
                    default_batch(m.kv_bytes_per_position())
                }
                Weights::Native(..) => opts.batch,
                _ => 1,
            },
            reasoning: None,
            remote: None,
        };
        let mut front = Frontend::new(tokenizer, template, stop_ids, info)?;
        if let Some(system) = &opts.shared_system {
            front.share_system_head(system)?;
        }
        Ok(CandleGenerator {
            weights,
            cached: Vec::new(),
            snapshot: None,
            front: Arc::new(front),
            device,
            server: std::sync::OnceLock::new(),
        })
    }

    pub fn tokenizer(&self) -> &ModelTokenizer {
        &self.front.tokenizer
    }
}

impl CandleGenerator {
    /// Brings the KV cache to exactly `ids` and returns the logits after them, reusing the live cache,
    /// then the head snapshot, whichever covers more. Returns the number of tokens served from cache.
    fn prefill(&mut self, ids: &[u32]) -> Result<(Vec<f32>, usize), EngineError> {
        self.front.check_prompt(ids)?;
        // Take or refresh the snapshot of the shared head.
        let head = self.front.head_ids.clone();
        let head_fits = self.front.extends_head(ids);
        let mut start = 0;
        let mut logits = None;
        let mut reused = false;
        if head_fits && self.front.info.prefix_cache {
            if self.snapshot.as_ref().is_none_or(|s| s.ids != head) {
                self.weights.reset(&self.device)?;
                self.advance(&head, 0)?;
                let weights = self
                    .weights
                    .snapshot()
                    .ok_or_else(|| EngineError::Backend("snapshot unavailable".into()))?;
                self.snapshot = Some(Snapshot {
                    ids: head.clone(),
                    weights,
                });
            } else if let Some(s) = &self.snapshot {
                self.weights = s
                    .weights
                    .snapshot()
                    .ok_or_else(|| EngineError::Backend("snapshot unavailable".into()))?;
                reused = true;
            }
            start = head.len();
        } else {
            self.weights.reset(&self.device)?;
        }
        let cached = if reused { start } else { 0 };
        if start < ids.len() {
            logits = Some(self.feed(&ids[start..], start)?);
        }
        self.cached = ids.to_vec();
        Ok((logits.unwrap_or_default(), cached))
    }

    /// For the native model: the cache of the shared chat head when `ids` start with it (computed once and
    /// kept as the head snapshot), and how many tokens it covers; else an empty cache.
    fn native_head(&mut self, ids: &[u32]) -> Result<(native::Seq, usize), EngineError> {
        let Weights::Native(model, _) = &self.weights else {
            return Err(EngineError::Backend("not a native model".into()));
        };
        let model = model.clone();
        let head = self.front.head_ids.clone();
        if !self.front.extends_head(ids) {
            return Ok((model.new_seq(), 0));
        }
        if let Some(Snapshot {
            ids: s,
            weights: Weights::Native(_, seq),
            ..
        }) = &self.snapshot
        {
            if *s == head {
                return Ok((seq.clone(), head.len()));
            }
        }
        let mut seq = model.new_seq();
        model.advance(&mut seq, &head)?;
        self.snapshot = Some(Snapshot {
            ids: head.clone(),
            weights: Weights::Native(model, seq.clone()),
        });
        Ok((seq, head.len()))
    }

    /// Feeds `ids` starting at position `pos` in chunks; returns the last logits.
    fn feed(&mut self, ids: &[u32], pos: usize) -> Result<Vec<f32>, EngineError> {
        let Some(n) = self.last_chunk(ids, pos) else {
            return Ok(Vec::new());
        };
        let cut = ids.len() - n;
        self.advance(&ids[..cut], pos)?;
        Ok(self.weights.forward(&ids[cut..], pos + cut, &self.device)?)
    }

    /// Feeds `ids` starting at position `pos` in chunks, without logits.
    fn advance(&mut self, ids: &[u32], pos: usize) -> Result<(), EngineError> {
        let mut at = pos;
        let mut rest = ids;
        while let Some(n) = self.chunk(rest, at) {
            self.weights.advance(&rest[..n], at, &self.device)?;
            at += n;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// How many of `ids` (fed at `pos`) go in the next forward pass; `None` when there are none.
    fn chunk(&self, ids: &[u32], pos: usize) -> Option<usize> {
        // candle 0.11's quantized Gemma 3 builds a wrong mask for several tokens after position 0 (an F32
        // block joined to a U32 mask, and zeros that hide the cache): past position 0 it gets one token
        // per pass, which takes the mask-free path.
        let one_by_one = matches!(self.weights, Weights::QGemma3(_));
        match ids.len() {
            0 => None,
            _ if one_by_one && pos > 0 => Some(1),
            len => Some(len.min(PROMPT_CHUNK)),
        }
    }

    /// The size of the last forward pass [`CandleGenerator::advance`] would make over `ids` (the one
    /// whose logits `feed` returns), cut as the earlier chunks are.
    fn last_chunk(&self, ids: &[u32], pos: usize) -> Option<usize> {
        let (mut at, mut rest, mut last) = (pos, ids, None);
        while let Some(n) = self.chunk(rest, at) {
            last = Some(n);
            at += n;
            rest = &rest[n..];
        }
        last
    }
}

impl Generator for CandleGenerator {
    fn info(&self) -> &EngineInfo {
        &self.front.info
    }

    fn render(&self, prompt: &Prompt) -> Result<RenderedPrompt, EngineError> {
        self.front.render(prompt)
    }

    fn generate(
        &mut self,
        prompt: &Prompt,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation, EngineError> {
        let rendered = self.render(prompt)?;
        let t0 = Instant::now();
        let (mut logits, cached_tokens) = self.prefill(&rendered.ids)?;
        let prompt_seconds = t0.elapsed().as_secs_f64();
        let front = self.front.clone();
        let mut dec = Decoding::new(&front, params);
        let t1 = Instant::now();
        let mut pos = rendered.ids.len();
        let stop = loop {
            match dec.next(&logits)? {
                Next::Stop(reason) => break reason,
                Next::Token(next, piece) => {
                    if let Some(p) = piece {
                        if on_text(&p) == Flow::Stop {
                            break StopReason::Callback;
                        }
                    }
                    if pos + 1 >= front.info.context_length {
                        break StopReason::Context;
                    }
                    logits = self.weights.forward(&[next], pos, &self.device)?;
                    pos += 1;
                }
            }
        };
        if let Some(rest) = dec.flush() {
            let _ = on_text(&rest);
        }
        Ok(Generation {
            text: std::mem::take(&mut dec.text),
            ids: std::mem::take(&mut dec.ids),
            prompt_tokens: rendered.ids.len(),
            cached_tokens,
            stop,
            prompt_seconds,
            decode_seconds: t1.elapsed().as_secs_f64(),
        })
    }

    fn score(
        &mut self,
        prompt: &Prompt,
        continuations: &[String],
    ) -> Result<Vec<Scored>, EngineError> {
        let rendered = self.render(prompt)?;
        self.front.check_prompt(&rendered.ids)?;
        let ids: Vec<Vec<u32>> = continuations
            .iter()
            .map(|c| self.front.continuation_ids(&rendered, c))
            .collect::<Result<_, _>>()?;
        // The native model feeds the prompt after the cached head once, then every continuation in one
        // pass.
        if let Weights::Native(model, _) = &self.weights {
            let model = model.clone();
            let (base, from) = self.native_head(&rendered.ids)?;
            let lps = model.score(&base, &rendered.ids[from..], &ids)?;
            return Ok(continuations
                .iter()
                .zip(ids)
                .zip(lps)
                .map(|((c, ids), lp)| Scored::new(c, ids, lp))
                .collect());
        }
        let (prompt_logits, _) = self.prefill(&rendered.ids)?;
        let base = self.weights.snapshot();
        let mut out = Vec::with_capacity(continuations.len());
        for (i, (cont, ids)) in continuations.iter().zip(ids).enumerate() {
            if ids.is_empty() {
                out.push(Scored::new(cont, ids, vec![]));
                continue;
            }
            if i > 0 {
                match &base {
                    Some(b) => {
                        self.weights = b
                            .snapshot()
                            .ok_or_else(|| EngineError::Backend("snapshot unavailable".into()))?
                    }
                    None => {
                        self.prefill(&rendered.ids)?;
                    }
                }
            }
            let mut logprobs = vec![log_prob(&prompt_logits, ids[0])];
            for (k, w) in ids.windows(2).enumerate() {
                let l = self
                    .weights
                    .forward(&[w[0]], rendered.ids.len() + k, &self.device)?;
                logprobs.push(log_prob(&l, w[1]));
            }
            out.push(Scored::new(cont, ids, logprobs));
        }
        self.cached.clear();
        Ok(out)
    }

    fn max_concurrency(&self) -> usize {
        self.front.info.batch
    }

    /// A handle on the batch server (native models only), started on first use.
    fn handle(&self) -> Option<Box<dyn Generator + Send>> {
        let Weights::Native(model, _) = &self.weights else {
            return None;
        };
        if self.front.info.batch < 2 {
            return None;
        }
        let tx = self.server.get_or_init(|| {
            super::batch::spawn(model.clone(), self.front.clone(), self.front.info.batch)
        });
        Some(Box::new(super::batch::BatchHandle::new(
            self.front.clone(),
            tx.clone(),
        )))
    }
}

/// Loads GGUF weights through candle's quantized model for `arch`. With `dequantize`, every weight is
/// expanded to f32 at load: candle decides this per thread from `CANDLE_DEQUANTIZE_ALL` the first time a
/// thread builds a matmul, so the load runs on a fresh thread while a lock holds the variable set.
fn load_gguf_weights(
    path: &std::path::Path,
    rel: &str,
    arch: &str,
    dequantize: bool,
    device: &Device,
) -> Result<Weights, EngineError> {
    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let previous = std::env::var_os("CANDLE_DEQUANTIZE_ALL");
    std::env::set_var("CANDLE_DEQUANTIZE_ALL", if dequantize { "1" } else { "0" });
    let (path, rel, arch, device) = (
        path.to_owned(),
        rel.to_owned(),
        arch.to_owned(),
        device.clone(),
    );
    let loaded = std::thread::spawn(move || -> Result<Weights, EngineError> {
        let mut file = std::fs::File::open(&path).map_err(|e| invalid(&rel, e))?;
        let content = candle_core::quantized::gguf_file::Content::read(&mut file)
            .map_err(|e| invalid(&rel, e))?;
        Ok(match arch.as_str() {
            "llama" => Weights::QLlama(m::quantized_llama::ModelWeights::from_gguf(
                content, &mut file, &device,
            )?),
            "qwen2" => Weights::QQwen2(Box::new(m::quantized_qwen2::ModelWeights::from_gguf(
                content, &mut file, &device,
            )?)),
            "qwen3" => Weights::QQwen3(Box::new(m::quantized_qwen3::ModelWeights::from_gguf(
                content, &mut file, &device,
            )?)),
            "gemma3" => Weights::QGemma3(m::quantized_gemma3::ModelWeights::from_gguf(
                content, &mut file, &device,
            )?),
            "phi3" => Weights::QPhi3(m::quantized_phi3::ModelWeights::from_gguf(
                false, content, &mut file, &device,
            )?),
            // qwen3moe runs on the native forward pass only.
            other => {
                return Err(EngineError::UnsupportedArchitecture {
                    arch: other.to_owned(),
                    format: "candle-transformers GGUF",
                    supported: "llama, qwen2, qwen3, gemma3, phi3".into(),
                })
            }
        })
    })
    .join();
    match previous {
        Some(v) => std::env::set_var("CANDLE_DEQUANTIZE_ALL", v),
        None => std::env::remove_var("CANDLE_DEQUANTIZE_ALL"),
    }
    loaded.map_err(|_| invalid("model", "the loader thread panicked"))?
}

/// Chat template from tokenizer_config.json (string or the `default` of a list) or chat_template.jinja.
fn folder_template(
    model: &ResolvedModel,
    tokenizer_config: Option<&serde_json::Value>,
) -> Option<(String, String)> {
    if let Some(f) = model.file("chat_template.jinja") {
        if let Ok(b) = crate::util::read_capped(&f.path, 4 << 20) {
            return Some((f.rel.clone(), String::from_utf8_lossy(&b).into_owned()));
        }
    }
    let t = tokenizer_config?.get("chat_template")?;
    let text = match t {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .find(|i| i.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|i| i.get("template"))
            .and_then(|t| t.as_str())?
            .to_owned(),
        _ => return None,
    };
    Some(("tokenizer_config.json".into(), text))
}

/// `eos_token_id` from generation_config.json (a number or a list).
fn generation_config_eos(model: &ResolvedModel) -> Vec<u32> {
    let Some(f) = model.file("generation_config.json") else {
        return vec![];
    };
    let Ok(b) = crate::util::read_capped(&f.path, 1 << 20) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) else {
        return vec![];
    };
    match v.get("eos_token_id") {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|n| vec![n as u32]).unwrap_or_default()
        }
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|n| n.as_u64())
            .map(|n| n as u32)
            .collect(),
        _ => vec![],
    }
}

/// config.json's `model_type` (empty when unreadable: the loaders then report why).
fn folder_model_type(model: &ResolvedModel) -> String {
    model
        .file("config.json")
        .and_then(|f| crate::util::read_capped(&f.path, 16 << 20).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("model_type")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// config.json read as one architecture's configuration.
fn config<T: serde::de::DeserializeOwned>(
    cfg: &serde_json::Value,
    arch: &str,
) -> Result<T, EngineError> {
    serde_json::from_value(cfg.clone()).map_err(|e| {
        invalid(
            "config.json",
            format!("not a valid `{arch}` configuration: {e}"),
        )
    })
}

/// Loads a Hugging Face folder: config.json + one or more .safetensors files, memory-mapped, in f32.
fn load_safetensors(
    model: &ResolvedModel,
    device: &Device,
) -> Result<(Weights, String, Vec<String>, usize), EngineError> {
    let files: Vec<_> = model
        .files
        .iter()
        .filter(|f| f.rel.ends_with(".safetensors") && !f.rel.contains('/'))
        .collect();
    if files.is_empty() {
        return Err(EngineError::NoWeights(model.reference.clone()));
    }
    // Refuse malformed files before candle maps them.
    for f in &files {
        let (_, findings) = crate::provenance::safetensors::inspect(&f.path, &f.rel);
        if let Some(bad) = findings
            .iter()
            .find(|x| x.severity == crate::diag::Severity::Error)
        {
            return Err(invalid(
                &f.rel,
                format!(
                    "refusing to load a malformed safetensors file: {}",
                    bad.message
                ),
            ));
        }
    }
    let cfg_file = model.file("config.json").ok_or_else(|| {
        invalid(
            &model.reference,
            "no config.json beside the safetensors weights",
        )
    })?;
    let cfg_bytes = crate::util::read_capped(&cfg_file.path, 16 << 20)
        .map_err(|e| invalid("config.json", e))?;
    let cfg: serde_json::Value =
        serde_json::from_slice(&cfg_bytes).map_err(|e| invalid("config.json", e))?;
    let arch = cfg
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    // SAFETY: the files are memory-mapped read-only; modelvet does not modify them while they are mapped.
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&paths, DType::F32, device)? };
    let context = cfg
        .get("max_position_embeddings")
        .and_then(|v| v.as_u64())
        .unwrap_or(4096) as usize;
    let weights = match arch.as_str() {
        "llama" => {
            let c: m::llama::LlamaConfig = config(&cfg, "llama")?;
            let c = c.into_config(false);
            let cache = m::llama::Cache::new(true, DType::F32, &c, device)?;
            Weights::Llama(
                Box::new(m::llama::Llama::load(vb, &c)?),
                Box::new(cache),
                Box::new(c),
            )
        }
        "qwen2" => {
            let c: m::qwen2::Config = config(&cfg, "qwen2")?;
            Weights::Qwen2(Box::new(m::qwen2::ModelForCausalLM::new(&c, vb)?))
        }
        "qwen3" => {
            let c: m::qwen3::Config = config(&cfg, "qwen3")?;
            Weights::Qwen3(Box::new(m::qwen3::ModelForCausalLM::new(&c, vb)?))
        }
        "mistral" => {
            let c: m::mistral::Config = config(&cfg, "mistral")?;
            Weights::Mistral(Box::new(m::mistral::Model::new(&c, vb)?))
        }
        "gemma" => {
            let c: m::gemma::Config = config(&cfg, "gemma")?;
            Weights::Gemma(Box::new(m::gemma::Model::new(false, &c, vb)?))
        }
        "gemma3" | "gemma3_text" => {
            let c: m::gemma3::Config = config(&cfg, "gemma3")?;
            Weights::Gemma3(Box::new(m::gemma3::Model::new(false, &c, vb)?))
        }
        other => {
            return Err(EngineError::UnsupportedArchitecture {
                arch: other.to_owned(),
                format: "safetensors",
                supported: SAFETENSORS_ARCHITECTURES.join(", "),
            })
        }
    };
    Ok((
        weights,
        arch,
        files.iter().map(|f| f.rel.clone()).collect(),
        context,
    ))
}

#[cfg(test)]
mod tests {
    use super::default_batch;

    /// KV bytes per position: layers × 2 × KV heads × head size × 4.
    fn kv(layers: usize, kv_heads: usize, head: usize) -> usize {
        layers * 2 * kv_heads * head * 4
    }

    #[test]
    fn small_models_batch_sixteen_probes_and_large_ones_eight() {
        // SmolLM2-135M, Qwen2.5-0.5B, Gemma 3 270M: their sixteen caches fit in 1 GiB.
        assert_eq!(default_batch(kv(30, 3, 64)), 16);
        assert_eq!(default_batch(kv(24, 2, 64)), 16);
        assert_eq!(default_batch(kv(18, 1, 256)), 16);
        // Qwen2.5-7B, Llama-3-8B and Llama-2-7B (no grouped queries) do not.
        assert_eq!(default_batch(kv(28, 4, 128)), 8);
        assert_eq!(default_batch(kv(32, 8, 128)), 8);
        assert_eq!(default_batch(kv(32, 32, 128)), 8);
    }
}

//! The inference engine: everything above it (probe runner, reports) talks to a [`Generator`] and never to
//! candle. Three backends implement it: modelvet's own forward pass on GGUF files and Hugging Face
//! safetensors folders (`native`, reading through `weights` and `hf`, batched by `batch`),
//! candle-transformers (`candle`: phi3 GGUF, other safetensors folders, and the cross-check), and
//! OpenAI-compatible servers (`remote`).
//!
//! A generator renders prompts with the model's own chat template, generates (greedy or seeded
//! sampling, stopping on the model's end-of-turn tokens, at max tokens, or when a callback says so), and
//! scores continuations by log-likelihood. Backends decide how much work they can reuse: the candle
//! backend keeps the KV cache of the shared prompt head (system prompt + template head) where the model's
//! cache can be snapshotted cheaply.

pub mod batch;
pub mod candle;
pub mod chat;
mod decode;
mod frontend;
pub mod hf;
mod moe;
pub mod native;
pub mod quant;
pub mod reasoning;
pub mod remote;
pub mod tokenizer;
mod weights;

use serde::{Deserialize, Serialize};

/// Why an engine could not load or run a model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("architecture `{arch}` is not supported for {format} models (supported: {supported})")]
    UnsupportedArchitecture {
        arch: String,
        format: &'static str,
        supported: String,
    },
    #[error("`{file}`: {message}")]
    InvalidModel { file: String, message: String },
    #[error("no weights to load in `{0}` (expected a .gguf file, or .safetensors files with config.json)")]
    NoWeights(String),
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    #[error(transparent)]
    Chat(#[from] chat::ChatError),
    #[error("inference failed: {0}")]
    Backend(String),
    #[error("the prompt has {prompt} tokens, more than the model's context of {context}")]
    ContextOverflow { prompt: usize, context: usize },
    /// The engine cannot be reached any more (a server down, timing out after retries): the run stops
    /// instead of recording an error for every remaining probe, and resumes from its journal.
    #[error("{0}")]
    Unavailable(String),
    /// The backend cannot do this at all (a server that exposes no prompt log-probabilities).
    #[error("not scorable on this backend: {0}")]
    NotScorable(String),
}

impl From<candle_core::Error> for EngineError {
    fn from(e: candle_core::Error) -> Self {
        EngineError::Backend(e.to_string())
    }
}

/// What to send to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Prompt {
    /// A chat turn, rendered through the model's chat template (or the documented fallback).
    Chat {
        system: Option<String>,
        user: String,
        /// A reasoning model's thinking mode (Qwen3's `enable_thinking`); `None` keeps the template's
        /// default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinking: Option<bool>,
    },
    /// Text sent as is (no template); BOS added if the model adds one.
    Raw { text: String },
}

/// A prompt as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenderedPrompt {
    pub text: String,
    pub ids: Vec<u32>,
    /// `template` (the model's own), `fallback` (no template in the model), or `raw`.
    pub format: String,
}

/// Decoding settings. Temperature 0 (the default) is greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GenParams {
    pub max_tokens: usize,
    pub temperature: f64,
    /// Nucleus sampling threshold (only with temperature > 0).
    pub top_p: Option<f64>,
    pub seed: u64,
}

impl Prompt {
    /// A chat turn in the template's default thinking mode.
    pub fn chat(system: Option<String>, user: impl Into<String>) -> Prompt {
        Prompt::Chat {
            system,
            user: user.into(),
            thinking: None,
        }
    }
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            max_tokens: 256,
            temperature: 0.0,
            top_p: None,
            seed: 0,
        }
    }
}

/// What a streaming callback tells the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StopReason {
    /// The model produced an end-of-turn token.
    EndOfTurn {
        token: String,
    },
    MaxTokens,
    /// The caller's callback asked to stop.
    Callback,
    /// The model's context window is full.
    Context,
}

/// One generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Generation {
    pub text: String,
    pub ids: Vec<u32>,
    pub prompt_tokens: usize,
    /// Prompt tokens served from a cached prefix instead of being computed.
    pub cached_tokens: usize,
    pub stop: StopReason,
    pub prompt_seconds: f64,
    pub decode_seconds: f64,
}

/// The log-likelihood of one continuation after a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scored {
    pub continuation: String,
    pub ids: Vec<u32>,
    /// Natural-log probability of each continuation token.
    pub logprobs: Vec<f64>,
    pub sum: f64,
    /// `sum / ids.len()`: the length-normalised score.
    pub mean: f64,
}

impl Scored {
    /// A continuation's score from the log-probabilities of its tokens.
    pub fn new(continuation: &str, ids: Vec<u32>, logprobs: Vec<f64>) -> Scored {
        let sum: f64 = logprobs.iter().sum();
        Scored {
            continuation: continuation.to_owned(),
            mean: if ids.is_empty() {
                0.0
            } else {
                sum / ids.len() as f64
            },
            ids,
            logprobs,
            sum,
        }
    }
}

/// What an engine is running, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EngineInfo {
    /// `native-gguf` or `native-safetensors` (modelvet's own forward pass), `candle-gguf` or
    /// `candle-safetensors` (candle-transformers), `remote`.
    pub backend: String,
    pub architecture: String,
    /// The weight files loaded, relative to the model root.
    pub weights: Vec<String>,
    /// Where the tokenizer came from.
    pub tokenizer: String,
    /// Where the chat template came from, or `none` (fallback format).
    pub chat_template: String,
    pub context_length: usize,
    /// Token ids that end a turn.
    pub stop_ids: Vec<u32>,
    /// Whether the shared prompt head is computed once and reused.
    pub prefix_cache: bool,
    /// `f32` (weights widened at load: exact arithmetic on the stored weights), `quantized` (candle's
    /// quantized kernels), or for modelvet's own forward pass `quantized, avx2 kernels` / `quantized,
    /// scalar kernels` / `quantized, avx512-vnni kernels` (`avx2` and `avx512-vnni` give the same sums;
    /// scalar sums Q4_1 and the k-quants in another order, so near-ties can resolve differently); for a
    /// Hugging Face folder on the
    /// native pass, the stored type and the kernels (`bf16, avx2 kernels`), `f32`, or `q8_0 (quantized at
    /// load from bf16), avx2 kernels`.
    pub precision: String,
    pub threads: usize,
    /// Answers the engine computes at once (1: one at a time). Batching changes timings, not answers.
    #[serde(default = "one")]
    pub batch: usize,
    /// Set when the model reasons before it answers (`<think>…</think>`): how, and what told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<reasoning::ReasoningStyle>,
    /// Set when the model is served by an OpenAI-compatible server: what was asked of it and what it
    /// honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<remote::RemoteInfo>,
}

fn one() -> usize {
    1
}

/// A model that generates and scores text. Nothing here depends on candle types.
pub trait Generator {
    fn info(&self) -> &EngineInfo;

    /// The exact prompt (text and token ids) the model will see.
    fn render(&self, prompt: &Prompt) -> Result<RenderedPrompt, EngineError>;

    /// Generates an answer, streaming each new piece of text to `on_text`.
    fn generate(
        &mut self,
        prompt: &Prompt,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation, EngineError>;

    /// Log-likelihood of each continuation after the prompt; the prompt is computed once.
    fn score(
        &mut self,
        prompt: &Prompt,
        continuations: &[String],
    ) -> Result<Vec<Scored>, EngineError>;

    /// How many requests the engine serves at once (a server batches them); the runner keeps that many
    /// probes in flight, each through its own [`Generator::handle`].
    fn max_concurrency(&self) -> usize {
        1
    }

    /// Another handle on the same engine for a parallel worker, sharing its connections. `None` for
    /// engines that own their model and its cache (the candle backends: one model, one caller).
    fn handle(&self) -> Option<Box<dyn Generator + Send>> {
        None
    }
}

/// How a quantized model's weights are computed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// GGUF models of the architectures modelvet computes itself (llama, qwen2, qwen3, qwen3moe, gemma3):
    /// quantized, which is llama.cpp's arithmetic and so what users of the file see. Hugging Face folders
    /// of those (and mistral): the stored bf16/f16 weights, memory-mapped, never widened as a whole.
    /// Others (phi3 through candle-transformers): f32 when the dequantized weights fit in 2 GiB, else
    /// quantized.
    #[default]
    Auto,
    /// Dequantize every weight to f32 at load: the exact product of the stored weights, without the 8-bit
    /// rounding of activations that quantized kernels (llama.cpp's included) apply. Four bytes per weight.
    F32,
    /// The stored blocks, with activations rounded to 8 bits per block as llama.cpp does: the file's
    /// memory footprint and the fastest decode. Hugging Face bf16/f16/f32 weights are quantized once at
    /// load to Q8_0 (about half the size of bf16).
    Quantized,
}

/// Settings for loading an engine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub precision: Precision,
    /// Run models through candle-transformers (GGUF: its quantized models; Hugging Face folders: its f32
    /// models) instead of modelvet's own forward pass: the cross-check the tests use.
    pub candle_transformers: bool,
    /// Answers to compute at once when a caller runs several (0: the engine's default).
    pub batch: usize,
    /// The system message most prompts will carry (a judge's rubric): the chat head with it is computed
    /// once and reused, instead of the head without a system message.
    pub shared_system: Option<String>,
}

/// Loads the best backend for a resolved model.
pub fn load(model: &crate::model::ResolvedModel) -> Result<Box<dyn Generator>, EngineError> {
    load_with(model, &EngineOptions::default())
}

/// Loads the best backend for a resolved model with explicit settings.
pub fn load_with(
    model: &crate::model::ResolvedModel,
    opts: &EngineOptions,
) -> Result<Box<dyn Generator>, EngineError> {
    Ok(Box::new(candle::CandleGenerator::load(model, opts)?))
}

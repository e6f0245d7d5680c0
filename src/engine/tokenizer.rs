//! The model tokenizer: text to token ids and back, exactly as the reference implementation does it.
//!
//! Why it exists: a model fed ids its own reference tokenizer would not produce answers differently, and a
//! vetting tool that tokenizes differently from llama.cpp measures the wrong thing. candle's
//! `Tokenizer::from_gguf` is one such case (it inserts a space after special tokens for SmolLM2, see
//! `/work/shared/FACTS.md`), so modelvet builds its own from the GGUF metadata.
//!
//! Two sources:
//! - **GGUF metadata** (`tokenizer.ggml.*`), reproducing llama.cpp's `llama-vocab.cpp`:
//!   - `gpt2` (byte-level BPE): vocabulary and merges from the file, the pre-tokenizer regexes llama.cpp
//!     uses for the `tokenizer.ggml.pre` value, byte-level mapping, `ignore_merges` for the llama3 family.
//!   - `llama` (SentencePiece BPE, e.g. Gemma): llama.cpp merges the adjacent pair whose concatenation is a
//!     vocabulary piece of highest score. That is expressed as a `tokenizers` BPE whose merges are derived
//!     from the scores (every split of a piece into two vocabulary pieces is a merge, ranked by the piece's
//!     score, as transformers' `SentencePieceExtractor` does), with byte fallback for characters outside the
//!     vocabulary.
//!
//!   Control, unknown and user-defined tokens are cut out of the text before the model runs, with
//!   llama.cpp's own algorithm (longest token first, every occurrence), not the `tokenizers` crate's
//!   leftmost-longest matcher: the two differ on overlapping tokens. Unknown `tokenizer.ggml.model` or
//!   `tokenizer.ggml.pre` values are refused with the list of supported ones rather than guessed.
//! - **`tokenizer.json`** (Hugging Face): loaded with the `tokenizers` crate, whose behaviour is the
//!   reference there; padding and truncation settings in the file are switched off (callers bound the
//!   context themselves).
//!
//! Trade-offs: decoding GGUF vocabularies concatenates each token's bytes as llama.cpp's `token_to_piece`
//! does, without llama.cpp's optional `clean_spaces` pass (so `decode(encode(x)) == x`); llama.cpp's
//! per-model attribute hacks (phi-3 rstrip, jina lstrip) are not reproduced; ranking SentencePiece merges
//! by score reproduces llama.cpp except when one piece can be formed by two different overlapping splits
//! at once (ties there are positional in llama.cpp) — no such case appears in the reference table.

use crate::provenance::gguf::{Array, GgufFile};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
    Tokenizer,
};

/// The `tokenizer.ggml.model` values modelvet can build.
pub const SUPPORTED_MODELS: &[&str] = &["gpt2", "llama"];

/// GPT-2's pre-tokenizer regex, as llama.cpp writes it (its trailing `\s+` alternative is implied there by
/// the rule that unmatched text becomes its own piece).
const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's regex, in llama.cpp's case-insensitive-free rewrite.
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's regex: Llama 3's with single digits.
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes a byte-level BPE vocabulary (`LLAMA_VOCAB_PRE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreKind {
    /// `LLAMA_VOCAB_PRE_TYPE_DEFAULT`: punctuation runs, GPT-2, digit runs, then groups of three digits.
    Default,
    /// `LLAMA_VOCAB_PRE_TYPE_GPT2` and the types sharing its regex.
    Gpt2,
    /// Every digit alone, then GPT-2 (`SMOLLM`, `STARCODER`, `REFACT`, …).
    DigitsGpt2,
    /// The Llama 3 regex.
    Llama3,
    /// The Qwen 2 regex.
    Qwen2,
}

/// One supported `tokenizer.ggml.pre` value: its pre-tokenizer, whether llama.cpp sets `ignore_merges`,
/// and llama.cpp's default for `add_bos` when the file does not say.
struct PreSpec {
    name: &'static str,
    kind: PreKind,
    ignore_merges: bool,
    add_bos: bool,
}

const fn pre(name: &'static str, kind: PreKind, ignore_merges: bool, add_bos: bool) -> PreSpec {
    PreSpec {
        name,
        kind,
        ignore_merges,
        add_bos,
    }
}

/// The `tokenizer.ggml.pre` values supported, with llama.cpp's settings for each (from `llama-vocab.cpp`).
const PRE_SPECS: &[PreSpec] = &[
    pre("default", PreKind::Default, false, false),
    pre("gpt-2", PreKind::Gpt2, false, false),
    pre("phi-2", PreKind::Gpt2, false, false),
    pre("mpt", PreKind::Gpt2, false, false),
    pre("olmo", PreKind::Gpt2, false, false),
    pre("jais", PreKind::Gpt2, false, false),
    pre("smollm", PreKind::DigitsGpt2, false, false),
    pre("starcoder", PreKind::DigitsGpt2, false, false),
    pre("refact", PreKind::DigitsGpt2, false, false),
    pre("codeshell", PreKind::DigitsGpt2, false, false),
    pre("command-r", PreKind::DigitsGpt2, false, false),
    pre("exaone", PreKind::DigitsGpt2, false, false),
    pre("minerva-7b", PreKind::DigitsGpt2, false, false),
    pre("llama3", PreKind::Llama3, true, true),
    pre("llama-v3", PreKind::Llama3, true, true),
    pre("llama-bpe", PreKind::Llama3, true, true),
    pre("falcon3", PreKind::Llama3, true, true),
    pre("pixtral", PreKind::Llama3, true, true),
    pre("smaug-bpe", PreKind::Llama3, false, false),
    pre("dbrx", PreKind::Llama3, false, false),
    pre("qwen2", PreKind::Qwen2, false, false),
    pre("deepseek-r1-qwen", PreKind::Qwen2, false, false),
    pre("stablelm2", PreKind::Qwen2, false, false),
    pre("megrez", PreKind::Qwen2, false, false),
];

/// The supported `tokenizer.ggml.pre` values, for messages and documentation.
pub fn supported_pre_tokenizers() -> Vec<&'static str> {
    PRE_SPECS.iter().map(|p| p.name).collect()
}

/// Token texts llama.cpp treats as ending generation (its `special_eog_ids`, found by text).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// Token texts llama.cpp promotes to control tokens whatever the file says (EOT, EOM and FIM markers), so
/// they are cut out of text like any special token.
const CONTROL_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<end_of_utterance>",
    "<|eom_id|>",
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<PRE>",
    "▁<PRE>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<SUF>",
    "▁<SUF>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<MID>",
    "▁<MID>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
];

/// A GGUF token type (`tokenizer.ggml.token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Undefined,
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(v: i64) -> TokenType {
        match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// Cut out of the text before the model runs (llama.cpp's `cache_special_tokens`).
    fn is_partitioned(self) -> bool {
        matches!(
            self,
            TokenType::Control | TokenType::Unknown | TokenType::UserDefined
        )
    }

    /// Hidden when decoding with `skip_special`.
    fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::Unknown)
    }
}

/// Why a tokenizer could not be built or used. Messages name the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{file}: tokenizer metadata `{key}` is missing")]
    MissingKey { file: String, key: String },
    #[error("{file}: tokenizer metadata `{key}` {problem}")]
    BadMetadata {
        file: String,
        key: String,
        problem: String,
    },
    #[error("{file}: tokenizer model `{model}` is not supported (supported: {})", SUPPORTED_MODELS.join(", "))]
    UnsupportedModel { file: String, model: String },
    #[error("{file}: pre-tokenizer `{pre}` is not supported; modelvet refuses to guess how to split text (supported: {})", supported_pre_tokenizers().join(", "))]
    UnsupportedPre { file: String, pre: String },
    #[error("{file}: could not load the tokenizer: {message}")]
    Load { file: String, message: String },
    #[error("{file}: could not build the tokenizer: {message}")]
    Build { file: String, message: String },
    #[error("{file}: could not encode text: {message}")]
    Encode { file: String, message: String },
    #[error("{file}: could not decode: {message}")]
    Decode { file: String, message: String },
}

/// Which algorithm encodes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GGUF `gpt2`: byte-level BPE.
    GgufBpe,
    /// GGUF `llama`: SentencePiece BPE.
    GgufSpm,
    /// A Hugging Face `tokenizer.json`.
    Json,
}

/// A model's tokenizer: a `tokenizers::Tokenizer` plus what the engine needs (special ids, the flags for
/// adding BOS/EOS, the stop set, llama.cpp's special-token partition and per-token output bytes).
pub struct ModelTokenizer {
    tokenizer: Tokenizer,
    file: String,
    kind: Kind,
    /// Special-token texts cut out of the text first, longest first (GGUF only).
    partition: Vec<(String, u32)>,
    /// Per id: the bytes the token stands for in output, and whether `skip_special` hides it (GGUF only).
    pieces: Vec<(Box<[u8]>, bool)>,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    /// SentencePiece `add_space_prefix`: a space is put before each text fragment, removed when decoding.
    add_space_prefix: bool,
    eot_ids: Vec<u32>,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTokenizer")
            .field("file", &self.file)
            .field("kind", &self.kind)
            .field("vocab_size", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .finish_non_exhaustive()
    }
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the others for 256 + n.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let cp = if printable {
            b as u32
        } else {
            n += 1;
            255 + n
        };
        table[b as usize] = char::from_u32(cp).unwrap_or('\u{FFFD}');
    }
    table
}

/// `<0xAB>` → 0xAB.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// A helper carrying the file name into error constructors.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn missing(&self, key: &str) -> TokenizerError {
        TokenizerError::MissingKey {
            file: self.file.to_string(),
            key: key.to_string(),
        }
    }
    fn bad(&self, key: &str, problem: impl Into<String>) -> TokenizerError {
        TokenizerError::BadMetadata {
            file: self.file.to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
    fn build(&self, e: impl std::fmt::Display) -> TokenizerError {
        TokenizerError::Build {
            file: self.file.to_string(),
            message: e.to_string(),
        }
    }
    /// An optional token id key, checked against the vocabulary.
    fn token_id(&self, g: &GgufFile, key: &str, n: usize) -> Result<Option<u32>, TokenizerError> {
        match g.get(key) {
            None => Ok(None),
            Some(v) => {
                let id = v
                    .as_u64()
                    .ok_or_else(|| self.bad(key, "is not a non-negative integer"))?;
                if id >= n as u64 {
                    return Err(self.bad(
                        key,
                        format!("is {id}, outside the vocabulary of {n} tokens"),
                    ));
                }
                Ok(Some(id as u32))
            }
        }
    }
}

impl ModelTokenizer {
    /// Builds the tokenizer described by a GGUF header's `tokenizer.ggml.*` metadata, reproducing
    /// llama.cpp. `source` names the file in error messages.
    pub fn from_gguf(g: &GgufFile, source: &str) -> Result<ModelTokenizer, TokenizerError> {
        let cx = Ctx { file: source };
        let model = g
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| cx.missing("tokenizer.ggml.model"))?;
        let kind = match model {
            "gpt2" => Kind::GgufBpe,
            "llama" => Kind::GgufSpm,
            other => {
                return Err(TokenizerError::UnsupportedModel {
                    file: source.to_string(),
                    model: other.to_string(),
                })
            }
        };
        // The pre-tokenizer is checked first: an unsupported one is the most useful message.
        let pre_spec = if kind == Kind::GgufBpe {
            // llama.cpp falls back to `default` (with a warning) when the key is absent.
            let name = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
            Some(PRE_SPECS.iter().find(|p| p.name == name).ok_or_else(|| {
                TokenizerError::UnsupportedPre {
                    file: source.to_string(),
                    pre: name.to_string(),
                }
            })?)
        } else {
            None
        };

        let tokens = match g.get_array("tokenizer.ggml.tokens") {
            Some(Array::Str(t)) => t,
            Some(a) => {
                return Err(cx.bad(
                    "tokenizer.ggml.tokens",
                    format!("is an array of {}, not strings", a.elem_type()),
                ))
            }
            None => return Err(cx.missing("tokenizer.ggml.tokens")),
        };
        let n = tokens.len();
        if n == 0 || n > u32::MAX as usize {
            return Err(cx.bad("tokenizer.ggml.tokens", format!("holds {n} tokens")));
        }
        // llama.cpp renames empty tokens rather than failing.
        let texts: Vec<String> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_empty() {
                    format!("[EMPTY_{i}]")
                } else {
                    t.clone()
                }
            })
            .collect();
        let mut ids: HashMap<&str, u32> = HashMap::with_capacity(n);
        for (i, t) in texts.iter().enumerate() {
            if let Some(prev) = ids.insert(t.as_str(), i as u32) {
                return Err(cx.bad(
                    "tokenizer.ggml.tokens",
                    format!("holds {t:?} twice (ids {prev} and {i})"),
                ));
            }
        }

        let mut types: Vec<TokenType> = match g.get_array("tokenizer.ggml.token_type") {
            None => vec![TokenType::Normal; n],
            Some(a) => {
                let v = a.as_i64s().ok_or_else(|| {
                    cx.bad(
                        "tokenizer.ggml.token_type",
                        format!("is an array of {}, not integers", a.elem_type()),
                    )
                })?;
                if v.len() < n {
                    return Err(cx.bad(
                        "tokenizer.ggml.token_type",
                        format!("has {} entries for {n} tokens", v.len()),
                    ));
                }
                v[..n].iter().map(|&t| TokenType::from_gguf(t)).collect()
            }
        };
        // llama.cpp promotes EOT/EOM/FIM-looking tokens to control tokens.
        for t in CONTROL_TEXTS.iter().chain(EOG_TEXTS) {
            if let Some(&id) = ids.get(t) {
                let ty = &mut types[id as usize];
                if !ty.is_partitioned() {
                    *ty = TokenType::Control;
                }
            }
        }

        // Special ids: llama.cpp's defaults, replaced by the file's keys (checked against the vocabulary).
        let (default_bos, default_eos) = match kind {
            Kind::GgufSpm => (Some(1u32), Some(2u32)),
            _ => (Some(11u32), Some(11u32)),
        };
        let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let bos = cx
            .token_id(g, "tokenizer.ggml.bos_token_id", n)?
            .or(in_range(default_bos));
        let eos = cx
            .token_id(g, "tokenizer.ggml.eos_token_id", n)?
            .or(in_range(default_eos));
        let eot = cx.token_id(g, "tokenizer.ggml.eot_token_id", n)?;
        let eom = cx.token_id(g, "tokenizer.ggml.eom_token_id", n)?;

        let flag = |key: &str, default: bool| -> Result<bool, TokenizerError> {
            match g.get(key) {
                None => Ok(default),
                Some(v) => v.as_bool().ok_or_else(|| cx.bad(key, "is not a boolean")),
            }
        };
        let (default_add_bos, default_prefix) = match kind {
            Kind::GgufSpm => (true, true),
            _ => (pre_spec.map(|p| p.add_bos).unwrap_or(false), false),
        };
        let add_bos = flag("tokenizer.ggml.add_bos_token", default_add_bos)?;
        let add_eos = flag("tokenizer.ggml.add_eos_token", false)?;
        let add_space_prefix = match kind {
            Kind::GgufSpm => flag("tokenizer.ggml.add_space_prefix", default_prefix)?,
            _ => false,
        };
        if add_bos && bos.is_none() {
            return Err(cx.bad(
                "tokenizer.ggml.add_bos_token",
                "is true but there is no BOS token",
            ));
        }
        if add_eos && eos.is_none() {
            return Err(cx.bad(
                "tokenizer.ggml.add_eos_token",
                "is true but there is no EOS token",
            ));
        }

        let vocab: Vocab = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();

        let mut tokenizer = match kind {
            Kind::GgufBpe => {
                let spec = pre_spec.ok_or_else(|| cx.build("no pre-tokenizer"))?;
                build_byte_level_bpe(&cx, g, vocab, &ids, spec)?
            }
            _ => build_spm(&cx, g, vocab, &texts, &types, add_space_prefix)?,
        };

        // Special tokens: control/unknown are special, user-defined are plain added tokens; both are
        // matched on the raw text, before normalisation.
        let mut specials = Vec::new();
        let mut user = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            match types[i] {
                TokenType::Control | TokenType::Unknown => {
                    specials.push(AddedToken::from(t.clone(), true).normalized(false))
                }
                TokenType::UserDefined => {
                    user.push(AddedToken::from(t.clone(), false).normalized(false))
                }
                _ => {}
            }
        }
        tokenizer
            .add_special_tokens(specials)
            .map_err(|e| cx.build(e))?;
        tokenizer.add_tokens(user).map_err(|e| cx.build(e))?;

        let mut partition: Vec<(String, u32)> = texts
            .iter()
            .enumerate()
            .filter(|(i, _)| types[*i].is_partitioned())
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        partition.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let byte_table = byte_to_char_table();
        let char_to_byte: HashMap<char, u8> = byte_table
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let pieces = texts
            .iter()
            .zip(&types)
            .map(|(t, &ty)| {
                let bytes: Vec<u8> = match ty {
                    TokenType::Control | TokenType::Unknown | TokenType::UserDefined => {
                        t.as_bytes().to_vec()
                    }
                    TokenType::Byte => parse_byte_token(t).map(|b| vec![b]).unwrap_or_default(),
                    TokenType::Normal => match kind {
                        Kind::GgufSpm => t.replace('▁', " ").into_bytes(),
                        _ => {
                            let mut out = Vec::with_capacity(t.len());
                            for c in t.chars() {
                                match char_to_byte.get(&c) {
                                    Some(&b) => out.push(b),
                                    None => {
                                        let mut buf = [0u8; 4];
                                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes())
                                    }
                                }
                            }
                            out
                        }
                    },
                    // llama.cpp prints nothing for unused and undefined tokens.
                    TokenType::Unused | TokenType::Undefined => Vec::new(),
                };
                (bytes.into_boxed_slice(), ty.is_special())
            })
            .collect();

        let mut eot_ids: Vec<u32> = Vec::new();
        for id in [eos, eot, eom].into_iter().flatten() {
            eot_ids.push(id);
        }
        for t in EOG_TEXTS {
            if let Some(&id) = ids.get(t) {
                eot_ids.push(id);
            }
        }
        eot_ids.sort_unstable();
        eot_ids.dedup();

        Ok(ModelTokenizer {
            tokenizer,
            file: source.to_string(),
            kind,
            partition,
            pieces,
            vocab_size: n,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            eot_ids,
        })
    }

    /// Loads a Hugging Face `tokenizer.json`. `tokenizer_config` (the parsed `tokenizer_config.json`), when
    /// given, supplies `bos_token`/`eos_token` and the `add_bos_token`/`add_eos_token` flags; otherwise
    /// the flags say whether the file's post-processor adds them.
    pub fn from_tokenizer_json(
        path: &Path,
        tokenizer_config: Option<&serde_json::Value>,
    ) -> Result<ModelTokenizer, TokenizerError> {
        let file = path.display().to_string();
        let cx = Ctx { file: &file };
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
            file: file.clone(),
            message: e.to_string(),
        })?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| cx.build(e))?;

        let token_of = |key: &str| -> Option<String> {
            let v = tokenizer_config?.get(key)?;
            match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
                _ => None,
            }
        };
        let flag = |key: &str| tokenizer_config?.get(key)?.as_bool();
        let bos = token_of("bos_token").and_then(|t| tokenizer.token_to_id(&t));
        let eos = token_of("eos_token").and_then(|t| tokenizer.token_to_id(&t));

        // Without explicit flags, report what the post-processor does.
        let probe = tokenizer
            .encode_fast("a", true)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default();
        let add_bos =
            flag("add_bos_token").unwrap_or_else(|| bos.is_some() && probe.first().copied() == bos);
        let add_eos =
            flag("add_eos_token").unwrap_or_else(|| eos.is_some() && probe.last().copied() == eos);

        let added = tokenizer.get_added_tokens_decoder();
        let mut eot_ids: Vec<u32> = eos.into_iter().collect();
        for t in EOG_TEXTS {
            if let Some(id) = tokenizer.token_to_id(t) {
                if added.get(&id).map(|a| a.special).unwrap_or(false) {
                    eot_ids.push(id);
                }
            }
        }
        eot_ids.sort_unstable();
        eot_ids.dedup();
        let vocab_size = tokenizer.get_vocab_size(true);
        Ok(ModelTokenizer {
            tokenizer,
            file,
            kind: Kind::Json,
            partition: Vec::new(),
            pieces: Vec::new(),
            vocab_size,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix: false,
            eot_ids,
        })
    }

    /// The underlying `tokenizers` tokenizer (for GGUF vocabularies, plain `encode` on it matches special
    /// tokens leftmost-longest rather than llama.cpp's way; use [`ModelTokenizer::encode`]).
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of `text`; special tokens written in the text are recognised (as llama.cpp's
    /// `parse_special=true`); `add_special` adds BOS/EOS as the model's add_bos/add_eos flags say.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        if self.kind == Kind::Json {
            let mut ids = self
                .tokenizer
                .encode_fast(text, add_special)
                .map_err(|e| self.encode_error(e))?
                .get_ids()
                .to_vec();
            if add_special {
                if let (true, Some(b)) = (self.add_bos, self.bos) {
                    if ids.first() != Some(&b) {
                        ids.insert(0, b);
                    }
                }
                if let (true, Some(e)) = (self.add_eos, self.eos) {
                    if ids.last() != Some(&e) {
                        ids.push(e);
                    }
                }
            }
            return Ok(ids);
        }
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        for frag in self.partition_text(text) {
            match frag {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(s) => {
                    let enc = self
                        .tokenizer
                        .encode_fast(s, false)
                        .map_err(|e| self.encode_error(e))?;
                    out.extend_from_slice(enc.get_ids());
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    fn encode_error(&self, e: impl std::fmt::Display) -> TokenizerError {
        TokenizerError::Encode {
            file: self.file.clone(),
            message: e.to_string(),
        }
    }

    /// llama.cpp's `tokenizer_st_partition`: for each special token, longest first, cut every occurrence
    /// out of the remaining text fragments.
    fn partition_text<'t>(&self, text: &'t str) -> Vec<Fragment<'t>> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Fragment::Text(text));
        for (special, id) in &self.partition {
            if !text.contains(special.as_str()) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Text(mut s) => {
                        while let Some(at) = s.find(special.as_str()) {
                            if at > 0 {
                                next.push(Fragment::Text(&s[..at]));
                            }
                            next.push(Fragment::Token(*id));
                            s = &s[at + special.len()..];
                        }
                        if !s.is_empty() {
                            next.push(Fragment::Text(s));
                        }
                    }
                    tok => next.push(tok),
                }
            }
            frags = next;
        }
        frags
    }

    /// Text of `ids`. `skip_special` leaves out control tokens (BOS, EOS, turn markers); user-defined
    /// tokens are always kept. Bytes that do not form UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        if self.kind == Kind::Json {
            return self
                .tokenizer
                .decode(ids, skip_special)
                .map_err(|e| TokenizerError::Decode {
                    file: self.file.clone(),
                    message: e.to_string(),
                });
        }
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.piece_bytes(id, skip_special, i == 0).ok_or_else(|| {
                TokenizerError::Decode {
                    file: self.file.clone(),
                    message: format!(
                        "token id {id} is outside the vocabulary of {} tokens",
                        self.vocab_size
                    ),
                }
            })?;
            bytes.extend_from_slice(piece);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The output bytes of one token (GGUF vocabularies). `first` strips the SentencePiece space prefix.
    fn piece_bytes(&self, id: u32, skip_special: bool, first: bool) -> Option<&[u8]> {
        let (bytes, special) = self.pieces.get(id as usize)?;
        if skip_special && *special {
            return Some(&[]);
        }
        let mut b: &[u8] = bytes;
        if first && self.add_space_prefix && Some(id) != self.bos {
            b = b.strip_prefix(b" ").unwrap_or(b);
        }
        Some(b)
    }

    /// Text of one token as it would appear in output (control tokens included). A byte token that is
    /// only part of a UTF-8 character gives U+FFFD: stream with [`StreamDecoder`] instead.
    pub fn token_to_piece(&self, id: u32) -> Option<String> {
        if self.kind == Kind::Json {
            if id as usize >= self.vocab_size {
                return None;
            }
            return self.tokenizer.decode(&[id], false).ok();
        }
        let (bytes, _) = self.pieces.get(id as usize)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    /// The id of a vocabulary entry written exactly as stored (`"<|im_end|>"`, `"Ġthe"`, `"▁the"`).
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.tokenizer.token_to_id(piece)
    }

    /// The vocabulary entry of `id` as stored.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// Number of token ids (the embedding rows the model must have).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether `encode(_, true)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// Whether `encode(_, true)` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos && self.eos.is_some()
    }

    /// Ids of control tokens that end a turn (eos, `<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, `<|end|>`,
    /// `<|endoftext|>` when it exists…), for the generator's stop set. Sorted, without duplicates.
    pub fn end_of_turn_ids(&self) -> Vec<u32> {
        self.eot_ids.clone()
    }

    pub fn bos_token(&self) -> Option<String> {
        self.bos.and_then(|id| self.tokenizer.id_to_token(id))
    }

    pub fn eos_token(&self) -> Option<String> {
        self.eos.and_then(|id| self.tokenizer.id_to_token(id))
    }

    /// An incremental decoder for streaming output: it holds back bytes until they form whole UTF-8
    /// characters.
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder {
            tok: self,
            skip_special,
            pending: Vec::new(),
            first: true,
            ids: Vec::new(),
            emitted: 0,
        }
    }
}

enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

/// Builds llama.cpp's byte-level BPE (`tokenizer.ggml.model = gpt2`).
fn build_byte_level_bpe(
    cx: &Ctx<'_>,
    g: &GgufFile,
    vocab: Vocab,
    ids: &HashMap<&str, u32>,
    spec: &PreSpec,
) -> Result<Tokenizer, TokenizerError> {
    let merges_raw = match g.get_array("tokenizer.ggml.merges") {
        Some(Array::Str(m)) => m,
        Some(a) => {
            return Err(cx.bad(
                "tokenizer.ggml.merges",
                format!("is an array of {}, not strings", a.elem_type()),
            ))
        }
        None => return Err(cx.missing("tokenizer.ggml.merges")),
    };
    let mut merges = Vec::with_capacity(merges_raw.len());
    for (i, m) in merges_raw.iter().enumerate() {
        // llama.cpp splits at the first space after the first byte.
        let at = m
            .bytes()
            .skip(1)
            .position(|b| b == b' ')
            .map(|p| p + 1)
            .ok_or_else(|| {
                cx.bad(
                    "tokenizer.ggml.merges",
                    format!("entry {i} ({m:?}) is not two tokens separated by a space"),
                )
            })?;
        let (a, b) = (&m[..at], &m[at + 1..]);
        // A merge whose parts or result are not tokens can never fire in llama.cpp; skip it here too
        // (the `tokenizers` builder would refuse it).
        let joined = format!("{a}{b}");
        if ids.contains_key(a) && ids.contains_key(b) && ids.contains_key(joined.as_str()) {
            merges.push((a.to_string(), b.to_string()));
        }
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(|e| cx.build(e))?;

    let split = |re: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
        Ok(Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| cx.build(e))?
        .into())
    };
    let bytes_only: PreTokenizerWrapper = ByteLevel::new(false, false, false).into();
    let pre: PreTokenizerWrapper = match spec.kind {
        PreKind::Gpt2 => PreSequence::new(vec![split(RE_GPT2)?, bytes_only]).into(),
        PreKind::DigitsGpt2 => {
            PreSequence::new(vec![Digits::new(true).into(), split(RE_GPT2)?, bytes_only]).into()
        }
        PreKind::Llama3 => PreSequence::new(vec![split(RE_LLAMA3)?, bytes_only]).into(),
        PreKind::Qwen2 => PreSequence::new(vec![split(RE_QWEN2)?, bytes_only]).into(),
        PreKind::Default => PreSequence::new(vec![
            split(r"[\p{P}\$\+<=>\^~\|]+")?,
            split(RE_GPT2)?,
            split(r"\p{N}+")?,
            split(r"[0-9][0-9][0-9]")?,
            bytes_only,
        ])
        .into(),
    };
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(DecoderWrapper::from(ByteLevel::new(
        false, false, false,
    ))));
    Ok(tokenizer)
}

/// Builds llama.cpp's SentencePiece BPE (`tokenizer.ggml.model = llama`) as a `tokenizers` BPE whose merges
/// come from the scores.
fn build_spm(
    cx: &Ctx<'_>,
    g: &GgufFile,
    vocab: Vocab,
    texts: &[String],
    types: &[TokenType],
    add_space_prefix: bool,
) -> Result<Tokenizer, TokenizerError> {
    let n = texts.len();
    let scores: Vec<f32> = match g.get_array("tokenizer.ggml.scores") {
        None => vec![0.0; n],
        Some(Array::F32(s)) if s.len() >= n => s[..n].to_vec(),
        Some(a) => match a.as_i64s() {
            Some(v) if v.len() >= n => v[..n].iter().map(|&x| x as f32).collect(),
            _ => {
                return Err(cx.bad(
                    "tokenizer.ggml.scores",
                    format!(
                        "must hold {n} numbers (it is an array of {} {})",
                        a.len(),
                        a.elem_type()
                    ),
                ))
            }
        },
    };
    // Pieces that text can form: special tokens are cut out before the model runs, so they never are.
    let formable: HashMap<&str, u32> = texts
        .iter()
        .enumerate()
        .filter(|(i, _)| !types[*i].is_partitioned())
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    // (score, piece id, split byte offset) for every split of a piece into two formable pieces.
    let mut cands: Vec<(f32, u32, usize)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if types[i].is_partitioned() {
            continue;
        }
        let score = if scores[i].is_nan() {
            f32::NEG_INFINITY
        } else {
            scores[i]
        };
        for (at, _) in t.char_indices().skip(1) {
            if formable.contains_key(&t[..at]) && formable.contains_key(&t[at..]) {
                cands.push((score, i as u32, at));
            }
        }
    }
    // Highest score first, as llama.cpp's priority queue; ties by piece id then split position.
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges: Vec<(String, String)> = cands
        .iter()
        .map(|&(_, id, at)| {
            let t = &texts[id as usize];
            (t[..at].to_string(), t[at..].to_string())
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .build()
        .map_err(|e| cx.build(e))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let replace = Replace::new(" ", "▁").map_err(|e| cx.build(e))?;
    let normalizer: NormalizerWrapper = if add_space_prefix {
        tokenizers::normalizers::Sequence::new(vec![
            Prepend::new("▁".to_string()).into(),
            replace.into(),
        ])
        .into()
    } else {
        replace.into()
    };
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| cx.build(e))?;
    let unspace = Replace::new("▁", " ").map_err(|e| cx.build(e))?;
    tokenizer.with_decoder(Some(DecoderWrapper::from(DecoderSequence::new(vec![
        unspace.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ]))));
    Ok(tokenizer)
}

/// Streams decoded text token by token, holding back bytes (or, for `tokenizer.json` models, tokens)
/// until they form whole UTF-8 characters.
pub struct StreamDecoder<'a> {
    tok: &'a ModelTokenizer,
    skip_special: bool,
    /// GGUF: bytes not yet emitted (an incomplete UTF-8 character).
    pending: Vec<u8>,
    first: bool,
    /// tokenizer.json: ids so far and how many bytes of their decoding were emitted.
    ids: Vec<u32>,
    emitted: usize,
}

impl StreamDecoder<'_> {
    /// Adds one token; returns the text that became complete, if any. Unknown ids add nothing.
    pub fn push(&mut self, id: u32) -> Option<String> {
        if self.tok.kind == Kind::Json {
            self.ids.push(id);
            let text = self
                .tok
                .tokenizer
                .decode(&self.ids, self.skip_special)
                .ok()?;
            if text.ends_with('\u{FFFD}') || text.len() <= self.emitted {
                return None;
            }
            let new = text.get(self.emitted..).map(str::to_string);
            if new.is_some() {
                self.emitted = text.len();
            }
            return new.filter(|s| !s.is_empty());
        }
        let first = std::mem::replace(&mut self.first, false);
        let piece = self.tok.piece_bytes(id, self.skip_special, first)?;
        self.pending.extend_from_slice(piece);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The first `valid_up_to` bytes are whole characters.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whatever is held back, with incomplete characters as U+FFFD.
    pub fn flush(&mut self) -> Option<String> {
        if self.tok.kind == Kind::Json {
            let text = self
                .tok
                .tokenizer
                .decode(&self.ids, self.skip_special)
                .ok()?;
            let new = text.get(self.emitted..).map(str::to_string);
            self.emitted = text.len();
            return new.filter(|s| !s.is_empty());
        }
        if self.pending.is_empty() {
            return None;
        }
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}

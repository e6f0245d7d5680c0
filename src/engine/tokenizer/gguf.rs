//! A tokenizer from GGUF metadata (`tokenizer.ggml.*`), reproducing llama.cpp's `llama-vocab.cpp`:
//! - `gpt2` (byte-level BPE): vocabulary and merges from the file in a `tokenizers` BPE, the
//!   pre-tokenizer llama.cpp uses for the `tokenizer.ggml.pre` value (see `pre.rs`), byte-level mapping,
//!   `ignore_merges` for the llama3 family.
//! - `llama` (SentencePiece BPE, e.g. Gemma): the vocabulary and its scores, encoded by llama.cpp's own
//!   merge loop (`spm.rs`). This used to be a `tokenizers` BPE with merges derived from the scores (every
//!   split of a piece into two pieces, ranked by the piece's score, as transformers'
//!   `SentencePieceExtractor` does): exact except where scores tie (llama.cpp takes the leftmost pair,
//!   the merge list the lower-ranked piece), and its merge strings, maps and copies of the vocabulary
//!   took 127 MB of heap on Gemma's 262k-piece vocabulary (peak RSS 1.84× the file; 1.14× now).
//!
//! Both read `tokenizer.ggml.tokens` once into the compact [`Vocab`] (the `gpt2` BPE also gives the
//! `tokenizers` crate the copy it needs). Control, unknown and user-defined tokens are cut out of the
//! text before the model runs (the partition built here, applied by `ModelTokenizer::encode`). Every
//! length, index and id read from the file is checked, and a bad one is an error naming the file and the
//! key. Unknown `tokenizer.ggml.model` values are refused with the list of supported ones rather than
//! guessed.
//!
//! Trade-off: llama.cpp's per-model attribute hacks (phi-3 rstrip, jina lstrip) are not reproduced.

use super::pre::{pre_tokenizer, PreSpec, PRE_SPECS};
use super::spm::Spm;
use super::vocab::Vocab;
use super::{Ctx, Model, ModelTokenizer, TokenizerError, EOG_TEXTS};
use crate::provenance::gguf::{Array, GgufFile};
use std::cmp::Reverse;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{DecoderWrapper, Tokenizer};

/// The `tokenizer.ggml.model` values modelvet can build.
pub const SUPPORTED_MODELS: &[&str] = &["gpt2", "llama"];

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

/// Which of the two `tokenizer.ggml.model`s the file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `gpt2`: byte-level BPE.
    Bpe,
    /// `llama`: SentencePiece BPE.
    Spm,
}

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
    pub(super) fn is_partitioned(self) -> bool {
        matches!(
            self,
            TokenType::Control | TokenType::Unknown | TokenType::UserDefined
        )
    }

    /// Hidden when decoding with `skip_special`.
    pub(super) fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::Unknown)
    }
}

/// GPT-2's byte-level alphabet read backwards: the byte a vocabulary character stands for. Printable
/// bytes stand for themselves, the 68 others for the characters 256..=323 in byte order; any other
/// character stands for its own UTF-8 bytes (`None`).
pub(super) fn byte_of_char(c: char) -> Option<u8> {
    const fn printable(b: u32) -> bool {
        matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
    }
    const SHIFTED: [u8; 68] = {
        let mut table = [0u8; 68];
        let (mut b, mut n) = (0u32, 0usize);
        while b < 256 {
            if !printable(b) {
                table[n] = b as u8;
                n += 1;
            }
            b += 1;
        }
        table
    };
    let cp = c as u32;
    if cp < 256 {
        return printable(cp).then_some(cp as u8);
    }
    SHIFTED.get(cp as usize - 256).copied()
}

/// `<0xAB>` → 0xAB.
pub(super) fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl Ctx<'_> {
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
            "gpt2" => Kind::Bpe,
            "llama" => Kind::Spm,
            other => {
                return Err(TokenizerError::UnsupportedModel {
                    file: source.to_string(),
                    model: other.to_string(),
                })
            }
        };
        // The pre-tokenizer is checked first: an unsupported one is the most useful message.
        let pre_spec = if kind == Kind::Bpe {
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
        // One copy of the texts (empty ones renamed as llama.cpp does, duplicates refused).
        let mut vocab = Vocab::new(&cx, tokens)?;
        if let Some(a) = g.get_array("tokenizer.ggml.token_type") {
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
            for (ty, &t) in vocab.types.iter_mut().zip(&v) {
                *ty = TokenType::from_gguf(t);
            }
        }
        // llama.cpp promotes EOT/EOM/FIM-looking tokens to control tokens.
        for t in CONTROL_TEXTS.iter().chain(EOG_TEXTS) {
            if let Some(id) = vocab.id(t) {
                let ty = &mut vocab.types[id as usize];
                if !ty.is_partitioned() {
                    *ty = TokenType::Control;
                }
            }
        }

        // Special ids: llama.cpp's defaults, replaced by the file's keys (checked against the vocabulary).
        let (default_bos, default_eos) = match kind {
            Kind::Spm => (Some(1u32), Some(2u32)),
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
            Kind::Spm => (true, true),
            _ => (pre_spec.map(|p| p.add_bos).unwrap_or(false), false),
        };
        let add_bos = flag("tokenizer.ggml.add_bos_token", default_add_bos)?;
        let add_eos = flag("tokenizer.ggml.add_eos_token", false)?;
        let add_space_prefix = match kind {
            Kind::Spm => flag("tokenizer.ggml.add_space_prefix", default_prefix)?,
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

        // Special tokens, longest text first (ties by id): llama.cpp's partition order.
        let mut partition: Vec<u32> = (0..n as u32)
            .filter(|&id| vocab.token_type(id).is_partitioned())
            .collect();
        partition.sort_by_key(|&id| (Reverse(vocab.text(id).map_or(0, str::len)), id));

        let mut eot_ids: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        eot_ids.extend(EOG_TEXTS.iter().filter_map(|t| vocab.id(t)));
        eot_ids.sort_unstable();
        eot_ids.dedup();

        let model = match kind {
            Kind::Bpe => {
                let spec = pre_spec.ok_or_else(|| cx.build("no pre-tokenizer"))?;
                let bpe = build_byte_level_bpe(&cx, g, &vocab, spec)?;
                Model::GgufBpe {
                    bpe: Box::new(bpe),
                    vocab,
                }
            }
            Kind::Spm => Model::GgufSpm(Box::new(Spm::new(vocab, spm_scores(&cx, g, n)?))),
        };

        Ok(ModelTokenizer {
            model,
            file: source.to_string(),
            partition,
            vocab_size: n,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            eot_ids,
        })
    }
}

/// Builds llama.cpp's byte-level BPE (`tokenizer.ggml.model = gpt2`) as a `tokenizers` BPE.
fn build_byte_level_bpe(
    cx: &Ctx<'_>,
    g: &GgufFile,
    vocab: &Vocab,
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
    let mut joined = String::new();
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
        joined.clear();
        joined.push_str(a);
        joined.push_str(b);
        if vocab.id(a).is_some() && vocab.id(b).is_some() && vocab.id(&joined).is_some() {
            merges.push((a.to_string(), b.to_string()));
        }
    }
    let texts: tokenizers::models::bpe::Vocab =
        vocab.iter().map(|(id, t)| (t.to_string(), id)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(texts, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(|e| cx.build(e))?;

    let pre = pre_tokenizer(cx, spec.kind)?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(DecoderWrapper::from(ByteLevel::new(
        false, false, false,
    ))));
    Ok(tokenizer)
}

/// `tokenizer.ggml.scores` for a SentencePiece vocabulary of `n` tokens (all zero when absent, as
/// llama.cpp reads it).
fn spm_scores(cx: &Ctx<'_>, g: &GgufFile, n: usize) -> Result<Vec<f32>, TokenizerError> {
    Ok(match g.get_array("tokenizer.ggml.scores") {
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
    })
}

//! A tokenizer from GGUF metadata (`tokenizer.ggml.*`), reproducing llama.cpp's `llama-vocab.cpp`:
//! - `gpt2` (byte-level BPE): vocabulary and merges from the file, the pre-tokenizer llama.cpp uses for the
//!   `tokenizer.ggml.pre` value (see `pre.rs`), byte-level mapping, `ignore_merges` for the llama3 family.
//! - `llama` (SentencePiece BPE, e.g. Gemma): llama.cpp merges the adjacent pair whose concatenation is a
//!   vocabulary piece of highest score. That is expressed as a `tokenizers` BPE whose merges are derived
//!   from the scores (every split of a piece into two vocabulary pieces is a merge, ranked by the piece's
//!   score, as transformers' `SentencePieceExtractor` does), with byte fallback for characters outside the
//!   vocabulary.
//!
//! Control, unknown and user-defined tokens are cut out of the text before the model runs (the partition
//! built here, applied by `ModelTokenizer::encode`). Unknown `tokenizer.ggml.model` values are refused with
//! the list of supported ones rather than guessed.
//!
//! Trade-offs: llama.cpp's per-model attribute hacks (phi-3 rstrip, jina lstrip) are not reproduced;
//! ranking SentencePiece merges by score reproduces llama.cpp except when one piece can be formed by two
//! different overlapping splits at once (ties there are positional in llama.cpp) — no such case appears in
//! the reference table.

use super::pre::{pre_tokenizer, PreSpec, PRE_SPECS};
use super::{Ctx, Kind, ModelTokenizer, TokenizerError, EOG_TEXTS};
use crate::provenance::gguf::{Array, GgufFile};
use std::collections::HashMap;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, Tokenizer};

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

    let pre = pre_tokenizer(cx, spec.kind)?;
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

//! How llama.cpp splits text before byte-level BPE runs, per `tokenizer.ggml.pre` value: the regexes and
//! llama.cpp's per-vocabulary settings (`ignore_merges`, the `add_bos` default), from `llama-vocab.cpp`.
//!
//! Why a table of its own: the pre-tokenizer decides where merges may happen, so a wrong one silently
//! changes the ids. Only the values listed in [`PRE_SPECS`] are accepted; any other is refused with this
//! list rather than guessed. Trade-off: supporting a new model family means adding its row (and its regex
//! when it has a new one) here, checked against llama.cpp.

use super::{Ctx, TokenizerError};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

/// GPT-2's pre-tokenizer regex, as llama.cpp writes it (its trailing `\s+` alternative is implied there by
/// the rule that unmatched text becomes its own piece).
const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's regex, in llama.cpp's case-insensitive-free rewrite.
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's regex: Llama 3's with single digits.
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes a byte-level BPE vocabulary (`LLAMA_VOCAB_PRE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PreKind {
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
pub(super) struct PreSpec {
    pub(super) name: &'static str,
    pub(super) kind: PreKind,
    pub(super) ignore_merges: bool,
    pub(super) add_bos: bool,
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
pub(super) const PRE_SPECS: &[PreSpec] = &[
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

/// The `tokenizers` pre-tokenizer for `kind`: its regex splits, then the byte-level mapping.
pub(super) fn pre_tokenizer(
    cx: &Ctx<'_>,
    kind: PreKind,
) -> Result<PreTokenizerWrapper, TokenizerError> {
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
    Ok(match kind {
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
    })
}

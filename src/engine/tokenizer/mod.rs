//! The model tokenizer: text to token ids and back, exactly as the reference implementation does it.
//!
//! Why it exists: a model fed ids its own reference tokenizer would not produce answers differently, and a
//! vetting tool that tokenizes differently from llama.cpp measures the wrong thing. candle's
//! `Tokenizer::from_gguf` is one such case (it does not know `tokenizer.ggml.pre = smollm` and inserts a
//! space after special tokens for SmolLM2: `Ġuser` 2914 instead of `user` 4093; `tests/tokenizer_refs.rs`
//! pins llama.cpp's ids), so modelvet builds its own from the GGUF metadata.
//!
//! Three models:
//! - **GGUF `gpt2`** (byte-level BPE: SmolLM2, Qwen): the vocabulary and merges from the file in a
//!   `tokenizers` BPE, with the pre-tokenizer llama.cpp uses for the `tokenizer.ggml.pre` value (`pre.rs`),
//!   built in `gguf.rs`.
//! - **GGUF `llama`** (SentencePiece BPE: Gemma, Llama 2): llama.cpp's own merge loop over the scores
//!   (`spm.rs`), with no merge table and no `tokenizers` crate: the merge table it used to be expressed
//!   as took 127 MB of heap on Gemma's 262k vocabulary and broke score ties differently from llama.cpp.
//! - **`tokenizer.json`** (Hugging Face): loaded with the `tokenizers` crate, whose behaviour is the
//!   reference there; padding and truncation settings in the file are switched off (callers bound the
//!   context themselves).
//!
//! Both GGUF models keep their vocabulary once, in `vocab.rs` (one string of all texts, an index of ids),
//! and answer `token_id`, `id_to_token` and decoding from it. Encoding (here) first cuts control, unknown
//! and user-defined tokens out of the text, with llama.cpp's own algorithm (longest token first, every
//! occurrence), not the `tokenizers` crate's leftmost-longest matcher: the two differ on overlapping
//! tokens.
//!
//! Trade-off: decoding GGUF vocabularies concatenates each token's bytes as llama.cpp's `token_to_piece`
//! does, without llama.cpp's optional `clean_spaces` pass (so `decode(encode(x)) == x`).

mod gguf;
mod pre;
mod spm;
#[cfg(test)]
mod tests;
mod vocab;

pub use gguf::{TokenType, SUPPORTED_MODELS};
pub use pre::supported_pre_tokenizers;

use gguf::byte_of_char;
use spm::{Spm, SpmError};
use std::path::Path;
use tokenizers::Tokenizer;
use vocab::Vocab;

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

/// What encodes text, with the vocabulary it answers ids from.
enum Model {
    /// A Hugging Face `tokenizer.json`.
    Json(Box<Tokenizer>),
    /// GGUF `gpt2`: byte-level BPE through the `tokenizers` crate (which holds its own copy of the texts
    /// and the merges); `vocab` answers ids and decoding.
    GgufBpe { bpe: Box<Tokenizer>, vocab: Vocab },
    /// GGUF `llama`: SentencePiece BPE, llama.cpp's algorithm over the compact vocabulary.
    GgufSpm(Box<Spm>),
}

impl Model {
    fn name(&self) -> &'static str {
        match self {
            Model::Json(_) => "tokenizer.json",
            Model::GgufBpe { .. } => "gguf gpt2 (byte-level BPE)",
            Model::GgufSpm(_) => "gguf llama (SentencePiece BPE)",
        }
    }

    /// The GGUF vocabulary (`None` for `tokenizer.json`).
    fn vocab(&self) -> Option<&Vocab> {
        match self {
            Model::Json(_) => None,
            Model::GgufBpe { vocab, .. } => Some(vocab),
            Model::GgufSpm(spm) => Some(&spm.vocab),
        }
    }
}

/// A model's tokenizer: the encoding model plus what the engine needs (special ids, the flags for adding
/// BOS/EOS, the stop set, llama.cpp's special-token partition).
pub struct ModelTokenizer {
    model: Model,
    file: String,
    /// Ids of the special tokens cut out of the text first, longest text first (GGUF only).
    partition: Vec<u32>,
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
            .field("model", &self.model.name())
            .field("vocab_size", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .finish_non_exhaustive()
    }
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
}

impl ModelTokenizer {
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
            model: Model::Json(Box::new(tokenizer)),
            file,
            partition: Vec::new(),
            vocab_size,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix: false,
            eot_ids,
        })
    }

    /// Token ids of `text`; special tokens written in the text are recognised (as llama.cpp's
    /// `parse_special=true`); `add_special` adds BOS/EOS as the model's add_bos/add_eos flags say.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        if let Model::Json(tokenizer) = &self.model {
            let mut ids = tokenizer
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
        let mut escaped = String::new();
        for frag in self.partition_text(text) {
            match frag {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(s) => match &self.model {
                    Model::GgufSpm(spm) => {
                        // llama.cpp puts the space before every text fragment (each follows a special
                        // token or starts the text), then writes spaces as ▁ (`llama_escape_whitespace`).
                        escaped.clear();
                        if self.add_space_prefix {
                            escaped.push('▁');
                        }
                        escaped.extend(s.chars().map(|c| if c == ' ' { '▁' } else { c }));
                        spm.encode(&escaped, &mut out)
                            .map_err(|e| self.spm_error(&spm.vocab, &escaped, e))?;
                    }
                    Model::GgufBpe { bpe: tokenizer, .. } | Model::Json(tokenizer) => {
                        let enc = tokenizer
                            .encode_fast(s, false)
                            .map_err(|e| self.encode_error(e))?;
                        out.extend_from_slice(enc.get_ids());
                    }
                },
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// The SentencePiece failure, naming the character llama.cpp would have thrown on.
    fn spm_error(&self, vocab: &Vocab, escaped: &str, e: SpmError) -> TokenizerError {
        let message = match e {
            SpmError::NoByteToken(b) => {
                let mut buf = [0u8; 4];
                let c = escaped.chars().find(|c| {
                    let s = c.encode_utf8(&mut buf);
                    vocab.id(s).is_none() && s.as_bytes().contains(&b)
                });
                let what = c.map(|c| format!("{c:?} (U+{:04X})", c as u32));
                format!(
                    "the character {} is not in the vocabulary and its byte 0x{b:02X} has no byte token \
                     (neither `<0x{b:02X}>` nor the byte itself)",
                    what.unwrap_or_else(|| "?".into())
                )
            }
            SpmError::TooLong(len) => {
                format!(
                    "a text fragment of {len} bytes is longer than the 4 GiB the tokenizer takes"
                )
            }
        };
        TokenizerError::Encode {
            file: self.file.clone(),
            message,
        }
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
        let Some(vocab) = self.model.vocab() else {
            return frags;
        };
        for &id in &self.partition {
            let Some(special) = vocab.text(id) else {
                continue;
            };
            if !text.contains(special) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Text(mut s) => {
                        while let Some(at) = s.find(special) {
                            if at > 0 {
                                next.push(Fragment::Text(&s[..at]));
                            }
                            next.push(Fragment::Token(id));
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
        if let Model::Json(tokenizer) = &self.model {
            return tokenizer
                .decode(ids, skip_special)
                .map_err(|e| TokenizerError::Decode {
                    file: self.file.clone(),
                    message: e.to_string(),
                });
        }
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            if !self.push_piece(id, skip_special, i == 0, &mut bytes) {
                return Err(TokenizerError::Decode {
                    file: self.file.clone(),
                    message: format!(
                        "token id {id} is outside the vocabulary of {} tokens",
                        self.vocab_size
                    ),
                });
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Appends the output bytes of one token (GGUF vocabularies), as llama.cpp's `token_to_piece`:
    /// control, unknown and user-defined tokens as written, byte tokens as their byte, normal tokens with
    /// ▁ as a space (SentencePiece) or through GPT-2's byte alphabet (byte-level BPE), unused ones as
    /// nothing. `first` strips the SentencePiece space prefix. False when `id` is not a token.
    fn push_piece(&self, id: u32, skip_special: bool, first: bool, out: &mut Vec<u8>) -> bool {
        let Some(vocab) = self.model.vocab() else {
            return false;
        };
        let Some(text) = vocab.text(id) else {
            return false;
        };
        let ty = vocab.token_type(id);
        if skip_special && ty.is_special() {
            return true;
        }
        let start = out.len();
        match ty {
            TokenType::Control | TokenType::Unknown | TokenType::UserDefined => {
                out.extend_from_slice(text.as_bytes())
            }
            TokenType::Byte => out.extend(gguf::parse_byte_token(text)),
            TokenType::Normal => match self.model {
                Model::GgufSpm(_) => {
                    let mut buf = [0u8; 4];
                    for c in text.chars() {
                        match c {
                            '▁' => out.push(b' '),
                            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
                        }
                    }
                }
                _ => {
                    let mut buf = [0u8; 4];
                    for c in text.chars() {
                        match byte_of_char(c) {
                            Some(b) => out.push(b),
                            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
                        }
                    }
                }
            },
            // llama.cpp prints nothing for unused and undefined tokens.
            TokenType::Unused | TokenType::Undefined => {}
        }
        if first && self.add_space_prefix && Some(id) != self.bos && out.get(start) == Some(&b' ') {
            out.remove(start);
        }
        true
    }

    /// Text of one token as it would appear in output (control tokens included). A byte token that is
    /// only part of a UTF-8 character gives U+FFFD: stream with [`StreamDecoder`] instead.
    pub fn token_to_piece(&self, id: u32) -> Option<String> {
        if let Model::Json(tokenizer) = &self.model {
            if id as usize >= self.vocab_size {
                return None;
            }
            return tokenizer.decode(&[id], false).ok();
        }
        let mut bytes = Vec::new();
        self.push_piece(id, false, false, &mut bytes)
            .then(|| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The id of a vocabulary entry written exactly as stored (`"<|im_end|>"`, `"Ġthe"`, `"▁the"`).
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        match &self.model {
            Model::Json(tokenizer) => tokenizer.token_to_id(piece),
            m => m.vocab()?.id(piece),
        }
    }

    /// The vocabulary entry of `id` as stored.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        match &self.model {
            Model::Json(tokenizer) => tokenizer.id_to_token(id),
            m => m.vocab()?.text(id).map(str::to_string),
        }
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
        self.bos.and_then(|id| self.id_to_token(id))
    }

    pub fn eos_token(&self) -> Option<String> {
        self.eos.and_then(|id| self.id_to_token(id))
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
        if let Model::Json(tokenizer) = &self.tok.model {
            self.ids.push(id);
            let text = tokenizer.decode(&self.ids, self.skip_special).ok()?;
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
        if !self
            .tok
            .push_piece(id, self.skip_special, first, &mut self.pending)
        {
            return None;
        }
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
        if let Model::Json(tokenizer) = &self.tok.model {
            let text = tokenizer.decode(&self.ids, self.skip_special).ok()?;
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

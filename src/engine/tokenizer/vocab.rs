//! A GGUF vocabulary held once: every token's text in one string, found by text through an index of ids.
//!
//! Why it exists: Gemma 3 has 262,144 tokens. Held as one `String` per token, then cloned into a
//! text → id map, an id → text map and a per-id output buffer, the vocabulary alone took tens of MB in
//! small allocations; here it is the texts' own bytes (2.3 MB for Gemma), a `u32` end offset per token
//! and a hash table of `u32` ids (about 2.6 MB) that hashes the text slices instead of owning copies of
//! them. Token types are one byte each. Lookups by text (`id`) and by id (`text`) are what the
//! tokenizers, `token_id`/`id_to_token` and decoding need, and nothing else keeps a copy.

use super::gguf::TokenType;
use super::{Ctx, TokenizerError};
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// The texts and types of a GGUF vocabulary, indexed both ways.
pub(super) struct Vocab {
    /// Every token's text, concatenated in id order.
    arena: String,
    /// Token `i`'s text is `arena[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    /// Ids, found by the hash of their text.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Per id, the type (after llama.cpp's promotions to control tokens).
    pub(super) types: Vec<TokenType>,
}

impl Vocab {
    /// Reads `tokenizer.ggml.tokens`. Empty texts are renamed `[EMPTY_<id>]` as llama.cpp does; a text
    /// listed twice is an error naming both ids. `types` starts as all `Normal`.
    pub(super) fn new(cx: &Ctx<'_>, tokens: &[String]) -> Result<Vocab, TokenizerError> {
        let key = "tokenizer.ggml.tokens";
        let n = tokens.len();
        // Room for every text, with `[EMPTY_<id>]` (at most 20 bytes) for the empty ones.
        let bytes: usize = tokens
            .iter()
            .map(|t| if t.is_empty() { 20 } else { t.len() })
            .sum();
        if n == 0 || n >= u32::MAX as usize || bytes > u32::MAX as usize {
            return Err(cx.bad(key, format!("holds {n} tokens of {bytes} bytes in all")));
        }
        let mut arena = String::with_capacity(bytes);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0u32);
        let mut index = HashTable::with_capacity(n);
        let hasher = DefaultHashBuilder::default();
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                arena.push_str(&format!("[EMPTY_{i}]"));
            } else {
                arena.push_str(t);
            }
            offsets.push(arena.len() as u32);
            let text_of =
                |j: u32| &arena[offsets[j as usize] as usize..offsets[j as usize + 1] as usize];
            let text = text_of(i as u32);
            match index.entry(
                hasher.hash_one(text),
                |&j| text_of(j) == text,
                |&j| hasher.hash_one(text_of(j)),
            ) {
                Entry::Occupied(prev) => {
                    return Err(cx.bad(
                        key,
                        format!("holds {text:?} twice (ids {} and {i})", prev.get()),
                    ))
                }
                Entry::Vacant(slot) => {
                    slot.insert(i as u32);
                }
            }
        }
        arena.shrink_to_fit();
        Ok(Vocab {
            arena,
            offsets,
            index,
            hasher,
            types: vec![TokenType::Normal; n],
        })
    }

    /// Number of tokens.
    pub(super) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The text of `id` as stored, or `None` outside the vocabulary.
    pub(super) fn text(&self, id: u32) -> Option<&str> {
        let end = *self.offsets.get(id as usize + 1)?;
        Some(&self.arena[self.offsets[id as usize] as usize..end as usize])
    }

    /// The id of the token whose text is exactly `text` (llama.cpp's `text_to_token`).
    pub(super) fn id(&self, text: &str) -> Option<u32> {
        self.index
            .find(self.hasher.hash_one(text), |&j| self.text(j) == Some(text))
            .copied()
    }

    /// The type of `id` (`Undefined` outside the vocabulary).
    pub(super) fn token_type(&self, id: u32) -> TokenType {
        self.types
            .get(id as usize)
            .copied()
            .unwrap_or(TokenType::Undefined)
    }

    /// Every token's text with its id, in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        (0..self.len() as u32).filter_map(|i| Some((i, self.text(i)?)))
    }

    /// Heap bytes held (texts, offsets, index, types), for the test that bounds the footprint.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.offsets.capacity() * 4
            + self.index.allocation_size()
            + self.types.capacity()
    }
}

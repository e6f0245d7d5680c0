//! SentencePiece BPE (`tokenizer.ggml.model = llama`: Gemma, Llama 2, Mistral) as llama.cpp runs it
//! (`llm_tokenizer_spm_session` in `llama-vocab.cpp`), step for step, over the compact [`Vocab`].
//!
//! Why its own code: the `tokenizers` crate only does BPE through a merge list, and a merge list derived
//! from the scores (every split of a piece into two pieces, ranked by the piece's score) took, with its
//! copies of the vocabulary, 127 MB of heap on Gemma's 262k-piece vocabulary, and differed from llama.cpp
//! where scores tie: the crate breaks ties by merge rank, llama.cpp by position. This is llama.cpp's algorithm itself, with no merge table:
//!
//! 1. the escaped text is split into UTF-8 characters, linked left and right;
//! 2. every adjacent pair whose concatenation is a vocabulary text goes into a max-queue keyed by that
//!    token's score, ties going to the leftmost pair (llama.cpp's `llm_bigram_spm::comparator`);
//! 3. the best pair is popped; if either side was merged away or grew since it was queued, it is
//!    skipped; otherwise the right symbol is merged into the left and the new neighbour pairs are queued;
//! 4. each remaining symbol is its token, or, when it is a character outside the vocabulary, its UTF-8
//!    bytes as byte tokens (`<0xXX>`, else the one-byte text; neither is an error, where llama.cpp throws).
//!
//! llama.cpp also records `rev_merge` (text → the two symbols that formed it) to resegment a final symbol
//! that is not a token. A merge only happens when the concatenation *is* a token (one lookup decides
//! both), so every final symbol is a token or a single character, and that branch never runs; it is left
//! out. Among pairs that are still valid, (score, left index) is a strict order (each left symbol has
//! one valid pair at a time), so the merges come out in llama.cpp's order whatever the heap does with
//! stale entries.

use super::vocab::Vocab;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A symbol: a byte range of the escaped text, linked to its neighbours (`NONE` at either end).
#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

/// A candidate merge of `left` and `right`, whose texts were `size` bytes together when queued.
#[derive(Clone, Copy)]
struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
}

impl Ord for Bigram {
    /// Higher score first; on equal scores the smaller left index (llama.cpp's comparator). Scores are
    /// never NaN ([`Spm::new`] reads NaN as -inf), so `partial_cmp` is total, and 0.0 equals -0.0 as in C++.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

/// Why a text could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpmError {
    /// A character outside the vocabulary has a byte with no byte token.
    NoByteToken(u8),
    /// Symbol offsets are `u32`: a text fragment of 4 GiB or more is refused.
    TooLong(usize),
}

/// The SentencePiece model: the vocabulary, its scores and the byte tokens of the fallback.
pub(super) struct Spm {
    pub(super) vocab: Vocab,
    /// Per id, the score. NaN is read as -inf (never preferred): llama.cpp's comparator has no order for
    /// NaN, so what it does with one is up to its heap.
    scores: Vec<f32>,
    /// Per byte, llama.cpp's `byte_to_token`: `<0xXX>`, else the one-byte text; `NONE` when neither exists.
    byte_ids: [u32; 256],
}

impl Spm {
    /// `scores` must hold one score per token.
    pub(super) fn new(vocab: Vocab, mut scores: Vec<f32>) -> Spm {
        debug_assert_eq!(scores.len(), vocab.len());
        for s in &mut scores {
            if s.is_nan() {
                *s = f32::NEG_INFINITY;
            }
        }
        let mut byte_ids = [NONE; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            let hex = format!("<0x{b:02X}>");
            *slot = vocab
                .id(&hex)
                .or_else(|| {
                    std::str::from_utf8(&[b as u8])
                        .ok()
                        .and_then(|s| vocab.id(s))
                })
                .unwrap_or(NONE);
        }
        Spm {
            vocab,
            scores,
            byte_ids,
        }
    }

    /// Appends the tokens of `text` (already escaped: spaces as `▁`, the space prefix added) to `out`.
    pub(super) fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<(), SpmError> {
        if text.is_empty() {
            return Ok(());
        }
        if text.len() >= NONE as usize {
            return Err(SpmError::TooLong(text.len()));
        }
        let n = text.chars().count();
        let mut symbols: Vec<Symbol> = Vec::with_capacity(n);
        for (i, (start, c)) in text.char_indices().enumerate() {
            let i = i as u32;
            symbols.push(Symbol {
                start: start as u32,
                len: c.len_utf8() as u32,
                prev: if i == 0 { NONE } else { i - 1 },
                next: if i as usize + 1 == n { NONE } else { i + 1 },
            });
        }

        let mut queue = BinaryHeap::with_capacity(n);
        for i in 1..n as u32 {
            self.try_add_bigram(text, &symbols, i - 1, i, &mut queue);
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left as usize], symbols[b.right as usize]);
            // Either side merged away, or grew since this pair was queued.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            let left = &mut symbols[b.left as usize];
            left.len += r.len;
            left.next = r.next;
            let prev = left.prev;
            symbols[b.right as usize].len = 0;
            if r.next != NONE {
                symbols[r.next as usize].prev = b.left;
            }
            self.try_add_bigram(text, &symbols, prev, b.left, &mut queue);
            self.try_add_bigram(text, &symbols, b.left, r.next, &mut queue);
        }

        let mut i = 0u32;
        while i != NONE {
            let s = symbols[i as usize];
            let piece = &text[s.start as usize..(s.start + s.len) as usize];
            match self.vocab.id(piece) {
                Some(id) => out.push(id),
                None => {
                    for &b in piece.as_bytes() {
                        match self.byte_ids[b as usize] {
                            NONE => return Err(SpmError::NoByteToken(b)),
                            id => out.push(id),
                        }
                    }
                }
            }
            i = s.next;
        }
        Ok(())
    }

    /// Queues `left`+`right` when their concatenation is a vocabulary text.
    fn try_add_bigram(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: u32,
        right: u32,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        if left == NONE || right == NONE {
            return;
        }
        let (l, r) = (symbols[left as usize], symbols[right as usize]);
        let size = l.len + r.len;
        let joined = &text[l.start as usize..(l.start + size) as usize];
        if let Some(id) = self.vocab.id(joined) {
            queue.push(Bigram {
                score: self.scores[id as usize],
                left,
                right,
                size,
            });
        }
    }

    /// Heap bytes held (vocabulary and scores), for the test that bounds the footprint.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.vocab.heap_bytes() + self.scores.capacity() * 4
    }
}

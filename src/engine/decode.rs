//! Turning logits into an answer: sampling (greedy or seeded temperature/top-p), end-of-turn tokens, the
//! token budget and the streamed text, written once and used by the single-sequence path and the batch
//! server alike, so a batched answer is decided exactly as a lone one; and the log-probability that choice
//! probes are scored with.

use super::frontend::Frontend;
use super::{EngineError, GenParams, StopReason};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

/// log-softmax of one entry of `logits`.
pub(super) fn log_prob(logits: &[f32], id: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| ((l as f64) - max).exp()).sum();
    logits
        .get(id as usize)
        .map(|&l| (l as f64) - max - sum.ln())
        .unwrap_or(f64::NEG_INFINITY)
}

/// One answer being decoded: sampling, end-of-turn tokens, the token budget and the streamed text; the
/// same for one sequence at a time and for the batch server.
pub(super) struct Decoding<'t> {
    front: &'t Frontend,
    sampler: LogitsProcessor,
    decoder: super::tokenizer::StreamDecoder<'t>,
    pub(super) ids: Vec<u32>,
    pub(super) text: String,
    max_tokens: usize,
}

/// What follows a step's logits.
pub(super) enum Next {
    /// A token to feed, and the text it completes (if any).
    Token(u32, Option<String>),
    Stop(StopReason),
}

impl<'t> Decoding<'t> {
    pub(super) fn new(front: &'t Frontend, params: &GenParams) -> Self {
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match params.top_p {
                Some(p) if p < 1.0 => Sampling::TopP {
                    p,
                    temperature: params.temperature,
                },
                _ => Sampling::All {
                    temperature: params.temperature,
                },
            }
        };
        Decoding {
            front,
            sampler: LogitsProcessor::from_sampling(params.seed, sampling),
            decoder: front.tokenizer.stream_decoder(true),
            ids: Vec::new(),
            text: String::new(),
            max_tokens: params.max_tokens,
        }
    }

    /// Picks the next token from `logits`, or says why the answer ends.
    pub(super) fn next(&mut self, logits: &[f32]) -> Result<Next, EngineError> {
        if self.ids.len() >= self.max_tokens {
            return Ok(Next::Stop(StopReason::MaxTokens));
        }
        let next = self.sampler.sample(&Tensor::new(logits, &Device::Cpu)?)?;
        if self.front.stop_ids.contains(&next) {
            return Ok(Next::Stop(StopReason::EndOfTurn {
                token: self
                    .front
                    .tokenizer
                    .token_to_piece(next)
                    .unwrap_or_default(),
            }));
        }
        self.ids.push(next);
        let piece = self.decoder.push(next);
        if let Some(p) = &piece {
            self.text.push_str(p);
        }
        Ok(Next::Token(next, piece))
    }

    /// The decoder's last bytes, once the answer has ended.
    pub(super) fn flush(&mut self) -> Option<String> {
        let rest = self.decoder.flush();
        if let Some(r) = &rest {
            self.text.push_str(r);
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_prob_is_a_normalised_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let total: f64 = (0..3).map(|i| log_prob(&l, i).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(log_prob(&l, 2) > log_prob(&l, 1));
        assert_eq!(log_prob(&l, 7), f64::NEG_INFINITY);
    }
}

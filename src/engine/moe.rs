//! The routed feed-forward of mixture-of-experts models (GGUF `qwen3moe`): a router picks `k` of
//! `n_expert` SwiGLU experts for each token and the token's output is their weighted sum.
//!
//! A module of its own because it is the one part of such a model that is not the dense decoder of
//! [`super::native`]: attention, norms and the KV cache are Qwen3's and stay there; a layer's
//! feed-forward is either dense or this.
//!
//! The arithmetic is llama.cpp's `build_moe_ffn` as `llm_build_qwen3moe` calls it:
//!
//! - router logits `ffn_gate_inp · x` (stored f32 in practice: llama.cpp never quantizes it);
//! - softmax over all experts, then the `k` most probable (`{arch}.expert_used_count`);
//! - the `k` probabilities renormalised to sum to 1, the sum floored at 2⁻¹⁴ as ggml does. llama.cpp
//!   hard-codes this for `qwen3moe` (Qwen3 MoE's `norm_topk_prob = true`) rather than reading
//!   `expert_weights_norm`, so it is not read here either;
//! - each chosen expert computes `down · (silu(gate · x) ⊙ up · x)`, and the outputs are summed in the
//!   order the experts were chosen (most probable first), each times its weight.
//!
//! Experts stay in the memory map. The 3-D tensors `ffn_{gate,up,down}_exps` are `n_expert` matrices
//! one after another; each expert is a [`QMatrix`] viewing its own block of rows ([`Bytes::slice`]), so a
//! token reads only the blocks of the experts it picked and nothing is copied at load (a block that is
//! not 4-byte aligned, which real files do not have, is the one exception: [`QMatrix::new`] copies it).
//!
//! Batching: tokens of one pass that pick the same expert are gathered into one product, but every
//! output element is still one dot product of one row ([`super::quant`]'s guarantee), and each token sums
//! its own experts in its own order, so a token gets the same bits whatever else is in the batch.

use super::native::{activate, invalid, Activation, Tensors, MAX_DIM};
use super::quant::{self, QMatrix};
use super::EngineError;

/// Experts a layer may have: llama.cpp's `LLAMA_MAX_EXPERTS`, so any file llama.cpp loads loads here.
pub(super) const MAX_EXPERTS: u64 = 512;

/// The expert counts of a mixture-of-experts model, read from its metadata and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spec {
    pub n_expert: usize,
    /// Experts each token uses.
    pub k: usize,
    /// Feed-forward width of one expert.
    pub ff: usize,
}

impl Spec {
    /// Reads `{arch}.expert_count`, `.expert_used_count` and `.expert_feed_forward_length` through `num`
    /// (a key without the `{arch}.` prefix). Like llama.cpp, a missing expert width falls back to
    /// `feed_forward_length / expert_used_count`.
    pub(super) fn read(
        arch: &str,
        rel: &str,
        num: impl Fn(&str) -> Option<u64>,
    ) -> Result<Spec, EngineError> {
        let missing = |key: &str| invalid(rel, format!("`{arch}.{key}` is missing"));
        let n_expert = match num("expert_count") {
            Some(v) if (1..=MAX_EXPERTS).contains(&v) => v as usize,
            Some(v) => {
                return Err(invalid(
                    rel,
                    format!("`{arch}.expert_count` = {v} is out of range (1 to {MAX_EXPERTS})"),
                ))
            }
            None => return Err(missing("expert_count")),
        };
        let k = match num("expert_used_count") {
            Some(v) if v >= 1 && v <= n_expert as u64 => v as usize,
            Some(v) => {
                return Err(invalid(
                    rel,
                    format!(
                        "`{arch}.expert_used_count` = {v}, but a token can use 1 to {n_expert} experts \
                         (`{arch}.expert_count`)"
                    ),
                ))
            }
            None => return Err(missing("expert_used_count")),
        };
        let ff = match num("expert_feed_forward_length") {
            Some(v) if (1..=MAX_DIM).contains(&v) => v as usize,
            Some(v) => {
                return Err(invalid(
                    rel,
                    format!("`{arch}.expert_feed_forward_length` = {v} is out of range"),
                ))
            }
            None => match num("feed_forward_length") {
                Some(v) if v / k as u64 >= 1 && v <= MAX_DIM => v as usize / k,
                _ => return Err(missing("expert_feed_forward_length")),
            },
        };
        Ok(Spec { n_expert, k, ff })
    }
}

/// One expert's matrices: views of its blocks of the layer's 3-D tensors.
struct Expert {
    gate: QMatrix,
    up: QMatrix,
    down: QMatrix,
}

/// One layer's routed feed-forward.
pub(super) struct Moe {
    /// `n_expert` × hidden.
    router: QMatrix,
    experts: Vec<Expert>,
    k: usize,
}

impl Moe {
    /// Loads layer `l`'s router and experts, every shape checked against `spec` and `hidden`.
    pub(super) fn load(
        t: &Tensors<'_>,
        l: usize,
        spec: Spec,
        hidden: usize,
    ) -> Result<Moe, EngineError> {
        let p = |s: &str| format!("blk.{l}.{s}");
        let router = t.matrix(&p("ffn_gate_inp.weight"), spec.n_expert, hidden)?;
        let gate = t.experts(&p("ffn_gate_exps.weight"), spec.n_expert, spec.ff, hidden)?;
        let up = t.experts(&p("ffn_up_exps.weight"), spec.n_expert, spec.ff, hidden)?;
        let down = t.experts(&p("ffn_down_exps.weight"), spec.n_expert, hidden, spec.ff)?;
        let experts = gate
            .into_iter()
            .zip(up)
            .zip(down)
            .map(|((gate, up), down)| Expert { gate, up, down })
            .collect();
        Ok(Moe {
            router,
            experts,
            k: spec.k,
        })
    }

    /// The router, for the precision conversions made at load.
    pub(super) fn router_mut(&mut self) -> &mut QMatrix {
        &mut self.router
    }

    /// Every expert matrix, for the precision conversions made at load.
    pub(super) fn expert_matrices_mut(&mut self) -> impl Iterator<Item = &mut QMatrix> {
        self.experts
            .iter_mut()
            .flat_map(|e| [&mut e.gate, &mut e.up, &mut e.down])
    }

    /// `out` (`n` rows of `hidden`) = each token's weighted sum of its experts applied to `xn` (the
    /// normed input, `n` rows of `hidden`).
    pub(super) fn forward(&self, xn: &[f32], n: usize, act: Activation, out: &mut [f32]) {
        let (n_expert, k) = (self.experts.len(), self.k);
        let hidden = xn.len() / n.max(1);
        let mut logits = vec![0f32; n * n_expert];
        quant::matmul(xn, n, &self.router, &mut logits);
        // Slot `t * k + j` is token t's j-th choice: (expert, weight).
        let picks: Vec<(usize, f32)> = logits
            .chunks_exact(n_expert)
            .flat_map(|row| route(row, k))
            .collect();
        let mut by_expert: Vec<Vec<usize>> = vec![Vec::new(); n_expert];
        for (slot, &(e, _)) in picks.iter().enumerate() {
            by_expert[e].push(slot);
        }
        // Each slot's expert output, before weighting.
        let mut results = vec![0f32; picks.len() * hidden];
        for (expert, slots) in self.experts.iter().zip(&by_expert) {
            if slots.is_empty() {
                continue;
            }
            let m = slots.len();
            let ff = expert.gate.rows();
            let mut xs = Vec::with_capacity(m * hidden);
            for &slot in slots {
                let t = slot / k;
                xs.extend_from_slice(&xn[t * hidden..(t + 1) * hidden]);
            }
            let (mut g, mut u) = (vec![0f32; m * ff], vec![0f32; m * ff]);
            quant::matmul_many(&xs, m, &[&expert.gate, &expert.up], &mut [&mut g, &mut u]);
            activate(&mut g, &u, act);
            let mut d = vec![0f32; m * hidden];
            quant::matmul(&g, m, &expert.down, &mut d);
            for (row, &slot) in d.chunks_exact(hidden).zip(slots) {
                results[slot * hidden..(slot + 1) * hidden].copy_from_slice(row);
            }
        }
        // ggml multiplies each output by its weight, then adds them in choice order.
        for (t, o) in out.chunks_exact_mut(hidden).enumerate().take(n) {
            for j in 0..k {
                let slot = t * k + j;
                let w = picks[slot].1;
                let r = &results[slot * hidden..(slot + 1) * hidden];
                if j == 0 {
                    o.iter_mut().zip(r).for_each(|(a, b)| *a = w * b);
                } else {
                    o.iter_mut().zip(r).for_each(|(a, b)| *a += w * b);
                }
            }
        }
    }
}

/// One token's choice of experts from its router logits, as llama.cpp makes it: softmax over every
/// expert (ggml sums the exponentials in double precision and scales by the reciprocal), the `k` most
/// probable (the lower index first on a tie), their probabilities divided by their sum (floored at
/// 2⁻¹⁴, the smallest normal f16). Returns (expert, weight) most probable first.
fn route(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = p.iter().map(|&v| v as f64).sum();
    let scale = (1.0 / sum) as f32;
    p.iter_mut().for_each(|v| *v *= scale);
    let mut order: Vec<usize> = (0..p.len()).collect();
    // Descending probability; a NaN (a broken router) sorts last instead of panicking.
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    order.truncate(k);
    let chosen: f32 = order.iter().map(|&e| p[e]).sum();
    let chosen = chosen.max(6.103_515_6e-5);
    order.into_iter().map(|e| (e, p[e] / chosen)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pairs: &[(&str, u64)]) -> Result<Spec, EngineError> {
        Spec::read("qwen3moe", "m.gguf", |k| {
            pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        })
    }

    #[test]
    fn a_token_uses_its_k_most_probable_experts_weighted_to_sum_to_one() {
        let logits = [0.5, 2.0, -1.0, 1.0];
        let picks = route(&logits, 2);
        assert_eq!(
            picks.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![1, 3],
            "most probable first"
        );
        let total: f32 = picks.iter().map(|p| p.1).sum();
        assert!((total - 1.0).abs() < 1e-6, "{picks:?}");
        // Renormalised softmax of the two chosen logits: e^2 / (e^2 + e^1).
        let want = 1.0 / (1.0 + (-1.0f32).exp());
        assert!((picks[0].1 - want).abs() < 1e-6, "{picks:?}");
    }

    #[test]
    fn routing_ignores_how_large_the_logits_are_and_breaks_ties_by_index() {
        assert_eq!(route(&[1e4, 1e4, 1e4], 2), route(&[0.0, 0.0, 0.0], 2));
        assert_eq!(
            route(&[3.0, 3.0, 3.0], 2)
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert!(route(&[f32::NAN, 1.0, 0.0], 1).len() == 1);
    }

    #[test]
    fn expert_counts_are_checked_against_each_other() {
        let ok = spec(&[
            ("expert_count", 8),
            ("expert_used_count", 2),
            ("expert_feed_forward_length", 32),
        ])
        .unwrap();
        assert_eq!(
            ok,
            Spec {
                n_expert: 8,
                k: 2,
                ff: 32
            }
        );
        let msg = |r: Result<Spec, EngineError>| r.unwrap_err().to_string();
        let too_many = msg(spec(&[
            ("expert_count", 4),
            ("expert_used_count", 5),
            ("expert_feed_forward_length", 32),
        ]));
        assert!(
            too_many.contains("m.gguf") && too_many.contains("expert_used_count` = 5"),
            "{too_many}"
        );
        assert!(msg(spec(&[("expert_count", 0), ("expert_used_count", 1)]))
            .contains("expert_count` = 0"));
        assert!(msg(spec(&[("expert_count", 8)])).contains("expert_used_count` is missing"));
        // llama.cpp's fallback for the expert width.
        let fallback = spec(&[
            ("expert_count", 8),
            ("expert_used_count", 2),
            ("feed_forward_length", 64),
        ])
        .unwrap();
        assert_eq!(fallback.ff, 32);
    }
}

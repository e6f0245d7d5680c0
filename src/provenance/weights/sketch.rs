//! Sketches of a model's weights: the seeded samples that weight lineage compares.
//!
//! One pass over a model (row by row, see `reader`) yields a [`Sketch`]:
//! - **direct samples**: the values of each matrix at seeded positions fixed by the tensor's name and
//!   shape, so two models with matching tensors are sampled at the same places;
//! - **projections**: each layer's matrices seen through the embeddings `X` of the anchor tokens,
//!   `P = X·W` on the hidden side, at seeded indices of the other side. Permuting the hidden dimensions
//!   consistently (embeddings, norms and every matrix) leaves `P` unchanged, as in HuRef's invariants;
//! - **the anchor Gram**: centred cosines between the anchors' embeddings, which does not depend on the
//!   hidden size at all;
//! - in a pairwise comparison, the anchors' embedding rows themselves (for the column alignment).
//!
//! Anchors are token strings, not ids, so an extended or reordered vocabulary keeps them. The same code
//! sketches both sides of `modelvet lineage` (large samples) and writes fingerprints (small ones).

use super::reader::{Tensor, WeightFile};
use serde::{Deserialize, Serialize};

/// How much of each model a sketch samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Anchor tokens at most.
    pub anchors: usize,
    /// Indices sampled on the non-hidden side of each projected matrix.
    pub proj_cols: usize,
    /// Rows, and values per row, sampled from each matrix for the direct comparison.
    pub direct_rows: usize,
    pub direct_cols: usize,
    /// Matrix kinds projected (`q k v o gate up down`).
    pub kinds: &'static [Kind],
}

/// The matrices of a transformer layer that lineage reads.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Q,
        Kind::K,
        Kind::V,
        Kind::O,
        Kind::Gate,
        Kind::Up,
        Kind::Down,
    ];

    pub fn tensor(self, layer: usize) -> String {
        let part = match self {
            Kind::Q => "attn_q",
            Kind::K => "attn_k",
            Kind::V => "attn_v",
            Kind::O => "attn_output",
            Kind::Gate => "ffn_gate",
            Kind::Up => "ffn_up",
            Kind::Down => "ffn_down",
        };
        format!("blk.{layer}.{part}.weight")
    }

    /// Whether the hidden dimension is the matrix's output (rows), as for `o` and `down`.
    fn hidden_out(self) -> bool {
        matches!(self, Kind::O | Kind::Down)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Q => "q",
            Kind::K => "k",
            Kind::V => "v",
            Kind::O => "o",
            Kind::Gate => "gate",
            Kind::Up => "up",
            Kind::Down => "down",
        }
    }
}

/// Large samples, for comparing two models' files directly.
pub const PAIRWISE: Params = Params {
    anchors: 256,
    proj_cols: 32,
    direct_rows: 48,
    direct_cols: 64,
    kinds: Kind::ALL,
};

/// Small samples, for a fingerprint of at most 64 KB. Only matrices whose input is the hidden dimension
/// are projected (their sampled rows are all that is read), so matching a model against fingerprints in
/// every `provenance` run reads a few rows per matrix, whatever the model's size; `o` and `down` would
/// need every row.
pub const FINGERPRINT: Params = Params {
    anchors: 24,
    proj_cols: 8,
    direct_rows: 4,
    direct_cols: 6,
    kinds: &[Kind::Q, Kind::V, Kind::Up],
};

/// Values of one matrix at seeded positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Direct {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

/// One layer's matrix seen through the anchors: `anchors × proj_cols` values, NaN rows for anchors the
/// model lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub layer: usize,
    pub kind: Kind,
    /// Size of the non-hidden side the columns were drawn from.
    pub other: usize,
    pub values: Vec<f32>,
}

/// What one pass over a model keeps.
#[derive(Debug, Clone)]
pub struct Sketch {
    pub arch: String,
    pub hidden: usize,
    pub layers: usize,
    pub params: Params,
    pub anchors: Vec<String>,
    /// Upper triangle (i < j) of the anchors' centred-cosine Gram; NaN where an anchor is missing.
    pub gram: Vec<f32>,
    pub direct: Vec<Direct>,
    pub projections: Vec<Projection>,
    /// The anchors' embedding rows (`anchors × hidden`, NaN rows when missing); pairwise sketches only.
    pub embeddings: Option<Vec<f32>>,
}

/// A 64-bit mix of a label and an index (splitmix64 over FNV-1a): the seed of every sample.
pub fn seeded(label: &str, i: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let mut z = h ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `k` distinct indices below `n`, chosen by `label` (all of them, in order, when `k ≥ n`).
pub fn pick(label: &str, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut keyed: Vec<(u64, usize)> = (0..n).map(|i| (seeded(label, i as u64), i)).collect();
    keyed.select_nth_unstable(k);
    let mut out: Vec<usize> = keyed[..k].iter().map(|&(_, i)| i).collect();
    out.sort_unstable();
    out
}

/// Up to `k` anchor tokens from `candidates`, in a seeded order that does not depend on the tokenizer.
pub fn choose_anchors<'a>(candidates: impl Iterator<Item = &'a str>, k: usize) -> Vec<String> {
    let mut keyed: Vec<(u64, &str)> = candidates
        // Single characters and whitespace runs are shared by unrelated tokenizers and trained by
        // every model alike; anchors are words and word pieces.
        .filter(|t| t.trim().chars().count() >= 2)
        .map(|t| (seeded(&format!("modelvet-anchor-v1:{t}"), 0), t))
        .collect();
    keyed.sort_unstable();
    keyed.dedup_by(|a, b| a.1 == b.1);
    keyed
        .into_iter()
        .take(k)
        .map(|(_, t)| t.to_owned())
        .collect()
}

/// Token id of each anchor in `w` (first regular token with that string).
fn anchor_ids(w: &WeightFile, anchors: &[String]) -> Vec<Option<usize>> {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, t) in w.vocab.iter().enumerate() {
        if let Some(t) = t {
            index.entry(t.as_str()).or_insert(i);
        }
    }
    anchors
        .iter()
        .map(|a| index.get(a.as_str()).copied())
        .collect()
}

/// One pass over `w`: samples for `params` through `anchors`.
pub fn sketch(w: &WeightFile, params: Params, anchors: &[String], keep_embeddings: bool) -> Sketch {
    let mut scratch = Vec::new();
    let emb = &w.tensors["token_embd.weight"];
    let d = emb.cols;
    let ids = anchor_ids(w, anchors);
    let k = anchors.len();
    // X: anchors × hidden, NaN rows for missing anchors.
    let mut x = vec![f32::NAN; k * d];
    for (a, id) in ids.iter().enumerate() {
        if let Some(id) = id.filter(|&id| id < emb.rows) {
            w.row(emb, id, &mut x[a * d..(a + 1) * d], &mut scratch);
        }
    }
    let gram = gram(&x, k, d);

    let mut direct = Vec::new();
    let mut buf = Vec::new();
    for (name, t) in &w.tensors {
        if t.rows < 2 || !(name.starts_with("blk.") || name == "token_embd.weight") {
            continue;
        }
        direct.push(sample_direct(w, name, t, params, &mut buf, &mut scratch));
    }

    let mut projections = Vec::new();
    for layer in 0..w.layers {
        for &kind in params.kinds {
            let Some(t) = w.tensors.get(&kind.tensor(layer)) else {
                continue;
            };
            if let Some(p) = project(w, t, layer, kind, &x, k, d, params, &mut buf, &mut scratch) {
                projections.push(p);
            }
        }
    }
    Sketch {
        arch: w.arch.clone(),
        hidden: w.hidden,
        layers: w.layers,
        params,
        anchors: anchors.to_vec(),
        gram,
        direct,
        projections,
        embeddings: keep_embeddings.then_some(x),
    }
}

fn sample_direct(
    w: &WeightFile,
    name: &str,
    t: &Tensor,
    params: Params,
    buf: &mut Vec<f32>,
    scratch: &mut Vec<u64>,
) -> Direct {
    let label = format!("modelvet-direct-v1:{name}:{}x{}", t.rows, t.cols);
    let rows = pick(&label, t.rows, params.direct_rows);
    let mut values = Vec::with_capacity(rows.len() * params.direct_cols);
    buf.resize(t.cols, 0.0);
    for &r in &rows {
        w.row(t, r, buf, scratch);
        for c in pick(&format!("{label}:{r}"), t.cols, params.direct_cols) {
            values.push(buf[c]);
        }
    }
    Direct {
        name: name.to_owned(),
        rows: t.rows,
        cols: t.cols,
        values,
    }
}

#[allow(clippy::too_many_arguments)]
fn project(
    w: &WeightFile,
    t: &Tensor,
    layer: usize,
    kind: Kind,
    x: &[f32],
    k: usize,
    d: usize,
    params: Params,
    buf: &mut Vec<f32>,
    scratch: &mut Vec<u64>,
) -> Option<Projection> {
    let s = params.proj_cols;
    buf.resize(t.cols, 0.0);
    if kind.hidden_out() {
        // W is hidden × other: P[a, j] = Σ_r X[a, r] · W[r, col_j], every row read once.
        if t.rows != d {
            return None;
        }
        let cols = pick(
            &format!("modelvet-proj-v1:{}:{}", kind.name(), t.cols),
            t.cols,
            s,
        );
        let mut p = vec![0f64; k * cols.len()];
        let mut wc = vec![0f32; cols.len()];
        for r in 0..t.rows {
            w.row(t, r, buf, scratch);
            for (o, &c) in wc.iter_mut().zip(&cols) {
                *o = buf[c];
            }
            for a in 0..k {
                let xa = x[a * d + r] as f64;
                for (pj, &wj) in p[a * cols.len()..(a + 1) * cols.len()].iter_mut().zip(&wc) {
                    *pj += xa * wj as f64;
                }
            }
        }
        Some(Projection {
            layer,
            kind,
            other: t.cols,
            values: p.into_iter().map(|v| v as f32).collect(),
        })
    } else {
        // W is other × hidden: P[a, j] = X[a] · W[row_j].
        if t.cols != d {
            return None;
        }
        let rows = pick(
            &format!("modelvet-proj-v1:{}:{}", kind.name(), t.rows),
            t.rows,
            s,
        );
        let mut p = vec![0f32; k * rows.len()];
        for (j, &r) in rows.iter().enumerate() {
            w.row(t, r, buf, scratch);
            for a in 0..k {
                let xa = &x[a * d..(a + 1) * d];
                p[a * rows.len() + j] = xa.iter().zip(buf.iter()).map(|(u, v)| u * v).sum();
            }
        }
        Some(Projection {
            layer,
            kind,
            other: t.rows,
            values: p,
        })
    }
}

/// Upper triangle of the centred-cosine Gram of the rows of `x` (`k × d`).
fn gram(x: &[f32], k: usize, d: usize) -> Vec<f32> {
    let centred: Vec<Option<Vec<f32>>> = (0..k)
        .map(|a| {
            let row = &x[a * d..(a + 1) * d];
            if row[0].is_nan() {
                return None;
            }
            let m = row.iter().sum::<f32>() / d as f32;
            let c: Vec<f32> = row.iter().map(|v| v - m).collect();
            let n = c.iter().map(|v| v * v).sum::<f32>().sqrt();
            (n > 0.0).then(|| c.iter().map(|v| v / n).collect())
        })
        .collect();
    let mut out = Vec::with_capacity(k * k.saturating_sub(1) / 2);
    for i in 0..k {
        for j in i + 1..k {
            out.push(match (&centred[i], &centred[j]) {
                (Some(a), Some(b)) => a.iter().zip(b).map(|(u, v)| u * v).sum(),
                _ => f32::NAN,
            });
        }
    }
    out
}

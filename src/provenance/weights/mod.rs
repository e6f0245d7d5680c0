//! Weight lineage: is this model derived from that one, judged by the weights themselves.
//!
//! A card can leave out its base model and a tokenizer can be swapped; the weights keep their history.
//! Three measures, each read against a null of unrelated pairs (FACTS.md, "Weight lineage"):
//! - **direct**: centred (Pearson) correlation of each matching matrix at seeded positions. Uncentred
//!   cosines are not used: they give 0.99 between unrelated models' norms.
//! - **invariant**: each layer's matrices seen through the embeddings of shared anchor tokens (HuRef's
//!   idea), correlated per layer. Unchanged when the hidden dimensions are permuted consistently.
//! - **embedding**: the anchors' embedding Gram (any hidden size), and in a pairwise run the alignment
//!   of hidden dimensions by shared-vocabulary embedding columns (AWM's first step).
//!
//! The null is measured inside every comparison: layer `i` of one model against layer `i + L/2` of the
//! other (same shapes, unrelated matrices). Thresholds were set on real models and derived copies
//! (`scripts/make-lineage-models.sh`); the closing note of issue 14 gives the table.

pub mod fingerprint;
pub mod reader;
pub mod sketch;

use serde::{Deserialize, Serialize};
use sketch::{Kind, Params, Sketch};
use std::collections::HashMap;

/// The conclusion of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "WeightVerdict")]
pub enum Verdict {
    /// The same weights, up to quantization: every matrix matches at ≥ `SAME` correlation.
    SameWeights,
    Derived,
    Unrelated,
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::SameWeights => "same weights",
            Verdict::Derived => "derived",
            Verdict::Unrelated => "unrelated",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Same weights or derived: the two share a history.
    pub fn related(self) -> bool {
        matches!(self, Verdict::SameWeights | Verdict::Derived)
    }
}

/// Median correlation at or above which (with every matrix matched, each ≥ `SAME_MIN`) two files hold the
/// same weights: a relative difference of about 1.4%, the noise of 8-bit requantization and well below
/// a fine-tune's drift.
pub const SAME: f64 = 0.9999;
pub const SAME_MIN: f64 = 0.999;
/// A median correlation at or above this, and `MARGIN` above the null, is derivation.
pub const DERIVED: f64 = 0.2;
/// Below this (and not above the null), the models are unrelated.
pub const UNRELATED: f64 = 0.1;
pub const MARGIN: f64 = 0.1;
/// For models with no matrix in common: the anchor embeddings' Gram correlation. Language models agree on
/// which tokens are alike whoever trained them (SmolLM2 and Qwen2.5-Coder: 0.59), so this measure is weak
/// and its thresholds high.
pub const GRAM_DERIVED: f64 = 0.9;
pub const GRAM_UNRELATED: f64 = 0.75;
/// Fewer shared anchors than this and the invariant and embedding measures are not read.
pub const MIN_ANCHORS: usize = 8;

/// A summary of many correlations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many tensors (or layer matrices) were compared.
    pub compared: usize,
}

impl Measure {
    fn of(values: &[f64]) -> Option<Measure> {
        if values.is_empty() {
            return None;
        }
        Some(Measure {
            median: median(values),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            compared: values.len(),
        })
    }
}

/// The null a score is read against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Null {
    /// Where it came from.
    pub source: String,
    /// Median of the null pairs (compare with a measure's median) and their spread.
    pub median: f64,
    pub max: f64,
    pub pairs: usize,
}

/// One layer's similarity, per measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LayerScore {
    pub layer: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invariant: Option<f64>,
}

/// The shared-vocabulary embedding evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EmbeddingEvidence {
    pub shared_anchors: usize,
    /// Correlation of the anchors' centred-cosine Gram matrices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gram: Option<f64>,
    /// Mean over hidden dimensions of A of the best |correlation| with a dimension of B, over the anchors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment: Option<f64>,
    /// What `alignment` is for independent embeddings: √(2 ln d_B / anchors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment_null: Option<f64>,
}

/// The result of comparing two sketches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub verdict: Verdict,
    /// The score the verdict read (a median correlation, 1 = identical).
    pub score: f64,
    /// Which measure gave it: `direct`, `invariant` or `embedding-gram`.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<Measure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invariant: Option<Measure>,
    pub embedding: EmbeddingEvidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null: Option<Null>,
    pub layers: Vec<LayerScore>,
    /// One sentence on how the verdict follows from the numbers.
    pub reason: String,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Centred (Pearson) correlation of the pairs where both values are finite; `None` with fewer than 8
/// such pairs or no variance.
pub fn pearson(a: &[f32], b: &[f32]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(&x, &y)| (x as f64, y as f64))
        .collect();
    if pairs.len() < 8 {
        return None;
    }
    let n = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(sa, sb), (x, y)| (sa + x / n, sb + y / n));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    // A constant vector leaves only rounding error after centring: no variance, no correlation.
    let (ra, rb) = pairs
        .iter()
        .fold((0.0, 0.0), |(sa, sb), (x, y)| (sa + x * x, sb + y * y));
    (saa > 1e-12 * ra && sbb > 1e-12 * rb && saa > 0.0 && sbb > 0.0)
        .then(|| sab / (saa * sbb).sqrt())
}

/// Rows of `s`'s projection values for the anchors shared with `other`, in `other`'s anchor order when
/// both have them; `(index in a, index in b)` pairs.
fn shared_anchor_pairs(a: &Sketch, b: &Sketch) -> Vec<(usize, usize)> {
    let present = |s: &Sketch, i: usize| match &s.embeddings {
        Some(e) => e.get(i * s.hidden_of(e)).is_some_and(|v| !v.is_nan()),
        None => true,
    };
    let bi: HashMap<&str, usize> = b
        .anchors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    a.anchors
        .iter()
        .enumerate()
        .filter_map(|(i, t)| bi.get(t.as_str()).map(|&j| (i, j)))
        .filter(|&(i, j)| present(a, i) && present(b, j))
        .collect()
}

fn gather(values: &[f32], cols: usize, rows: &[usize]) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| values[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

/// Compares two sketches (pairwise: both from files; or a fingerprint against a model's sketch).
pub fn compare(a: &Sketch, b: &Sketch) -> Comparison {
    // Direct: matrices of the same name and shape, sampled at the same positions.
    let bd: HashMap<&str, &sketch::Direct> =
        b.direct.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut direct = Vec::new();
    let mut direct_by_layer: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut all_matched = !a.direct.is_empty() && a.direct.len() == b.direct.len();
    for d in &a.direct {
        let r = bd
            .get(d.name.as_str())
            .filter(|o| o.rows == d.rows && o.cols == d.cols && o.values.len() == d.values.len())
            .and_then(|o| pearson(&d.values, &o.values));
        match r {
            Some(r) => {
                direct.push(r);
                if let Some(l) = layer_of(&d.name) {
                    direct_by_layer.entry(l).or_default().push(r);
                }
            }
            None => all_matched = false,
        }
    }
    // Null for direct: layer i against layer i + L/2, same kind and shape.
    let mut direct_null = Vec::new();
    if a.layers >= 2 {
        for d in &a.direct {
            let Some(l) = layer_of(&d.name) else { continue };
            let other = d.name.replacen(
                &format!("blk.{l}."),
                &format!("blk.{}.", (l + a.layers / 2) % a.layers),
                1,
            );
            if let Some(o) = bd
                .get(other.as_str())
                .filter(|o| o.rows == d.rows && o.cols == d.cols)
            {
                // Different names sample different positions: correlate values as unrelated draws.
                if let Some(r) = pearson(&d.values, &o.values) {
                    direct_null.push(r);
                }
            }
        }
    }

    // Invariant: projections through shared anchors.
    let pairs = shared_anchor_pairs(a, b);
    let (ra, rb): (Vec<usize>, Vec<usize>) = pairs.iter().copied().unzip();
    let mut invariant = Vec::new();
    let mut inv_by_layer: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut inv_null = Vec::new();
    if pairs.len() >= MIN_ANCHORS && a.params.proj_cols == b.params.proj_cols {
        let bp: HashMap<(usize, Kind), &sketch::Projection> = b
            .projections
            .iter()
            .map(|p| ((p.layer, p.kind), p))
            .collect();
        let get = |p: &sketch::Projection, anchors: usize, rows: &[usize]| {
            let c = p.values.len() / anchors.max(1);
            (c, gather(&p.values, c, rows))
        };
        let (na, nb) = (a.anchors.len(), b.anchors.len());
        for p in &a.projections {
            let (ca, va) = get(p, na, &ra);
            if let Some(q) = bp.get(&(p.layer, p.kind)).filter(|q| q.other == p.other) {
                let (cb, vb) = get(q, nb, &rb);
                if ca == cb {
                    if let Some(r) = pearson(&va, &vb) {
                        invariant.push(r);
                        inv_by_layer.entry(p.layer).or_default().push(r);
                    }
                }
            }
            if a.layers >= 2 {
                let l2 = (p.layer + a.layers / 2) % a.layers;
                if let Some(q) = bp.get(&(l2, p.kind)).filter(|q| q.other == p.other) {
                    let (cb, vb) = get(q, nb, &rb);
                    if ca == cb {
                        if let Some(r) = pearson(&va, &vb) {
                            inv_null.push(r);
                        }
                    }
                }
            }
        }
    }

    let embedding = embedding_evidence(a, b, &pairs);
    let direct_m = Measure::of(&direct);
    let invariant_m = Measure::of(&invariant);

    let mut layers: Vec<LayerScore> = (0..a.layers.max(b.layers))
        .map(|l| LayerScore {
            layer: l,
            direct: direct_by_layer.get(&l).map(|v| median(v)),
            invariant: inv_by_layer.get(&l).map(|v| median(v)),
        })
        .filter(|s| s.direct.is_some() || s.invariant.is_some())
        .collect();
    layers.sort_by_key(|s| s.layer);

    let null_of = |v: &[f64], what: &str| {
        (!v.is_empty()).then(|| Null {
            source: format!(
                "{what}: layer i of one model against layer i+{} of the other ({} pairs of unrelated \
                 matrices of the same shape, from the two models compared)",
                a.layers / 2,
                v.len()
            ),
            median: median(v),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            pairs: v.len(),
        })
    };

    // The score: the stronger of direct and invariant; embedding Gram when neither exists.
    let d = direct_m.as_ref().map(|m| m.median);
    let i = invariant_m.as_ref().map(|m| m.median);
    let (method, score, null) = match (d, i) {
        (Some(d), Some(i)) if i > d => ("invariant", i, null_of(&inv_null, "invariant")),
        (Some(d), _) => ("direct", d, null_of(&direct_null, "direct")),
        (None, Some(i)) => ("invariant", i, null_of(&inv_null, "invariant")),
        (None, None) => ("embedding-gram", embedding.gram.unwrap_or(0.0), None),
    };
    let null_median = null.as_ref().map_or(0.0, |n| n.median);
    let (verdict, reason) = if method == "embedding-gram" {
        match embedding.gram {
            None => (
                Verdict::Unrelated,
                format!(
                    "nothing in common: no matrix of the same shape and only {} shared anchor tokens",
                    embedding.shared_anchors
                ),
            ),
            Some(g) if g >= GRAM_DERIVED => (
                Verdict::Derived,
                format!("no matrix of the same shape, but the shared tokens' embeddings agree (Gram {g:.3} ≥ {GRAM_DERIVED})"),
            ),
            Some(g) if g < GRAM_UNRELATED => (
                Verdict::Unrelated,
                format!("no matrix of the same shape and the shared tokens' embeddings disagree (Gram {g:.3} < {GRAM_UNRELATED})"),
            ),
            Some(g) => (
                Verdict::Inconclusive,
                format!("no matrix of the same shape; the embedding Gram {g:.3} lies between {GRAM_UNRELATED} and {GRAM_DERIVED}"),
            ),
        }
    } else if method == "direct"
        && all_matched
        && score >= SAME
        && direct_m.as_ref().is_some_and(|m| m.min >= SAME_MIN)
    {
        (
            Verdict::SameWeights,
            format!("every matrix matches (median {score:.5} ≥ {SAME}, lowest ≥ {SAME_MIN}): differences no larger than requantization"),
        )
    } else if score >= DERIVED && score - null_median >= MARGIN {
        (
            Verdict::Derived,
            format!("{method} correlation {score:.3} ≥ {DERIVED}, {:.3} above the null median {null_median:.3}", score - null_median),
        )
    } else if score < UNRELATED {
        (
            Verdict::Unrelated,
            format!("{method} correlation {score:.3} < {UNRELATED}, as for unrelated matrices (null median {null_median:.3})"),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!("{method} correlation {score:.3} lies between {UNRELATED} and {DERIVED} or too close to the null median {null_median:.3}"),
        )
    };
    Comparison {
        verdict,
        score,
        method: method.to_owned(),
        direct: direct_m,
        invariant: invariant_m,
        embedding,
        null,
        layers,
        reason,
    }
}

fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

fn embedding_evidence(a: &Sketch, b: &Sketch, pairs: &[(usize, usize)]) -> EmbeddingEvidence {
    let shared = pairs.len();
    let mut out = EmbeddingEvidence {
        shared_anchors: shared,
        gram: None,
        alignment: None,
        alignment_null: None,
    };
    if shared < MIN_ANCHORS {
        return out;
    }
    let tri = |k: usize, i: usize, j: usize| {
        let (i, j) = if i < j { (i, j) } else { (j, i) };
        i * k - i * (i + 1) / 2 + (j - i - 1)
    };
    let (ka, kb) = (a.anchors.len(), b.anchors.len());
    let mut ga = Vec::new();
    let mut gb = Vec::new();
    for x in 0..shared {
        for y in x + 1..shared {
            let (ia, ib) = pairs[x];
            let (ja, jb) = pairs[y];
            ga.push(a.gram[tri(ka, ia, ja)]);
            gb.push(b.gram[tri(kb, ib, jb)]);
        }
    }
    out.gram = pearson(&ga, &gb);
    if let (Some(ea), Some(eb)) = (&a.embeddings, &b.embeddings) {
        out.alignment = Some(alignment(ea, a.hidden_of(ea), eb, b.hidden_of(eb), pairs));
        let n = shared as f64;
        out.alignment_null = Some((2.0 * (b.hidden_of(eb) as f64).ln() / n).sqrt());
    }
    out
}

impl Sketch {
    fn hidden_of(&self, emb: &[f32]) -> usize {
        emb.len() / self.anchors.len().max(1)
    }
}

/// Mean over A's hidden dimensions of the best |correlation| with any of B's, over the shared anchors.
fn alignment(ea: &[f32], da: usize, eb: &[f32], db: usize, pairs: &[(usize, usize)]) -> f64 {
    let n = pairs.len();
    let column =
        |e: &[f32], d: usize, rows: &mut dyn Iterator<Item = usize>, c: usize| -> Vec<f32> {
            let _ = d;
            rows.map(|r| e[r * d + c]).collect()
        };
    let standardise = |mut v: Vec<f32>| {
        let m = v.iter().sum::<f32>() / n as f32;
        v.iter_mut().for_each(|x| *x -= m);
        let s = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if s > 0.0 {
            v.iter_mut().for_each(|x| *x /= s);
        }
        v
    };
    let cols_a: Vec<Vec<f32>> = (0..da)
        .map(|c| standardise(column(ea, da, &mut pairs.iter().map(|p| p.0), c)))
        .collect();
    let cols_b: Vec<Vec<f32>> = (0..db)
        .map(|c| standardise(column(eb, db, &mut pairs.iter().map(|p| p.1), c)))
        .collect();
    let best: f64 = cols_a
        .iter()
        .map(|ca| {
            cols_b
                .iter()
                .map(|cb| ca.iter().zip(cb).map(|(x, y)| x * y).sum::<f32>().abs())
                .fold(0f32, f32::max) as f64
        })
        .sum();
    best / da.max(1) as f64
}

/// What provenance records of one fingerprint that matched a model's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WeightMatch {
    pub family: String,
    /// The model the fingerprint was made from.
    pub fingerprint_of: String,
    /// The weights file that matched.
    pub source: String,
    pub verdict: Verdict,
    pub score: f64,
    pub method: String,
    /// "weights derive from SmolLM2 (derived, direct correlation 0.958; …)".
    pub statement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<Measure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<Measure>,
    pub embedding: EmbeddingEvidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null: Option<Null>,
    pub reason: String,
}

impl WeightMatch {
    pub fn new(m: fingerprint::Match, source: &str) -> WeightMatch {
        let c = m.comparison;
        let what = match c.verdict {
            Verdict::SameWeights => format!("weights are those of {}", m.family),
            _ => format!("weights derive from {}", m.family),
        };
        WeightMatch {
            statement: format!(
                "{what} ({}, {} score {:.3} against a null median of {:.3})",
                c.verdict.label(),
                c.method,
                c.score,
                c.null.as_ref().map_or(0.0, |n| n.median)
            ),
            family: m.family,
            fingerprint_of: m.fingerprint_of,
            source: source.to_owned(),
            verdict: c.verdict,
            score: c.score,
            method: c.method,
            direct: c.direct,
            invariant: c.invariant,
            embedding: c.embedding,
            null: c.null,
            reason: c.reason,
        }
    }
}

/// Matches the weights file at `path` against `fps`; the related matches only. A file that cannot be read
/// as weights gives none (its header findings come from the GGUF and safetensors checks).
pub fn identify(
    path: &std::path::Path,
    rel: &str,
    fps: &[fingerprint::Fingerprint],
) -> Vec<WeightMatch> {
    let Ok(w) = reader::WeightFile::open(path) else {
        return Vec::new();
    };
    fingerprint::match_all(&w, fps)
        .into_iter()
        .filter(|m| m.comparison.verdict.related())
        .map(|m| WeightMatch::new(m, rel))
        .collect()
}

/// Anchors for comparing two models directly: shared regular tokens, in the seeded order.
pub fn shared_anchors(a: &reader::WeightFile, b: &reader::WeightFile, k: usize) -> Vec<String> {
    let in_b: std::collections::HashSet<&str> =
        b.vocab.iter().flatten().map(String::as_str).collect();
    sketch::choose_anchors(
        a.vocab
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|t| in_b.contains(t)),
        k,
    )
}

/// Compares the weights of two opened models, reading each once.
pub fn compare_files(a: &reader::WeightFile, b: &reader::WeightFile, params: Params) -> Comparison {
    let anchors = shared_anchors(a, b, params.anchors);
    let (sa, sb) = rayon::join(
        || sketch::sketch(a, params, &anchors, true),
        || sketch::sketch(b, params, &anchors, true),
    );
    compare(&sa, &sb)
}

#[cfg(test)]
mod tests {
    use super::fingerprint::{Fingerprint, Packed};
    use super::*;

    #[test]
    fn pearson_is_centred_and_ignores_missing_values() {
        // Uncentred these two are nearly parallel (cosine ≈ 0.99); centred they are anti-correlated.
        let a: Vec<f32> = (0..16).map(|i| 10.0 + (i % 2) as f32).collect();
        let b: Vec<f32> = (0..16).map(|i| 10.0 + ((i + 1) % 2) as f32).collect();
        assert!((pearson(&a, &b).unwrap() + 1.0).abs() < 1e-9);
        let mut c = a.clone();
        c[3] = f32::NAN;
        assert!((pearson(&a, &c).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(pearson(&a[..4], &b[..4]), None);
        assert_eq!(pearson(&[1.0; 10], &[2.0; 10]), None);
    }

    #[test]
    fn picks_are_seeded_distinct_and_in_range() {
        let p = sketch::pick("x", 1000, 50);
        assert_eq!(p, sketch::pick("x", 1000, 50));
        assert_ne!(p, sketch::pick("y", 1000, 50));
        assert_eq!(p.len(), 50);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p[49] < 1000);
        assert_eq!(sketch::pick("x", 5, 50), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn packed_vectors_round_trip_within_a_step_and_keep_missing_values() {
        let v = vec![0.5, -1.0, f32::NAN, 0.25, 0.0];
        let back = Packed::pack(&v).unpack().unwrap();
        assert!(back[2].is_nan());
        for (x, y) in v.iter().zip(&back).filter(|(x, _)| x.is_finite()) {
            assert!((x - y).abs() <= 1.0 / 127.0, "{x} vs {y}");
        }
    }

    #[test]
    fn a_fingerprint_with_absurd_sizes_or_another_version_is_refused() {
        let p = std::path::Path::new("fp.json");
        let base = r#"{"format":"modelvet-weight-fingerprint","version":1,"family":"x","model":"m","arch":"llama","hidden":8,"layers":LAYERS,"anchors":[],"gram":{"scale":1.0,"data":""},"direct":[],"projections":[]}"#;
        assert!(Fingerprint::parse(base.replace("LAYERS", "2").as_bytes(), p).is_ok());
        let e =
            Fingerprint::parse(base.replace("LAYERS", "1000000000000").as_bytes(), p).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = Fingerprint::parse(
            base.replace("LAYERS", "2")
                .replace("\"version\":1", "\"version\":2")
                .as_bytes(),
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
    }
}

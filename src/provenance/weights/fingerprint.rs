//! Weight fingerprints: a compact, versioned sketch of a model that recognises its derivatives without
//! the model's files.
//!
//! `modelvet fingerprint MODEL -o fp.json` writes the [`sketch::FINGERPRINT`] sample of a model: its
//! anchor tokens (strings), the anchors' embedding Gram, a few values of every matrix at seeded positions
//! and each layer's matrices seen through the anchors. Values are stored as 8-bit integers with one scale
//! per vector (base64), which keeps a 30-layer model under 64 KB and costs correlations about 0.1%.
//! A candidate is matched by sketching it through the fingerprint's own anchors and comparing the two
//! sketches with the same code as `modelvet lineage`.
//!
//! modelvet ships fingerprints of the real models it can fetch (`src/provenance/weights/fingerprints/*.json`, made by
//! `scripts/gen-fingerprints.sh`); users add their own with `--families FILE` or a folder.

use super::sketch::{self, Direct, Kind, Projection, Sketch};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "modelvet-weight-fingerprint";
pub const VERSION: u32 = 1;
/// Largest fingerprint file read.
pub const MAX_BYTES: u64 = 1 << 20;
/// Largest fingerprint written: layers' projections are thinned (every other layer, then every third…)
/// until the JSON fits.
pub const BUDGET: usize = 64 * 1024;

/// Why a fingerprint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("cannot read fingerprint `{path}`: {message}")]
    Read { path: PathBuf, message: String },
    #[error("`{path}` is not a modelvet weight fingerprint: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A vector stored as `scale · i8`, `-128` for a missing value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Packed {
    pub scale: f32,
    /// base64 of the i8 values.
    pub data: String,
}

impl Packed {
    pub fn pack(v: &[f32]) -> Packed {
        let amax = v
            .iter()
            .filter(|x| x.is_finite())
            .fold(0f32, |m, x| m.max(x.abs()));
        let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        let bytes: Vec<u8> = v
            .iter()
            .map(|&x| {
                if x.is_finite() {
                    (x / scale).round().clamp(-127.0, 127.0) as i8 as u8
                } else {
                    -128i8 as u8
                }
            })
            .collect();
        Packed {
            scale,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn unpack(&self) -> Option<Vec<f32>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .ok()?;
        self.scale.is_finite().then(|| {
            bytes
                .iter()
                .map(|&b| match b as i8 {
                    -128 => f32::NAN,
                    q => q as f32 * self.scale,
                })
                .collect()
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackedDirect {
    pub tensor: String,
    pub shape: [usize; 2],
    #[serde(flatten)]
    pub values: Packed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackedProjection {
    pub layer: usize,
    pub kind: Kind,
    pub other: usize,
    #[serde(flatten)]
    pub values: Packed,
}

/// A fingerprint file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub format: String,
    pub version: u32,
    /// The family name reported on a match (`SmolLM2`, `Qwen2.5-Coder`, …).
    pub family: String,
    /// Words that, in a declared name, organisation or base model, mean the family is declared
    /// (as in `families.json`); the family name itself when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The model it was made from (file name) and that file's sha256 when known.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub arch: String,
    pub hidden: usize,
    pub layers: usize,
    pub anchors: Vec<String>,
    pub gram: Packed,
    pub direct: Vec<PackedDirect>,
    pub projections: Vec<PackedProjection>,
}

impl Fingerprint {
    /// Fingerprints `w` under the family name `family`.
    pub fn make(
        w: &super::reader::WeightFile,
        family: &str,
        model: &str,
        sha256: Option<String>,
    ) -> Fingerprint {
        let anchors = sketch::choose_anchors(
            w.vocab.iter().flatten().map(String::as_str),
            sketch::FINGERPRINT.anchors,
        );
        let s = sketch::sketch(w, sketch::FINGERPRINT, &anchors, false);
        Fingerprint {
            format: FORMAT.into(),
            version: VERSION,
            family: family.into(),
            keywords: Vec::new(),
            model: model.into(),
            sha256,
            arch: s.arch,
            hidden: s.hidden,
            layers: s.layers,
            anchors: s.anchors,
            gram: Packed::pack(&s.gram),
            direct: s
                .direct
                .iter()
                .map(|d| PackedDirect {
                    tensor: d.name.clone(),
                    shape: [d.rows, d.cols],
                    values: Packed::pack(&d.values),
                })
                .collect(),
            projections: s
                .projections
                .iter()
                .map(|p| PackedProjection {
                    layer: p.layer,
                    kind: p.kind,
                    other: p.other,
                    values: Packed::pack(&p.values),
                })
                .collect(),
        }
        .fit_budget()
    }

    /// Thins the projections until the JSON is at most [`BUDGET`] bytes (models beyond ~32 layers).
    pub fn fit_budget(mut self) -> Fingerprint {
        let all = self.projections.clone();
        let mut step = 1;
        while serde_json::to_string(&self).map_or(0, |s| s.len() + 1) > BUDGET
            && step < self.layers.max(1)
        {
            step += 1;
            self.projections = all
                .iter()
                .filter(|p| p.layer % step == 0)
                .cloned()
                .collect();
        }
        self
    }

    /// The sketch this fingerprint stands for; `None` when a vector does not decode.
    pub fn sketch(&self) -> Option<Sketch> {
        Some(Sketch {
            arch: self.arch.clone(),
            hidden: self.hidden,
            layers: self.layers,
            params: sketch::FINGERPRINT,
            anchors: self.anchors.clone(),
            gram: self.gram.unpack()?,
            direct: self
                .direct
                .iter()
                .map(|d| {
                    Some(Direct {
                        name: d.tensor.clone(),
                        rows: d.shape[0],
                        cols: d.shape[1],
                        values: d.values.unpack()?,
                    })
                })
                .collect::<Option<_>>()?,
            projections: self
                .projections
                .iter()
                .map(|p| {
                    Some(Projection {
                        layer: p.layer,
                        kind: p.kind,
                        other: p.other,
                        values: p.values.unpack()?,
                    })
                })
                .collect::<Option<_>>()?,
            embeddings: None,
        })
    }

    /// Reads and checks a fingerprint file.
    pub fn read(path: &Path) -> Result<Fingerprint, FingerprintError> {
        let bytes =
            crate::util::read_capped(path, MAX_BYTES).map_err(|e| FingerprintError::Read {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        Fingerprint::parse(&bytes, path)
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Fingerprint, FingerprintError> {
        let invalid = |message: String| FingerprintError::Invalid {
            path: path.to_owned(),
            message,
        };
        let fp: Fingerprint = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if fp.format != FORMAT {
            return Err(invalid(format!(
                "format is `{}`, expected `{FORMAT}`",
                fp.format
            )));
        }
        if fp.version != VERSION {
            return Err(invalid(format!(
                "version {} is not supported (this modelvet reads version {VERSION})",
                fp.version
            )));
        }
        if fp.layers > 4096 || fp.hidden > 1 << 20 || fp.anchors.len() > 4096 {
            return Err(invalid(
                "layers, hidden size or anchor count out of range".into(),
            ));
        }
        let k = fp.anchors.len();
        let sketch = fp
            .sketch()
            .ok_or_else(|| invalid("a vector is not valid base64".into()))?;
        if sketch.gram.len() != k * k.saturating_sub(1) / 2 {
            return Err(invalid("the Gram does not match the anchor count".into()));
        }
        if sketch
            .projections
            .iter()
            .any(|p| k == 0 || p.values.len() % k != 0)
        {
            return Err(invalid(
                "a projection does not match the anchor count".into(),
            ));
        }
        Ok(fp)
    }
}

/// Fingerprints from a file, or from every `*.json` in a folder (sorted by name).
pub fn load(path: &Path) -> Result<Vec<Fingerprint>, FingerprintError> {
    if !path.is_dir() {
        return Ok(vec![Fingerprint::read(path)?]);
    }
    let read = |e: std::io::Error| FingerprintError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().map(|p| Fingerprint::read(p)).collect()
}

/// The fingerprints shipped with modelvet (embedded in the binary).
pub fn shipped() -> Vec<Fingerprint> {
    [
        ("smollm2.json", include_str!("fingerprints/smollm2.json")),
        (
            "qwen2.5-coder.json",
            include_str!("fingerprints/qwen2.5-coder.json"),
        ),
        ("gemma3.json", include_str!("fingerprints/gemma3.json")),
    ]
    .into_iter()
    .filter_map(|(name, text)| Fingerprint::parse(text.as_bytes(), Path::new(name)).ok())
    .collect()
}

/// One fingerprint's verdict on a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Match {
    pub family: String,
    /// The model the fingerprint was made from.
    pub fingerprint_of: String,
    pub comparison: super::Comparison,
}

/// Matches `w` against every fingerprint, reading the model once (through all the fingerprints' anchors).
pub fn match_all(w: &super::reader::WeightFile, fps: &[Fingerprint]) -> Vec<Match> {
    let mut anchors: Vec<String> = Vec::new();
    for fp in fps {
        for a in &fp.anchors {
            if !anchors.contains(a) {
                anchors.push(a.clone());
            }
        }
    }
    let cand = sketch::sketch(w, sketch::FINGERPRINT, &anchors, false);
    fps.iter()
        .filter_map(|fp| {
            let s = fp.sketch()?;
            Some(Match {
                family: fp.family.clone(),
                fingerprint_of: fp.model.clone(),
                comparison: super::compare(&s, &subset(&cand, &fp.anchors)),
            })
        })
        .collect()
}

/// `s` restricted to `anchors` (in that order), so its Gram and projections line up with a fingerprint's.
fn subset(s: &Sketch, anchors: &[String]) -> Sketch {
    let idx: Vec<usize> = anchors
        .iter()
        .filter_map(|a| s.anchors.iter().position(|b| b == a))
        .collect();
    let k = s.anchors.len();
    let tri = |i: usize, j: usize| {
        let (i, j) = if i < j { (i, j) } else { (j, i) };
        i * k - i * (i + 1) / 2 + (j - i - 1)
    };
    let mut gram = Vec::new();
    for x in 0..idx.len() {
        for y in x + 1..idx.len() {
            gram.push(s.gram[tri(idx[x], idx[y])]);
        }
    }
    let projections = s
        .projections
        .iter()
        .map(|p| {
            let c = p.values.len() / k.max(1);
            Projection {
                values: idx
                    .iter()
                    .flat_map(|&r| p.values[r * c..(r + 1) * c].iter().copied())
                    .collect(),
                ..p.clone()
            }
        })
        .collect();
    Sketch {
        anchors: idx.iter().map(|&i| s.anchors[i].clone()).collect(),
        gram,
        projections,
        ..s.clone()
    }
}

//! Weight tensors read one row at a time from a memory-mapped GGUF or safetensors file.
//!
//! Weight lineage needs a few rows of every matrix, in f32, from files of any quantization, without ever
//! holding a model in f32. This reader maps the file, indexes its tensors under GGUF's names (safetensors
//! names from Hugging Face checkpoints are translated, and llama's rotary row order undone), and
//! dequantizes one row on request, block by block. It sits in `provenance` (below `engine`, whose
//! `quant` kernels it cannot use) and dequantizes with candle's block types, which `engine` uses too.

use crate::provenance::gguf::GgufFile;
use candle_core::quantized::{k_quants, GgmlDType, GgmlType};
use half::{bf16, f16};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a weight file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a readable GGUF file: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("`{path}` is not a readable safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("`{path}` holds no GGUF or safetensors weights")]
    NoWeights { path: PathBuf },
    #[error("`{path}` has no token embedding matrix (`token_embd.weight`)")]
    NoEmbedding { path: PathBuf },
}

/// How a tensor's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    F32,
    F16,
    BF16,
    Block(GgmlDType),
}

/// One tensor seen as a row-major matrix: `rows` × `cols` (GGUF's ne1… × ne0).
#[derive(Debug, Clone)]
pub struct Tensor {
    pub rows: usize,
    pub cols: usize,
    storage: Storage,
    /// Index of the mapped file holding it.
    file: usize,
    /// Byte offset of row 0 in that file.
    start: usize,
    row_bytes: usize,
    /// For llama q/k read from Hugging Face layout: GGUF row r lives at `row_map(r)`.
    rotary: Option<usize>,
}

/// A model's weights: mapped files, tensors by GGUF name, the vocabulary and the shape parameters.
pub struct WeightFile {
    pub path: PathBuf,
    maps: Vec<memmap2::Mmap>,
    pub tensors: BTreeMap<String, Tensor>,
    pub arch: String,
    pub hidden: usize,
    pub layers: usize,
    /// Token strings by id (space markers `Ġ`/`▁` normalised to a space), regular tokens only; others `None`.
    pub vocab: Vec<Option<String>>,
}

fn ggml_dtype(id: u32) -> Option<Storage> {
    Some(match id {
        0 => Storage::F32,
        1 => Storage::F16,
        30 => Storage::BF16,
        2 => Storage::Block(GgmlDType::Q4_0),
        3 => Storage::Block(GgmlDType::Q4_1),
        6 => Storage::Block(GgmlDType::Q5_0),
        7 => Storage::Block(GgmlDType::Q5_1),
        8 => Storage::Block(GgmlDType::Q8_0),
        10 => Storage::Block(GgmlDType::Q2K),
        11 => Storage::Block(GgmlDType::Q3K),
        12 => Storage::Block(GgmlDType::Q4K),
        13 => Storage::Block(GgmlDType::Q5K),
        14 => Storage::Block(GgmlDType::Q6K),
        15 => Storage::Block(GgmlDType::Q8K),
        _ => return None,
    })
}

/// A token string with the tokenizer's space marker made a plain space, so `Ġthe` (BPE) and `▁the`
/// (SentencePiece) name the same anchor.
pub fn normalise_token(t: &str) -> String {
    t.replace(['Ġ', '▁'], " ")
}

fn map_file(path: &Path) -> Result<memmap2::Mmap, WeightError> {
    let file = std::fs::File::open(path).map_err(|source| WeightError::Io {
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: the map is read-only; a file changed underneath gives wrong numbers, never unsafety
    // in this reader, which bounds-checks every row it slices.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|source| WeightError::Io {
        path: path.to_owned(),
        source,
    })
}

impl WeightFile {
    /// Opens a GGUF file, a safetensors file, or a folder holding either (GGUF preferred).
    pub fn open(path: &Path) -> Result<WeightFile, WeightError> {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| WeightError::Io {
                    path: path.to_owned(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let ext = |p: &PathBuf, e: &str| p.extension().is_some_and(|x| x == e);
            if let Some(g) = entries.iter().find(|p| ext(p, "gguf")) {
                return WeightFile::open_gguf(g);
            }
            let shards: Vec<PathBuf> = entries
                .iter()
                .filter(|p| ext(p, "safetensors"))
                .cloned()
                .collect();
            if shards.is_empty() {
                return Err(WeightError::NoWeights {
                    path: path.to_owned(),
                });
            }
            return WeightFile::open_safetensors(path, &shards);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => {
                let dir = path.parent().unwrap_or(Path::new("."));
                WeightFile::open_safetensors(dir, &[path.to_owned()])
            }
            _ => WeightFile::open_gguf(path),
        }
    }

    fn open_gguf(path: &Path) -> Result<WeightFile, WeightError> {
        let bad = |message: String| WeightError::Gguf {
            path: path.to_owned(),
            message,
        };
        let g = GgufFile::open(path).map_err(|e| bad(e.to_string()))?;
        let map = map_file(path)?;
        let mut tensors = BTreeMap::new();
        for t in &g.tensors {
            let Some(storage) = ggml_dtype(t.ggml_type) else {
                continue;
            };
            let Some(&ne0) = t.dims.first() else { continue };
            let rows = t
                .dims
                .iter()
                .skip(1)
                .try_fold(1u64, |a, &d| a.checked_mul(d));
            let (Some(len), Ok(cols), Some(Ok(rows))) = (
                t.byte_len(),
                usize::try_from(ne0),
                rows.map(usize::try_from),
            ) else {
                continue;
            };
            let start = g.data_offset.checked_add(t.offset);
            let Some(start) = start.filter(|s| s.saturating_add(len) <= map.len() as u64) else {
                return Err(bad(format!("tensor `{}` lies outside the file", t.name)));
            };
            if rows == 0 || cols == 0 {
                continue;
            }
            tensors.insert(
                t.name.clone(),
                Tensor {
                    rows,
                    cols,
                    storage,
                    file: 0,
                    start: start as usize,
                    row_bytes: (len / rows as u64) as usize,
                    rotary: None,
                },
            );
        }
        let arch = g.architecture().unwrap_or("unknown").to_owned();
        let (hidden, layers) = (
            g.get_u64(&format!("{arch}.embedding_length")),
            g.get_u64(&format!("{arch}.block_count")),
        );
        let vocab = match g.get_array("tokenizer.ggml.tokens") {
            Some(crate::provenance::gguf::Array::Str(tokens)) => {
                let types = g
                    .get_array("tokenizer.ggml.token_type")
                    .and_then(|a| a.as_i64s());
                tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let ty = types.as_ref().and_then(|v| v.get(i)).copied();
                        ty.is_none_or(|ty| ty == 1 || ty == 6)
                            .then(|| normalise_token(t))
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        WeightFile::finish(path, vec![map], tensors, arch, hidden, layers, vocab)
    }

    fn open_safetensors(dir: &Path, shards: &[PathBuf]) -> Result<WeightFile, WeightError> {
        let config: serde_json::Value = read_json(&dir.join("config.json")).unwrap_or_default();
        let arch = config
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_owned();
        let cfg = |k: &str| config.get(k).and_then(|v| v.as_u64());
        let heads = cfg("num_attention_heads").map(|v| v as usize);
        let kv_heads = cfg("num_key_value_heads").map(|v| v as usize).or(heads);
        let rotary_rows = matches!(arch.as_str(), "llama" | "mistral");
        let mut maps = Vec::new();
        let mut tensors = BTreeMap::new();
        for (i, shard) in shards.iter().enumerate() {
            let bad = |message: String| WeightError::Safetensors {
                path: shard.clone(),
                message,
            };
            let map = map_file(shard)?;
            let n = map
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                .ok_or_else(|| bad("shorter than its 8-byte header length".into()))?;
            if n > crate::provenance::safetensors::MAX_HEADER || 8 + n > map.len() as u64 {
                return Err(bad(format!("header length {n} is out of range")));
            }
            let header: BTreeMap<String, serde_json::Value> =
                serde_json::from_slice(&map[8..8 + n as usize])
                    .map_err(|e| bad(format!("header: {e}")))?;
            for (name, v) in &header {
                let Some(gname) = gguf_name(name) else {
                    continue;
                };
                let dtype = v.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
                let storage = match dtype {
                    "F32" => Storage::F32,
                    "F16" => Storage::F16,
                    "BF16" => Storage::BF16,
                    _ => continue,
                };
                let shape: Vec<u64> = v
                    .get("shape")
                    .and_then(|s| s.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default();
                let offs: Vec<u64> = v
                    .get("data_offsets")
                    .and_then(|s| s.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default();
                let (Some(&cols), [a, b]) = (shape.last(), offs.as_slice()) else {
                    continue;
                };
                let rows = shape
                    .iter()
                    .rev()
                    .skip(1)
                    .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                    .unwrap_or(u64::MAX);
                let elem = if storage == Storage::F32 { 4 } else { 2 };
                let start = (8 + n).saturating_add(*a);
                if b < a
                    || b - a != rows.saturating_mul(cols).saturating_mul(elem)
                    || (8 + n).saturating_add(*b) > map.len() as u64
                    || rows == 0
                    || cols == 0
                {
                    return Err(bad(format!("tensor `{name}` has an inconsistent range")));
                }
                let rotary = match (rotary_rows, gname.as_str()) {
                    (true, g) if g.ends_with("attn_q.weight") => heads,
                    (true, g) if g.ends_with("attn_k.weight") => kv_heads,
                    _ => None,
                }
                .filter(|&h| h > 0 && (rows as usize).is_multiple_of(2 * h))
                .map(|h| rows as usize / h);
                tensors.insert(
                    gname,
                    Tensor {
                        rows: rows as usize,
                        cols: cols as usize,
                        storage,
                        file: i,
                        start: start as usize,
                        row_bytes: (cols * elem) as usize,
                        rotary,
                    },
                );
            }
            maps.push(map);
        }
        let vocab = read_json(&dir.join("tokenizer.json"))
            .map(|t| tokenizer_json_vocab(&t))
            .unwrap_or_default();
        WeightFile::finish(
            &shards[0],
            maps,
            tensors,
            arch,
            cfg("hidden_size"),
            cfg("num_hidden_layers"),
            vocab,
        )
    }

    fn finish(
        path: &Path,
        maps: Vec<memmap2::Mmap>,
        tensors: BTreeMap<String, Tensor>,
        arch: String,
        hidden: Option<u64>,
        layers: Option<u64>,
        vocab: Vec<Option<String>>,
    ) -> Result<WeightFile, WeightError> {
        let Some(emb) = tensors.get("token_embd.weight") else {
            return Err(WeightError::NoEmbedding {
                path: path.to_owned(),
            });
        };
        let hidden = hidden.map(|h| h as usize).unwrap_or(emb.cols);
        let layers = layers.map(|l| l as usize).unwrap_or_else(|| {
            tensors
                .keys()
                .filter_map(|k| {
                    k.strip_prefix("blk.")?
                        .split('.')
                        .next()?
                        .parse::<usize>()
                        .ok()
                })
                .max()
                .map_or(0, |m| m + 1)
        });
        Ok(WeightFile {
            path: path.to_owned(),
            maps,
            tensors,
            arch,
            hidden,
            layers: layers.min(4096),
            vocab,
        })
    }

    /// Row `r` of `t` as f32 into `out` (`t.cols` long).
    pub fn row(&self, t: &Tensor, r: usize, out: &mut [f32], scratch: &mut Vec<u64>) {
        let r = match t.rotary {
            // GGUF row h·hd + 2j + s is Hugging Face row h·hd + s·hd/2 + j.
            Some(hd) => {
                let (h, rem) = (r / hd, r % hd);
                h * hd + (rem % 2) * (hd / 2) + rem / 2
            }
            None => r,
        };
        let at = t.start + r * t.row_bytes;
        let bytes = &self.maps[t.file][at..at + t.row_bytes];
        match t.storage {
            Storage::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Storage::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Storage::BF16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Storage::Block(dtype) => {
                // Copy into 8-aligned words so candle's block structs can be read in place.
                scratch.clear();
                scratch.resize(bytes.len().div_ceil(8), 0);
                // SAFETY: `scratch` holds at least `bytes.len()` bytes; u64 → u8 is always valid.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(scratch.as_mut_ptr() as *mut u8, bytes.len())
                };
                dst.copy_from_slice(bytes);
                block_to_float(dtype, dst, out);
            }
        }
    }
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = crate::util::read_capped(path, 64 << 20).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Regular tokens of a tokenizer.json by id (added tokens left out, as in `lineage`).
fn tokenizer_json_vocab(v: &serde_json::Value) -> Vec<Option<String>> {
    let added: std::collections::HashSet<u64> = v
        .get("added_tokens")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|t| t.get("id")?.as_u64()).collect())
        .unwrap_or_default();
    let Some(serde_json::Value::Object(m)) = v.get("model").and_then(|m| m.get("vocab")) else {
        return Vec::new();
    };
    let n = m
        .values()
        .filter_map(|i| i.as_u64())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut out = vec![None; n.min(10_000_000)];
    for (tok, id) in m {
        if let Some(id) = id.as_u64().filter(|i| !added.contains(i)) {
            if let Some(slot) = out.get_mut(id as usize) {
                *slot = Some(normalise_token(tok));
            }
        }
    }
    out
}

/// GGUF's name for a Hugging Face tensor name (llama/qwen2/gemma layouts); `None` for the rest. The
/// engine's safetensors loader starts from it (`engine::hf`), adding the norms and biases lineage skips.
pub fn gguf_name(hf: &str) -> Option<String> {
    let hf = hf.strip_prefix("model.language_model.").map_or_else(
        || hf.strip_prefix("model.").unwrap_or(hf).to_owned(),
        str::to_owned,
    );
    if hf == "embed_tokens.weight" {
        return Some("token_embd.weight".into());
    }
    if hf == "lm_head.weight" {
        return Some("output.weight".into());
    }
    let rest = hf.strip_prefix("layers.")?;
    let (n, rest) = rest.split_once('.')?;
    let n: usize = n.parse().ok()?;
    let part = match rest {
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{n}.{part}"))
}

/// Reinterprets `row` as candle blocks of `T`.
///
/// # Safety
/// `row` must be 8-aligned and hold whole blocks of `T` in ggml's layout (candle's block structs are
/// `repr(C)` mirrors of ggml's).
unsafe fn blocks<T: GgmlType>(row: &[u8]) -> &[T] {
    std::slice::from_raw_parts(
        row.as_ptr() as *const T,
        row.len() / std::mem::size_of::<T>(),
    )
}

fn block_to_float(dtype: GgmlDType, row: &[u8], out: &mut [f32]) {
    // SAFETY: `row` is a copy in 8-aligned storage of whole blocks (the tensor's byte length was checked
    // against the type's block size when the header was read).
    unsafe {
        match dtype {
            GgmlDType::Q4_0 => k_quants::BlockQ4_0::to_float(blocks(row), out),
            GgmlDType::Q4_1 => k_quants::BlockQ4_1::to_float(blocks(row), out),
            GgmlDType::Q5_0 => k_quants::BlockQ5_0::to_float(blocks(row), out),
            GgmlDType::Q5_1 => k_quants::BlockQ5_1::to_float(blocks(row), out),
            GgmlDType::Q8_0 => k_quants::BlockQ8_0::to_float(blocks(row), out),
            GgmlDType::Q2K => k_quants::BlockQ2K::to_float(blocks(row), out),
            GgmlDType::Q3K => k_quants::BlockQ3K::to_float(blocks(row), out),
            GgmlDType::Q4K => k_quants::BlockQ4K::to_float(blocks(row), out),
            GgmlDType::Q5K => k_quants::BlockQ5K::to_float(blocks(row), out),
            GgmlDType::Q6K => k_quants::BlockQ6K::to_float(blocks(row), out),
            GgmlDType::Q8K => k_quants::BlockQ8K::to_float(blocks(row), out),
            _ => out.fill(f32::NAN),
        }
    }
}

//! Where the native forward pass reads its tensors: one GGUF file, or a Hugging Face folder of safetensors
//! shards (listed by `model.safetensors.index.json` when sharded). Both are indexed under GGUF's tensor
//! names and dimension order (innermost first), so one loader ([`super::native::Model`]) builds the
//! model from either, and every tensor keeps the file and the name it was stored under for errors.
//!
//! Everything that can be checked from headers is checked before anything is mapped or allocated: each
//! shard's header length against the cap and the file, each tensor's byte range against its shape and
//! dtype and against the file (a truncated shard), an index naming a shard that is not there, a tensor
//! the index places in a shard whose header lacks it. The files are then memory-mapped read-only; the
//! weights are never copied unless a precision asks for it.

use super::quant::Bytes;
use super::EngineError;
use crate::provenance::gguf::GgufFile;
use candle_core::quantized::GgmlDType;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// One tensor: how it is stored and where.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The storage type, or the name of one modelvet cannot compute.
    pub dtype: Result<GgmlDType, String>,
    /// Dimensions, innermost first (GGUF's order; a safetensors shape reversed).
    pub dims: Vec<u64>,
    file: usize,
    start: usize,
    len: usize,
    /// The name in its file.
    pub stored_name: String,
}

/// The tensors of a model and the mapped files that hold them.
pub struct Source {
    /// Each file's name relative to the model root, and its map.
    files: Vec<(String, Arc<memmap2::Mmap>)>,
    entries: HashMap<String, Entry>,
}

fn invalid(file: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidModel {
        file: file.to_owned(),
        message: message.to_string(),
    }
}

/// Maps `path` read-only. Populated at load: the weights are read in once here rather than page by page
/// inside the first forward pass (which would be counted as prompt time).
fn map(path: &std::path::Path, rel: &str) -> Result<Arc<memmap2::Mmap>, EngineError> {
    let file = std::fs::File::open(path).map_err(|e| invalid(rel, e))?;
    // Safety: the map is read-only and lives as long as the model; like every memory-mapping loader
    // (candle's safetensors included), a file truncated by another process while mapped faults.
    let m = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(|e| invalid(rel, e))?;
    Ok(Arc::new(m))
}

/// GGML's type for a GGUF type id, when the kernels compute it.
fn ggml_dtype(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// A safetensors header entry as written.
#[derive(serde::Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

impl Source {
    /// The tensors of a GGUF file already opened and checked as `header`.
    pub fn gguf(
        path: &std::path::Path,
        rel: &str,
        header: &GgufFile,
    ) -> Result<Source, EngineError> {
        let mut entries = HashMap::new();
        for t in &header.tensors {
            let dtype = ggml_dtype(t.ggml_type).ok_or(format!("GGML type {}", t.ggml_type));
            let len = t.byte_len().and_then(|l| usize::try_from(l).ok());
            let start = header
                .data_offset
                .checked_add(t.offset)
                .and_then(|s| usize::try_from(s).ok());
            let (Some(start), Some(len)) = (start, len) else {
                return Err(invalid(
                    rel,
                    format!("tensor `{}` has an impossible size", t.name),
                ));
            };
            entries.insert(
                t.name.clone(),
                Entry {
                    dtype,
                    dims: t.dims.clone(),
                    file: 0,
                    start,
                    len,
                    stored_name: t.name.clone(),
                },
            );
        }
        Ok(Source {
            files: vec![(rel.to_owned(), map(path, rel)?)],
            entries,
        })
    }

    /// The tensors of a Hugging Face folder: `shards` are (name relative to the root, path) of every
    /// top-level `.safetensors` file, `index` the parsed `model.safetensors.index.json` when there is one.
    /// `rename` gives a stored name's GGUF name (`None`: the tensor is not used).
    pub fn safetensors(
        shards: &[(String, PathBuf)],
        index: Option<&serde_json::Value>,
        rename: impl Fn(&str) -> Option<String>,
    ) -> Result<Source, EngineError> {
        const INDEX: &str = "model.safetensors.index.json";
        // Which shards to read, and which tensor the index places in each.
        let mut placed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let used: Vec<&(String, PathBuf)> = match index {
            Some(index) => {
                let map = index
                    .get("weight_map")
                    .and_then(|m| m.as_object())
                    .ok_or_else(|| invalid(INDEX, "no `weight_map` object"))?;
                for (tensor, shard) in map {
                    let shard = shard.as_str().ok_or_else(|| {
                        invalid(INDEX, format!("tensor `{tensor}` maps to a non-string"))
                    })?;
                    placed
                        .entry(shard.to_owned())
                        .or_default()
                        .push(tensor.clone());
                }
                let mut used = Vec::new();
                for (shard, tensors) in &placed {
                    let found = shards.iter().find(|(rel, _)| rel == shard).ok_or_else(|| {
                        invalid(
                            INDEX,
                            format!(
                                "names shard `{shard}` (for tensor `{}`), which is not in the folder",
                                tensors[0]
                            ),
                        )
                    })?;
                    used.push(found);
                }
                used
            }
            None => shards.iter().collect(),
        };
        let mut entries: HashMap<String, Entry> = HashMap::new();
        let mut paths = Vec::new();
        for (file, (rel, path)) in used.iter().enumerate() {
            let names = read_safetensors_header(rel, path, file, &mut |stored, entry| {
                let Some(gguf) = rename(stored) else {
                    return Ok(());
                };
                if let Some(other) = entries.insert(gguf.clone(), entry) {
                    return Err(format!(
                        "tensor `{stored}` is also stored as `{}`",
                        other.stored_name
                    ));
                }
                Ok(())
            })?;
            if let Some(expected) = placed.get(rel) {
                if let Some(missing) = expected.iter().find(|t| !names.contains(*t)) {
                    return Err(invalid(
                        rel,
                        format!("{INDEX} places tensor `{missing}` here, but this shard does not hold it"),
                    ));
                }
            }
            paths.push((rel.clone(), path.clone()));
        }
        let files = paths
            .into_iter()
            .map(|(rel, path)| Ok((rel.clone(), map(&path, &rel)?)))
            .collect::<Result<_, EngineError>>()?;
        Ok(Source { files, entries })
    }

    /// The tensor stored as (or renamed to) `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// The file a tensor is in, relative to the model root.
    pub fn file_of(&self, e: &Entry) -> &str {
        &self.files[e.file].0
    }

    /// Every file read, in order.
    pub fn file_names(&self) -> Vec<String> {
        self.files.iter().map(|(r, _)| r.clone()).collect()
    }

    /// A tensor's type, dimensions and bytes; errors name the file and the tensor as stored.
    pub fn bytes(&self, name: &str) -> Result<(GgmlDType, Vec<u64>, Bytes, &Entry), EngineError> {
        let e = self.entries.get(name).ok_or_else(|| {
            invalid(
                self.files.first().map_or("model", |f| f.0.as_str()),
                format!("tensor `{name}` is missing"),
            )
        })?;
        let rel = self.file_of(e);
        let dtype = e.dtype.clone().map_err(|d| {
            invalid(
                rel,
                format!(
                    "tensor `{}` has type {d}, which modelvet cannot compute",
                    e.stored_name
                ),
            )
        })?;
        let owner: Arc<dyn AsRef<[u8]> + Send + Sync> = self.files[e.file].1.clone();
        let bytes = Bytes::new(owner, e.start, e.len).ok_or_else(|| {
            invalid(
                rel,
                format!("tensor `{}` lies outside the file", e.stored_name),
            )
        })?;
        Ok((dtype, e.dims.clone(), bytes, e))
    }
}

/// Reads and checks one shard's header (without mapping it), handing each tensor to `add`; returns the
/// stored names.
fn read_safetensors_header(
    rel: &str,
    path: &std::path::Path,
    file: usize,
    add: &mut dyn FnMut(&str, Entry) -> Result<(), String>,
) -> Result<Vec<String>, EngineError> {
    let mut f = std::fs::File::open(path).map_err(|e| invalid(rel, e))?;
    let file_len = f.metadata().map_err(|e| invalid(rel, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| invalid(rel, "shorter than the 8-byte header length"))?;
    let n = u64::from_le_bytes(len);
    if n > crate::provenance::safetensors::MAX_HEADER || n > file_len - 8 {
        return Err(invalid(
            rel,
            format!(
                "header length {n} is past the cap or the file ({file_len} bytes): truncated or not safetensors"
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| invalid(rel, e))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| invalid(rel, format!("header is not a JSON object: {e}")))?;
    let data = 8 + n;
    let mut names = Vec::with_capacity(header.len());
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let t: RawTensor =
            serde_json::from_value(v).map_err(|e| invalid(rel, format!("tensor `{name}`: {e}")))?;
        let (dtype, size) = match t.dtype.as_str() {
            "F32" => (Ok(GgmlDType::F32), Some(4)),
            "F16" => (Ok(GgmlDType::F16), Some(2)),
            "BF16" => (Ok(GgmlDType::BF16), Some(2)),
            other => (Err(other.to_owned()), None),
        };
        let [a, b] = t.data_offsets;
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| invalid(rel, format!("tensor `{name}` has an impossible shape")))?;
        if b < a || size.is_some_and(|s| numel.checked_mul(s) != Some(b - a)) {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{name}` ({} {:?}) has the byte range {a}..{b}, which does not fit its shape",
                    t.dtype, t.shape
                ),
            ));
        }
        let end = data.saturating_add(b);
        if end > file_len {
            return Err(invalid(
                rel,
                format!(
                    "tensor `{name}` ends at byte {end}, past the end of the file ({file_len} bytes): the shard is truncated"
                ),
            ));
        }
        let entry = Entry {
            dtype,
            dims: t.shape.iter().rev().copied().collect(),
            file,
            start: (data + a) as usize,
            len: (b - a) as usize,
            stored_name: name.clone(),
        };
        add(&name, entry).map_err(|m| invalid(rel, m))?;
        names.push(name);
    }
    Ok(names)
}

//! A GGUF header reader for files that are hostile until proven otherwise.
//!
//! candle's own reader trusts the lengths it reads (a forged string length allocates gigabytes), so
//! modelvet reads the header itself: every length is checked against what is left of the file and
//! against a cap *before* anything is allocated, arrays are stored typed (a million-entry `u8` array costs
//! a megabyte, not 32), and nesting is bounded. Structural problems that stop the walk are a
//! [`GgufError`]; problems that leave the header readable (duplicate keys, bad alignment, tensors out of
//! bounds) are findings from [`GgufFile::check`]. Tensor data is never read here.
//!
//! The engine reads tokenizer metadata from the same [`GgufFile`], so a model is parsed by one reader.

use crate::diag::{Code, Finding};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Longest string read from a header (chat templates are kilobytes; 16 MiB is generous).
pub const MAX_STRING: u64 = 16 << 20;
/// Most elements in one array (vocabularies are ~260k; merges ~150k).
pub const MAX_ARRAY: u64 = 1 << 24;
/// Most key/value pairs and most tensors in one header.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Most elements across all arrays of one header: bounds memory whatever the file claims.
pub const MAX_TOTAL_ELEMENTS: u64 = 1 << 26;
/// Deepest array nesting accepted (real files use 1).
pub const MAX_NESTING: u32 = 3;
/// Most dimensions a tensor may declare (ggml has 4).
pub const MAX_DIMS: u32 = 4;

/// Why a GGUF header could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file (magic bytes are {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("GGUF version {0} is not supported (modelvet reads versions 2 and 3)")]
    Version(u32),
    #[error(
        "header ends early: {what} at byte {at} needs {need} bytes but the file has {left} left"
    )]
    Truncated {
        what: String,
        at: u64,
        need: u64,
        left: u64,
    },
    #[error("{what} at byte {at} declares length {len}, over modelvet's cap of {cap}")]
    LengthCap {
        what: String,
        at: u64,
        len: u64,
        cap: u64,
    },
    #[error("{what} at byte {at} has unknown value type {ty}")]
    ValueType { what: String, at: u64, ty: u32 },
    #[error("arrays nested deeper than {MAX_NESTING} levels at byte {at}")]
    Nesting { at: u64 },
    #[error("could not read: {0}")]
    Io(String),
}

impl GgufError {
    /// The finding code this error is reported under.
    pub fn code(&self) -> Code {
        match self {
            GgufError::BadMagic(_) | GgufError::Version(_) => Code::GgufInvalid,
            GgufError::Truncated { .. } => Code::GgufTruncated,
            GgufError::LengthCap { .. } => Code::GgufLengthCap,
            GgufError::ValueType { .. } | GgufError::Nesting { .. } => Code::GgufValueInvalid,
            GgufError::Io(_) => Code::FileUnreadable,
        }
    }
}

/// A metadata value. Arrays are typed so that large vocabularies stay compact.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A typed GGUF array.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Array(Vec<Array>),
}

impl Array {
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::Str(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GGUF name of the element type.
    pub fn elem_type(&self) -> &'static str {
        match self {
            Array::U8(_) => "u8",
            Array::I8(_) => "i8",
            Array::U16(_) => "u16",
            Array::I16(_) => "i16",
            Array::U32(_) => "u32",
            Array::I32(_) => "i32",
            Array::F32(_) => "f32",
            Array::Bool(_) => "bool",
            Array::Str(_) => "string",
            Array::U64(_) => "u64",
            Array::I64(_) => "i64",
            Array::F64(_) => "f64",
            Array::Array(_) => "array",
        }
    }

    /// Integer arrays widened to i64 (token types, ids); `None` for other element types.
    pub fn as_i64s(&self) -> Option<Vec<i64>> {
        Some(match self {
            Array::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Array::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Array::U16(v) => v.iter().map(|&x| x as i64).collect(),
            Array::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Array::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Array::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Array::U64(v) => v.iter().map(|&x| x as i64).collect(),
            Array::I64(v) => v.clone(),
            _ => return None,
        })
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer value as u64 (negative values give `None`).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A JSON rendering for reports; arrays longer than `max_items` are summarised by type and length.
    pub fn to_json(&self, max_items: usize) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::U8(v) => json!(v),
            Value::I8(v) => json!(v),
            Value::U16(v) => json!(v),
            Value::I16(v) => json!(v),
            Value::U32(v) => json!(v),
            Value::I32(v) => json!(v),
            Value::F32(v) => json!(v),
            Value::Bool(v) => json!(v),
            Value::Str(v) => json!(v),
            Value::U64(v) => json!(v),
            Value::I64(v) => json!(v),
            Value::F64(v) => json!(v),
            Value::Array(a) => array_json(a, max_items),
        }
    }
}

fn array_json(a: &Array, max_items: usize) -> serde_json::Value {
    use serde_json::json;
    if a.len() > max_items {
        return json!({ "array": a.elem_type(), "len": a.len() });
    }
    match a {
        Array::U8(v) => json!(v),
        Array::I8(v) => json!(v),
        Array::U16(v) => json!(v),
        Array::I16(v) => json!(v),
        Array::U32(v) => json!(v),
        Array::I32(v) => json!(v),
        Array::F32(v) => json!(v),
        Array::Bool(v) => json!(v),
        Array::Str(v) => json!(v),
        Array::U64(v) => json!(v),
        Array::I64(v) => json!(v),
        Array::F64(v) => json!(v),
        Array::Array(v) => {
            serde_json::Value::Array(v.iter().map(|a| array_json(a, max_items)).collect())
        }
    }
}

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements, `None` on overflow.
    pub fn elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Bytes of data, `None` for an unknown type, a row not a multiple of the block, or overflow.
    pub fn byte_len(&self) -> Option<u64> {
        let t = GgmlType::from_id(self.ggml_type)?;
        let n = self.elements()?;
        let row = *self.dims.first().unwrap_or(&1);
        if t.block == 0 || !row.is_multiple_of(t.block) {
            return None;
        }
        (n / t.block).checked_mul(t.bytes)
    }
}

/// A ggml tensor type: id, name, elements per block, bytes per block (from ggml's type traits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    pub id: u32,
    pub name: &'static str,
    pub block: u64,
    pub bytes: u64,
}

const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GGML_TYPES
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block, bytes)| GgmlType {
                id,
                name,
                block,
                bytes,
            })
    }
}

/// The name llama.cpp gives a `general.file_type` value ("Q4_K_M" for 15).
pub fn file_type_name(ft: u64) -> Option<&'static str> {
    Some(match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        _ => return None,
    })
}

/// A parsed GGUF header.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub version: u32,
    /// Key/value pairs in file order (duplicates kept, see `duplicate_keys`).
    pub metadata: Vec<(String, Value)>,
    index: HashMap<String, usize>,
    pub duplicate_keys: Vec<String>,
    /// Keys whose string values were not valid UTF-8 (kept lossily converted).
    pub invalid_utf8: Vec<String>,
    pub tensors: Vec<TensorInfo>,
    /// Alignment in force (`general.alignment`, else 32). Zero when the file declares zero.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    pub file_len: u64,
}

impl GgufFile {
    /// Reads the header of the GGUF file at `path`.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let file = File::open(path).map_err(|e| GgufError::Io(e.to_string()))?;
        let len = file
            .metadata()
            .map_err(|e| GgufError::Io(e.to_string()))?
            .len();
        GgufFile::read(BufReader::with_capacity(1 << 20, file), len)
    }

    /// Reads a header from `reader`, which holds `len` bytes in all.
    pub fn read<R: Read>(reader: R, len: u64) -> Result<GgufFile, GgufError> {
        let mut r = Reader {
            inner: reader,
            pos: 0,
            len,
            elements: 0,
        };
        let magic: [u8; 4] = r.array("magic")?;
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic(magic));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let tensor_count = r.count("tensor count", MAX_ENTRIES, 8 + 4 + 8 + 4 + 8)?;
        let kv_count = r.count("metadata count", MAX_ENTRIES, 8 + 4)?;

        let mut out = GgufFile {
            version,
            metadata: Vec::with_capacity(kv_count as usize),
            index: HashMap::new(),
            duplicate_keys: Vec::new(),
            invalid_utf8: Vec::new(),
            tensors: Vec::with_capacity(tensor_count as usize),
            alignment: 32,
            data_offset: 0,
            file_len: len,
        };
        for i in 0..kv_count {
            let (key, key_ok) = r.string(&format!("key of metadata entry {i}"))?;
            if !key_ok {
                out.invalid_utf8.push(key.clone());
            }
            let ty = r.u32(&format!("type of `{key}`"))?;
            let mut bad_utf8 = false;
            let value = r.value(ty, &key, 0, &mut bad_utf8)?;
            if bad_utf8 {
                out.invalid_utf8.push(key.clone());
            }
            if out.index.contains_key(&key) {
                out.duplicate_keys.push(key.clone());
            } else {
                out.index.insert(key.clone(), out.metadata.len());
            }
            out.metadata.push((key, value));
        }
        for i in 0..tensor_count {
            let (name, _) = r.string(&format!("name of tensor {i}"))?;
            let n_dims = r.u32(&format!("dimension count of tensor `{name}`"))?;
            if n_dims > MAX_DIMS {
                return Err(GgufError::LengthCap {
                    what: format!("dimension count of tensor `{name}`"),
                    at: r.pos - 4,
                    len: n_dims as u64,
                    cap: MAX_DIMS as u64,
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64(&format!("shape of tensor `{name}`"))?);
            }
            let ggml_type = r.u32(&format!("type of tensor `{name}`"))?;
            let offset = r.u64(&format!("offset of tensor `{name}`"))?;
            out.tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }
        out.alignment = match out.get("general.alignment") {
            Some(v) => v.as_u64().unwrap_or(0),
            None => 32,
        };
        let align = if out.alignment.is_power_of_two() {
            out.alignment
        } else {
            32
        };
        out.data_offset = r.pos.div_ceil(align).saturating_mul(align);
        Ok(out)
    }

    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn get_array(&self, key: &str) -> Option<&Array> {
        self.get(key).and_then(Value::as_array)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// Total parameters (elements of every tensor); saturates on overflow.
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.elements().unwrap_or(0)))
    }

    /// Problems that leave the header readable: duplicate keys, bad UTF-8, alignment, tensor layout.
    /// `rel` is the file's path relative to the model root.
    pub fn check(&self, rel: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for key in &self.duplicate_keys {
            out.push(
                Finding::new(
                    Code::GgufDuplicateKey,
                    format!("metadata key `{key}` appears more than once"),
                )
                .in_file(rel),
            );
        }
        for key in &self.invalid_utf8 {
            out.push(
                Finding::new(
                    Code::GgufValueInvalid,
                    format!("metadata `{key}` holds a string that is not valid UTF-8 (read with replacement characters)"),
                )
                .in_file(rel),
            );
        }
        let align_ok = self.alignment.is_power_of_two();
        if !align_ok {
            out.push(
                Finding::new(
                    Code::GgufAlignmentInvalid,
                    format!(
                        "`general.alignment` is {}, which is not a power of two",
                        self.alignment
                    ),
                )
                .in_file(rel),
            );
        }
        let data_len = self.file_len.saturating_sub(self.data_offset);
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut spans: Vec<(u64, u64, &str)> = Vec::new();
        let mut reported = 0usize;
        let mut push = |out: &mut Vec<Finding>, f: Finding| {
            reported += 1;
            if reported <= 50 {
                out.push(f);
            }
        };
        for t in &self.tensors {
            if names.insert(&t.name, 0).is_some() {
                push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorOverlap,
                        format!("tensor name `{}` is used twice", t.name),
                    )
                    .in_file(rel),
                );
            }
            let Some(ty) = GgmlType::from_id(t.ggml_type) else {
                push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorInvalid,
                        format!("tensor `{}` has unknown ggml type {}", t.name, t.ggml_type),
                    )
                    .in_file(rel),
                );
                continue;
            };
            let Some(size) = t.byte_len() else {
                push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorInvalid,
                        format!(
                            "tensor `{}` has shape {:?}, which does not fit {} blocks of {} (or overflows)",
                            t.name, t.dims, ty.name, ty.block
                        ),
                    )
                    .in_file(rel),
                );
                continue;
            };
            if align_ok && t.offset % self.alignment != 0 {
                push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorMisaligned,
                        format!(
                            "tensor `{}` starts at offset {}, not a multiple of {}",
                            t.name, t.offset, self.alignment
                        ),
                    )
                    .in_file(rel),
                );
            }
            match t.offset.checked_add(size) {
                Some(end) if end <= data_len => spans.push((t.offset, end, &t.name)),
                _ => push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorOutOfBounds,
                        format!(
                            "tensor `{}` needs bytes {}..{} of the data section, which has {data_len}",
                            t.name,
                            t.offset,
                            t.offset as u128 + size as u128
                        ),
                    )
                    .in_file(rel),
                ),
            }
        }
        spans.sort();
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                push(
                    &mut out,
                    Finding::new(
                        Code::GgufTensorOverlap,
                        format!("tensors `{}` and `{}` share bytes", w[0].2, w[1].2),
                    )
                    .in_file(rel),
                );
            }
        }
        if reported > 50 {
            out.push(
                Finding::new(
                    Code::GgufTensorInvalid,
                    format!("{} more tensor problems not listed", reported - 50),
                )
                .in_file(rel),
            );
        }
        out
    }
}

/// Header summary for the provenance record.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct GgufSummary {
    pub file: String,
    pub version: u32,
    pub architecture: Option<String>,
    /// Every `general.*` key (long arrays summarised).
    pub general: BTreeMap<String, serde_json::Value>,
    /// Every `<architecture>.*` key, without the prefix.
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    pub tensor_count: usize,
    pub parameter_count: u64,
    /// `general.file_type` spelled as llama.cpp does ("Q4_K_M").
    pub file_type: Option<String>,
    /// Tensor count per ggml type.
    pub quantization: BTreeMap<String, usize>,
    pub tokenizer: GgufTokenizerSummary,
    /// Keys that are neither general, architecture nor tokenizer keys.
    pub other_keys: Vec<String>,
    pub alignment: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct GgufTokenizerSummary {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE), `llama` (SentencePiece), …
    pub model: Option<String>,
    /// `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp applies (`qwen2`, `llama-bpe`, `smollm`, …).
    pub pre: Option<String>,
    pub vocab_size: Option<usize>,
    pub merges: Option<usize>,
    pub bos_token_id: Option<u64>,
    pub eos_token_id: Option<u64>,
    pub add_bos_token: Option<bool>,
    pub add_eos_token: Option<bool>,
    /// sha256 of `tokenizer.chat_template`, when present.
    pub chat_template_sha256: Option<String>,
    pub chat_template_len: Option<usize>,
}

impl GgufFile {
    /// The summary the provenance record carries.
    pub fn summary(&self, rel: &str) -> GgufSummary {
        let arch = self.architecture().map(str::to_owned);
        let mut general = BTreeMap::new();
        let mut hyper = BTreeMap::new();
        let mut other = Vec::new();
        for (k, v) in &self.metadata {
            if let Some(rest) = k.strip_prefix("general.") {
                general
                    .entry(rest.to_owned())
                    .or_insert_with(|| v.to_json(64));
            } else if let Some(rest) = arch
                .as_deref()
                .and_then(|a| k.strip_prefix(a))
                .and_then(|r| r.strip_prefix('.'))
            {
                hyper
                    .entry(rest.to_owned())
                    .or_insert_with(|| v.to_json(64));
            } else if !k.starts_with("tokenizer.") {
                other.push(k.clone());
            }
        }
        let mut quantization = BTreeMap::new();
        for t in &self.tensors {
            let name = GgmlType::from_id(t.ggml_type)
                .map(|t| t.name.to_owned())
                .unwrap_or_else(|| format!("type-{}", t.ggml_type));
            *quantization.entry(name).or_insert(0) += 1;
        }
        let template = self.get_str("tokenizer.chat_template");
        GgufSummary {
            file: rel.to_owned(),
            version: self.version,
            architecture: arch,
            general,
            hyperparameters: hyper,
            tensor_count: self.tensors.len(),
            parameter_count: self.parameter_count(),
            file_type: self.get_u64("general.file_type").map(|ft| {
                file_type_name(ft)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("unknown ({ft})"))
            }),
            quantization,
            tokenizer: GgufTokenizerSummary {
                model: self.get_str("tokenizer.ggml.model").map(str::to_owned),
                pre: self.get_str("tokenizer.ggml.pre").map(str::to_owned),
                vocab_size: self.get_array("tokenizer.ggml.tokens").map(Array::len),
                merges: self.get_array("tokenizer.ggml.merges").map(Array::len),
                bos_token_id: self.get_u64("tokenizer.ggml.bos_token_id"),
                eos_token_id: self.get_u64("tokenizer.ggml.eos_token_id"),
                add_bos_token: self.get_bool("tokenizer.ggml.add_bos_token"),
                add_eos_token: self.get_bool("tokenizer.ggml.add_eos_token"),
                chat_template_sha256: template.map(|t| crate::util::sha256_hex(t.as_bytes())),
                chat_template_len: template.map(str::len),
            },
            other_keys: other,
            alignment: self.alignment,
        }
    }
}

/// A bounds-checked little-endian reader that knows how many bytes remain.
struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
    /// Array elements read so far (bounded by [`MAX_TOTAL_ELEMENTS`]).
    elements: u64,
}

impl<R: Read> Reader<R> {
    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, what: &str, n: u64) -> Result<(), GgufError> {
        if n > self.left() {
            return Err(GgufError::Truncated {
                what: what.to_owned(),
                at: self.pos,
                need: n,
                left: self.left(),
            });
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        self.need(what, N as u64)?;
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.io(what, e))?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn io(&self, what: &str, e: std::io::Error) -> GgufError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            GgufError::Truncated {
                what: what.to_owned(),
                at: self.pos,
                need: 0,
                left: 0,
            }
        } else {
            GgufError::Io(e.to_string())
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must stay under `cap` and fit the file at `min_size` bytes per entry.
    fn count(&mut self, what: &str, cap: u64, min_size: u64) -> Result<u64, GgufError> {
        let at = self.pos;
        let n = self.u64(what)?;
        if n > cap {
            return Err(GgufError::LengthCap {
                what: what.to_owned(),
                at,
                len: n,
                cap,
            });
        }
        self.need(what, n.saturating_mul(min_size))?;
        Ok(n)
    }

    /// A length-prefixed string; the flag is false when it was not valid UTF-8 (converted lossily).
    fn string(&mut self, what: &str) -> Result<(String, bool), GgufError> {
        let at = self.pos;
        let n = self.u64(what)?;
        if n > MAX_STRING {
            return Err(GgufError::LengthCap {
                what: what.to_owned(),
                at,
                len: n,
                cap: MAX_STRING,
            });
        }
        self.need(what, n)?;
        let mut buf = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.io(what, e))?;
        self.pos += n;
        match String::from_utf8(buf) {
            Ok(s) => Ok((s, true)),
            Err(e) => Ok((String::from_utf8_lossy(e.as_bytes()).into_owned(), false)),
        }
    }

    fn value(
        &mut self,
        ty: u32,
        key: &str,
        depth: u32,
        bad_utf8: &mut bool,
    ) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.array(key)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(key)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => Value::Bool(self.array::<1>(key)?[0] != 0),
            8 => {
                let (s, ok) = self.string(key)?;
                *bad_utf8 |= !ok;
                Value::Str(s)
            }
            9 => Value::Array(self.array_value(key, depth, bad_utf8)?),
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            _ => {
                return Err(GgufError::ValueType {
                    what: format!("`{key}`"),
                    at: self.pos - 4,
                    ty,
                })
            }
        })
    }

    fn array_value(
        &mut self,
        key: &str,
        depth: u32,
        bad_utf8: &mut bool,
    ) -> Result<Array, GgufError> {
        if depth >= MAX_NESTING {
            return Err(GgufError::Nesting { at: self.pos });
        }
        let what = format!("array `{key}`");
        let ty = self.u32(&what)?;
        let min_size = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            _ => {
                return Err(GgufError::ValueType {
                    what: what.clone(),
                    at: self.pos - 4,
                    ty,
                })
            }
        };
        let at = self.pos;
        let n = self.count(&what, MAX_ARRAY, min_size)?;
        self.elements += n;
        if self.elements > MAX_TOTAL_ELEMENTS {
            return Err(GgufError::LengthCap {
                what: "array elements in all".into(),
                at,
                len: self.elements,
                cap: MAX_TOTAL_ELEMENTS,
            });
        }
        let n = n as usize;
        macro_rules! prim {
            ($variant:ident, $t:ty) => {{
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(<$t>::from_le_bytes(self.array(&what)?));
                }
                Array::$variant(v)
            }};
        }
        Ok(match ty {
            0 => prim!(U8, u8),
            1 => prim!(I8, i8),
            2 => prim!(U16, u16),
            3 => prim!(I16, i16),
            4 => prim!(U32, u32),
            5 => prim!(I32, i32),
            6 => prim!(F32, f32),
            7 => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array::<1>(&what)?[0] != 0);
                }
                Array::Bool(v)
            }
            8 => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let (s, ok) = self.string(&what)?;
                    *bad_utf8 |= !ok;
                    v.push(s);
                }
                Array::Str(v)
            }
            9 => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array_value(key, depth + 1, bad_utf8)?);
                }
                Array::Array(v)
            }
            10 => prim!(U64, u64),
            11 => prim!(I64, i64),
            _ => prim!(F64, f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds GGUF headers byte by byte, so tests can forge any field.
    struct Gguf(Vec<u8>);
    impl Gguf {
        fn new(version: u32, tensors: u64, kvs: u64) -> Gguf {
            let mut b = b"GGUF".to_vec();
            b.extend(version.to_le_bytes());
            b.extend(tensors.to_le_bytes());
            b.extend(kvs.to_le_bytes());
            Gguf(b)
        }
        fn str(mut self, s: &str) -> Self {
            self.0.extend((s.len() as u64).to_le_bytes());
            self.0.extend(s.as_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn kv_str(self, k: &str, v: &str) -> Self {
            self.str(k).u32(8).str(v)
        }
        fn kv_u32(self, k: &str, v: u32) -> Self {
            self.str(k).u32(4).u32(v)
        }
        fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
            let mut g = self.str(name).u32(dims.len() as u32);
            for &d in dims {
                g = g.u64(d);
            }
            g.u32(ty).u64(offset)
        }
        fn parse(&self) -> Result<GgufFile, GgufError> {
            GgufFile::read(&self.0[..], self.0.len() as u64)
        }
        fn pad_data(mut self, n: usize) -> Self {
            let aligned = self.0.len().div_ceil(32) * 32;
            self.0.resize(aligned + n, 0);
            self
        }
    }

    #[test]
    fn reads_metadata_and_tensors_of_a_well_formed_header() {
        let g = Gguf::new(3, 1, 2)
            .kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", 2)
            .tensor("w", &[32, 2], 0, 0)
            .pad_data(256);
        let f = g.parse().unwrap();
        assert_eq!(f.architecture(), Some("llama"));
        assert_eq!(f.get_u64("llama.block_count"), Some(2));
        assert_eq!(f.parameter_count(), 64);
        assert!(f.check("m.gguf").is_empty(), "{:?}", f.check("m.gguf"));
        let s = f.summary("m.gguf");
        assert_eq!(
            s.hyperparameters.get("block_count"),
            Some(&serde_json::json!(2))
        );
        assert_eq!(s.quantization.get("F32"), Some(&1));
    }

    #[test]
    fn a_string_length_past_the_end_is_truncation_not_an_allocation() {
        let g = Gguf::new(3, 0, 1).u64(u64::MAX / 2).u32(8);
        assert!(matches!(g.parse(), Err(GgufError::LengthCap { .. })));
        let g = Gguf::new(3, 0, 1).u64(1000).str("short");
        assert!(matches!(g.parse(), Err(GgufError::Truncated { .. })));
    }

    #[test]
    fn an_array_claiming_billions_of_elements_is_refused_before_allocation() {
        let g = Gguf::new(3, 0, 1)
            .str("tokens")
            .u32(9)
            .u32(8)
            .u64(4_000_000_000);
        assert!(matches!(g.parse(), Err(GgufError::LengthCap { .. })));
        let g = Gguf::new(3, 0, 1)
            .str("tokens")
            .u32(9)
            .u32(4)
            .u64(1_000_000);
        assert!(matches!(g.parse(), Err(GgufError::Truncated { .. })));
    }

    #[test]
    fn deeply_nested_arrays_are_refused() {
        let mut g = Gguf::new(3, 0, 1).str("n");
        g = g.u32(9);
        for _ in 0..5 {
            g = g.u32(9).u64(1);
        }
        g = g.u32(4).u64(0);
        assert!(matches!(g.parse(), Err(GgufError::Nesting { .. })));
    }

    #[test]
    fn counts_over_the_cap_and_bad_magic_and_versions_are_errors() {
        assert!(matches!(
            Gguf::new(3, u64::MAX, 0).parse(),
            Err(GgufError::LengthCap { .. })
        ));
        assert!(matches!(
            Gguf::new(1, 0, 0).parse(),
            Err(GgufError::Version(1))
        ));
        assert!(matches!(
            GgufFile::read(&b"GGML\0\0\0\0"[..], 8),
            Err(GgufError::BadMagic(_))
        ));
        assert!(matches!(
            GgufFile::read(&b"GG"[..], 2),
            Err(GgufError::Truncated { .. })
        ));
    }

    #[test]
    fn unknown_value_type_is_an_error() {
        let g = Gguf::new(3, 0, 1).str("k").u32(77);
        assert!(matches!(
            g.parse(),
            Err(GgufError::ValueType { ty: 77, .. })
        ));
    }

    #[test]
    fn zero_alignment_and_duplicate_keys_are_findings() {
        let g = Gguf::new(3, 0, 3)
            .kv_u32("general.alignment", 0)
            .kv_str("a", "x")
            .kv_str("a", "y");
        let f = g.parse().unwrap();
        let codes: Vec<_> = f.check("m.gguf").iter().map(|f| f.code).collect();
        assert!(codes.contains(&Code::GgufAlignmentInvalid), "{codes:?}");
        assert!(codes.contains(&Code::GgufDuplicateKey), "{codes:?}");
        assert_eq!(
            f.get_str("a"),
            Some("x"),
            "the first value wins, as in llama.cpp"
        );
    }

    #[test]
    fn tensors_out_of_bounds_overlapping_misaligned_or_of_unknown_type_are_findings() {
        let g = Gguf::new(3, 5, 0)
            .tensor("a", &[64], 0, 0)
            .tensor("b", &[64], 0, 128)
            .tensor("c", &[64], 0, 96)
            .tensor("d", &[64], 99, 512)
            .tensor("e", &[64], 0, 4096)
            .pad_data(512);
        let f = g.parse().unwrap();
        let found = f.check("m.gguf");
        let codes: Vec<_> = found.iter().map(|f| f.code).collect();
        assert!(codes.contains(&Code::GgufTensorOverlap), "{found:?}");
        assert!(codes.contains(&Code::GgufTensorInvalid), "{found:?}");
        assert!(codes.contains(&Code::GgufTensorOutOfBounds), "{found:?}");
        let g = Gguf::new(3, 1, 0).tensor("m", &[8], 0, 3).pad_data(64);
        let codes: Vec<_> = g
            .parse()
            .unwrap()
            .check("m.gguf")
            .iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(codes, vec![Code::GgufTensorMisaligned]);
    }

    #[test]
    fn a_quantized_row_that_is_not_a_whole_number_of_blocks_is_invalid() {
        let g = Gguf::new(3, 1, 0).tensor("q", &[33, 2], 2, 0).pad_data(256);
        let codes: Vec<_> = g
            .parse()
            .unwrap()
            .check("m.gguf")
            .iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(codes, vec![Code::GgufTensorInvalid]);
    }

    #[test]
    fn invalid_utf8_strings_are_kept_lossily_and_reported() {
        let mut g = Gguf::new(3, 0, 1).str("general.name").u32(8);
        g.0.extend(3u64.to_le_bytes());
        g.0.extend([0x66, 0xff, 0x67]);
        let f = g.parse().unwrap();
        assert_eq!(f.get_str("general.name"), Some("f\u{fffd}g"));
        assert_eq!(f.check("m.gguf")[0].code, Code::GgufValueInvalid);
    }
}

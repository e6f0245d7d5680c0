//! Quantized matrix products on the GGUF blocks as stored: the kernels modelvet's own forward pass uses.
//!
//! Why not candle's `QMatMul`: candle 0.11 has no SIMD kernel for `Q4_1` or `Q5_0` (the formats of
//! SmolLM2 and of most Qwen2.5/Gemma 3 Q4_K_M tensors), it computes k-quants one row at a time, and a
//! product over several activation rows is not guaranteed to give each row the same bits as a product
//! over one. Here:
//!
//! - `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0` and the k-quants `Q4_K`, `Q5_K`, `Q6_K` have kernels of their own with
//!   ggml's arithmetic: activations quantized to 8-bit blocks of 32 with f16 scales (ggml's `q8_0`/`q8_1`)
//!   or, for the k-quants, to blocks of 256 with an f32 scale and 16-value sums (ggml's `q8_K`); integer dot
//!   products per block, one float scale per block. Each has a scalar version (the reference) and an
//!   AVX2+FMA+F16C version, picked at run time from the CPU, and an AVX-512 VNNI version (level
//!   `avx512-vnni`) with the AVX2 sums. The signed formats Q4_0, Q5_0 and Q8_0 take eight interleaved
//!   weight rows per instruction and sum alike on every level, scalar included ([`interleaved`]); the
//!   products over several activation rows of Q4_1 and the k-quants take four weight rows by four
//!   activation rows with `vpdpbusd` or `vpdpwssd` where the CPU has them.
//!   `MODELVET_KERNELS=scalar|avx2|avx512` caps the level (`MODELVET_SCALAR_KERNELS` still forces
//!   scalar). `Q5_1` (what llama.cpp's Q5_K_M falls back to for rows not a multiple of 256 wide)
//!   is ggml's Q4_1 arithmetic on 5-bit values: unpacked, it runs on the Q4_1 kernels. `Q2_K` and `Q3_K`
//!   use candle's block types and their `vec_dot`.
//! - bf16 and f16 weights (Hugging Face checkpoints) stay 16-bit in the map: each row is widened inside
//!   the dot product against f32 activations (AVX2+FMA, F16C for f16; scalar otherwise), never as a
//!   whole. f32 weights are read in place when aligned. [`QMatrix::to_f32`] and [`QMatrix::to_q8_0`]
//!   make the `--precision f32` and `quantized` copies once at load.
//! - A product over `m` activation rows (a prompt, a batch) unpacks a group of weight rows once (to bytes
//!   and scales, about 24 KB) and dots them with the activation rows four at a time: the weight block is
//!   loaded once for four rows, the four sums are independent chains, and each tile of activations is
//!   read once per group of weight rows. The activation rows are quantized in parallel. Prompt
//!   processing on the three real models ran 1.15–1.3× faster with the tiles than one row at a time.
//! - Every output element is one call of one dot-product function, whatever `m` is and however the rows
//!   are split between threads: a batched forward pass gives bit-identical results to one sequence at a
//!   time, so batching never changes a verdict.
//!
//! Weights are borrowed from a memory-mapped file; nothing is copied or expanded.

use candle_core::quantized::{k_quants, GgmlDType, GgmlType};
use half::f16;
use std::sync::Arc;

/// Values per block of the 8-bit activation blocks (and of Q4_1/Q5_0/Q8_0 weights).
const QK: usize = 32;

/// Where a matrix's bytes live: a shared memory map (or an owned buffer) and a byte range in it.
#[derive(Clone)]
pub struct Bytes {
    owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
    len: usize,
}

impl Bytes {
    /// A range of `owner`; `None` when it does not fit.
    pub fn new(
        owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
        start: usize,
        len: usize,
    ) -> Option<Self> {
        let total = (*owner).as_ref().len();
        (start.checked_add(len)? <= total).then_some(Bytes { owner, start, len })
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        let len = v.len();
        Bytes {
            owner: Arc::new(v),
            start: 0,
            len,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.start..self.start + self.len]
    }

    /// `len` bytes from `start` within this range, sharing the same owner (one expert's block of a
    /// mixture-of-experts tensor); `None` when they do not fit.
    pub fn slice(&self, start: usize, len: usize) -> Option<Self> {
        (start.checked_add(len)? <= self.len).then(|| Bytes {
            owner: self.owner.clone(),
            start: self.start + start,
            len,
        })
    }
}

/// The storage format of a matrix, with the kernel that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Q4_0,
    Q4_1,
    Q5_0,
    /// Q5_1: Q4_1's arithmetic on 5-bit weights (ggml's `vec_dot_q5_1_q8_1`), unpacked and read by the
    /// Q4_1 kernels.
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    /// Any other quantized GGML type, through candle's block type.
    Candle(GgmlDType),
    /// f32 values, in place or (unaligned, or widened at load) in an owned copy.
    F32,
    /// 16-bit rows widened inside the dot product.
    BF16,
    F16,
}

impl Kind {
    /// Kinds that read the same quantized activations: the 8-bit-block kernels share one quantization.
    fn family(self) -> Kind {
        match self {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q5_1 | Kind::Q8_0 => Kind::Q8_0,
            Kind::Q4K | Kind::Q5K | Kind::Q6K => Kind::Q6K,
            other => other,
        }
    }
}

/// A weight matrix of `rows` × `cols` (each row is one output feature), as stored in the file.
#[derive(Clone)]
pub struct QMatrix {
    kind: Kind,
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    /// Bytes per row.
    row_bytes: usize,
    data: Bytes,
    /// f32 weights (for `Kind::F32`), row-major.
    f32: Option<Arc<Vec<f32>>>,
}

/// Why a matrix cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("tensor type {0:?} is not supported")]
    Unsupported(GgmlDType),
    #[error("a row of {cols} values is not a whole number of {block}-value blocks of {dtype:?}")]
    Ragged {
        cols: usize,
        block: usize,
        dtype: GgmlDType,
    },
    #[error("{rows}×{cols} {dtype:?} needs {need} bytes, the file has {have}")]
    Size {
        rows: usize,
        cols: usize,
        dtype: GgmlDType,
        need: usize,
        have: usize,
    },
}

impl QMatrix {
    /// A `rows` × `cols` matrix of `dtype` stored in `data` (exactly its size).
    pub fn new(
        dtype: GgmlDType,
        rows: usize,
        cols: usize,
        data: Bytes,
    ) -> Result<Self, QuantError> {
        let block = dtype.block_size();
        if cols == 0 || !cols.is_multiple_of(block) {
            return Err(QuantError::Ragged { cols, block, dtype });
        }
        let row_bytes = cols / block * dtype.type_size();
        let need = row_bytes.saturating_mul(rows);
        if need != data.len {
            return Err(QuantError::Size {
                rows,
                cols,
                dtype,
                need,
                have: data.len,
            });
        }
        let kind = match dtype {
            GgmlDType::Q4_1 => Kind::Q4_1,
            GgmlDType::Q5_0 => Kind::Q5_0,
            GgmlDType::Q5_1 => Kind::Q5_1,
            GgmlDType::Q8_0 => Kind::Q8_0,
            GgmlDType::Q4_0 => Kind::Q4_0,
            GgmlDType::Q4K => Kind::Q4K,
            GgmlDType::Q5K => Kind::Q5K,
            GgmlDType::Q6K => Kind::Q6K,
            GgmlDType::F32 => Kind::F32,
            GgmlDType::BF16 => Kind::BF16,
            GgmlDType::F16 => Kind::F16,
            GgmlDType::Q2K | GgmlDType::Q3K => Kind::Candle(dtype),
            other => return Err(QuantError::Unsupported(other)),
        };
        // candle's block types hold f16 fields: their rows must be 2-byte aligned in memory (its
        // `to_float` also dequantizes k-quant rows, for embeddings).
        let through_candle = matches!(
            kind,
            Kind::Candle(_) | Kind::Q4_0 | Kind::Q4K | Kind::Q5K | Kind::Q6K
        );
        let data = if through_candle && !(data.as_slice().as_ptr() as usize).is_multiple_of(4) {
            Bytes::from_vec(data.as_slice().to_vec())
        } else {
            data
        };
        let mut m = QMatrix {
            kind,
            dtype,
            rows,
            cols,
            row_bytes,
            data,
            f32: None,
        };
        // f32 values are read in place when 4-aligned (safetensors data offsets need not be).
        if kind == Kind::F32 && !(m.data.as_slice().as_ptr() as usize).is_multiple_of(4) {
            m.f32 = Some(Arc::new(m.widened()));
        }
        Ok(m)
    }

    /// The f32 values of a `Kind::F32` matrix, row-major.
    fn f32_values(&self) -> &[f32] {
        match &self.f32 {
            Some(w) => w,
            // Safety: `new` keeps the bytes in place only when 4-aligned; they hold rows × cols f32.
            None => unsafe {
                let b = self.data.as_slice();
                std::slice::from_raw_parts(b.as_ptr() as *const f32, b.len() / 4)
            },
        }
    }

    /// The storage type (for the engine record).
    pub fn dtype(&self) -> GgmlDType {
        self.dtype
    }

    /// The same values quantized to Q8_0 blocks (ggml's `quantize_row_q8_0_ref`), what `--precision
    /// quantized` computes with on 16-bit weights; `None` when a row is not whole blocks of 32.
    pub fn to_q8_0(&self) -> Option<QMatrix> {
        if !self.cols.is_multiple_of(QK) {
            return None;
        }
        let row_bytes = self.cols / QK * 34;
        let mut out = vec![0u8; self.rows * row_bytes];
        let mut row = vec![0f32; self.cols];
        for (r, dst) in out.chunks_exact_mut(row_bytes).enumerate() {
            self.dequantize_row(r, &mut row);
            for (c, blk) in row.chunks_exact(QK).zip(dst.chunks_exact_mut(34)) {
                let amax = c.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                blk[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                for (q, v) in blk[2..].iter_mut().zip(c) {
                    *q = (v * id).round() as i8 as u8;
                }
            }
        }
        QMatrix::new(GgmlDType::Q8_0, self.rows, self.cols, Bytes::from_vec(out)).ok()
    }

    /// Every row as f32, row-major.
    fn widened(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.rows * self.cols];
        for (r, row) in w.chunks_exact_mut(self.cols).enumerate() {
            self.dequantize_row(r, row);
        }
        w
    }

    /// The same values widened to f32 (what `--precision f32` computes with).
    pub fn to_f32(&self) -> QMatrix {
        let w = self.widened();
        QMatrix {
            kind: Kind::F32,
            dtype: GgmlDType::F32,
            rows: self.rows,
            cols: self.cols,
            row_bytes: self.cols * 4,
            data: Bytes::from_vec(Vec::new()),
            f32: Some(Arc::new(w)),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn row(&self, r: usize) -> &[u8] {
        &self.data.as_slice()[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.cols);
        if let Some(w) = &self.f32 {
            out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]);
            return;
        }
        dequant::row(self.dtype, self.row(r), out)
    }
}

#[inline]
fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Reinterprets a row's bytes as candle blocks of `T`.
///
/// # Safety
/// `row` must hold whole blocks of `T` in GGML's layout (candle's block structs are `repr(C)` mirrors of
/// ggml's, size-asserted in candle), aligned for `T` (checked at load, see `QMatrix::new`).
unsafe fn blocks<T: GgmlType>(row: &[u8]) -> &[T] {
    debug_assert!(row.len().is_multiple_of(std::mem::size_of::<T>()));
    debug_assert!((row.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()));
    std::slice::from_raw_parts(
        row.as_ptr() as *const T,
        row.len() / std::mem::size_of::<T>(),
    )
}

macro_rules! with_candle_type {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            GgmlDType::Q4_0 => {
                type $T = k_quants::BlockQ4_0;
                $body
            }
            GgmlDType::Q5_1 => {
                type $T = k_quants::BlockQ5_1;
                $body
            }
            GgmlDType::Q2K => {
                type $T = k_quants::BlockQ2K;
                $body
            }
            GgmlDType::Q3K => {
                type $T = k_quants::BlockQ3K;
                $body
            }
            GgmlDType::Q4K => {
                type $T = k_quants::BlockQ4K;
                $body
            }
            GgmlDType::Q5K => {
                type $T = k_quants::BlockQ5K;
                $body
            }
            GgmlDType::Q6K => {
                type $T = k_quants::BlockQ6K;
                $body
            }
            _ => unreachable!("not a candle-kernel type"),
        }
    };
}

fn candle_to_float(dtype: GgmlDType, row: &[u8], out: &mut [f32]) {
    with_candle_type!(dtype, T => T::to_float(unsafe { blocks::<T>(row) }, out))
}

/// One activation row quantized for the kernels: 8-bit blocks of 32 (Q4_0/Q4_1/Q5_0/Q8_0 weights), of
/// 256 (k-quant weights), candle's `VecDotType` blocks (as raw bytes) for the others, or f32.
enum Acts {
    Q8(Vec<Q8Block>),
    Q8K(Vec<Q8KBlock>),
    /// candle's `VecDotType` blocks stored in u32 words (4-aligned, which every candle block type needs).
    Candle(Vec<u32>),
    F32,
}

/// 32 activations as `d * qs[i]`, with `s = d * Σ qs` (what the Q4_1 offset term needs).
#[derive(Clone, Copy)]
#[repr(C)]
struct Q8Block {
    qs: [i8; QK],
    d: f32,
    s: f32,
    /// `Σ qs`, for kernels that make the weights unsigned and take `128·Σ qs` back off.
    sum: i32,
}

/// Values per k-quant block (and per block of its 8-bit activations).
const QK_K: usize = 256;

/// 256 activations as `d * qs[i]`, with the sum of each 16 `qs` (ggml's `block_q8_K`: the sums serve
/// the k-quant minimums).
#[derive(Clone, Copy)]
#[repr(C)]
struct Q8KBlock {
    d: f32,
    qs: [i8; QK_K],
    bsums: [i16; QK_K / 16],
}

/// ggml's `quantize_row_q8_0`/`q8_1` as llama.cpp's x86 builds run them (the AVX/AVX2/AVX-512 path, not
/// the scalar `_ref` nor ARM's): multiply by `127 / amax` (not by `1 / (amax / 127)`, which can differ in
/// the last place) and round half to even (`_mm256_round_ps`, not `roundf`). The two rarely give a
/// different byte, but one is enough to move a log-probability by 6·10⁻³ at one step of the tiny Qwen3
/// (tests/native_moe.rs), so these kernels follow the build modelvet is compared with.
fn quantize_q8(x: &[f32]) -> Vec<Q8Block> {
    x.chunks_exact(QK)
        .map(|c| {
            let amax = c.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let mut qs = [0i8; QK];
            let mut sum = 0i32;
            for (q, v) in qs.iter_mut().zip(c) {
                *q = nearest_int(v * id) as i8;
                sum += *q as i32;
            }
            // Stored as f16 and widened back, like ggml's block_q8_0/q8_1: the products then match
            // llama.cpp's, not only approximate the f32 ones.
            Q8Block {
                qs,
                d: f16::from_f32(d).to_f32(),
                s: f16::from_f32(d * sum as f32).to_f32(),
                sum,
            }
        })
        .collect()
}

/// ggml's `quantize_row_q8_K_ref`: the scale from the value of largest magnitude, sign included (it maps
/// to −127), rounding half to even, the scale kept in f32.
fn quantize_q8k(x: &[f32]) -> Vec<Q8KBlock> {
    x.chunks_exact(QK_K)
        .map(|c| {
            let mut b = Q8KBlock {
                d: 0.0,
                qs: [0; QK_K],
                bsums: [0; QK_K / 16],
            };
            let (mut max, mut amax) = (0f32, 0f32);
            for &v in c {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            if amax == 0.0 {
                return b;
            }
            let iscale = -127.0 / max;
            for (q, &v) in b.qs.iter_mut().zip(c) {
                *q = nearest_int(iscale * v).clamp(-128, 127) as i8;
            }
            for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = q.iter().map(|&v| v as i16).sum();
            }
            b.d = 1.0 / iscale;
            b
        })
        .collect()
}

/// ggml's `nearest_int`: round half to even through the float adder, exact for |v| < 2²² (the
/// activations are at most 127 here). `round_ties_even` compiles to a libm call on baseline x86-64.
#[inline]
fn nearest_int(v: f32) -> i32 {
    let f = v + 12582912.0;
    (f.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

fn quantize_candle(dtype: GgmlDType, x: &[f32]) -> Vec<u32> {
    with_candle_type!(dtype, T => {
        type V = <T as GgmlType>::VecDotType;
        let n = x.len() / V::BLCK_SIZE;
        let mut v: Vec<V> = (0..n).map(|_| V::zeros()).collect();
        V::from_float(x, &mut v);
        let bytes = n * std::mem::size_of::<V>();
        // Kept as words so `Acts` needs no type parameter; read back with the same type in `dot`.
        let mut out = vec![0u32; bytes.div_ceil(4)];
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, out.as_mut_ptr() as *mut u8, bytes) };
        out
    })
}

impl QMatrix {
    fn quantize(&self, x: &[f32]) -> Acts {
        match self.kind {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q5_1 | Kind::Q8_0 => {
                Acts::Q8(quantize_q8(x))
            }
            Kind::Q4K | Kind::Q5K | Kind::Q6K => Acts::Q8K(quantize_q8k(x)),
            Kind::Candle(dtype) => Acts::Candle(quantize_candle(dtype, x)),
            Kind::F32 | Kind::BF16 | Kind::F16 => Acts::F32,
        }
    }

    /// The dot product of weight row `r` with one activation row (`x` its f32 values, `a` quantized).
    fn dot(&self, k: &Kernels, r: usize, x: &[f32], a: &Acts) -> f32 {
        let w = match self.kind {
            Kind::F32 => return dot_f32(&self.f32_values()[r * self.cols..(r + 1) * self.cols], x),
            Kind::BF16 => return (k.bf16)(self.row(r), x),
            Kind::F16 => return (k.f16)(self.row(r), x),
            _ => self.row(r),
        };
        match (self.kind, a) {
            (Kind::Q4_0, Acts::Q8(a)) => (k.q4_0)(w, a),
            (Kind::Q4_1, Acts::Q8(a)) => (k.q4_1)(w, a),
            (Kind::Q5_0, Acts::Q8(a)) => (k.q5_0)(w, a),
            (Kind::Q5_1, Acts::Q8(a)) => (k.q5_1)(w, a),
            (Kind::Q8_0, Acts::Q8(a)) => (k.q8_0)(w, a),
            (Kind::Q4K, Acts::Q8K(a)) => (k.q4k)(w, a),
            (Kind::Q5K, Acts::Q8K(a)) => (k.q5k)(w, a),
            (Kind::Q6K, Acts::Q8K(a)) => (k.q6k)(w, a),
            (Kind::Candle(dtype), Acts::Candle(bytes)) => with_candle_type!(dtype, T => {
                type V = <T as GgmlType>::VecDotType;
                // Safety: `bytes` holds a `Vec<V>` copied in `quantize_candle` for this dtype.
                let ys: &[V] = unsafe { aligned_view::<V>(bytes) };
                T::vec_dot(self.cols, unsafe { blocks::<T>(w) }, ys)
            }),
            _ => unreachable!("activations quantized for another kind"),
        }
    }
}

/// A typed view of the words a `Vec<V>` was copied into (whole blocks; `V` is at most 4-aligned).
unsafe fn aligned_view<V>(words: &[u32]) -> &[V] {
    debug_assert!(std::mem::align_of::<V>() <= 4);
    std::slice::from_raw_parts(
        words.as_ptr() as *const V,
        words.len() * 4 / std::mem::size_of::<V>(),
    )
}

fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    // Eight independent partial sums: a fixed order (so every call gives the same bits) that the
    // compiler can keep in one vector register.
    let mut acc = [0f32; 8];
    let (wc, wr) = w.split_at(w.len() / 8 * 8);
    let (xc, xr) = x.split_at(wc.len());
    for (a, b) in wc.chunks_exact(8).zip(xc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (a, b) in wr.iter().zip(xr) {
        s += a * b;
    }
    s
}

/// A raw pointer to an output buffer that pool workers write disjoint elements of.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}
impl OutPtr {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Computes `outs[j] = xs · mats[j]ᵀ` for several matrices sharing one input (q/k/v, gate/up): `xs` is
/// `m` rows of `cols` values, each `outs[j]` is `m` rows of `mats[j].rows()` values. The work of all
/// matrices is split between threads together, so small matrices do not each pay a thread hand-off.
pub fn matmul_many(xs: &[f32], m: usize, mats: &[&QMatrix], outs: &mut [&mut [f32]]) {
    matmul_many_with(kernels(), xs, m, mats, outs)
}

/// How a task computes its rows when there are several activation rows.
enum Plan {
    /// Each weight row (or pair of rows) read straight from its blocks for each activation row.
    Direct,
    /// Unpacked once to bytes and scales, then dotted with the activation rows, [`TILE`] at a time
    /// (the one-row kernel for the rest).
    Unpack32(Unpack, DotUnpacked, DotUnpackedTile, Option<DotQuad>),
    UnpackK(UnpackK, DotUnpackedK, DotUnpackedKTile, Option<DotKQuad>),
    /// Interleaved [`ROWS`] at a time and multiplied by [`interleaved`] in the reference's arithmetic (the
    /// one-row kernels of that level have it too).
    Interleave(Interleaved),
}

fn matmul_many_with(
    kern: &Kernels,
    xs: &[f32],
    m: usize,
    mats: &[&QMatrix],
    outs: &mut [&mut [f32]],
) {
    assert_eq!(mats.len(), outs.len());
    let Some(first) = mats.first() else { return };
    let k = first.cols;
    assert_eq!(xs.len(), m * k, "input is not {m}×{k}");
    for (w, o) in mats.iter().zip(outs.iter()) {
        assert_eq!(w.cols, k, "matrices share the input width");
        assert_eq!(o.len(), m * w.rows, "output is not {m}×{}", w.rows);
    }
    // Quantize each activation row once per kernel family.
    let mut acts: Vec<(Kind, Vec<Acts>)> = Vec::new();
    for w in mats {
        if !acts.iter().any(|(f, _)| *f == w.kind.family()) {
            acts.push((w.kind.family(), quantize_rows(w, xs, k, m)));
        }
    }
    let acts_for = |w: &QMatrix| -> &Vec<Acts> {
        &acts
            .iter()
            .find(|(f, _)| *f == w.kind.family())
            .expect("quantized")
            .1
    };
    // Tasks: (matrix, first row, end row), about four per thread and at least 16 rows each.
    let total: usize = mats.iter().map(|w| w.rows).sum();
    let threads = candle_core::utils::barrier_pool().n_workers() + 1;
    let per_task = total.div_ceil(threads * 4).max(16);
    let mut tasks = Vec::new();
    for (j, w) in mats.iter().enumerate() {
        let mut r = 0;
        while r < w.rows {
            let end = (r + per_task).min(w.rows);
            tasks.push((j, r, end));
            r = end;
        }
    }
    let ptrs: Vec<OutPtr> = outs.iter_mut().map(|o| OutPtr(o.as_mut_ptr())).collect();
    let run = |&(j, start, end): &(usize, usize, usize)| {
        let w = mats[j];
        let a = acts_for(w);
        let out = ptrs[j];
        // Safety (writes): element (i, r) of output j is written by exactly one task (tasks cover
        // disjoint row ranges of each matrix) and the buffer outlives the parallel section.
        // Several activation rows (a prompt, a batch): unpack each weight row once.
        // Element (activation row i, weight row r) of this matrix's output.
        // Activation rows past `m` are a padded tile's copies ([`for_tiles`]): not stored.
        let put = |i: usize, r: usize, v: f32| {
            if i < m {
                unsafe { *out.get().add(i * w.rows + r) = v }
            }
        };
        let plan = match (m >= 2, &kern.unpacked, w.kind) {
            (true, Some(u), Kind::Q4_0) => Plan::Interleave(u.interleaved.q4_0),
            (true, Some(u), Kind::Q5_0) => Plan::Interleave(u.interleaved.q5_0),
            (true, Some(u), Kind::Q8_0) => Plan::Interleave(u.interleaved.q8_0),
            (true, Some(u), Kind::Q4_1) => {
                Plan::Unpack32(u.q4_1, u.dot_q4_1, u.tile_q4_1, u.quad_q4_1)
            }
            (true, Some(u), Kind::Q5_1) => {
                Plan::Unpack32(u.q5_1, u.dot_q4_1, u.tile_q4_1, u.quad_q4_1)
            }
            (true, Some(u), Kind::Q4K) => {
                Plan::UnpackK(u.q4k, u.dot_k_mins, u.tile_k_mins, u.quad_k_mins)
            }
            (true, Some(u), Kind::Q5K) => {
                Plan::UnpackK(u.q5k, u.dot_k_mins, u.tile_k_mins, u.quad_k_mins)
            }
            (true, Some(u), Kind::Q6K) => Plan::UnpackK(u.q6k, u.dot_q6k, u.tile_q6k, u.quad_q6k),
            _ => Plan::Direct,
        };
        match plan {
            Plan::Unpack32(unpack, dot, tile, quad) => {
                let blocks = q8_blocks(a);
                let group = match quad {
                    // Whole quads of weight rows for the four-by-four kernel.
                    Some(_) => rows_per_group(k).max(4) / 4 * 4,
                    None => rows_per_group(k),
                };
                let nb = k / QK;
                let mut q = vec![0u8; group * k];
                let mut sc = vec![[0f32; 2]; group * nb];
                // The quad kernel's scales: per block, the four rows' `d`, then their `m`.
                let mut d4 = vec![[0f32; 4]; group / 4 * nb * 2];
                let mut r0 = start;
                while r0 < end {
                    let rows = group.min(end - r0);
                    // Weight rows 0..quads·4 go four at a time through `quad`, the rest one at a time.
                    let quads = if quad.is_some() { rows / 4 } else { 0 };
                    for j in 0..rows {
                        let (qj, sj) = (&mut q[j * k..(j + 1) * k], &mut sc[j * nb..(j + 1) * nb]);
                        unpack(w.row(r0 + j), qj, sj);
                    }
                    for g in 0..quads {
                        for i in 0..nb {
                            for j in 0..2 {
                                d4[(g * nb + i) * 2 + j] =
                                    std::array::from_fn(|t| sc[(4 * g + t) * nb + i][j]);
                            }
                        }
                    }
                    let unpacked = |j: usize| (&q[j * k..(j + 1) * k], &sc[j * nb..(j + 1) * nb]);
                    let put = |i, j, v| put(i, r0 + j, v);
                    for_tiles(
                        &blocks,
                        rows,
                        quads,
                        |i0, ys, j| {
                            let qs = std::array::from_fn(|t| unpacked(j + t).0);
                            let quad = quad.expect("quads only with a quad kernel");
                            let g = j / 4;
                            let dm = &d4[g * nb * 2..(g + 1) * nb * 2];
                            put_quad(i0, j, quad(qs, dm, *ys), put);
                        },
                        |i0, ys, j| {
                            let (qj, sj) = unpacked(j);
                            for (t, v) in tile(qj, sj, *ys).into_iter().enumerate() {
                                put(i0 + t, j, v);
                            }
                        },
                        |i, y, j| {
                            let (qj, sj) = unpacked(j);
                            put(i, j, dot(qj, sj, y));
                        },
                    );
                    r0 += rows;
                }
            }
            Plan::UnpackK(unpack, dot, tile, quad) => {
                let blocks: Vec<&[Q8KBlock]> = a
                    .iter()
                    .map(|acts| match acts {
                        Acts::Q8K(b) => b.as_slice(),
                        _ => unreachable!("k-quants read 8-bit activation blocks of 256"),
                    })
                    .collect();
                let nb = k / QK_K;
                let group = rows_per_group(nb * std::mem::size_of::<KBlock>());
                // Whole quads of weight rows for the four-by-four kernel.
                let group = if quad.is_some() {
                    group.max(4) / 4 * 4
                } else {
                    group
                };
                let mut u = vec![KBlock::ZERO; group * nb];
                let mut r0 = start;
                while r0 < end {
                    let rows = group.min(end - r0);
                    for j in 0..rows {
                        unpack(w.row(r0 + j), &mut u[j * nb..(j + 1) * nb]);
                    }
                    let unpacked = |j: usize| &u[j * nb..(j + 1) * nb];
                    let quads = if quad.is_some() { rows / 4 } else { 0 };
                    let put = |i, j, v| put(i, r0 + j, v);
                    for_tiles(
                        &blocks,
                        rows,
                        quads,
                        |i0, ys, j| {
                            let quad = quad.expect("quads only with a quad kernel");
                            let vs = quad(std::array::from_fn(|t| unpacked(j + t)), *ys);
                            put_quad(i0, j, vs, put);
                        },
                        |i0, ys, j| {
                            for (t, v) in tile(unpacked(j), *ys).into_iter().enumerate() {
                                put(i0 + t, j, v);
                            }
                        },
                        |i, y, j| put(i, j, dot(unpacked(j), y)),
                    );
                    r0 += rows;
                }
            }
            Plan::Interleave(iv) => {
                let blocks = q8_blocks(a);
                let nb = k / QK;
                let (mut q, mut sc) = (vec![0u8; nb * 32 * ROWS], vec![0f32; nb * ROWS]);
                let whole = start + (end - start) / ROWS * ROWS;
                for r0 in (start..whole).step_by(ROWS) {
                    (iv.pack)(std::array::from_fn(|r| w.row(r0 + r)), &mut q, &mut sc);
                    // Tiles of activation rows; two or three left over make one more, padded with
                    // copies of the last (each element has the same bits either way; `put` drops them).
                    let mut i0 = 0;
                    while i0 + 2 <= m {
                        let ys = std::array::from_fn(|c| blocks[(i0 + c).min(m - 1)]);
                        for (r, row) in (iv.gemm)(&q, &sc, ys).iter().enumerate() {
                            for (c, &v) in row.iter().enumerate() {
                                put(i0 + c, r0 + r, v);
                            }
                        }
                        i0 += TILE;
                    }
                    for i in i0..m {
                        for r in r0..r0 + ROWS {
                            put(i, r, w.dot(kern, r, &xs[i * k..(i + 1) * k], &a[i]));
                        }
                    }
                }
                for r in whole..end {
                    for (i, acts) in a.iter().enumerate() {
                        put(i, r, w.dot(kern, r, &xs[i * k..(i + 1) * k], acts));
                    }
                }
            }
            Plan::Direct => {
                // One weight row at a time: on AMD Zen 4 two interleaved rows ran at a third of the
                // speed (each row is a short stream; one stream prefetches better).
                for r in start..end {
                    for (i, x) in xs.chunks_exact(k).enumerate() {
                        let v = w.dot(kern, r, x, &a[i]);
                        unsafe { *out.get().add(i * w.rows + r) = v };
                    }
                }
            }
        }
    };
    if tasks.len() == 1 || total * k * m < 32 * 1024 {
        tasks.iter().for_each(run);
    } else {
        // candle's persistent pool: its workers spin briefly between products instead of sleeping, and
        // the calling thread takes a share, so the many small products of a decode step stay cheap.
        candle_core::utils::barrier_pool()
            .execute_chunked(tasks.len(), |range| tasks[range].iter().for_each(run));
    }
}

/// The activation rows' 8-bit blocks of 32, which the 32-value formats read.
fn q8_blocks(acts: &[Acts]) -> Vec<&[Q8Block]> {
    acts.iter()
        .map(|acts| match acts {
            Acts::Q8(b) => b.as_slice(),
            _ => unreachable!("32-value formats read 8-bit activation blocks of 32"),
        })
        .collect()
}

/// Each of the `m` activation rows quantized for `w`'s kernels. A prompt's rows are split between the
/// pool's threads (quantizing is a tenth of a prompt's work, and alone it would leave the other threads
/// idle); each row's blocks are the same whichever thread makes them.
fn quantize_rows(w: &QMatrix, xs: &[f32], k: usize, m: usize) -> Vec<Acts> {
    if m < 4 {
        return xs.chunks_exact(k).map(|x| w.quantize(x)).collect();
    }
    let slots: Vec<std::sync::OnceLock<Acts>> =
        (0..m).map(|_| std::sync::OnceLock::new()).collect();
    candle_core::utils::barrier_pool().execute_chunked(m, |range| {
        for i in range {
            let _ = slots[i].set(w.quantize(&xs[i * k..(i + 1) * k]));
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("every row is quantized"))
        .collect()
}

/// Weight rows unpacked together: as many as fit in about 24 KB (most of a core's L1 data cache, beside a
/// tile of activation rows), so each tile of activation rows is read from cache once per group of
/// weight rows rather than once per weight row.
fn rows_per_group(unpacked_row_bytes: usize) -> usize {
    (24 * 1024 / unpacked_row_bytes.max(1)).clamp(1, 16)
}

/// Visits every (activation row, unpacked weight row) pair of a group. Activation rows go [`TILE`] at a
/// time: the first `4·quads` weight rows four at a time through `quad(first activation row, rows, first
/// weight row)`, the others one at a time through `tile(first activation row, rows, weight row)`. Two or
/// three remaining activation rows make one more tile, padded with copies of the last row: the tile kernels
/// are several times faster per element than the one-row kernel, and each element has the same bits either
/// way, so the callers' `put` drops the padding's results (activation rows past the end). A single
/// remaining row goes through `one(row, activations, weight row)`.
fn for_tiles<A>(
    acts: &[&[A]],
    weight_rows: usize,
    quads: usize,
    mut quad: impl FnMut(usize, &[&[A]; TILE], usize),
    mut tile: impl FnMut(usize, &[&[A]; TILE], usize),
    mut one: impl FnMut(usize, &[A], usize),
) {
    let tiles = acts.chunks_exact(TILE);
    let rest = tiles.remainder();
    for (t, ys) in tiles.enumerate() {
        let ys: &[&[A]; TILE] = ys.try_into().expect("a whole tile");
        for g in 0..quads {
            quad(t * TILE, ys, 4 * g);
        }
        for j in 4 * quads..weight_rows {
            tile(t * TILE, ys, j);
        }
    }
    let first = acts.len() - rest.len();
    if rest.len() >= 2 {
        let ys: [&[A]; TILE] = std::array::from_fn(|c| rest[c.min(rest.len() - 1)]);
        for g in 0..quads {
            quad(first, &ys, 4 * g);
        }
        for j in 4 * quads..weight_rows {
            tile(first, &ys, j);
        }
        return;
    }
    for (i, y) in rest.iter().enumerate() {
        for j in 0..weight_rows {
            one(first + i, y, j);
        }
    }
}

/// Stores a four-weight-row tile's results, `vs[t][c]` for weight row `j + t` and activation row `i0 + c`,
/// through `put(activation row, weight row, value)`.
fn put_quad(i0: usize, j: usize, vs: [[f32; TILE]; 4], put: impl Fn(usize, usize, f32)) {
    for (t, row) in vs.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            put(i0 + c, j + t, v);
        }
    }
}

/// `out = xs · wᵀ` for one matrix.
pub fn matmul(xs: &[f32], m: usize, w: &QMatrix, out: &mut [f32]) {
    matmul_many(xs, m, &[w], &mut [out]);
}

/// `q·kₗ` for eight keys of an attention head: each the plain f32 sum `((q₀k₀ + q₁k₁) + q₂k₂) + …` from
/// −0.0, products rounded first, as `Iterator::sum` computes it — the same bits on every kernel level (the
/// AVX2 version runs the eight sums side by side, one per lane).
pub fn scores8(q: &[f32], keys: [&[f32]; 8]) -> [f32; 8] {
    #[cfg(target_arch = "x86_64")]
    if kernels().level >= Level::Avx2 {
        return unsafe { avx2::scores8(q, keys) };
    }
    scores8_scalar(q, keys)
}

fn scores8_scalar(q: &[f32], keys: [&[f32]; 8]) -> [f32; 8] {
    let mut acc = [-0.0f32; 8];
    for (d, &qd) in q.iter().enumerate() {
        for (a, k) in acc.iter_mut().zip(&keys) {
            *a += qd * k[d];
        }
    }
    acc
}

/// Activation rows taken together by the tiled unpacked kernels.
const TILE: usize = 4;
/// Weight rows the interleaved kernels ([`Plan::Interleave`]) take together.
const ROWS: usize = 8;

/// A k-quant block unpacked: one byte per weight in value order (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63
/// before its offset of 32), for each 32 weights the 16 scales a SIMD multiply needs (lanes 0..8 the
/// scale of the first 16 weights, 8..16 of the next 16), the 8 minimums (Q4_K, Q5_K) and the f16 block
/// scales widened to f32.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct KBlock {
    q: [u8; QK_K],
    sc: [i16; 128],
    mins: [i16; 8],
    d: f32,
    dmin: f32,
}

impl KBlock {
    const ZERO: KBlock = KBlock {
        q: [0; QK_K],
        sc: [0; 128],
        mins: [0; 8],
        d: 0.0,
        dmin: 0.0,
    };
}

mod dequant;
mod dispatch;
mod scalar;
use dispatch::*;
pub use dispatch::{kernel_name, Level};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod interleaved;

#[cfg(test)]
mod half_tests;

#[cfg(test)]
mod tests;

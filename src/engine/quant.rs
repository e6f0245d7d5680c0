//! Quantized matrix products on the GGUF blocks as stored: the kernels modelvet's own forward pass uses.
//!
//! Why not candle's `QMatMul`: candle 0.11 has no SIMD kernel for `Q4_1` or `Q5_0` (the formats of
//! SmolLM2 and of most Qwen2.5/Gemma 3 Q4_K_M tensors), it computes k-quants one row at a time, and a
//! product over several activation rows is not guaranteed to give each row the same bits as a product
//! over one. Here:
//!
//! - `Q4_0`, `Q4_1`, `Q5_0`, `Q8_0` and the k-quants `Q4_K`, `Q5_K`, `Q6_K` have kernels of their own with
//!   ggml's arithmetic: activations quantized to 8-bit blocks of 32 with f16 scales (ggml's `q8_0`/`q8_1`)
//!   or, for the k-quants, to blocks of 256 with an f32 scale and 16-value sums (ggml's `q8_K`); integer dot
//!   products per block, one float scale per block. Each has a scalar version (the reference) and an
//!   AVX2+FMA+F16C version, picked at run time from the CPU (`MODELVET_KERNELS=scalar|avx2` forces one;
//!   `MODELVET_SCALAR_KERNELS` still forces scalar). `Q5_1`, `Q2_K` and `Q3_K` use candle's block types and
//!   their `vec_dot`; f32/f16/bf16 weights are widened to f32.
//! - A product over `m` activation rows unpacks each weight row once (to bytes and scales) and dots it
//!   with all `m` rows while it is in cache, so batching sequences or prompt tokens costs little more
//!   memory traffic and decoding work than one.
//! - Every output element is one call of one dot-product function, whatever `m` is and however the rows
//!   are split between threads: a batched forward pass gives bit-identical results to one sequence at a
//!   time, so batching never changes a verdict.
//!
//! Weights are borrowed from a memory-mapped file; nothing is copied or expanded.

use candle_core::quantized::{k_quants, GgmlDType, GgmlType};
use half::{bf16, f16};
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
}

/// The storage format of a matrix, with the kernel that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Q4_0,
    Q4_1,
    Q5_0,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    /// Any other quantized GGML type, through candle's block type.
    Candle(GgmlDType),
    /// f32 / f16 / bf16 widened to f32 at load.
    F32,
}

impl Kind {
    /// Kinds that read the same quantized activations: the 8-bit-block kernels share one quantization.
    fn family(self) -> Kind {
        match self {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q8_0 => Kind::Q8_0,
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
        if cols == 0 || cols % block != 0 {
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
            GgmlDType::Q8_0 => Kind::Q8_0,
            GgmlDType::Q4_0 => Kind::Q4_0,
            GgmlDType::Q4K => Kind::Q4K,
            GgmlDType::Q5K => Kind::Q5K,
            GgmlDType::Q6K => Kind::Q6K,
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Kind::F32,
            GgmlDType::Q5_1 | GgmlDType::Q2K | GgmlDType::Q3K => Kind::Candle(dtype),
            other => return Err(QuantError::Unsupported(other)),
        };
        // candle's block types hold f16 fields: their rows must be 2-byte aligned in memory (its
        // `to_float` also dequantizes k-quant rows, for embeddings).
        let through_candle = matches!(
            kind,
            Kind::Candle(_) | Kind::Q4_0 | Kind::Q4K | Kind::Q5K | Kind::Q6K
        );
        let data = if through_candle && (data.as_slice().as_ptr() as usize) % 4 != 0 {
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
        if kind == Kind::F32 {
            m.f32 = Some(Arc::new(m.widened()));
        }
        Ok(m)
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
        let row = self.row(r);
        match self.dtype {
            GgmlDType::F32 => {
                for (o, b) in out.iter_mut().zip(row.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            GgmlDType::F16 => {
                for (o, b) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            GgmlDType::BF16 => {
                for (o, b) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            GgmlDType::Q4_1 => {
                for (blk, o) in row.chunks_exact(20).zip(out.chunks_exact_mut(QK)) {
                    let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                    for j in 0..16 {
                        o[j] = d * (blk[4 + j] & 0x0F) as f32 + m;
                        o[j + 16] = d * (blk[4 + j] >> 4) as f32 + m;
                    }
                }
            }
            GgmlDType::Q5_0 => {
                for (blk, o) in row.chunks_exact(22).zip(out.chunks_exact_mut(QK)) {
                    let d = f16_at(blk, 0);
                    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                    for j in 0..16 {
                        let lo = (blk[6 + j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
                        let hi = (blk[6 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                        o[j] = d * (lo as i32 - 16) as f32;
                        o[j + 16] = d * (hi as i32 - 16) as f32;
                    }
                }
            }
            GgmlDType::Q8_0 => {
                for (blk, o) in row.chunks_exact(34).zip(out.chunks_exact_mut(QK)) {
                    let d = f16_at(blk, 0);
                    for j in 0..QK {
                        o[j] = d * (blk[2 + j] as i8) as f32;
                    }
                }
            }
            dtype => candle_to_float(dtype, row, out),
        }
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
    debug_assert!(row.len() % std::mem::size_of::<T>() == 0);
    debug_assert!((row.as_ptr() as usize) % std::mem::align_of::<T>() == 0);
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

fn quantize_q8(x: &[f32]) -> Vec<Q8Block> {
    x.chunks_exact(QK)
        .map(|c| {
            let amax = c.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut qs = [0i8; QK];
            let mut sum = 0i32;
            for (q, v) in qs.iter_mut().zip(c) {
                *q = (v * id).round() as i8;
                sum += *q as i32;
            }
            // Stored as f16 and widened back, like ggml's block_q8_0/q8_1: the products then match
            // llama.cpp's, not only approximate the f32 ones.
            Q8Block {
                qs,
                d: f16::from_f32(d).to_f32(),
                s: f16::from_f32(d * sum as f32).to_f32(),
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
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q8_0 => Acts::Q8(quantize_q8(x)),
            Kind::Q4K | Kind::Q5K | Kind::Q6K => Acts::Q8K(quantize_q8k(x)),
            Kind::Candle(dtype) => Acts::Candle(quantize_candle(dtype, x)),
            Kind::F32 => Acts::F32,
        }
    }

    /// The dot product of weight row `r` with one activation row (`x` its f32 values, `a` quantized).
    fn dot(&self, k: &Kernels, r: usize, x: &[f32], a: &Acts) -> f32 {
        if self.kind == Kind::F32 {
            let w = self.f32.as_ref().expect("f32 weights");
            return dot_f32(&w[r * self.cols..(r + 1) * self.cols], x);
        }
        let w = self.row(r);
        match (self.kind, a) {
            (Kind::Q4_0, Acts::Q8(a)) => (k.q4_0)(w, a),
            (Kind::Q4_1, Acts::Q8(a)) => (k.q4_1)(w, a),
            (Kind::Q5_0, Acts::Q8(a)) => (k.q5_0)(w, a),
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
    /// Unpacked once to bytes and scales, then dotted with each activation row.
    Unpack32(Unpack, DotUnpacked),
    UnpackK(UnpackK, DotUnpackedK),
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
            let rows = xs.chunks_exact(k).map(|x| w.quantize(x)).collect();
            acts.push((w.kind.family(), rows));
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
        let plan = match (m >= 2, &kern.unpacked, w.kind) {
            (true, Some(u), Kind::Q4_0) => Plan::Unpack32(u.q4_0, u.dot_signed),
            (true, Some(u), Kind::Q4_1) => Plan::Unpack32(u.q4_1, u.dot_q4_1),
            (true, Some(u), Kind::Q5_0) => Plan::Unpack32(u.q5_0, u.dot_signed),
            (true, Some(u), Kind::Q4K) => Plan::UnpackK(u.q4k, u.dot_k_mins),
            (true, Some(u), Kind::Q5K) => Plan::UnpackK(u.q5k, u.dot_k_mins),
            (true, Some(u), Kind::Q6K) => Plan::UnpackK(u.q6k, u.dot_q6k),
            _ => Plan::Direct,
        };
        match plan {
            Plan::Unpack32(unpack, dot) => {
                let mut q = vec![0u8; k];
                let mut sc = vec![[0f32; 2]; k / QK];
                for r in start..end {
                    unpack(w.row(r), &mut q, &mut sc);
                    for (i, acts) in a.iter().enumerate() {
                        let Acts::Q8(blocks) = acts else {
                            unreachable!("32-value formats read 8-bit activation blocks of 32")
                        };
                        let v = dot(&q, &sc, blocks);
                        unsafe { *out.get().add(i * w.rows + r) = v };
                    }
                }
            }
            Plan::UnpackK(unpack, dot) => {
                let mut u = vec![KBlock::ZERO; k / QK_K];
                for r in start..end {
                    unpack(w.row(r), &mut u);
                    for (i, acts) in a.iter().enumerate() {
                        let Acts::Q8K(blocks) = acts else {
                            unreachable!("k-quants read 8-bit activation blocks of 256")
                        };
                        let v = dot(&u, blocks);
                        unsafe { *out.get().add(i * w.rows + r) = v };
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

/// `out = xs · wᵀ` for one matrix.
pub fn matmul(xs: &[f32], m: usize, w: &QMatrix, out: &mut [f32]) {
    matmul_many(xs, m, &[w], &mut [out]);
}

/// An instruction set the kernels are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar,
    Avx2,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
        }
    }

    /// The levels this CPU can run, from scalar up.
    pub fn available() -> Vec<Level> {
        let mut v = vec![Level::Scalar];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            v.push(Level::Avx2);
        }
        v
    }

    /// The level to run given `MODELVET_KERNELS` (`scalar`, `avx2`, `auto`) and `MODELVET_SCALAR_KERNELS`
    /// (any value: scalar): the best level the CPU has that is not above the one asked for. An unknown
    /// name means `auto`; the engine record names the level that ran.
    fn chosen(kernels: Option<&str>, scalar: bool, available: &[Level]) -> Level {
        let best = available.last().copied().unwrap_or(Level::Scalar);
        let cap = match kernels.map(str::trim) {
            _ if scalar => Level::Scalar,
            Some("scalar") => Level::Scalar,
            Some("avx2") => Level::Avx2,
            _ => best,
        };
        available
            .iter()
            .copied()
            .filter(|l| *l <= cap)
            .max()
            .unwrap_or(Level::Scalar)
    }
}

/// One weight row against one activation row.
type Dot<A> = fn(&[u8], &[A]) -> f32;

/// The dot-product kernels of one instruction set.
struct Kernels {
    level: Level,
    q4_0: Dot<Q8Block>,
    q4_1: Dot<Q8Block>,
    q5_0: Dot<Q8Block>,
    q8_0: Dot<Q8Block>,
    q4k: Dot<Q8KBlock>,
    q5k: Dot<Q8KBlock>,
    q6k: Dot<Q8KBlock>,
    /// Unpack-once kernels for products over several activation rows (SIMD only).
    unpacked: Option<Unpacked>,
}

/// Kernels that unpack a weight row once (to bytes and scales) and then dot it with each activation
/// row, giving exactly the bits of the direct kernels.
struct Unpacked {
    q4_0: Unpack,
    q4_1: Unpack,
    q5_0: Unpack,
    dot_q4_1: DotUnpacked,
    dot_signed: DotUnpacked,
    q4k: UnpackK,
    q5k: UnpackK,
    q6k: UnpackK,
    dot_k_mins: DotUnpackedK,
    dot_q6k: DotUnpackedK,
}
type Unpack = fn(&[u8], &mut [u8], &mut [[f32; 2]]);
type DotUnpacked = fn(&[u8], &[[f32; 2]], &[Q8Block]) -> f32;
type UnpackK = fn(&[u8], &mut [KBlock]);
type DotUnpackedK = fn(&[KBlock], &[Q8KBlock]) -> f32;

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

impl Kernels {
    fn new(level: Level) -> Kernels {
        #[cfg(target_arch = "x86_64")]
        if level == Level::Avx2 {
            return Kernels {
                level,
                q4_0: |w, a| unsafe { avx2::q4_0(w, a) },
                q4_1: |w, a| unsafe { avx2::q4_1(w, a) },
                q5_0: |w, a| unsafe { avx2::q5_0(w, a) },
                q8_0: |w, a| unsafe { avx2::q8_0(w, a) },
                q4k: |w, a| unsafe { avx2::q4k(w, a) },
                q5k: |w, a| unsafe { avx2::q5k(w, a) },
                q6k: |w, a| unsafe { avx2::q6k(w, a) },
                unpacked: Some(Unpacked {
                    q4_0: |w, q, s| unsafe { avx2::decode_q4_0(w, q, s) },
                    q4_1: |w, q, s| unsafe { avx2::decode_q4_1(w, q, s) },
                    q5_0: |w, q, s| unsafe { avx2::decode_q5_0(w, q, s) },
                    dot_q4_1: |q, s, a| unsafe { avx2::dot_unpacked_q4_1(q, s, a) },
                    dot_signed: |q, s, a| unsafe { avx2::dot_unpacked_signed(q, s, a) },
                    q4k: |w, u| unsafe { avx2::decode_q4k(w, u) },
                    q5k: |w, u| unsafe { avx2::decode_q5k(w, u) },
                    q6k: |w, u| unsafe { avx2::decode_q6k(w, u) },
                    dot_k_mins: |u, a| unsafe { avx2::dot_unpacked_k::<false>(u, a) },
                    dot_q6k: |u, a| unsafe { avx2::dot_unpacked_k::<true>(u, a) },
                }),
            };
        }
        let _ = level;
        Kernels {
            level: Level::Scalar,
            q4_0: scalar::q4_0,
            q4_1: scalar::q4_1,
            q5_0: scalar::q5_0,
            q8_0: scalar::q8_0,
            q4k: scalar::q4k,
            q5k: scalar::q5k,
            q6k: scalar::q6k,
            unpacked: None,
        }
    }
}

fn kernels() -> &'static Kernels {
    static K: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let asked = std::env::var("MODELVET_KERNELS").ok();
        let scalar = std::env::var_os("MODELVET_SCALAR_KERNELS").is_some();
        Kernels::new(Level::chosen(asked.as_deref(), scalar, &Level::available()))
    })
}

/// Which kernels this process runs (for the engine record): `avx2` or `scalar`.
pub fn kernel_name() -> &'static str {
    kernels().level.name()
}

mod scalar {
    //! Portable kernels: the reference arithmetic the SIMD ones reproduce (same integer sums per block).
    use super::{f16_at, Q8Block, Q8KBlock};

    pub fn q4_0(w: &[u8], a: &[Q8Block]) -> f32 {
        let mut sum = 0f32;
        for (blk, b) in w.chunks_exact(18).zip(a) {
            let d = f16_at(blk, 0);
            let mut dot = 0i32;
            for j in 0..16 {
                dot += ((blk[2 + j] & 0x0F) as i32 - 8) * b.qs[j] as i32;
                dot += ((blk[2 + j] >> 4) as i32 - 8) * b.qs[j + 16] as i32;
            }
            sum += d * b.d * dot as f32;
        }
        sum
    }

    pub fn q4_1(w: &[u8], a: &[Q8Block]) -> f32 {
        let mut sum = 0f32;
        for (blk, b) in w.chunks_exact(20).zip(a) {
            let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
            let mut dot = 0i32;
            for j in 0..16 {
                dot += (blk[4 + j] & 0x0F) as i32 * b.qs[j] as i32;
                dot += (blk[4 + j] >> 4) as i32 * b.qs[j + 16] as i32;
            }
            sum += d * b.d * dot as f32 + m * b.s;
        }
        sum
    }

    pub fn q5_0(w: &[u8], a: &[Q8Block]) -> f32 {
        let mut sum = 0f32;
        for (blk, b) in w.chunks_exact(22).zip(a) {
            let d = f16_at(blk, 0);
            let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
            let mut dot = 0i32;
            for j in 0..16 {
                let lo = ((blk[6 + j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4)) as i32 - 16;
                let hi = ((blk[6 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4)) as i32 - 16;
                dot += lo * b.qs[j] as i32 + hi * b.qs[j + 16] as i32;
            }
            sum += d * b.d * dot as f32;
        }
        sum
    }

    pub fn q8_0(w: &[u8], a: &[Q8Block]) -> f32 {
        let mut sum = 0f32;
        for (blk, b) in w.chunks_exact(34).zip(a) {
            let d = f16_at(blk, 0);
            let dot: i32 = (0..32)
                .map(|j| (blk[2 + j] as i8) as i32 * b.qs[j] as i32)
                .sum();
            sum += d * b.d * dot as f32;
        }
        sum
    }

    /// ggml's `get_scale_min_k4`: scale and minimum `j` (0..8) of a Q4_K/Q5_K block, 6 bits each.
    pub fn scale_min_k4(j: usize, q: &[u8]) -> (i32, i32) {
        if j < 4 {
            ((q[j] & 63) as i32, (q[j + 4] & 63) as i32)
        } else {
            (
                ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)) as i32,
                ((q[j + 4] >> 4) | ((q[j] >> 6) << 4)) as i32,
            )
        }
    }

    /// A Q4_K/Q5_K block's sum: `d·y.d·Σ scale·q·y − dmin·y.d·Σ min·(sum of y)` over its 8 groups of 32,
    /// `q(v)` the weight of value `v`.
    fn k_mins(blk: &[u8], b: &Q8KBlock, q: impl Fn(usize) -> i32) -> f32 {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (mut sumi, mut summ) = (0i32, 0i32);
        for g in 0..8 {
            let (sc, m) = scale_min_k4(g, &blk[4..16]);
            let dot: i32 = (32 * g..32 * g + 32).map(|v| q(v) * b.qs[v] as i32).sum();
            sumi += sc * dot;
            summ += m * (b.bsums[2 * g] as i32 + b.bsums[2 * g + 1] as i32);
        }
        d * b.d * sumi as f32 - dmin * b.d * summ as f32
    }

    pub fn q4k(w: &[u8], a: &[Q8KBlock]) -> f32 {
        w.chunks_exact(144)
            .zip(a)
            .map(|(blk, b)| {
                let qs = &blk[16..144];
                // Values 64j..64j+32 are the low nibbles of qs[32j..32j+32], the next 32 the high ones.
                k_mins(blk, b, |v| {
                    let byte = qs[v / 64 * 32 + v % 32];
                    (if v % 64 < 32 { byte & 0xF } else { byte >> 4 }) as i32
                })
            })
            .sum()
    }

    pub fn q5k(w: &[u8], a: &[Q8KBlock]) -> f32 {
        w.chunks_exact(176)
            .zip(a)
            .map(|(blk, b)| {
                let (qh, qs) = (&blk[16..48], &blk[48..176]);
                // As Q4_K, plus 16 where bit `v / 32` of qh[v % 32] is set.
                k_mins(blk, b, |v| {
                    let byte = qs[v / 64 * 32 + v % 32];
                    let lo = if v % 64 < 32 { byte & 0xF } else { byte >> 4 };
                    lo as i32 + 16 * ((qh[v % 32] >> (v / 32)) & 1) as i32
                })
            })
            .sum()
    }

    pub fn q6k(w: &[u8], a: &[Q8KBlock]) -> f32 {
        w.chunks_exact(210)
            .zip(a)
            .map(|(blk, b)| {
                let (ql, qh, sc) = (&blk[0..128], &blk[128..192], &blk[192..208]);
                let d = f16_at(blk, 208);
                let mut sumi = 0i32;
                for v in 0..256 {
                    // Half h of 128 values; in it, value 32k + l is the low (k < 2) or high nibble of
                    // ql[64h + 32(k % 2) + l] with bits 2k..2k+2 of qh[32h + l] above it.
                    let (h, k, l) = (v / 128, (v % 128) / 32, v % 32);
                    let byte = ql[64 * h + 32 * (k % 2) + l];
                    let lo = if k < 2 { byte & 0xF } else { byte >> 4 };
                    let hi = (qh[32 * h + l] >> (2 * k)) & 3;
                    let q = (lo | (hi << 4)) as i32 - 32;
                    sumi += (sc[v / 16] as i8) as i32 * q * b.qs[v] as i32;
                }
                d * b.d * sumi as f32
            })
            .sum()
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! AVX2 + FMA (+ F16C for the block scales) kernels after ggml's `ggml_vec_dot_q4_1_q8_1`,
    //! `…q5_0_q8_0` and `…q8_0_q8_0`.
    use super::{KBlock, Q8Block, Q8KBlock};
    use std::arch::x86_64::*;

    /// The 4 f16 at `p` (8 bytes, all inside the block) widened. Why not a 16-bit load: LLVM compiles
    /// `_mm_loadu_si16` (or a zero-extended `movd`) feeding `vcvtph2ps` to a `vpinsrw` that merges into
    /// whatever register it picks, in the two-row kernels an accumulator: each block's scale then
    /// waited for the previous block's sum, a chain that made them over twice as slow as one row at a
    /// time. LLVM narrows any load whose other lanes go unused, so an empty `asm` block takes the
    /// whole 64-bit load as its operand: it then stays a `vmovq`, which writes the whole register.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves(p: *const u8) -> __m128 {
        let mut v = _mm_loadl_epi64(p as *const __m128i);
        std::arch::asm!("/* {0} */", inout(xmm_reg) v, options(pure, nomem, nostack, preserves_flags));
        _mm_cvtph_ps(v)
    }

    /// `d·b.d` broadcast, for a block whose first two bytes are its f16 scale `d`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale(blk: *const u8, b: &Q8Block) -> __m256 {
        let d = halves(blk);
        _mm256_broadcastss_ps(_mm_mul_ss(d, _mm_load_ss(&b.d)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(x: __m256) -> f32 {
        let r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        let r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }

    /// 16 bytes of nibbles as 32 bytes: low nibbles in lanes 0..16, high nibbles in lanes 16..32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        let tmp = _mm_loadu_si128(p as *const __m128i);
        let both = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
        _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
    }

    /// Signed i8 × i8 pair sums as 8 f32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn mul_sum_i8(x: __m256i, y: __m256i) -> __m256 {
        let ax = _mm256_sign_epi8(x, x);
        let sy = _mm256_sign_epi8(y, x);
        let dot = _mm256_maddubs_epi16(ax, sy);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)))
    }

    /// `[d·b.d, m·b.s, …]` for a block whose first four bytes are the f16 pair (d, m): one F16C
    /// conversion from a plain 32-bit load (no merge into a live register, which would chain blocks).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(blk: *const u8, b: &Q8Block) -> __m128 {
        let dm = halves(blk);
        let ds = _mm_castpd_ps(_mm_load_sd(&b.d as *const f32 as *const f64));
        _mm_mul_ps(dm, ds)
    }

    /// The 32 bits at `p` as 32 bytes of 0xFF (bit set) or 0x00.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn bits(p: *const u8) -> __m256i {
        let x32 = (p as *const u32).read_unaligned();
        let shuf = _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0x0000000000000000,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32 as i32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe_u64 as i64));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q4_1(blk: *const u8, b: &Q8Block, acc: &mut __m256, off: &mut __m128) {
        let sc = scales(blk, b);
        // Lane 1 sums the offset terms m·s; lane 0 is unused.
        *off = _mm_add_ps(*off, sc);
        let qx = nibbles(blk.add(4));
        let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
        // Weights are unsigned 0..15: one maddubs, no sign trick.
        let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), _mm256_set1_epi16(1));
        *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), _mm256_cvtepi32_ps(dot), *acc);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q5_0(blk: *const u8, b: &Q8Block, acc: &mut __m256, _: &mut __m128) {
        let d = scale(blk, b);
        let qx = nibbles(blk.add(6));
        // value = nibble | bit4 − 16: where the high bit is clear, the byte is nibble − 16 = nibble | 0xF0.
        let hi = _mm256_andnot_si256(bits(blk.add(2)), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(qx, hi);
        let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
        *acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), *acc);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q8_0(blk: *const u8, b: &Q8Block, acc: &mut __m256, _: &mut __m128) {
        let d = scale(blk, b);
        let qx = _mm256_loadu_si256(blk.add(2) as *const __m256i);
        let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
        *acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), *acc);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn finish(acc: __m256, off: __m128) -> f32 {
        hsum(acc) + _mm_cvtss_f32(_mm_movehdup_ps(off))
    }

    /// A kernel over one weight row from the step that adds one block.
    macro_rules! rows {
        ($one:ident, $step:ident, $bytes:expr) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $one(w: &[u8], a: &[Q8Block]) -> f32 {
                assert!(w.len() >= a.len() * $bytes);
                let (mut acc, mut off) = (_mm256_setzero_ps(), _mm_setzero_ps());
                for (i, b) in a.iter().enumerate() {
                    $step(w.as_ptr().add(i * $bytes), b, &mut acc, &mut off);
                }
                finish(acc, off)
            }
        };
    }

    /// Q4_1 blocks unpacked once for a product over several activation rows: 32 bytes (0..15) and the
    /// f32 pair (d, m) per block, converted exactly as [`step_q4_1`] converts them.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q4_1(w: &[u8], q: &mut [u8], s: &mut [[f32; 2]]) {
        assert!(q.len() >= s.len() * 32 && w.len() >= s.len() * 20);
        for (i, sc) in s.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 20);
            let mut dm = [0f32; 4];
            _mm_storeu_ps(dm.as_mut_ptr(), halves(blk));
            *sc = [dm[0], dm[1]];
            _mm256_storeu_si256(
                q.as_mut_ptr().add(i * 32) as *mut __m256i,
                nibbles(blk.add(4)),
            );
        }
    }

    /// Q5_0 blocks unpacked once: 32 signed bytes (−16..15) and the f32 scale per block.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q5_0(w: &[u8], q: &mut [u8], s: &mut [[f32; 2]]) {
        assert!(q.len() >= s.len() * 32 && w.len() >= s.len() * 22);
        for (i, sc) in s.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 22);
            *sc = [_mm_cvtss_f32(halves(blk)), 0.0];
            let hi = _mm256_andnot_si256(bits(blk.add(2)), _mm256_set1_epi8(0xF0u8 as i8));
            let qx = _mm256_or_si256(nibbles(blk.add(6)), hi);
            _mm256_storeu_si256(q.as_mut_ptr().add(i * 32) as *mut __m256i, qx);
        }
    }

    /// [`q4_1`] on an unpacked row: the same operations in the same order, so the same bits.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_unpacked_q4_1(q: &[u8], s: &[[f32; 2]], a: &[Q8Block]) -> f32 {
        assert!(s.len() >= a.len() && q.len() >= a.len() * 32);
        let (mut acc, mut off) = (_mm256_setzero_ps(), _mm_setzero_ps());
        for (i, b) in a.iter().enumerate() {
            let dm = _mm_castpd_ps(_mm_load_sd(s.as_ptr().add(i) as *const f64));
            let ds = _mm_castpd_ps(_mm_load_sd(&b.d as *const f32 as *const f64));
            let sc = _mm_mul_ps(dm, ds);
            off = _mm_add_ps(off, sc);
            let qx = _mm256_loadu_si256(q.as_ptr().add(i * 32) as *const __m256i);
            let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
            let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), _mm256_set1_epi16(1));
            acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), _mm256_cvtepi32_ps(dot), acc);
        }
        finish(acc, off)
    }

    /// [`q5_0`] on an unpacked row: the same operations in the same order, so the same bits.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_unpacked_signed(q: &[u8], s: &[[f32; 2]], a: &[Q8Block]) -> f32 {
        assert!(s.len() >= a.len() && q.len() >= a.len() * 32);
        let (mut acc, off) = (_mm256_setzero_ps(), _mm_setzero_ps());
        for (i, b) in a.iter().enumerate() {
            let d = _mm256_broadcastss_ps(_mm_mul_ss(_mm_load_ss(&s[i][0]), _mm_load_ss(&b.d)));
            let qx = _mm256_loadu_si256(q.as_ptr().add(i * 32) as *const __m256i);
            let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
            acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), acc);
        }
        finish(acc, off)
    }

    rows!(q4_1, step_q4_1, 20);
    rows!(q5_0, step_q5_0, 22);
    rows!(q8_0, step_q8_0, 34);

    // ---- k-quants, after ggml's `ggml_vec_dot_q4_K_q8_K`, `…q5_K_q8_K` and `…q6_K_q8_K` ----

    /// ggml's Q4_K/Q5_K scale unpacking: the 12 scale bytes as 8 scales (bytes 0..8) and 8 minimums
    /// (bytes 8..16), 6 bits each.
    #[inline]
    fn scales_k4(p: *const u8) -> [u32; 4] {
        const M1: u32 = 0x3f3f3f3f;
        const M2: u32 = 0x0f0f0f0f;
        const M3: u32 = 0x03030303;
        let u = |i: usize| unsafe { (p.add(4 * i) as *const u32).read_unaligned() };
        let (u0, u1, u2) = (u(0), u(1), u(2));
        [
            u0 & M1,
            (u2 & M2) | (((u0 >> 6) & M3) << 4),
            u1 & M1,
            ((u2 >> 4) & M2) | (((u1 >> 6) & M3) << 4),
        ]
    }

    /// The 8 scales (each in every lane of 16 i16 is what `scale_at` picks from) and the 8 minimums.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn k4_scales_mins(blk: *const u8) -> (__m256i, __m128i) {
        let u = scales_k4(blk.add(4));
        let ms = _mm256_cvtepu8_epi16(_mm_set_epi32(
            u[3] as i32,
            u[2] as i32,
            u[1] as i32,
            u[0] as i32,
        ));
        let scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(ms));
        (scales, _mm256_extracti128_si256(ms, 1))
    }

    /// i16 element `g` of each 128-bit half of `scales`, in all 16 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_at(scales: __m256i, g: usize) -> __m256i {
        let pair = (((2 * g + 1) << 8) | (2 * g)) as i16;
        _mm256_shuffle_epi8(scales, _mm256_set1_epi16(pair))
    }

    /// The minimums' integer term: `min[g] · (sum of the 32 activations of group g)`, in 4 i32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn mins_term(mins: __m128i, b: &Q8KBlock) -> __m128i {
        let bs = _mm256_loadu_si256(b.bsums.as_ptr() as *const __m256i);
        let sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        _mm_madd_epi16(mins, sums)
    }

    /// The float part of a k-quant block, the same for the direct and the unpacked kernels:
    /// `acc += d·y.d · sumi`, `accm += −dmin·y.d · mins`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn add_block_k(
        yd: f32,
        d: f32,
        dmin: f32,
        sumi: __m256i,
        mins: __m128i,
        acc: &mut __m256,
        accm: &mut __m128,
    ) {
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(yd * d), _mm256_cvtepi32_ps(sumi), *acc);
        *accm = _mm_fmadd_ps(_mm_set1_ps(-yd * dmin), _mm_cvtepi32_ps(mins), *accm);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn finish_k(acc: __m256, accm: __m128) -> f32 {
        let m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
        let m = _mm_add_ss(m, _mm_movehdup_ps(m));
        hsum(acc) + _mm_cvtss_f32(m)
    }

    /// The f16 pair at `p` widened (Q4_K/Q5_K `d` and `dmin`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn f16_pair(p: *const u8) -> (f32, f32) {
        let v = halves(p);
        (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
    }

    /// Q4_K weights of values 64j..64j+64: low then high nibbles of 32 bytes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q4k_pair(qs: *const u8, j: usize) -> (__m256i, __m256i) {
        let m4 = _mm256_set1_epi8(0x0F);
        let bits = _mm256_loadu_si256(qs.add(32 * j) as *const __m256i);
        (
            _mm256_and_si256(bits, m4),
            _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
        )
    }

    /// Q5_K weights of values 64j..64j+64: the Q4_K nibbles plus 16 where bit 2j (then 2j+1) of `qh`'s
    /// bytes is set; `hm` holds that bit in every byte and moves on by two.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q5k_pair(
        qs: *const u8,
        qh: __m256i,
        hm: &mut __m256i,
        j: usize,
    ) -> (__m256i, __m256i) {
        let (lo, hi) = q4k_pair(qs, j);
        let m16 = _mm256_set1_epi8(16);
        let hl = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, *hm), *hm), m16);
        *hm = _mm256_slli_epi16(*hm, 1);
        let hh = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, *hm), *hm), m16);
        *hm = _mm256_slli_epi16(*hm, 1);
        (_mm256_or_si256(lo, hl), _mm256_or_si256(hi, hh))
    }

    /// Q6_K weights (0..63, before the offset 32) of values 128h..128h+128, in four groups of 32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q6k_quad(blk: *const u8, h: usize) -> [__m256i; 4] {
        let (m4, m2) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
        let qh = _mm256_loadu_si256(blk.add(128 + 32 * h) as *const __m256i);
        let h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4);
        let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4);
        let h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4);
        let h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4);
        let b1 = _mm256_loadu_si256(blk.add(64 * h) as *const __m256i);
        let b2 = _mm256_loadu_si256(blk.add(64 * h + 32) as *const __m256i);
        [
            _mm256_or_si256(_mm256_and_si256(b1, m4), h0),
            _mm256_or_si256(_mm256_and_si256(b2, m4), h1),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), h2),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), h3),
        ]
    }

    /// A Q6_K block's f16 scale (its last two bytes) widened.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q6k_d(blk: *const u8) -> f32 {
        _mm_cvtss_f32(_mm_permute_ps::<3>(halves(blk.add(202))))
    }

    /// Q6_K scales `g` (lanes 0..8) and `g + 1` (lanes 8..16) as i16, from the 16 i8 scales.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q6k_scale(scales: __m128i, g: usize) -> __m256i {
        let lo = (g as i64) * 0x0101010101010101;
        let hi = (g as i64 + 1) * 0x0101010101010101;
        _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, _mm_set_epi64x(hi, lo)))
    }

    /// `Σ (q − 32)·y` in pairs of i16 lanes, for Q6_K weights `q` (0..63) and activations `y`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn q6k_products(q: __m256i, y: __m256i) -> __m256i {
        _mm256_sub_epi16(
            _mm256_maddubs_epi16(q, y),
            _mm256_maddubs_epi16(_mm256_set1_epi8(32), y),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q4k(blk: *const u8, b: &Q8KBlock, acc: &mut __m256, accm: &mut __m128) {
        let (scales, mins) = k4_scales_mins(blk);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let (lo, hi) = q4k_pair(blk.add(16), j);
            let y = b.qs.as_ptr().add(64 * j);
            let yl = _mm256_loadu_si256(y as *const __m256i);
            let yh = _mm256_loadu_si256(y.add(32) as *const __m256i);
            let pl = _mm256_madd_epi16(scale_at(scales, 2 * j), _mm256_maddubs_epi16(lo, yl));
            let ph = _mm256_madd_epi16(scale_at(scales, 2 * j + 1), _mm256_maddubs_epi16(hi, yh));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        let (d, dmin) = f16_pair(blk);
        add_block_k(b.d, d, dmin, sumi, mins_term(mins, b), acc, accm);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q5k(blk: *const u8, b: &Q8KBlock, acc: &mut __m256, accm: &mut __m128) {
        let (scales, mins) = k4_scales_mins(blk);
        let qh = _mm256_loadu_si256(blk.add(16) as *const __m256i);
        let mut hm = _mm256_set1_epi8(1);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let (lo, hi) = q5k_pair(blk.add(48), qh, &mut hm, j);
            let y = b.qs.as_ptr().add(64 * j);
            let yl = _mm256_loadu_si256(y as *const __m256i);
            let yh = _mm256_loadu_si256(y.add(32) as *const __m256i);
            let pl = _mm256_madd_epi16(scale_at(scales, 2 * j), _mm256_maddubs_epi16(lo, yl));
            let ph = _mm256_madd_epi16(scale_at(scales, 2 * j + 1), _mm256_maddubs_epi16(hi, yh));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        let (d, dmin) = f16_pair(blk);
        add_block_k(b.d, d, dmin, sumi, mins_term(mins, b), acc, accm);
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q6k(blk: *const u8, b: &Q8KBlock, acc: &mut __m256, accm: &mut __m128) {
        let scales = _mm_loadu_si128(blk.add(192) as *const __m128i);
        let mut sumi = _mm256_setzero_si256();
        for h in 0..2 {
            let q = q6k_quad(blk, h);
            for (k, q) in q.into_iter().enumerate() {
                let y = _mm256_loadu_si256(b.qs.as_ptr().add(128 * h + 32 * k) as *const __m256i);
                let p = _mm256_madd_epi16(q6k_scale(scales, 8 * h + 2 * k), q6k_products(q, y));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        let d = q6k_d(blk);
        add_block_k(b.d, d, 0.0, sumi, _mm_setzero_si128(), acc, accm);
    }

    /// [`rows!`] for the k-quants (blocks of 256 against [`Q8KBlock`]s).
    macro_rules! rows_k {
        ($one:ident, $step:ident, $bytes:expr) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $one(w: &[u8], a: &[Q8KBlock]) -> f32 {
                assert!(w.len() >= a.len() * $bytes);
                let (mut acc, mut accm) = (_mm256_setzero_ps(), _mm_setzero_ps());
                for (i, b) in a.iter().enumerate() {
                    $step(w.as_ptr().add(i * $bytes), b, &mut acc, &mut accm);
                }
                finish_k(acc, accm)
            }
        };
    }

    rows_k!(q4k, step_q4k, 144);
    rows_k!(q5k, step_q5k, 176);
    rows_k!(q6k, step_q6k, 210);

    /// The scales of a Q4_K/Q5_K block as [`KBlock`] keeps them: scale `g` in all 16 lanes of group `g`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn store_k4_scales(blk: *const u8, u: &mut KBlock) {
        let (scales, mins) = k4_scales_mins(blk);
        for g in 0..8 {
            _mm256_store_si256(
                u.sc.as_mut_ptr().add(16 * g) as *mut __m256i,
                scale_at(scales, g),
            );
        }
        _mm_storeu_si128(u.mins.as_mut_ptr() as *mut __m128i, mins);
        (u.d, u.dmin) = f16_pair(blk);
    }

    /// Q4_K blocks unpacked once for a product over several activation rows.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q4k(w: &[u8], out: &mut [KBlock]) {
        assert!(w.len() >= out.len() * 144);
        for (i, u) in out.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 144);
            store_k4_scales(blk, u);
            for j in 0..4 {
                let (lo, hi) = q4k_pair(blk.add(16), j);
                _mm256_store_si256(u.q.as_mut_ptr().add(64 * j) as *mut __m256i, lo);
                _mm256_store_si256(u.q.as_mut_ptr().add(64 * j + 32) as *mut __m256i, hi);
            }
        }
    }

    /// Q5_K blocks unpacked once.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q5k(w: &[u8], out: &mut [KBlock]) {
        assert!(w.len() >= out.len() * 176);
        for (i, u) in out.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 176);
            store_k4_scales(blk, u);
            let qh = _mm256_loadu_si256(blk.add(16) as *const __m256i);
            let mut hm = _mm256_set1_epi8(1);
            for j in 0..4 {
                let (lo, hi) = q5k_pair(blk.add(48), qh, &mut hm, j);
                _mm256_store_si256(u.q.as_mut_ptr().add(64 * j) as *mut __m256i, lo);
                _mm256_store_si256(u.q.as_mut_ptr().add(64 * j + 32) as *mut __m256i, hi);
            }
        }
    }

    /// Q6_K blocks unpacked once (weights before the offset; scales per 16 widened to i16).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q6k(w: &[u8], out: &mut [KBlock]) {
        assert!(w.len() >= out.len() * 210);
        for (i, u) in out.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 210);
            let scales = _mm_loadu_si128(blk.add(192) as *const __m128i);
            for h in 0..2 {
                for (k, q) in q6k_quad(blk, h).into_iter().enumerate() {
                    let g = 4 * h + k;
                    _mm256_store_si256(u.q.as_mut_ptr().add(32 * g) as *mut __m256i, q);
                    _mm256_store_si256(
                        u.sc.as_mut_ptr().add(16 * g) as *mut __m256i,
                        q6k_scale(scales, 2 * g),
                    );
                }
            }
            u.mins = [0; 8];
            u.d = q6k_d(blk);
            u.dmin = 0.0;
        }
    }

    /// [`q4k`]/[`q5k`] (`SIX` false) or [`q6k`] (`SIX` true) on unpacked blocks: the same integer lanes
    /// and the same float operations in the same order, so the same bits.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_unpacked_k<const SIX: bool>(w: &[KBlock], a: &[Q8KBlock]) -> f32 {
        assert!(w.len() >= a.len());
        let (mut acc, mut accm) = (_mm256_setzero_ps(), _mm_setzero_ps());
        for (u, b) in w.iter().zip(a) {
            let mut sumi = _mm256_setzero_si256();
            for g in 0..8 {
                let q = _mm256_load_si256(u.q.as_ptr().add(32 * g) as *const __m256i);
                let y = _mm256_loadu_si256(b.qs.as_ptr().add(32 * g) as *const __m256i);
                let p = if SIX {
                    q6k_products(q, y)
                } else {
                    _mm256_maddubs_epi16(q, y)
                };
                let sc = _mm256_load_si256(u.sc.as_ptr().add(16 * g) as *const __m256i);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
            }
            let mins = if SIX {
                _mm_setzero_si128()
            } else {
                mins_term(_mm_loadu_si128(u.mins.as_ptr() as *const __m128i), b)
            };
            add_block_k(b.d, u.d, u.dmin, sumi, mins, &mut acc, &mut accm);
        }
        finish_k(acc, accm)
    }

    // ---- Q4_0, after ggml's `ggml_vec_dot_q4_0_q8_0` ----

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn step_q4_0(blk: *const u8, b: &Q8Block, acc: &mut __m256, _: &mut __m128) {
        let d = scale(blk, b);
        let qx = _mm256_sub_epi8(nibbles(blk.add(2)), _mm256_set1_epi8(8));
        let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
        *acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), *acc);
    }

    /// Q4_0 blocks unpacked once: 32 signed bytes (−8..7) and the f32 scale per block.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn decode_q4_0(w: &[u8], q: &mut [u8], s: &mut [[f32; 2]]) {
        assert!(q.len() >= s.len() * 32 && w.len() >= s.len() * 18);
        for (i, sc) in s.iter_mut().enumerate() {
            let blk = w.as_ptr().add(i * 18);
            *sc = [_mm_cvtss_f32(halves(blk)), 0.0];
            let qx = _mm256_sub_epi8(nibbles(blk.add(2)), _mm256_set1_epi8(8));
            _mm256_storeu_si256(q.as_mut_ptr().add(i * 32) as *mut __m256i, qx);
        }
    }

    rows!(q4_0, step_q4_0, 18);
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;
    use candle_core::{Device, Tensor};

    /// Deterministic pseudo-random values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// A matrix quantized by candle (the reference quantizer) and its bytes.
    fn quantized(dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> (QMatrix, Vec<f32>) {
        let w = values(rows * cols, seed);
        let t = Tensor::from_vec(w, (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, dtype).unwrap();
        let deq: Vec<f32> = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let bytes = q.data().unwrap().to_vec();
        (
            QMatrix::new(dtype, rows, cols, Bytes::from_vec(bytes)).unwrap(),
            deq,
        )
    }

    fn reference(xs: &[f32], m: usize, deq: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * rows];
        for i in 0..m {
            for r in 0..rows {
                out[i * rows + r] = (0..cols)
                    .map(|c| xs[i * cols + c] as f64 * deq[r * cols + c] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    #[test]
    fn every_format_matches_the_dequantized_product() {
        // 576 and 896 columns: row lengths that are not multiples of 256, as in SmolLM2 and Qwen2.5.
        for (dtype, cols) in [
            (GgmlDType::Q4_1, 576),
            (GgmlDType::Q5_0, 896),
            (GgmlDType::Q8_0, 576),
            (GgmlDType::Q4_0, 640),
            (GgmlDType::Q4K, 512),
            (GgmlDType::Q5K, 1024),
            (GgmlDType::Q6K, 768),
            (GgmlDType::Q5_1, 64),
            (GgmlDType::F16, 96),
            (GgmlDType::F32, 96),
        ] {
            let rows = 70;
            let (w, deq) = quantized(dtype, rows, cols, 7);
            for (level, m) in levels().into_iter().flat_map(|l| [(l, 1), (l, 3)]) {
                let xs = values(m * cols, 11 + m as u64);
                let mut out = vec![0f32; m * rows];
                matmul_many_with(&Kernels::new(level), &xs, m, &[&w], &mut [&mut out]);
                let want = reference(&xs, m, &deq, rows, cols);
                // The activations are quantized to 8 bits: about 1% of the row's scale.
                let scale = (cols as f32).sqrt() * 0.6;
                for (g, e) in out.iter().zip(&want) {
                    assert!(
                        (g - e).abs() < 0.02 * scale,
                        "{dtype:?} {level:?} m={m}: got {g}, expected {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn dequantized_rows_equal_candles_dequantization() {
        for dtype in [
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4_0,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let (w, deq) = quantized(dtype, 5, 256, 3);
            let mut row = vec![0f32; 256];
            for r in 0..5 {
                w.dequantize_row(r, &mut row);
                assert_eq!(row, deq[r * 256..(r + 1) * 256], "{dtype:?} row {r}");
            }
        }
    }

    /// The kernel levels this CPU runs: each test covers all of them.
    fn levels() -> Vec<Level> {
        Level::available()
    }

    /// Bytes per block of each kernel format, and where its f16 scales sit.
    fn layout(dtype: GgmlDType) -> (usize, &'static [usize]) {
        match dtype {
            GgmlDType::Q4_0 => (18, &[0]),
            GgmlDType::Q4_1 => (20, &[0, 2]),
            GgmlDType::Q5_0 => (22, &[0]),
            GgmlDType::Q8_0 => (34, &[0]),
            GgmlDType::Q4K => (144, &[0, 2]),
            GgmlDType::Q5K => (176, &[0, 2]),
            GgmlDType::Q6K => (210, &[208]),
            _ => unreachable!(),
        }
    }

    /// Random weight blocks (every bit pattern is a valid block) whose f16 scales are set to `scale`.
    fn random_blocks(dtype: GgmlDType, blocks: usize, scale: f32, seed: u64) -> Vec<u8> {
        let (size, at) = layout(dtype);
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        let mut w: Vec<u8> = (0..blocks * size)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect();
        for blk in w.chunks_exact_mut(size) {
            for &o in at {
                blk[o..o + 2].copy_from_slice(&f16::from_f32(scale).to_le_bytes());
            }
        }
        w
    }

    /// `kern`'s dot of one weight row with one activation row, through the same dispatch as `matmul`.
    fn dot_with(kern: &Kernels, dtype: GgmlDType, w: &[u8], x: &[f32]) -> f32 {
        let cols = x.len();
        let m = QMatrix::new(dtype, 1, cols, Bytes::from_vec(w.to_vec())).unwrap();
        m.dot(kern, 0, x, &m.quantize(x))
    }

    #[test]
    fn every_kernel_computes_the_scalar_references_sums_on_random_blocks() {
        let scalar = Kernels::new(Level::Scalar);
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let per_block = dtype.block_size();
            let blocks = 4096 / per_block;
            let cols = blocks * per_block;
            // Edge scales: zero, the largest f16, negative, tiny.
            for (si, scale) in [0.0, 65504.0, -0.75, 1.5e-5, 0.01].into_iter().enumerate() {
                let w = random_blocks(dtype, blocks, scale, 3 + si as u64);
                // Activations: random, all zero, and one huge value among small ones.
                let mut spike = values(cols, 5);
                spike[7] = 1e4;
                for (xi, x) in [values(cols, 9), vec![0.0; cols], spike].iter().enumerate() {
                    let want = dot_with(&scalar, dtype, &w, x);
                    // The magnitude the sum is made of: each block's contribution, alone.
                    let bytes = w.len() / blocks;
                    let magnitude: f32 = (0..blocks)
                        .map(|b| {
                            let xb = &x[b * per_block..(b + 1) * per_block];
                            dot_with(&scalar, dtype, &w[b * bytes..(b + 1) * bytes], xb).abs()
                        })
                        .sum();
                    for level in levels() {
                        let got = dot_with(&Kernels::new(level), dtype, &w, x);
                        // Same integer sums per block; only the float accumulation order differs.
                        assert!(
                            (got - want).abs() <= 1e-5 * magnitude,
                            "{dtype:?} {level:?} scale {scale} acts {xi}: {got} vs {want} (of {magnitude})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_scalar_k_quant_kernels_match_candles_reference() {
        // candle's scalar `vec_dot_unopt` is ggml's reference arithmetic; its activation blocks differ
        // from ours only in rounding ties, so the products agree to a few units of the last place.
        use candle_core::quantized::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
        fn reference<T: GgmlType<VecDotType = BlockQ8K>>(w: &[u8], x: &[f32]) -> f32 {
            let mut ys: Vec<BlockQ8K> = (0..x.len() / 256).map(|_| BlockQ8K::zeros()).collect();
            BlockQ8K::from_float(x, &mut ys);
            // Safety: a row of a `QMatrix`, aligned for candle's blocks at load.
            T::vec_dot_unopt(x.len(), unsafe { blocks::<T>(w) }, &ys)
        }
        let scalar = Kernels::new(Level::Scalar);
        for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
            let (w, _) = quantized(dtype, 1, 1024, 21);
            let x = values(1024, 23);
            let ours = dot_with(&scalar, dtype, w.row(0), &x);
            let theirs = match dtype {
                GgmlDType::Q4K => reference::<BlockQ4K>(w.row(0), &x),
                GgmlDType::Q5K => reference::<BlockQ5K>(w.row(0), &x),
                _ => reference::<BlockQ6K>(w.row(0), &x),
            };
            assert!(
                (ours - theirs).abs() <= 2e-3 * theirs.abs().max(1.0),
                "{dtype:?}: {ours} vs candle {theirs}"
            );
        }
    }

    #[test]
    fn the_kernel_level_follows_the_environment_and_the_cpu() {
        let all = [Level::Scalar, Level::Avx2];
        assert_eq!(Level::chosen(None, false, &all), Level::Avx2);
        assert_eq!(Level::chosen(Some("scalar"), false, &all), Level::Scalar);
        assert_eq!(Level::chosen(Some("avx2"), false, &all), Level::Avx2);
        assert_eq!(Level::chosen(Some("auto"), false, &all), Level::Avx2);
        assert_eq!(Level::chosen(None, true, &all), Level::Scalar);
        assert_eq!(Level::chosen(Some("avx2"), true, &all), Level::Scalar);
        // A CPU without AVX2 runs scalar whatever is asked.
        assert_eq!(
            Level::chosen(Some("avx2"), false, &[Level::Scalar]),
            Level::Scalar
        );
        assert_eq!(Kernels::new(Level::Scalar).level, Level::Scalar);
    }

    #[test]
    fn a_batched_product_gives_each_row_the_same_bits_as_alone() {
        for level in levels() {
            let kern = Kernels::new(level);
            for dtype in [
                GgmlDType::Q4_0,
                GgmlDType::Q4_1,
                GgmlDType::Q5_0,
                GgmlDType::Q8_0,
                GgmlDType::Q4K,
                GgmlDType::Q5K,
                GgmlDType::Q6K,
            ] {
                let cols = 512;
                let rows = 300;
                let (w, _) = quantized(dtype, rows, cols, 13);
                let m = 5;
                let xs = values(m * cols, 17);
                let mut batched = vec![0f32; m * rows];
                matmul_many_with(&kern, &xs, m, &[&w], &mut [&mut batched]);
                for i in 0..m {
                    let mut alone = vec![0f32; rows];
                    let x = &xs[i * cols..(i + 1) * cols];
                    matmul_many_with(&kern, x, 1, &[&w], &mut [&mut alone]);
                    assert_eq!(
                        alone,
                        batched[i * rows..(i + 1) * rows],
                        "{dtype:?} {level:?} row {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn matrices_that_do_not_fit_their_bytes_are_rejected() {
        let e = QMatrix::new(GgmlDType::Q8_0, 2, 64, Bytes::from_vec(vec![0; 100])).err();
        assert!(
            matches!(
                e,
                Some(QuantError::Size {
                    need: 136,
                    have: 100,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = QMatrix::new(GgmlDType::Q8_0, 2, 40, Bytes::from_vec(vec![0; 100])).err();
        assert!(matches!(e, Some(QuantError::Ragged { .. })), "{e:?}");
        assert!(Bytes::new(Arc::new(vec![0u8; 10]), 4, 7).is_none());
    }
}

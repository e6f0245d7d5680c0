//! Quantized matrix products on the GGUF blocks as stored: the kernels modelvet's own forward pass uses.
//!
//! Why not candle's `QMatMul`: candle 0.11 has no SIMD kernel for `Q4_1` or `Q5_0` (the formats of
//! SmolLM2 and of most Qwen2.5/Gemma 3 Q4_K_M tensors), its fast x86 paths need rows that are a multiple of
//! 256 long (576, 640 and 896 are not), and a product over several activation rows is not guaranteed to
//! give each row the same bits as a product over one. Here:
//!
//! - `Q4_1`, `Q5_0` and `Q8_0` weights have AVX2 kernels (ggml's arithmetic: activations quantized to 8-bit
//!   blocks of 32, integer dot products, one float scale per block), picked at run time, with a scalar
//!   fallback; every other GGML type uses candle's block types and their `vec_dot` (k-quants included);
//!   f32/f16/bf16 weights are widened to f32.
//! - A product over `m` activation rows reads each weight row once and dots it with all `m` rows while it
//!   is in cache, so batching sequences or prompt tokens costs little more memory traffic than one.
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
    Q4_1,
    Q5_0,
    Q8_0,
    /// Any other quantized GGML type, through candle's block type.
    Candle(GgmlDType),
    /// f32 / f16 / bf16 widened to f32 at load.
    F32,
}

impl Kind {
    /// Kinds that read the same quantized activations: the 8-bit-block kernels share one quantization.
    fn family(self) -> Kind {
        match self {
            Kind::Q4_1 | Kind::Q5_0 | Kind::Q8_0 => Kind::Q8_0,
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
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Kind::F32,
            GgmlDType::Q4_0
            | GgmlDType::Q5_1
            | GgmlDType::Q2K
            | GgmlDType::Q3K
            | GgmlDType::Q4K
            | GgmlDType::Q5K
            | GgmlDType::Q6K => Kind::Candle(dtype),
            other => return Err(QuantError::Unsupported(other)),
        };
        // candle's block types hold f16 fields: their rows must be 2-byte aligned in memory.
        let data =
            if matches!(kind, Kind::Candle(_)) && (data.as_slice().as_ptr() as usize) % 4 != 0 {
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

/// One activation row quantized for the kernels: 8-bit blocks for the Q4_1/Q5_0/Q8_0 kernels, candle's
/// `VecDotType` blocks (as raw bytes) for the others, or f32.
enum Acts {
    Q8(Vec<Q8Block>),
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
            Kind::Q4_1 | Kind::Q5_0 | Kind::Q8_0 => Acts::Q8(quantize_q8(x)),
            Kind::Candle(dtype) => Acts::Candle(quantize_candle(dtype, x)),
            Kind::F32 => Acts::F32,
        }
    }

    /// The dot product of weight row `r` with one activation row (`x` its f32 values, `a` quantized).
    fn dot(&self, r: usize, x: &[f32], a: &Acts) -> f32 {
        match (self.kind, a) {
            (Kind::F32, _) => {
                let w = self.f32.as_ref().expect("f32 weights");
                dot_f32(&w[r * self.cols..(r + 1) * self.cols], x)
            }
            (Kind::Q4_1, Acts::Q8(a)) => kernels().q4_1(self.row(r), a),
            (Kind::Q5_0, Acts::Q8(a)) => kernels().q5_0(self.row(r), a),
            (Kind::Q8_0, Acts::Q8(a)) => kernels().q8_0(self.row(r), a),
            (Kind::Candle(dtype), Acts::Candle(bytes)) => with_candle_type!(dtype, T => {
                type V = <T as GgmlType>::VecDotType;
                // Safety: `bytes` holds a `Vec<V>` copied in `quantize_candle` for this dtype.
                let ys: &[V] = unsafe { aligned_view::<V>(bytes) };
                T::vec_dot(self.cols, unsafe { blocks::<T>(self.row(r)) }, ys)
            }),
            _ => unreachable!("activations quantized for another kind"),
        }
    }
}

impl QMatrix {
    /// Rows `r` and `r + 1` against one activation row: the same values as two [`QMatrix::dot`] calls.
    fn dot2(&self, r: usize, x: &[f32], a: &Acts) -> (f32, f32) {
        let k = kernels();
        match (self.kind, a) {
            (Kind::Q4_1, Acts::Q8(a)) => (k.q4_1_x2)(self.row(r), self.row(r + 1), a),
            (Kind::Q5_0, Acts::Q8(a)) => (k.q5_0_x2)(self.row(r), self.row(r + 1), a),
            (Kind::Q8_0, Acts::Q8(a)) => (k.q8_0_x2)(self.row(r), self.row(r + 1), a),
            _ => (self.dot(r, x, a), self.dot(r + 1, x, a)),
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
        // Several activation rows (a prompt, a batch): unpack each Q4_1/Q5_0 weight row once.
        let unpacked: Option<(Unpack, DotUnpacked)> = match (m >= 2, &kernels().unpacked, w.kind) {
            (true, Some(u), Kind::Q4_1) => Some((u.q4_1, u.dot_q4_1)),
            (true, Some(u), Kind::Q5_0) => Some((u.q5_0, u.dot_signed)),
            _ => None,
        };
        if let Some((unpack, dot)) = unpacked {
            let mut q = vec![0u8; k];
            let mut sc = vec![[0f32; 2]; k / QK];
            for r in start..end {
                unpack(w.row(r), &mut q, &mut sc);
                for (i, acts) in a.iter().enumerate() {
                    let Acts::Q8(blocks) = acts else {
                        unreachable!("Q4_1 and Q5_0 read 8-bit activation blocks")
                    };
                    let v = dot(&q, &sc, blocks);
                    unsafe { *out.get().add(i * w.rows + r) = v };
                }
            }
            return;
        }
        let mut r = start;
        while r + 1 < end {
            for (i, x) in xs.chunks_exact(k).enumerate() {
                let (v0, v1) = w.dot2(r, x, &a[i]);
                unsafe {
                    *out.get().add(i * w.rows + r) = v0;
                    *out.get().add(i * w.rows + r + 1) = v1;
                }
            }
            r += 2;
        }
        if r < end {
            for (i, x) in xs.chunks_exact(k).enumerate() {
                let v = w.dot(r, x, &a[i]);
                unsafe { *out.get().add(i * w.rows + r) = v };
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

/// The dot-product kernels for the 8-bit-activation formats, chosen once for this CPU.
struct Kernels {
    q4_1: fn(&[u8], &[Q8Block]) -> f32,
    q5_0: fn(&[u8], &[Q8Block]) -> f32,
    q8_0: fn(&[u8], &[Q8Block]) -> f32,
    q4_1_x2: Dot2,
    q5_0_x2: Dot2,
    q8_0_x2: Dot2,
    /// Unpack-once kernels for products over several activation rows (SIMD only).
    unpacked: Option<Unpacked>,
}

/// Two weight rows against one activation row.
type Dot2 = fn(&[u8], &[u8], &[Q8Block]) -> (f32, f32);

/// Kernels that unpack a Q4_1 or Q5_0 weight row once (to bytes and f32 scales) and then dot it with
/// each activation row, giving exactly the bits of the direct kernels.
struct Unpacked {
    q4_1: Unpack,
    q5_0: Unpack,
    dot_q4_1: DotUnpacked,
    dot_signed: DotUnpacked,
}
type Unpack = fn(&[u8], &mut [u8], &mut [[f32; 2]]);
type DotUnpacked = fn(&[u8], &[[f32; 2]], &[Q8Block]) -> f32;

impl Kernels {
    fn q4_1(&self, w: &[u8], a: &[Q8Block]) -> f32 {
        (self.q4_1)(w, a)
    }
    fn q5_0(&self, w: &[u8], a: &[Q8Block]) -> f32 {
        (self.q5_0)(w, a)
    }
    fn q8_0(&self, w: &[u8], a: &[Q8Block]) -> f32 {
        (self.q8_0)(w, a)
    }
}

fn kernels() -> &'static Kernels {
    static K: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("MODELVET_SCALAR_KERNELS").is_none()
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Kernels {
                q4_1: |w, a| unsafe { avx2::q4_1(w, a) },
                q5_0: |w, a| unsafe { avx2::q5_0(w, a) },
                q8_0: |w, a| unsafe { avx2::q8_0(w, a) },
                q4_1_x2: |w0, w1, a| unsafe { avx2::q4_1_x2(w0, w1, a) },
                q5_0_x2: |w0, w1, a| unsafe { avx2::q5_0_x2(w0, w1, a) },
                q8_0_x2: |w0, w1, a| unsafe { avx2::q8_0_x2(w0, w1, a) },
                unpacked: Some(Unpacked {
                    q4_1: |w, q, s| unsafe { avx2::decode_q4_1(w, q, s) },
                    q5_0: |w, q, s| unsafe { avx2::decode_q5_0(w, q, s) },
                    dot_q4_1: |q, s, a| unsafe { avx2::dot_unpacked_q4_1(q, s, a) },
                    dot_signed: |q, s, a| unsafe { avx2::dot_unpacked_signed(q, s, a) },
                }),
            };
        }
        Kernels {
            q4_1: scalar::q4_1,
            q5_0: scalar::q5_0,
            q8_0: scalar::q8_0,
            q4_1_x2: |w0, w1, a| (scalar::q4_1(w0, a), scalar::q4_1(w1, a)),
            q5_0_x2: |w0, w1, a| (scalar::q5_0(w0, a), scalar::q5_0(w1, a)),
            q8_0_x2: |w0, w1, a| (scalar::q8_0(w0, a), scalar::q8_0(w1, a)),
            unpacked: None,
        }
    })
}

/// Which kernels this CPU runs (for the engine record): `avx2` or `scalar`.
pub fn kernel_name() -> &'static str {
    if kernels().unpacked.is_some() {
        "avx2"
    } else {
        "scalar"
    }
}

mod scalar {
    //! Portable kernels: the reference arithmetic the SIMD ones reproduce (same integer sums per block).
    use super::{f16_at, Q8Block};

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
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! AVX2 + FMA (+ F16C for the block scales) kernels after ggml's `ggml_vec_dot_q4_1_q8_1`,
    //! `…q5_0_q8_0` and `…q8_0_q8_0`.
    use super::Q8Block;
    use std::arch::x86_64::*;

    /// `d·b.d` broadcast, for a block whose first two bytes are its f16 scale `d`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale(blk: *const u8, b: &Q8Block) -> __m256 {
        let d = _mm_cvtph_ps(_mm_loadu_si16(blk));
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
        let dm = _mm_cvtph_ps(_mm_loadu_si32(blk));
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

    /// One row (`$one`) and two rows at once (`$two`, two independent load streams sharing the
    /// activation loads). Both run the same per-row sequence of operations, so a row gets the same bits
    /// either way.
    macro_rules! rows {
        ($one:ident, $two:ident, $step:ident, $bytes:expr) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $one(w: &[u8], a: &[Q8Block]) -> f32 {
                assert!(w.len() >= a.len() * $bytes);
                let (mut acc, mut off) = (_mm256_setzero_ps(), _mm_setzero_ps());
                for (i, b) in a.iter().enumerate() {
                    $step(w.as_ptr().add(i * $bytes), b, &mut acc, &mut off);
                }
                finish(acc, off)
            }

            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $two(w0: &[u8], w1: &[u8], a: &[Q8Block]) -> (f32, f32) {
                assert!(w0.len() >= a.len() * $bytes && w1.len() >= a.len() * $bytes);
                let (mut acc0, mut off0) = (_mm256_setzero_ps(), _mm_setzero_ps());
                let (mut acc1, mut off1) = (_mm256_setzero_ps(), _mm_setzero_ps());
                for (i, b) in a.iter().enumerate() {
                    $step(w0.as_ptr().add(i * $bytes), b, &mut acc0, &mut off0);
                    $step(w1.as_ptr().add(i * $bytes), b, &mut acc1, &mut off1);
                }
                (finish(acc0, off0), finish(acc1, off1))
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
            _mm_storeu_ps(dm.as_mut_ptr(), _mm_cvtph_ps(_mm_loadu_si32(blk)));
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
            *sc = [_mm_cvtss_f32(_mm_cvtph_ps(_mm_loadu_si16(blk))), 0.0];
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

    rows!(q4_1, q4_1_x2, step_q4_1, 20);
    rows!(q5_0, q5_0_x2, step_q5_0, 22);
    rows!(q8_0, q8_0_x2, step_q8_0, 34);
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
            (GgmlDType::Q6K, 768),
            (GgmlDType::F16, 96),
            (GgmlDType::F32, 96),
        ] {
            let rows = 70;
            let (w, deq) = quantized(dtype, rows, cols, 7);
            for m in [1, 3] {
                let xs = values(m * cols, 11 + m as u64);
                let mut out = vec![0f32; m * rows];
                matmul(&xs, m, &w, &mut out);
                let want = reference(&xs, m, &deq, rows, cols);
                // The activations are quantized to 8 bits: about 1% of the row's scale.
                let scale = (cols as f32).sqrt() * 0.6;
                for (g, e) in out.iter().zip(&want) {
                    assert!(
                        (g - e).abs() < 0.02 * scale,
                        "{dtype:?} m={m}: got {g}, expected {e}"
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

    #[test]
    fn simd_and_scalar_kernels_compute_the_same_integer_sums() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let (w, _) = quantized(dtype, 4, 576, 5);
            let x = values(576, 9);
            let a = quantize_q8(&x);
            for r in 0..4 {
                let (fast, slow) = match dtype {
                    GgmlDType::Q4_1 => (kernels().q4_1(w.row(r), &a), scalar::q4_1(w.row(r), &a)),
                    GgmlDType::Q5_0 => (kernels().q5_0(w.row(r), &a), scalar::q5_0(w.row(r), &a)),
                    _ => (kernels().q8_0(w.row(r), &a), scalar::q8_0(w.row(r), &a)),
                };
                // Same integer block sums; only the float accumulation order differs.
                assert!(
                    (fast - slow).abs() <= 1e-4 * slow.abs().max(1.0),
                    "{dtype:?}: {fast} vs {slow}"
                );
            }
        }
    }

    #[test]
    fn a_batched_product_gives_each_row_the_same_bits_as_alone() {
        for dtype in [
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
        ] {
            let cols = 512;
            let rows = 300;
            let (w, _) = quantized(dtype, rows, cols, 13);
            let m = 5;
            let xs = values(m * cols, 17);
            let mut batched = vec![0f32; m * rows];
            matmul(&xs, m, &w, &mut batched);
            for i in 0..m {
                let mut alone = vec![0f32; rows];
                matmul(&xs[i * cols..(i + 1) * cols], 1, &w, &mut alone);
                assert_eq!(
                    alone,
                    batched[i * rows..(i + 1) * rows],
                    "{dtype:?} row {i}"
                );
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

//! AVX2 + FMA (+ F16C for the block scales) kernels after ggml's `ggml_vec_dot_q4_1_q8_1` and its k-quant
//! kernels, and the helpers the signed formats' kernels ([`super::interleaved`]) share.
use super::{KBlock, Q8Block, Q8KBlock, TILE};
use std::arch::x86_64::*;

/// The 4 f16 at `p` (8 bytes, all inside the block) widened. Why not a 16-bit load: LLVM compiles
/// `_mm_loadu_si16` (or a zero-extended `movd`) feeding `vcvtph2ps` to a `vpinsrw` that merges into
/// whatever register it picks, in the two-row kernels an accumulator: each block's scale then
/// waited for the previous block's sum, a chain that made them over twice as slow as one row at a
/// time. LLVM narrows any load whose other lanes go unused, so an empty `asm` block takes the
/// whole 64-bit load as its operand: it then stays a `vmovq`, which writes the whole register.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn halves(p: *const u8) -> __m128 {
    let mut v = _mm_loadl_epi64(p as *const __m128i);
    std::arch::asm!("/* {0} */", inout(xmm_reg) v, options(pure, nomem, nostack, preserves_flags));
    _mm_cvtph_ps(v)
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
pub(super) unsafe fn nibbles(p: *const u8) -> __m256i {
    let tmp = _mm_loadu_si128(p as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
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
pub(super) unsafe fn bits(p: *const u8) -> __m256i {
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

/// The f16 pair (d, m) that opens a Q4_1 or Q5_1 block, widened to f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn d_and_m(blk: *const u8) -> [f32; 2] {
    let mut dm = [0f32; 4];
    _mm_storeu_ps(dm.as_mut_ptr(), halves(blk));
    [dm[0], dm[1]]
}

/// Q4_1 blocks unpacked once for a product over several activation rows: 32 bytes (0..15) and the
/// f32 pair (d, m) per block, converted exactly as [`step_q4_1`] converts them.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn decode_q4_1(w: &[u8], q: &mut [u8], s: &mut [[f32; 2]]) {
    assert!(q.len() >= s.len() * 32 && w.len() >= s.len() * 20);
    for (i, sc) in s.iter_mut().enumerate() {
        let blk = w.as_ptr().add(i * 20);
        *sc = d_and_m(blk);
        _mm256_storeu_si256(
            q.as_mut_ptr().add(i * 32) as *mut __m256i,
            nibbles(blk.add(4)),
        );
    }
}

/// Q5_1 blocks unpacked once: 32 bytes (0..31: the low nibble and the fifth bit, as ggml's
/// `vec_dot_q5_1_q8_1` builds them) and the f32 pair (d, m) per block, for the Q4_1 kernels, whose
/// arithmetic is ggml's Q5_1 arithmetic on these bytes.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn decode_q5_1(w: &[u8], q: &mut [u8], s: &mut [[f32; 2]]) {
    assert!(q.len() >= s.len() * 32 && w.len() >= s.len() * 24);
    for (i, sc) in s.iter_mut().enumerate() {
        let blk = w.as_ptr().add(i * 24);
        *sc = d_and_m(blk);
        let hi = _mm256_and_si256(bits(blk.add(4)), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(nibbles(blk.add(8)), hi);
        _mm256_storeu_si256(q.as_mut_ptr().add(i * 32) as *mut __m256i, qx);
    }
}

/// One Q5_1 row against one activation row: unpacked ([`decode_q5_1`]) into a per-thread buffer and
/// summed by [`dot_unpacked_q4_1`], the kernel a product over several activation rows uses, so a row
/// alone and in a batch get the same bits.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q5_1(w: &[u8], a: &[Q8Block]) -> f32 {
    thread_local! {
        static BUF: std::cell::RefCell<(Vec<u8>, Vec<[f32; 2]>)> =
            const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }
    let n = a.len().min(w.len() / 24);
    BUF.with_borrow_mut(|(q, s)| {
        q.resize(n * 32, 0);
        s.resize(n, [0.0; 2]);
        decode_q5_1(w, q, s);
        dot_unpacked_q4_1(q, s, &a[..n])
    })
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

rows!(q4_1, step_q4_1, 20);

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
unsafe fn q5k_pair(qs: *const u8, qh: __m256i, hm: &mut __m256i, j: usize) -> (__m256i, __m256i) {
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

// ---- Several activation rows per unpacked weight row (prompts, batches) ----
//
// Why: one row at a time, each block's sum waits on the previous block's `fmadd` and the weight block is
// reloaded for every activation row. Four rows at once give four independent chains and one load (and,
// for signed weights, one `sign`) of the weight block for all four. Each row's sum still takes exactly
// the operations of the one-row kernel in the same order, so the same bits.

/// [`dot_unpacked_q4_1`] for [`TILE`] activation rows of equal length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_unpacked_q4_1_tile(
    q: &[u8],
    s: &[[f32; 2]],
    a: [&[Q8Block]; TILE],
) -> [f32; TILE] {
    let n = a[0].len();
    assert!(a.iter().all(|r| r.len() == n) && s.len() >= n && q.len() >= n * 32);
    let mut acc = [_mm256_setzero_ps(); TILE];
    let mut off = [_mm_setzero_ps(); TILE];
    for i in 0..n {
        let dm = _mm_castpd_ps(_mm_load_sd(s.as_ptr().add(i) as *const f64));
        let qx = _mm256_loadu_si256(q.as_ptr().add(i * 32) as *const __m256i);
        for r in 0..TILE {
            let b = a[r].get_unchecked(i);
            let ds = _mm_castpd_ps(_mm_load_sd(&b.d as *const f32 as *const f64));
            let sc = _mm_mul_ps(dm, ds);
            off[r] = _mm_add_ps(off[r], sc);
            let qy = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
            let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), _mm256_set1_epi16(1));
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), _mm256_cvtepi32_ps(dot), acc[r]);
        }
    }
    let mut out = [0f32; TILE];
    for r in 0..TILE {
        out[r] = finish(acc[r], off[r]);
    }
    out
}

/// [`dot_unpacked_k`] for [`TILE`] activation rows of equal length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_unpacked_k_tile<const SIX: bool>(
    w: &[KBlock],
    a: [&[Q8KBlock]; TILE],
) -> [f32; TILE] {
    let n = a[0].len();
    assert!(a.iter().all(|r| r.len() == n) && w.len() >= n);
    let mut acc = [_mm256_setzero_ps(); TILE];
    let mut accm = [_mm_setzero_ps(); TILE];
    for (i, u) in w.iter().enumerate().take(n) {
        let mut sumi = [_mm256_setzero_si256(); TILE];
        for g in 0..8 {
            let q = _mm256_load_si256(u.q.as_ptr().add(32 * g) as *const __m256i);
            let sc = _mm256_load_si256(u.sc.as_ptr().add(16 * g) as *const __m256i);
            for (r, sumi) in sumi.iter_mut().enumerate() {
                let b = a[r].get_unchecked(i);
                let y = _mm256_loadu_si256(b.qs.as_ptr().add(32 * g) as *const __m256i);
                let p = if SIX {
                    q6k_products(q, y)
                } else {
                    _mm256_maddubs_epi16(q, y)
                };
                *sumi = _mm256_add_epi32(*sumi, _mm256_madd_epi16(sc, p));
            }
        }
        for r in 0..TILE {
            let b = a[r].get_unchecked(i);
            let mins = if SIX {
                _mm_setzero_si128()
            } else {
                mins_term(_mm_loadu_si128(u.mins.as_ptr() as *const __m128i), b)
            };
            add_block_k(b.d, u.d, u.dmin, sumi[r], mins, &mut acc[r], &mut accm[r]);
        }
    }
    let mut out = [0f32; TILE];
    for r in 0..TILE {
        out[r] = finish_k(acc[r], accm[r]);
    }
    out
}

/// `_mm256_permutevar_ps` indices that broadcast lane 0, 1, 2 or 3 of each 128-bit half: a quad kernel's
/// four scale products, one per weight row.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lane_picks() -> [__m256i; 4] {
    [
        _mm256_set1_epi32(0),
        _mm256_set1_epi32(1),
        _mm256_set1_epi32(2),
        _mm256_set1_epi32(3),
    ]
}

/// [`dot_unpacked_q4_1`] for four unpacked weight rows against [`TILE`] activation rows, `out[w][c]`,
/// with AVX-512 VNNI on 256-bit registers. `dm4[2i]` holds the four rows' `d` of block `i`, `dm4[2i + 1]`
/// their `m`.
///
/// The same bits as the one-row kernel for every pair: `vpdpbusd` on the weights (0..15) and the
/// activations gives `madd(maddubs(x, y), 1)`'s lanes exactly (no i16 pair sum can saturate), the
/// products `d·y.d` and `m·y.s` are the same single products (four at once), each weight row's offset
/// sum `Σ m·y.s` is added lane by lane in the same order, and each sum takes the same `fmadd`s.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub unsafe fn dot_unpacked_q4_1_quad(
    q: [&[u8]; 4],
    dm4: &[[f32; 4]],
    a: [&[Q8Block]; TILE],
) -> [[f32; TILE]; 4] {
    let n = a[0].len();
    assert!(
        a.iter().all(|r| r.len() == n) && dm4.len() >= 2 * n && q.iter().all(|q| q.len() >= n * 32)
    );
    let mut acc = [[_mm256_setzero_ps(); TILE]; 4];
    let mut off = [_mm_setzero_ps(); TILE];
    let lane = lane_picks();
    for i in 0..n {
        let mut qx = [_mm256_setzero_si256(); 4];
        for w in 0..4 {
            qx[w] = _mm256_loadu_si256(q[w].as_ptr().add(i * 32) as *const __m256i);
        }
        let dv = _mm256_broadcast_ps(&*(dm4.as_ptr().add(2 * i) as *const __m128));
        let mv = _mm_loadu_ps(dm4.as_ptr().add(2 * i + 1) as *const f32);
        for c in 0..TILE {
            let b = a[c].get_unchecked(i);
            let dd = _mm256_mul_ps(dv, _mm256_broadcast_ss(&b.d));
            off[c] = _mm_add_ps(off[c], _mm_mul_ps(mv, _mm_set1_ps(b.s)));
            let y = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
            for w in 0..4 {
                let dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qx[w], y);
                let d = _mm256_permutevar_ps(dd, lane[w]);
                acc[w][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot), acc[w][c]);
            }
        }
    }
    let mut out = [[0f32; TILE]; 4];
    for c in 0..TILE {
        let mut offs = [0f32; 4];
        _mm_storeu_ps(offs.as_mut_ptr(), off[c]);
        for w in 0..4 {
            out[w][c] = hsum(acc[w][c]) + offs[w];
        }
    }
    out
}

/// [`dot_unpacked_k`] for four unpacked weight rows against [`TILE`] activation rows, `out[w][c]`, with
/// AVX-512 VNNI on 256-bit registers: `vpdpwssd` adds `madd(scale, products)` to the block's integer sum
/// in one instruction (exactly, as integers), each activation group is loaded once for four weight rows
/// (and for Q6_K its `32·y` correction computed once), and the float part is [`add_block_k`] as in the
/// one-row kernel, so every pair gets the same bits.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub unsafe fn dot_unpacked_k_quad<const SIX: bool>(
    w: [&[KBlock]; 4],
    a: [&[Q8KBlock]; TILE],
) -> [[f32; TILE]; 4] {
    let n = a[0].len();
    assert!(a.iter().all(|r| r.len() == n) && w.iter().all(|w| w.len() >= n));
    let mut acc = [[_mm256_setzero_ps(); TILE]; 4];
    let mut accm = [[_mm_setzero_ps(); TILE]; 4];
    for i in 0..n {
        let mut sumi = [[_mm256_setzero_si256(); TILE]; 4];
        for g in 0..8 {
            let mut q = [_mm256_setzero_si256(); 4];
            let mut sc = [_mm256_setzero_si256(); 4];
            for r in 0..4 {
                let u = w[r].get_unchecked(i);
                q[r] = _mm256_load_si256(u.q.as_ptr().add(32 * g) as *const __m256i);
                sc[r] = _mm256_load_si256(u.sc.as_ptr().add(16 * g) as *const __m256i);
            }
            for c in 0..TILE {
                let b = a[c].get_unchecked(i);
                let y = _mm256_loadu_si256(b.qs.as_ptr().add(32 * g) as *const __m256i);
                let y32 = if SIX {
                    _mm256_maddubs_epi16(_mm256_set1_epi8(32), y)
                } else {
                    _mm256_setzero_si256()
                };
                for r in 0..4 {
                    let p = if SIX {
                        _mm256_sub_epi16(_mm256_maddubs_epi16(q[r], y), y32)
                    } else {
                        _mm256_maddubs_epi16(q[r], y)
                    };
                    sumi[r][c] = _mm256_dpwssd_epi32(sumi[r][c], sc[r], p);
                }
            }
        }
        for r in 0..4 {
            let u = w[r].get_unchecked(i);
            for c in 0..TILE {
                let b = a[c].get_unchecked(i);
                let mins = if SIX {
                    _mm_setzero_si128()
                } else {
                    mins_term(_mm_loadu_si128(u.mins.as_ptr() as *const __m128i), b)
                };
                add_block_k(
                    b.d,
                    u.d,
                    u.dmin,
                    sumi[r][c],
                    mins,
                    &mut acc[r][c],
                    &mut accm[r][c],
                );
            }
        }
    }
    let mut out = [[0f32; TILE]; 4];
    for r in 0..4 {
        for c in 0..TILE {
            out[r][c] = finish_k(acc[r][c], accm[r][c]);
        }
    }
    out
}

// ---- Q4_0, after ggml's `ggml_vec_dot_q4_0_q8_0` ----

/// Eight 16-bit weights at `p` widened to f32: bf16 by a shift into the high half, f16 through F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn widen8<const BF16: bool>(p: *const u8) -> __m256 {
    let h = _mm_loadu_si128(p as *const __m128i);
    if BF16 {
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
    } else {
        _mm256_cvtph_ps(h)
    }
}

/// A bf16 (`BF16`) or f16 weight row against f32 activations: four 8-lane FMA accumulators over 32
/// values, one over the remaining groups of 8, a scalar tail. The same order on every call, so every
/// output element has the same bits whatever else the product computes.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn half_dot<const BF16: bool>(w: &[u8], x: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), 2 * x.len());
    let n = x.len();
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, a) in acc.iter_mut().enumerate() {
            let at = i + 8 * j;
            *a = _mm256_fmadd_ps(
                widen8::<BF16>(wp.add(2 * at)),
                _mm256_loadu_ps(xp.add(at)),
                *a,
            );
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(
            widen8::<BF16>(wp.add(2 * i)),
            _mm256_loadu_ps(xp.add(i)),
            acc[0],
        );
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ));
    while i < n {
        let b = [w[2 * i], w[2 * i + 1]];
        let wv = if BF16 {
            f32::from_bits((u16::from_le_bytes(b) as u32) << 16)
        } else {
            half::f16::from_le_bytes(b).to_f32()
        };
        s += wv * x[i];
        i += 1;
    }
    s
}

/// An 8×8 transpose of 32-bit lanes: `out[j]` = lane `j` of `r[0]`, …, `r[7]` (f32 keys here, the
/// interleaved kernels' weight words in [`super::interleaved`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// `q·kₗ` for eight keys, each the plain f32 sum `((q₀k₀ + q₁k₁) + q₂k₂) + …` from −0.0 with every product
/// rounded first (no FMA): the bits of the scalar loop, eight keys per vector lane. The keys are read
/// eight dimensions at a time and transposed in registers, so lane `l` holds key `l`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn scores8(q: &[f32], keys: [&[f32]; 8]) -> [f32; 8] {
    let hd = q.len();
    assert!(keys.iter().all(|k| k.len() >= hd));
    let mut acc = _mm256_set1_ps(-0.0);
    let mut d = 0;
    while d + 8 <= hd {
        let r: [__m256; 8] = [
            _mm256_loadu_ps(keys[0].as_ptr().add(d)),
            _mm256_loadu_ps(keys[1].as_ptr().add(d)),
            _mm256_loadu_ps(keys[2].as_ptr().add(d)),
            _mm256_loadu_ps(keys[3].as_ptr().add(d)),
            _mm256_loadu_ps(keys[4].as_ptr().add(d)),
            _mm256_loadu_ps(keys[5].as_ptr().add(d)),
            _mm256_loadu_ps(keys[6].as_ptr().add(d)),
            _mm256_loadu_ps(keys[7].as_ptr().add(d)),
        ];
        // Column j: dimension d + j of the eight keys.
        let cols = transpose8(r);
        for (j, col) in cols.into_iter().enumerate() {
            acc = _mm256_add_ps(
                acc,
                _mm256_mul_ps(_mm256_set1_ps(*q.get_unchecked(d + j)), col),
            );
        }
        d += 8;
    }
    let mut out = [0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), acc);
    for d in d..hd {
        for (o, k) in out.iter_mut().zip(&keys) {
            *o += q[d] * k[d];
        }
    }
    out
}

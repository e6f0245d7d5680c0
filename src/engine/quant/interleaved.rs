//! Kernels for the signed 32-value formats (Q4_0, Q5_0, Q8_0) in one arithmetic on every level, so
//! prompts and batches can take eight weight rows per instruction.
//!
//! Why another arithmetic: ggml's x86 kernels, which the other formats' AVX2 kernels follow, keep eight
//! partial sums per weight row and activation row (one per four bytes of a block) and scale each block's
//! eight lanes with an `fmadd`, so a product costs two multiply-unit operations per block and pair of rows
//! (`vpdpbusd` and the `fmadd`); on AMD Zen 4 both run on the same two pipes, which bounded the
//! four-by-four tiles. Here each block's integer sum is whole before it is scaled, as in the scalar
//! reference (`d·y.d·Σ x·y`, rounded product by product), and eight weight rows are interleaved four
//! bytes at a time, so one `vpdpbusd` (or AVX2's `maddubs` and `madd`) against four broadcast activation
//! bytes advances all eight rows' sums and the float part (two products and an add) is shared by eight
//! rows. Blocks are added into four partial sums (by block number mod 4, combined as
//! `(s₀ + s₁) + (s₂ + s₃)`), which keeps the one-row kernel's chain of dependent adds a quarter as long.
//!
//! The same bits everywhere: the one-row kernels ([`avx2::dot`], [`vnni::dot`], used for decoding and for
//! rows left over), the eight-row ones and [`super::scalar`]'s `q4_0`, `q5_0` and `q8_0` do the same float
//! operations in the same order on the same exact integers. So a batched forward pass gives each row
//! exactly what it gets alone, and an AVX2 machine, an AVX-512 one and the scalar fallback give the same
//! answers.
use super::avx2::{bits, halves, nibbles, transpose8};
use super::{Q8Block, ROWS, TILE};
use std::arch::x86_64::*;

/// Blocks ahead that [`avx2::interleave`] asks the cache for, in each of its eight rows: eight streams
/// that step 22 or 34 bytes at a time outran the hardware prefetcher in batched decoding, where the
/// packing is most of a step's reads (Qwen2.5-Coder's six-probe suite sample: 10.2–11.5 s against
/// 11.0–12.5 s without; 4 and 16 blocks ahead measured no better).
const PREFETCH: usize = 8;

/// One block's 32 weights from the block's bytes as stored: as signed bytes, and plus `OFFSET` as
/// unsigned bytes (the form the eight-row products multiply, made in fewer operations).
pub trait Signed {
    const BYTES: usize;
    const OFFSET: i32;
    /// `(x + OFFSET)·y` pairs fit in i16, so AVX2's `maddubs` can take the unsigned form.
    const NARROW: bool = Self::OFFSET < 128;
    unsafe fn weights(blk: *const u8) -> __m256i;
    unsafe fn unsigned(blk: *const u8) -> __m256i;
    /// [`Signed::unsigned`] where AVX-512 BW may be used.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw")]
    unsafe fn unsigned_bw(blk: *const u8) -> __m256i {
        Self::unsigned(blk)
    }
}

pub struct Q4_0;
pub struct Q5_0;
pub struct Q8_0;

impl Signed for Q4_0 {
    const BYTES: usize = 18;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn weights(blk: *const u8) -> __m256i {
        _mm256_sub_epi8(nibbles(blk.add(2)), _mm256_set1_epi8(8))
    }
    const OFFSET: i32 = 8;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn unsigned(blk: *const u8) -> __m256i {
        nibbles(blk.add(2))
    }
}

impl Signed for Q5_0 {
    const BYTES: usize = 22;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn weights(blk: *const u8) -> __m256i {
        // value = nibble | bit4 − 16: where the high bit is clear, the byte is nibble − 16 = nibble | 0xF0.
        let hi = _mm256_andnot_si256(bits(blk.add(2)), _mm256_set1_epi8(0xF0u8 as i8));
        _mm256_or_si256(nibbles(blk.add(6)), hi)
    }
    const OFFSET: i32 = 16;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn unsigned(blk: *const u8) -> __m256i {
        let sixteen = _mm256_and_si256(bits(blk.add(2)), _mm256_set1_epi8(0x10));
        _mm256_or_si256(nibbles(blk.add(6)), sixteen)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw")]
    unsafe fn unsigned_bw(blk: *const u8) -> __m256i {
        // nibble | bit4 << 4: bit j of the 32 high bits belongs to weight j, as lane j of `nibbles`.
        let high = (blk.add(2) as *const u32).read_unaligned();
        let sixteen = _mm256_maskz_mov_epi8(high, _mm256_set1_epi8(0x10));
        _mm256_or_si256(nibbles(blk.add(6)), sixteen)
    }
}

impl Signed for Q8_0 {
    const BYTES: usize = 34;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn weights(blk: *const u8) -> __m256i {
        _mm256_loadu_si256(blk.add(2) as *const __m256i)
    }
    const OFFSET: i32 = 128;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn unsigned(blk: *const u8) -> __m256i {
        // x + 128 as an unsigned byte is x with its top bit flipped.
        _mm256_xor_si256(Self::weights(blk), _mm256_set1_epi8(0x80u8 as i8))
    }
}

/// The f16 scale that opens a block, widened.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale(blk: *const u8) -> f32 {
    _mm_cvtss_f32(halves(blk))
}

/// The four vectors' lane sums, `[Σ v₀, Σ v₁, Σ v₂, Σ v₃]` (exact: integers).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sums4(v: &[__m256i; 4]) -> __m128i {
    // [v0:01|23, v1:01|23 … ] then [v0:0123, v1:0123, v2:0123, v3:0123 | the same of lanes 4..8]
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1))
}

/// The level's sum from its four partial sums (blocks `i ≡ j mod 4` in lane `j`): `(s₀ + s₁) + (s₂ + s₃)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish4(acc: __m128) -> f32 {
    let pairs = _mm_add_ps(acc, _mm_shuffle_ps(acc, acc, 0b10_11_00_01));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehl_ps(pairs, pairs)))
}

/// The kernels of one instruction set: `$dot4(acc, u8s, i8s)` adds the four-byte sums of products to
/// `acc`'s lanes; `$signed_wide` keeps Q8_0 signed in the interleaved rows (AVX2, where `maddubs`'s i16
/// pairs would saturate on the unsigned form); `$unsigned` makes the unsigned form.
macro_rules! kernels {
    ($name:ident, $features:literal, $dot4:ident, $signed_wide:expr, $unsigned:ident) => {
        pub mod $name {
            use super::*;

            /// One weight row (blocks as stored) against one activation row, in this level's arithmetic: each
            /// block's exact integer sum times `d·y.d` (two products, as the reference rounds them), added to the
            /// partial sum of its block number mod 4, in block order; then [`finish4`]. Blocks go four at a time,
            /// their integer sums reduced together.
            #[target_feature(enable = $features)]
            pub unsafe fn dot<F: Signed>(w: &[u8], a: &[Q8Block]) -> f32 {
                assert!(w.len() >= a.len() * F::BYTES);
                let mut acc = _mm_setzero_ps();
                let zero = _mm256_setzero_si256();
                for (c, chunk) in a.chunks(4).enumerate() {
                    let mut v = [zero; 4];
                    let (mut dw, mut dc) = ([0f32; 4], [0f32; 4]);
                    for (j, b) in chunk.iter().enumerate() {
                        let blk = w.as_ptr().add((4 * c + j) * F::BYTES);
                        let x = F::weights(blk);
                        let y = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
                        // |x| as unsigned bytes (128 for −128) against y with x's sign: Σ x·y per four bytes.
                        v[j] = $dot4(zero, _mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
                        (dw[j], dc[j]) = (scale(blk), b.d);
                    }
                    // A short last chunk adds +0.0 to the lanes it lacks, which leaves every sum's bits as they
                    // were (no partial sum is ever −0.0: it starts at +0.0, and x + y is −0.0 only when both are).
                    let d = _mm_mul_ps(
                        _mm_set_ps(dw[3], dw[2], dw[1], dw[0]),
                        _mm_set_ps(dc[3], dc[2], dc[1], dc[0]),
                    );
                    acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(sums4(&v))));
                }
                finish4(acc)
            }

            /// [`ROWS`] weight rows (blocks as stored) interleaved for [`gemm`]: block `i`'s bytes `4k..4k + 4` of
            /// row `r` at `q[(8i + k)·32 + 4r..]`, as unsigned bytes (the weight plus the format's `OFFSET`), and its
            /// scale at `s[8i + r]`.
            #[target_feature(enable = $features)]
            pub unsafe fn interleave<F: Signed>(rows: [&[u8]; ROWS], q: &mut [u8], s: &mut [f32]) {
                let nb = s.len() / ROWS;
                assert!(q.len() >= nb * 32 * ROWS && rows.iter().all(|r| r.len() >= nb * F::BYTES));
                for i in 0..nb {
                    let mut x = [_mm256_setzero_si256(); ROWS];
                    for r in 0..ROWS {
                        let blk = rows[r].as_ptr().add(i * F::BYTES);
                        _mm_prefetch::<_MM_HINT_T0>(
                            blk.wrapping_add(PREFETCH * F::BYTES) as *const i8
                        );
                        // The unsigned form, but Q8_0's signed on AVX2 (its pairs would saturate `maddubs`).
                        x[r] = match $signed_wide && !F::NARROW {
                            true => F::weights(blk),
                            false => F::$unsigned(blk),
                        };
                        s[ROWS * i + r] = scale(blk);
                    }
                    // out[k] = [row 0 word k, …, row 7 word k].
                    let out = transpose8(x.map(|v| _mm256_castsi256_ps(v)));
                    let to = q.as_mut_ptr().add(i * 32 * ROWS) as *mut __m256;
                    for (k, v) in out.into_iter().enumerate() {
                        _mm256_storeu_ps(to.add(k) as *mut f32, v);
                    }
                }
            }

            /// [`ROWS`] interleaved weight rows ([`interleave`]) against [`TILE`] activation rows, `out[r][c]`:
            /// [`dot`]'s sum for every pair, bit for bit.
            ///
            /// Per block and activation row, one `vpdpbusd` per four bytes adds `Σ (x + OFFSET)·y` to all eight
            /// rows' lanes, the activation bytes broadcast from memory; the lanes start at `−OFFSET·Σ y` (from the
            /// activation block's sum), so each ends as the exact `Σ x·y`. Then `d·y.d` for the eight rows in one product, that
            /// times the converted sum in another, and the add to the partial sum of the block number mod 4:
            /// [`dot`]'s operations, eight rows at a time.
            #[target_feature(enable = $features)]
            pub unsafe fn gemm<F: Signed>(
                q: &[u8],
                s: &[f32],
                a: [&[Q8Block]; TILE],
            ) -> [[f32; TILE]; ROWS] {
                let n = a[0].len();
                assert!(
                    a.iter().all(|r| r.len() == n)
                        && q.len() >= n * 32 * ROWS
                        && s.len() >= n * ROWS
                );
                // Partial sums by block number mod 4, as [`dot`] keeps them (four blocks per pass, so each
                // partial sum has a register of its own).
                let mut acc = [[_mm256_setzero_ps(); 4]; TILE];
                for i4 in (0..n).step_by(4) {
                    for (j, i) in (i4..n.min(i4 + 4)).enumerate() {
                        let signed = $signed_wide && !F::NARROW;
                        let offset = if signed { 0 } else { F::OFFSET };
                        let mut sums = [_mm256_setzero_si256(); TILE];
                        for c in 0..TILE {
                            sums[c] = _mm256_set1_epi32(-offset * a[c].get_unchecked(i).sum);
                        }
                        let block = q.as_ptr().add(i * 32 * ROWS) as *const __m256i;
                        for k in 0..8 {
                            let x = _mm256_loadu_si256(block.add(k));
                            let ax = if signed { _mm256_abs_epi8(x) } else { x };
                            for c in 0..TILE {
                                let y4 = a[c].get_unchecked(i).qs.as_ptr().add(4 * k) as *const i32;
                                let y = _mm256_set1_epi32(y4.read_unaligned());
                                let y = if signed { _mm256_sign_epi8(y, x) } else { y };
                                sums[c] = $dot4(sums[c], ax, y);
                            }
                        }
                        let d = _mm256_loadu_ps(s.as_ptr().add(ROWS * i));
                        for c in 0..TILE {
                            let dd = _mm256_mul_ps(d, _mm256_set1_ps(a[c].get_unchecked(i).d));
                            let v = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(sums[c]));
                            acc[c][j] = _mm256_add_ps(acc[c][j], v);
                        }
                    }
                }
                let mut out = [[0f32; TILE]; ROWS];
                for c in 0..TILE {
                    let [s0, s1, s2, s3] = acc[c];
                    let total = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
                    let mut v = [0f32; ROWS];
                    _mm256_storeu_ps(v.as_mut_ptr(), total);
                    for r in 0..ROWS {
                        out[r][c] = v[r];
                    }
                }
                out
            }
        }
    };
}

/// `acc + Σ a·b` over each four bytes with AVX2: `maddubs` then `madd`, exact while no i16 pair sum
/// passes 32767 (|x| ≤ 128 against activations in −127..127, or the unsigned Q4_0 and Q5_0 forms).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot4_avx2(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(a, b);
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// `acc + Σ a·b` over each four bytes in one `vpdpbusd` (exact: i32 arithmetic).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn dot4_vnni(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, a, b)
}

kernels!(avx2, "avx2,fma,f16c", dot4_avx2, true, unsigned);
kernels!(
    vnni,
    "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni",
    dot4_vnni,
    false,
    unsigned_bw
);

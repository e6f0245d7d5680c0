//! Portable kernels: the reference arithmetic the SIMD ones reproduce (same integer sums per block).
use super::{f16_at, Q8Block, Q8KBlock};

/// The signed formats' sum of block products: four partial sums by block number mod 4, added as
/// `(s₀ + s₁) + (s₂ + s₃)`, the order the SIMD kernels keep ([`super::interleaved`]).
fn sum4(products: impl Iterator<Item = f32>) -> f32 {
    let mut parts = [0f32; 4];
    for (i, p) in products.enumerate() {
        parts[i % 4] += p;
    }
    (parts[0] + parts[1]) + (parts[2] + parts[3])
}

pub fn q4_0(w: &[u8], a: &[Q8Block]) -> f32 {
    sum4(w.chunks_exact(18).zip(a).map(|(blk, b)| {
        let d = f16_at(blk, 0);
        let mut dot = 0i32;
        for j in 0..16 {
            dot += ((blk[2 + j] & 0x0F) as i32 - 8) * b.qs[j] as i32;
            dot += ((blk[2 + j] >> 4) as i32 - 8) * b.qs[j + 16] as i32;
        }
        d * b.d * dot as f32
    }))
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
    sum4(w.chunks_exact(22).zip(a).map(|(blk, b)| {
        let d = f16_at(blk, 0);
        let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
        let mut dot = 0i32;
        for j in 0..16 {
            let lo = ((blk[6 + j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4)) as i32 - 16;
            let hi = ((blk[6 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4)) as i32 - 16;
            dot += lo * b.qs[j] as i32 + hi * b.qs[j + 16] as i32;
        }
        d * b.d * dot as f32
    }))
}

/// ggml's `vec_dot_q5_1_q8_1`: Q4_1's sum on 5-bit weights (0..31), `d·y.d·Σ q·y + m·y.s` per block.
pub fn q5_1(w: &[u8], a: &[Q8Block]) -> f32 {
    let mut sum = 0f32;
    for (blk, b) in w.chunks_exact(24).zip(a) {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
        let mut dot = 0i32;
        for j in 0..16 {
            let lo = ((blk[8 + j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4)) as i32;
            let hi = ((blk[8 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4)) as i32;
            dot += lo * b.qs[j] as i32 + hi * b.qs[j + 16] as i32;
        }
        sum += d * b.d * dot as f32 + m * b.s;
    }
    sum
}

pub fn q8_0(w: &[u8], a: &[Q8Block]) -> f32 {
    sum4(w.chunks_exact(34).zip(a).map(|(blk, b)| {
        let d = f16_at(blk, 0);
        let dot: i32 = (0..32)
            .map(|j| (blk[2 + j] as i8) as i32 * b.qs[j] as i32)
            .sum();
        d * b.d * dot as f32
    }))
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

/// A bf16 weight row against f32 activations.
pub fn bf16(w: &[u8], x: &[f32]) -> f32 {
    half_dot(w, x, |b| {
        f32::from_bits((u16::from_le_bytes(b) as u32) << 16)
    })
}

/// An f16 weight row against f32 activations.
pub fn f16(w: &[u8], x: &[f32]) -> f32 {
    half_dot(w, x, |b| half::f16::from_le_bytes(b).to_f32())
}

/// Eight partial sums in a fixed order, then the tail: the order of `dot_f32`, so a 16-bit row gives
/// the bits its f32 widening would.
#[inline]
fn half_dot(w: &[u8], x: &[f32], widen: impl Fn([u8; 2]) -> f32) -> f32 {
    debug_assert_eq!(w.len(), 2 * x.len());
    let n8 = x.len() / 8 * 8;
    let mut acc = [0f32; 8];
    for (wc, xc) in w[..2 * n8].chunks_exact(16).zip(x[..n8].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += widen([wc[2 * i], wc[2 * i + 1]]) * xc[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (b, v) in w[2 * n8..].chunks_exact(2).zip(&x[n8..]) {
        s += widen([b[0], b[1]]) * v;
    }
    s
}

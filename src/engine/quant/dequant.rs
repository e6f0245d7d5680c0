//! Quantized rows back to f32, block by block as ggml lays them out: the embedding lookup (`dequantize_row`)
//! and the references the kernel tests compare with. Formats without a case here go through candle.

use super::{candle_to_float, f16_at, QK};
use candle_core::quantized::GgmlDType;
use half::{bf16, f16};

/// One stored row of `dtype` as f32 values.
pub(super) fn row(dtype: GgmlDType, row: &[u8], out: &mut [f32]) {
    match dtype {
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
        GgmlDType::Q5_1 => {
            for (blk, o) in row.chunks_exact(24).zip(out.chunks_exact_mut(QK)) {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
                for j in 0..16 {
                    let lo = (blk[8 + j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
                    let hi = (blk[8 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                    o[j] = d * lo as f32 + m;
                    o[j + 16] = d * hi as f32 + m;
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

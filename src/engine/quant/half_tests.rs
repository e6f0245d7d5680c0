//! Specs of the 16-bit (bf16, f16) and in-place f32 matrices that Hugging Face checkpoints run on, and of
//! the Q8_0 copy `--precision quantized` makes of them (kept apart from `quant.rs`'s tests, which are
//! about the GGUF block formats).
use super::*;
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use half::bf16;

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `rows` × `cols` random weights stored as `dtype` (F32, F16 or BF16), and the stored values widened.
fn stored(dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> (QMatrix, Vec<f32>) {
    let w = values(rows * cols, seed);
    let (bytes, widened): (Vec<u8>, Vec<f32>) = match dtype {
        GgmlDType::BF16 => {
            let h: Vec<bf16> = w.iter().map(|v| bf16::from_f32(*v)).collect();
            (
                h.iter().flat_map(|v| v.to_le_bytes()).collect(),
                h.iter().map(|v| v.to_f32()).collect(),
            )
        }
        GgmlDType::F16 => {
            let h: Vec<f16> = w.iter().map(|v| f16::from_f32(*v)).collect();
            (
                h.iter().flat_map(|v| v.to_le_bytes()).collect(),
                h.iter().map(|v| v.to_f32()).collect(),
            )
        }
        _ => (w.iter().flat_map(|v| v.to_le_bytes()).collect(), w),
    };
    let m = QMatrix::new(dtype, rows, cols, Bytes::from_vec(bytes)).unwrap();
    (m, widened)
}

fn product(kern: &Kernels, w: &QMatrix, xs: &[f32], m: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * w.rows()];
    matmul_many_with(kern, xs, m, &[w], &mut [&mut out]);
    out
}

/// Row lengths of real models (896, 4864) and ones with a tail past the last group of 8 and of 32.
const COLS: [usize; 4] = [896, 4864, 100, 45];

#[test]
fn sixteen_bit_rows_give_the_product_of_their_stored_values() {
    for dtype in [GgmlDType::BF16, GgmlDType::F16, GgmlDType::F32] {
        for cols in COLS {
            let rows = 37;
            let (w, widened) = stored(dtype, rows, cols, cols as u64);
            for level in Level::available() {
                for m in [1, 3] {
                    let xs = values(m * cols, 5 + m as u64);
                    let got = product(&Kernels::new(level), &w, &xs, m);
                    for i in 0..m {
                        for r in 0..rows {
                            let exact: f64 = (0..cols)
                                .map(|c| xs[i * cols + c] as f64 * widened[r * cols + c] as f64)
                                .sum();
                            let magnitude: f64 = (0..cols)
                                .map(|c| (xs[i * cols + c] * widened[r * cols + c]).abs() as f64)
                                .sum();
                            let g = got[i * rows + r] as f64;
                            // No rounding of the activations: only f32 accumulation error.
                            assert!(
                                (g - exact).abs() <= 1e-6 * magnitude.max(1.0),
                                "{dtype:?} {level:?} cols {cols} row {r}: {g} vs {exact}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn scalar_sixteen_bit_kernels_give_the_bits_of_their_f32_widening() {
    let scalar = Kernels::new(Level::Scalar);
    for dtype in [GgmlDType::BF16, GgmlDType::F16] {
        for cols in COLS {
            let (w, _) = stored(dtype, 9, cols, 3);
            let xs = values(2 * cols, 4);
            assert_eq!(
                product(&scalar, &w, &xs, 2),
                product(&scalar, &w.to_f32(), &xs, 2),
                "{dtype:?} cols {cols}"
            );
        }
    }
}

#[test]
fn a_batched_sixteen_bit_product_gives_each_row_the_same_bits_as_alone() {
    for level in Level::available() {
        let kern = Kernels::new(level);
        for dtype in [GgmlDType::BF16, GgmlDType::F16, GgmlDType::F32] {
            let (w, _) = stored(dtype, 300, 512, 13);
            let q8 = w.to_q8_0().unwrap();
            for mat in [&w, &q8] {
                let m = 5;
                let xs = values(m * 512, 17);
                let batched = product(&kern, mat, &xs, m);
                for i in 0..m {
                    let alone = product(&kern, mat, &xs[i * 512..(i + 1) * 512], 1);
                    assert_eq!(
                        alone,
                        batched[i * 300..(i + 1) * 300],
                        "{dtype:?} {:?} {level:?} row {i}",
                        mat.dtype()
                    );
                }
            }
        }
    }
}

#[test]
fn the_q8_0_copy_has_the_bytes_of_ggmls_quantizer() {
    // candle's Q8_0 quantizer is ggml's reference: the same f16 scale and rounded bytes per block.
    for dtype in [GgmlDType::BF16, GgmlDType::F16, GgmlDType::F32] {
        let (w, widened) = stored(dtype, 6, 256, 29);
        let q8 = w.to_q8_0().unwrap();
        assert_eq!(q8.dtype(), GgmlDType::Q8_0);
        let t = Tensor::from_vec(widened, (6, 256), &Device::Cpu).unwrap();
        let reference = QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
        assert_eq!(
            q8.data.as_slice(),
            &reference.data().unwrap()[..],
            "{dtype:?}"
        );
    }
    // Rows that are not whole blocks stay as they are.
    let (w, _) = stored(GgmlDType::BF16, 2, 45, 1);
    assert!(w.to_q8_0().is_none());
}

#[test]
fn f32_weights_at_an_unaligned_offset_are_read_correctly() {
    let (aligned, widened) = stored(GgmlDType::F32, 4, 64, 8);
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(aligned.data.as_slice());
    let owner: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes);
    let len = 4 * 64 * 4;
    let shifted = QMatrix::new(GgmlDType::F32, 4, 64, Bytes::new(owner, 1, len).unwrap()).unwrap();
    let mut row = vec![0f32; 64];
    for r in 0..4 {
        shifted.dequantize_row(r, &mut row);
        assert_eq!(row, widened[r * 64..(r + 1) * 64], "row {r}");
    }
    let xs = values(64, 2);
    let kern = kernels();
    assert_eq!(
        product(kern, &shifted, &xs, 1),
        product(kern, &aligned, &xs, 1)
    );
}

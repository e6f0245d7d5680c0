//! Specs of the GGUF block formats and their kernels: dequantization, dot products against candle's
//! reference, activation rounding as llama.cpp's x86 builds do it, and batch-invariance.

use super::*;
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};

#[test]
fn activations_round_to_8_bits_as_llama_cpps_x86_build_does() {
    // amax 127 makes the scale 1: halves are ties, and go to the even neighbour (roundf would take
    // 3, 5 and -3 away from zero).
    let mut x = vec![0f32; QK];
    x[..5].copy_from_slice(&[127.0, 2.5, 4.5, -2.5, 3.5]);
    let q = quantize_q8(&x);
    assert_eq!(&q[0].qs[..5], &[127, 2, 4, -2, 4]);
    assert_eq!(q[0].d, 1.0);
    // The multiplier is 127 / amax, not the reciprocal of amax / 127: here v · 127/amax is
    // 119.49999 (to 119), v / (amax/127) is 119.50001 (roundf: 120).
    let (amax, v) = (f32::from_bits(1087713146), f32::from_bits(1086888068));
    let mut x = vec![0f32; QK];
    x[0] = amax;
    x[1] = v;
    assert_eq!(quantize_q8(&x)[0].qs[1], 119);
}

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
        (GgmlDType::Q5_1, 896),
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
        GgmlDType::Q5_1,
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
        GgmlDType::Q5_1 => (24, &[0, 2]),
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
        GgmlDType::Q5_1,
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
fn the_signed_formats_sum_alike_on_every_level_four_partial_sums_of_the_references_products() {
    let scalar = Kernels::new(Level::Scalar);
    for dtype in [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0] {
        // 1 to 11 blocks: short last groups of four, and every block number mod 4.
        for blocks in 1..=11 {
            let cols = blocks * 32;
            let w = random_blocks(dtype, blocks, -0.37, 40 + blocks as u64);
            let x = values(cols, 41 + blocks as u64);
            let bytes = w.len() / blocks;
            // Each block's product as the reference rounds it (`d·y.d·Σ x·y`, one block alone).
            let mut parts = [0f32; 4];
            for b in 0..blocks {
                let (wb, xb) = (&w[b * bytes..(b + 1) * bytes], &x[b * 32..(b + 1) * 32]);
                parts[b % 4] += dot_with(&scalar, dtype, wb, xb);
            }
            let want = (parts[0] + parts[1]) + (parts[2] + parts[3]);
            for level in levels() {
                let got = dot_with(&Kernels::new(level), dtype, &w, &x);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{dtype:?} {level:?}, {blocks} blocks: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn a_batch_of_signed_rows_gives_the_same_bits_on_every_level() {
    // The interleaved eight-row products, on random blocks of every byte pattern, against scalar.
    let (rows, cols, m) = (37, 320, 6);
    for dtype in [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0] {
        let bytes = random_blocks(dtype, rows * cols / 32, 2.25, 77);
        let w = QMatrix::new(dtype, rows, cols, Bytes::from_vec(bytes)).unwrap();
        let xs = values(m * cols, 78);
        let run = |level| {
            let mut out = vec![0f32; m * rows];
            matmul_many_with(&Kernels::new(level), &xs, m, &[&w], &mut [&mut out]);
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let want = run(Level::Scalar);
        for level in levels() {
            assert_eq!(run(level), want, "{dtype:?} {level:?}");
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
    // AVX-512 VNNI is chosen where the CPU has it, and `avx2` caps it.
    let vnni = [Level::Scalar, Level::Avx2, Level::Avx512Vnni];
    assert_eq!(Level::chosen(None, false, &vnni), Level::Avx512Vnni);
    assert_eq!(Level::chosen(Some("avx2"), false, &vnni), Level::Avx2);
    assert_eq!(Level::chosen(Some("avx512"), false, &all), Level::Avx2);
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
            GgmlDType::Q5_1,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let cols = 512;
            let rows = 300;
            // A matrix candle quantized, and random blocks: every byte pattern (Q8_0's −128, which
            // candle never writes, included) with a large scale.
            let (w, _) = quantized(dtype, rows, cols, 13);
            let blocks = rows * cols / dtype.block_size();
            let bytes = random_blocks(dtype, blocks, 3.5, 29);
            let random = QMatrix::new(dtype, rows, cols, Bytes::from_vec(bytes)).unwrap();
            // Two rows (no full tile), a tile and a remainder of three, two tiles and one more.
            for (w, m) in [(&w, 2), (&w, 7), (&w, 9), (&random, 2), (&random, 9)] {
                let xs = values(m * cols, 17);
                let mut batched = vec![0f32; m * rows];
                matmul_many_with(&kern, &xs, m, &[w], &mut [&mut batched]);
                for i in 0..m {
                    let mut alone = vec![0f32; rows];
                    let x = &xs[i * cols..(i + 1) * cols];
                    matmul_many_with(&kern, x, 1, &[w], &mut [&mut alone]);
                    assert_eq!(
                        alone,
                        batched[i * rows..(i + 1) * rows],
                        "{dtype:?} {level:?} row {i} of {m}"
                    );
                }
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

#[test]
fn attention_scores_have_the_bits_of_a_plain_sum_on_every_level() {
    // Head sizes with and without a tail past the last eight dimensions.
    for hd in [64, 100, 256, 3] {
        let q = values(hd, 31);
        let keys: Vec<Vec<f32>> = (0..8).map(|l| values(hd, 40 + l)).collect();
        let rows: [&[f32]; 8] = std::array::from_fn(|l| keys[l].as_slice());
        let plain: Vec<u32> = keys
            .iter()
            .map(|k| q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>().to_bits())
            .collect();
        let scalar: Vec<u32> = scores8_scalar(&q, rows)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(scalar, plain, "scalar, head size {hd}");
        #[cfg(target_arch = "x86_64")]
        if Level::available().contains(&Level::Avx2) {
            let simd: Vec<u32> = unsafe { avx2::scores8(&q, rows) }
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(simd, plain, "avx2, head size {hd}");
        }
    }
}

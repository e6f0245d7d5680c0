//! Which kernels run: the instruction-set levels, what the CPU and `MODELVET_KERNELS` pick, and the table
//! of kernel functions for each level that the matrix products dispatch through.
#[cfg(target_arch = "x86_64")]
use super::{avx2, interleaved as il};
use super::{scalar, KBlock, Q8Block, Q8KBlock, ROWS, TILE};

/// An instruction set the kernels are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar,
    Avx2,
    /// AVX2 plus AVX-512 VNNI (F, BW, VL, VNNI) for the prompt and batch tiles: the same sums as `Avx2`
    /// (bit for bit), in fewer instructions.
    Avx512Vnni,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            // The record's name: `avx2`'s sums with AVX-512 VNNI instructions.
            Level::Avx512Vnni => "avx512-vnni",
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
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
            {
                v.push(Level::Avx512Vnni);
            }
        }
        v
    }

    /// The level to run given `MODELVET_KERNELS` (`scalar`, `avx2`, `auto`) and `MODELVET_SCALAR_KERNELS`
    /// (any value: scalar): the best level the CPU has that is not above the one asked for. An unknown
    /// name means `auto`; the engine record names the level that ran.
    pub(super) fn chosen(kernels: Option<&str>, scalar: bool, available: &[Level]) -> Level {
        let best = available.last().copied().unwrap_or(Level::Scalar);
        let cap = match kernels.map(str::trim) {
            _ if scalar => Level::Scalar,
            Some("scalar") => Level::Scalar,
            Some("avx2") => Level::Avx2,
            Some("avx512" | "avx512vnni" | "avx512-vnni" | "avx2+vnni") => Level::Avx512Vnni,
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
pub(super) type Dot<A> = fn(&[u8], &[A]) -> f32;

/// The dot-product kernels of one instruction set.
pub(super) struct Kernels {
    pub(super) level: Level,
    pub(super) q4_0: Dot<Q8Block>,
    pub(super) q4_1: Dot<Q8Block>,
    pub(super) q5_0: Dot<Q8Block>,
    pub(super) q5_1: Dot<Q8Block>,
    pub(super) q8_0: Dot<Q8Block>,
    pub(super) q4k: Dot<Q8KBlock>,
    pub(super) q5k: Dot<Q8KBlock>,
    pub(super) q6k: Dot<Q8KBlock>,
    /// 16-bit weight rows against f32 activations.
    pub(super) bf16: Dot<f32>,
    pub(super) f16: Dot<f32>,
    /// Unpack-once kernels for products over several activation rows (SIMD only).
    pub(super) unpacked: Option<Unpacked>,
}

/// Kernels that unpack a weight row once (to bytes and scales) and then dot it with each activation
/// row, giving exactly the bits of the direct kernels.
pub(super) struct Unpacked {
    pub(super) q4_1: Unpack,
    pub(super) q5_1: Unpack,
    pub(super) dot_q4_1: DotUnpacked,
    pub(super) q4k: UnpackK,
    pub(super) q5k: UnpackK,
    pub(super) q6k: UnpackK,
    pub(super) dot_k_mins: DotUnpackedK,
    pub(super) dot_q6k: DotUnpackedK,
    pub(super) tile_q4_1: DotUnpackedTile,
    pub(super) tile_k_mins: DotUnpackedKTile,
    pub(super) tile_q6k: DotUnpackedKTile,
    /// Four weight rows by [`TILE`] activation rows (AVX-512 VNNI only).
    pub(super) quad_q4_1: Option<DotQuad>,
    /// Q4_0, Q5_0 and Q8_0 eight weight rows at a time ([`il`]).
    pub(super) interleaved: Interleaving,
    pub(super) quad_k_mins: Option<DotKQuad>,
    pub(super) quad_q6k: Option<DotKQuad>,
}
pub(super) type Unpack = fn(&[u8], &mut [u8], &mut [[f32; 2]]);
pub(super) type DotUnpacked = fn(&[u8], &[[f32; 2]], &[Q8Block]) -> f32;
pub(super) type UnpackK = fn(&[u8], &mut [KBlock]);
pub(super) type DotUnpackedK = fn(&[KBlock], &[Q8KBlock]) -> f32;

pub(super) type DotUnpackedTile = fn(&[u8], &[[f32; 2]], [&[Q8Block]; TILE]) -> [f32; TILE];
pub(super) type DotUnpackedKTile = fn(&[KBlock], [&[Q8KBlock]; TILE]) -> [f32; TILE];
pub(super) type DotQuad = fn([&[u8]; 4], &[[f32; 4]], [&[Q8Block]; TILE]) -> [[f32; TILE]; 4];

pub(super) type DotKQuad = fn([&[KBlock]; 4], [&[Q8KBlock]; TILE]) -> [[f32; TILE]; 4];

pub(super) type DotInterleaved = fn(&[u8], &[f32], [&[Q8Block]; TILE]) -> [[f32; TILE]; ROWS];

/// How one format's rows are interleaved ([`il::avx2::interleave`]) and multiplied.
#[derive(Clone, Copy)]
pub(super) struct Interleaved {
    pub(super) pack: fn([&[u8]; ROWS], &mut [u8], &mut [f32]),
    pub(super) gemm: DotInterleaved,
}

/// [`Interleaved`] for each signed format.
pub(super) struct Interleaving {
    pub(super) q4_0: Interleaved,
    pub(super) q5_0: Interleaved,
    pub(super) q8_0: Interleaved,
}

/// The eight-row kernels of one instruction set's module of [`il`], for each signed format.
#[cfg(target_arch = "x86_64")]
macro_rules! interleaving {
    ($isa:ident) => {
        Interleaving {
            q4_0: interleaving!($isa, Q4_0),
            q5_0: interleaving!($isa, Q5_0),
            q8_0: interleaving!($isa, Q8_0),
        }
    };
    ($isa:ident, $format:ident) => {
        Interleaved {
            pack: |r, q, s| unsafe { il::$isa::interleave::<il::$format>(r, q, s) },
            gemm: |q, s, a| unsafe { il::$isa::gemm::<il::$format>(q, s, a) },
        }
    };
}

impl Kernels {
    pub(super) fn new(level: Level) -> Kernels {
        #[cfg(target_arch = "x86_64")]
        if level >= Level::Avx2 {
            let vnni = level == Level::Avx512Vnni;
            let quad_q4_1: Option<DotQuad> =
                vnni.then_some(|q, dm, a| unsafe { avx2::dot_unpacked_q4_1_quad(q, dm, a) });
            return Kernels {
                level,
                // The signed formats' one-row kernels sum as their eight-row ones ([`il`]).
                q4_0: match vnni {
                    true => |w, a| unsafe { il::vnni::dot::<il::Q4_0>(w, a) },
                    false => |w, a| unsafe { il::avx2::dot::<il::Q4_0>(w, a) },
                },
                q4_1: |w, a| unsafe { avx2::q4_1(w, a) },
                q5_0: match vnni {
                    true => |w, a| unsafe { il::vnni::dot::<il::Q5_0>(w, a) },
                    false => |w, a| unsafe { il::avx2::dot::<il::Q5_0>(w, a) },
                },
                q5_1: |w, a| unsafe { avx2::q5_1(w, a) },
                q8_0: match vnni {
                    true => |w, a| unsafe { il::vnni::dot::<il::Q8_0>(w, a) },
                    false => |w, a| unsafe { il::avx2::dot::<il::Q8_0>(w, a) },
                },
                q4k: |w, a| unsafe { avx2::q4k(w, a) },
                q5k: |w, a| unsafe { avx2::q5k(w, a) },
                q6k: |w, a| unsafe { avx2::q6k(w, a) },
                bf16: |w, x| unsafe { avx2::half_dot::<true>(w, x) },
                f16: |w, x| unsafe { avx2::half_dot::<false>(w, x) },
                unpacked: Some(Unpacked {
                    q4_1: |w, q, s| unsafe { avx2::decode_q4_1(w, q, s) },
                    q5_1: |w, q, s| unsafe { avx2::decode_q5_1(w, q, s) },
                    dot_q4_1: |q, s, a| unsafe { avx2::dot_unpacked_q4_1(q, s, a) },
                    q4k: |w, u| unsafe { avx2::decode_q4k(w, u) },
                    q5k: |w, u| unsafe { avx2::decode_q5k(w, u) },
                    q6k: |w, u| unsafe { avx2::decode_q6k(w, u) },
                    dot_k_mins: |u, a| unsafe { avx2::dot_unpacked_k::<false>(u, a) },
                    dot_q6k: |u, a| unsafe { avx2::dot_unpacked_k::<true>(u, a) },
                    tile_q4_1: |q, s, a| unsafe { avx2::dot_unpacked_q4_1_tile(q, s, a) },
                    tile_k_mins: |u, a| unsafe { avx2::dot_unpacked_k_tile::<false>(u, a) },
                    tile_q6k: |u, a| unsafe { avx2::dot_unpacked_k_tile::<true>(u, a) },
                    quad_q4_1,
                    interleaved: match vnni {
                        true => interleaving!(vnni),
                        false => interleaving!(avx2),
                    },
                    quad_k_mins: vnni
                        .then_some(|w, a| unsafe { avx2::dot_unpacked_k_quad::<false>(w, a) }),
                    quad_q6k: vnni
                        .then_some(|w, a| unsafe { avx2::dot_unpacked_k_quad::<true>(w, a) }),
                }),
            };
        }
        let _ = level;
        Kernels {
            level: Level::Scalar,
            q4_0: scalar::q4_0,
            q4_1: scalar::q4_1,
            q5_0: scalar::q5_0,
            q5_1: scalar::q5_1,
            q8_0: scalar::q8_0,
            q4k: scalar::q4k,
            q5k: scalar::q5k,
            q6k: scalar::q6k,
            bf16: scalar::bf16,
            f16: scalar::f16,
            unpacked: None,
        }
    }
}

pub(super) fn kernels() -> &'static Kernels {
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

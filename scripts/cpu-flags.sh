# Sourced by the set-up and benchmark scripts: what this CPU is and which SIMD extensions it has, read from
# /proc/cpuinfo at run time (never assumed), so builds target the machine they run on and every benchmark
# figure is printed with the CPU it was measured on.
#
# MODELVET_CPU_FLAGS overrides the flag list, to exercise a smaller instruction set (for example the AVX2
# path on an AVX-512 machine).

cpu_flags() {
  if [ -n "${MODELVET_CPU_FLAGS:-}" ]; then
    echo "$MODELVET_CPU_FLAGS"
  else
    grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2
  fi
}

cpu_model() {
  grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || echo unknown
}

has_flag() {
  case " $(cpu_flags) " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

# The SIMD flags that matter for the kernels, in one line (`avx2 fma f16c avx512f …`).
simd_flags() {
  local out=""
  for f in sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512vbmi avx512_bf16 avx_vnni amx_tile; do
    has_flag "$f" && out="$out $f"
  done
  echo "${out# }"
}

# One line to print beside a benchmark figure.
cpu_label() {
  local note=""
  [ -n "${MODELVET_CPU_FLAGS:-}" ] && note=" (flags forced by MODELVET_CPU_FLAGS)"
  echo "$(cpu_model), $(nproc) cores; SIMD: $(simd_flags)$note"
}

# ggml's CMake switches for exactly this CPU: GGML_NATIVE off (so nothing the flags do not name is used),
# each extension on only where the CPU reports it, and AMX always off (some kernels trap its tile
# instructions even where the CPU advertises them).
ggml_cmake_cpu_args() {
  local on
  on() { if has_flag "$1"; then echo ON; else echo OFF; fi; }
  echo "-DGGML_NATIVE=OFF -DGGML_AVX=$(on avx) -DGGML_AVX2=$(on avx2) -DGGML_FMA=$(on fma)" \
    "-DGGML_F16C=$(on f16c) -DGGML_AVX_VNNI=$(on avx_vnni)" \
    "-DGGML_AVX512=$(on avx512f) -DGGML_AVX512_VBMI=$(on avx512vbmi)" \
    "-DGGML_AVX512_VNNI=$(on avx512_vnni) -DGGML_AVX512_BF16=$(on avx512_bf16)" \
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
}

# What the benchmarks share: the llama.cpp peer built for this CPU, and BIN, the modelvet to measure: the
# plain `cargo build --release` users get, or MODELVET_BIN (to compare two builds in one session).
# With MODELVET_CPU_FLAGS, modelvet's kernels are capped to the same flags (MODELVET_KERNELS, unless set):
# both sides then run as they would on a CPU that has only those extensions. The levels need what
# `Level::available` (src/engine/quant/dispatch.rs) checks: avx2 needs AVX2, FMA and F16C; avx512-vnni
# needs those and AVX-512 F/BW/VL/VNNI.
bench_setup() {
  scripts/setup-llama-server.sh >&2
  if [ -n "${MODELVET_CPU_FLAGS:-}" ] && [ -z "${MODELVET_KERNELS:-}" ]; then
    export MODELVET_KERNELS=scalar
    if has_flag avx2 && has_flag fma && has_flag f16c; then
      MODELVET_KERNELS=avx2
      if has_flag avx512f && has_flag avx512bw && has_flag avx512vl && has_flag avx512_vnni; then
        MODELVET_KERNELS=avx512-vnni
      fi
    fi
  fi
  if [ -n "${MODELVET_BIN:-}" ]; then
    BIN="$MODELVET_BIN"
  else
    cargo build --quiet --release
    BIN=target/release/modelvet
  fi
}

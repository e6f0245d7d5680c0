#!/usr/bin/env bash
# Generation speed, modelvet against llama.cpp (through llama-cpp-python) on the same weights, same prompt
# text, greedy, 2 threads, in one run. Prints prompt-processing and decode tokens/s for both, the ratios,
# and modelvet's peak memory against the model's weight files. The GGUF models run the same file on both;
# the Hugging Face folder rebuilt by scripts/make-hf-folder.sh (Qwen2.5-Coder-0.5B, bf16 safetensors)
# runs on modelvet's native safetensors path against llama.cpp on the GGUF of the same bf16 values.
# ONLY=NAME measures one model (SmolLM2-135M, Qwen2.5-0.5B, Gemma-3-270M, Qwen2.5-0.5B-HF), or
# ONLY=requantized the Q8_0 and F16 copies.
#
# Like with like: modelvet is the plain `cargo build --release` users get (its kernels pick AVX2 or scalar
# at run time); llama-cpp-python is built by scripts/setup-llama-server.sh for the SIMD extensions this CPU
# reports (AMX off), cached by those flags. The CPU model and its SIMD flags are printed with the figures.
# MODELVET_BIN=path benchmarks that binary instead of building (to compare two builds in one session).
# MODELVET_KERNELS=scalar|avx2 caps modelvet's kernels (the AVX2 path on an AVX-512 machine); the level
# that ran is printed with each figure. MODELVET_CPU_FLAGS="sse4_2 avx avx2 fma f16c" caps both sides: the
# llama.cpp peer is built for those flags only (AVX-512 off) and modelvet's kernels are capped to match,
# which is how an AVX2-only machine runs both. The load average is printed too: on a shared machine, compare
# ratios from one run, not absolute figures from different runs.
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
THREADS="${THREADS:-2}"
MAX_TOKENS="${MAX_TOKENS:-64}"
RUNS="${RUNS:-3}"
# quantized (candle's kernels on the stored blocks, like llama.cpp) or f32 (what `auto` picks for small models)
PRECISION="${PRECISION:-quantized}"
. scripts/cpu-flags.sh
bench_setup # the llama.cpp peer for this CPU, and BIN: the release build users get, or $MODELVET_BIN

bench_model() { # bench_model NAME PATH [PEER_GGUF [PRECISION]]: PATH for modelvet, PEER_GGUF for llama.cpp
  local name="$1" file="$2" peer="${3:-$2}" precision="${4:-$PRECISION}"
  [ -z "${ONLY:-}" ] || [ "$ONLY" = "$name" ] || return 0
  [ -e "$file" ] || { echo "missing $file: run scripts/fetch-models.sh" >&2; return 1; }
  # One prompt text for both engines: the model's own chat template around a request for a long answer.
  local text
  text="$($BIN template "$file" --prompt "Write a long story about a dragon who learns to paint." --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"], end="")')"
  # The two engines take turns, run by run, so a change in the machine's load (a shared host) falls on
  # both sides alike; each side's median of RUNS runs is printed. Each run is a fresh process.
  local best_mv="" best_lc="" mem=0 kernels=""
  for _ in $(seq "$RUNS"); do
    local err; err="$( { /usr/bin/time -f 'MAXRSS %M' env RAYON_NUM_THREADS="$THREADS" "$BIN" generate "$file" --raw --prompt "$text" --max-tokens "$MAX_TOKENS" --precision "$precision" --quiet >/dev/null; } 2>&1 )"
    local line; line="$(echo "$err" | grep 'prompt tokens')"
    kernels="$(echo "$line" | sed -n 's/.*[ ,]\([a-z0-9+-]*\) kernels.*/\1/p')"
    local rss; rss="$(echo "$err" | awk '/MAXRSS/{print $2}')"; [ "$rss" -gt "$mem" ] && mem="$rss"
    best_mv="$best_mv$line"$'\n'
    best_lc="$best_lc$(python3 - "$peer" "$text" "$THREADS" "$MAX_TOKENS" <<'PY'
import sys, time
import llama_cpp
path, text, threads, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=2048, n_batch=512, verbose=False)
toks = llm.tokenize(text.encode(), add_bos=False, special=True)
# One untimed pass first, so llama.cpp's one-time set-up (graph, buffers) is not counted; modelvet's
# figures are its first prompt in a fresh process, set-up included.
llm.eval(toks); llm.reset()
t0 = time.perf_counter(); llm.eval(toks); t1 = time.perf_counter()
n = 0
for _ in range(max_tokens):
    tok = llm.sample(temp=0.0)
    if llm.token_eos() == tok: break
    llm.eval([tok]); n += 1
t2 = time.perf_counter()
print(f"{len(toks) / (t1 - t0):.3f} {max(n, 1) / (t2 - t1):.3f}")
PY
)"$'\n'
  done
  # "N prompt tokens (C cached) in Ps, D tokens in Ds (R tok/s)"
  read -r mv_pp mv_tg < <(echo "$best_mv" | python3 -c '
import re, sys, statistics
pp, tg = [], []
for l in sys.stdin:
    m = re.search(r"(\d+) prompt tokens \(\d+ cached\) in ([\d.]+)s, (\d+) tokens in ([\d.]+)s", l)
    if m:
        pp.append(int(m[1]) / float(m[2])); tg.append(int(m[3]) / float(m[4]))
print(f"{statistics.median(pp):.1f} {statistics.median(tg):.1f}")')
  read -r lc_pp lc_tg < <(echo "$best_lc" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
print(f"{statistics.median(float(r[0]) for r in rows):.1f} {statistics.median(float(r[1]) for r in rows):.1f}")')
  local size
  if [ -d "$file" ]; then size=$(stat -Lc %s "$file"/*.safetensors | awk '{s += $1} END {printf "%d\n", s}'); else size=$(stat -Lc %s "$file"); fi
  printf '%-14s prompt %7.1f tok/s vs llama.cpp %7.1f (%.2fx)   decode %6.1f tok/s vs %6.1f (%.2fx)   peak RSS %d MB = %.2fx file   [%s kernels, load %s]\n' \
    "$name" "$mv_pp" "$lc_pp" "$(echo "$mv_pp / $lc_pp" | bc -l)" "$mv_tg" "$lc_tg" "$(echo "$mv_tg / $lc_tg" | bc -l)" \
    "$((mem / 1024))" "$(echo "$mem * 1024 / $size" | bc -l)" "${kernels:-?}" "$(cut -d' ' -f1 /proc/loadavg)"
}
echo "cpu: $(cpu_label)"
echo "threads=$THREADS max_tokens=$MAX_TOKENS precision=$PRECISION median of $RUNS runs; binary $BIN; MODELVET_KERNELS=${MODELVET_KERNELS:-auto}"
bench_model SmolLM2-135M "$M/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
bench_model Qwen2.5-0.5B "$M/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
bench_model Gemma-3-270M "$M/gemma-3-270m/gemma-3-270m-q4_k_m.gguf"
# Other quantizations of the same weights, requantized from the real files by scripts/make-lineage-models.sh
# (the `gguf` package's Q8_0 and F16) and by llama.cpp's quantizer (Q5_K_M, Q6_K).
# ONLY=requantized runs just these.
if [ -z "${ONLY:-}" ] || [ "$ONLY" = requantized ]; then
  scripts/make-lineage-models.sh >&2
  D="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}"
  ONLY='' bench_model SmolLM2-Q8_0 "$D/smollm2-q8_0.gguf"
  ONLY='' bench_model SmolLM2-F16 "$D/smollm2-f16.gguf"
  ONLY='' bench_model Qwen2.5-Q8_0 "$D/qwen-q8_0.gguf"
  # Q5_K_M and Q6_K by llama.cpp's own quantizer (scripts/make-kquant-models.sh), from the F16 and BF16
  # copies; rows not a multiple of 256 wide fall back to Q5_1 / Q8_0, as in the published files.
  scripts/make-kquant-models.sh >&2
  ONLY='' bench_model SmolLM2-Q5_K_M "$D/smollm2-q5_k_m.gguf"
  ONLY='' bench_model SmolLM2-Q6_K "$D/smollm2-q6_k.gguf"
  ONLY='' bench_model Qwen2.5-Q5_K_M "$D/qwen-q5_k_m.gguf"
  ONLY='' bench_model Qwen2.5-Q6_K "$D/qwen-q6_k.gguf"
fi
# The rebuilt Hugging Face folder on its bf16 weights (auto precision) vs llama.cpp on the same bf16 values.
if [ -z "${ONLY:-}" ] || [ "$ONLY" = Qwen2.5-0.5B-HF ]; then
  scripts/make-hf-folder.sh >&2
  D="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}"
  bench_model Qwen2.5-0.5B-HF "$D/qwen2.5-coder-0.5b-hf" "$D/qwen2.5-coder-0.5b-bf16.gguf" auto
fi

#!/usr/bin/env bash
# Memory and speed of modelvet's native forward pass on a Hugging Face folder at 7B scale: writes a
# random-weight llama folder of Llama-2-7B's shape in bf16 (~13.5 GB, scripts/make_random_llama.py, through
# numpy memory maps so it needs little RAM), runs `modelvet generate` on it for 8 tokens, and prints the peak
# RSS (/usr/bin/time) against the weights on disk + the KV cache, and the seconds per token.
# The goal is peak RSS ≤ 1.1 × (weights + KV cache): the weights stay memory-mapped bf16, never widened.
#
#   KEEP=1            keep the folder (default: deleted at the end)
#   SHAPE="h l heads kv ffn vocab"   another size (default "4096 32 32 32 11008 32000")
#   MODELVET_BIN      the binary to measure (default: a release build of this checkout)
# The CPU, its SIMD flags and the load average are printed with the figures: on a shared machine, read
# them as one run's numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cpu-flags.sh
out="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}/random-llama-7b-bf16"
SHAPE="${SHAPE:-4096 32 32 32 11008 32000}"
TOKENS="${TOKENS:-8}"
python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q numpy
if [ -n "${MODELVET_BIN:-}" ]; then BIN="$MODELVET_BIN"; else cargo build --quiet --release; BIN=target/release/modelvet; fi
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$out" "$out.part"; }
trap cleanup EXIT
echo "writing $out ($SHAPE)" >&2
# shellcheck disable=SC2086
python3 scripts/make_random_llama.py "$out" $SHAPE
weights=$(stat -c %s "$out"/*.safetensors | awk '{s += $1} END {printf "%d\n", s}')
read -r hidden layers heads kv ffn vocab <<<"$SHAPE"
log="$(mktemp)"
/usr/bin/time -v env RAYON_NUM_THREADS="${THREADS:-2}" "$BIN" generate "$out" --raw --prompt "The quick brown fox jumps over the lazy dog" \
  --max-tokens "$TOKENS" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
python3 - "$log" "$weights" "$hidden" "$layers" "$heads" "$kv" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
weights, hidden, layers, heads, kv = (int(x) for x in sys.argv[2:7])
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)[1]) * 1024
m = re.search(r"(\d+) prompt tokens \(\d+ cached\) in ([\d.]+)s, (\d+) tokens in ([\d.]+)s", log)
prompt, pt, n, dt = int(m[1]), float(m[2]), int(m[3]), float(m[4])
engine = re.search(r"\[(.*)\]\s*$", log.splitlines()[[i for i, l in enumerate(log.splitlines()) if "prompt tokens" in l][0]])[1]
# The KV cache grows by blocks of 256 positions: f32 keys and values for every layer.
positions = -(-(prompt + n) // 256) * 256
kv_bytes = 2 * layers * positions * kv * (hidden // heads) * 4
gb = lambda b: b / 1e9
print(f"engine: {engine}")
print(f"weights on disk {gb(weights):.2f} GB, KV cache {gb(kv_bytes):.2f} GB ({positions} positions reserved)")
print(f"peak RSS {gb(rss):.2f} GB = {rss / (weights + kv_bytes):.3f}x (weights + KV); goal <= 1.1x")
print(f"prompt {prompt} tokens in {pt:.1f}s; decode {n} tokens in {dt:.1f}s = {dt / max(n, 1):.2f} s/token")
PY
echo "cpu: $(cpu_label); load $(cut -d' ' -f1-3 /proc/loadavg); RAM $(free -g | awk '/Mem:/{print $2}') GB"
rm -f "$log"

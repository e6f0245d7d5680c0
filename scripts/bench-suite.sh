#!/usr/bin/env bash
# Suite wall time: modelvet running the built-in suites locally, against two llama.cpp peers, greedy, 2 threads:
# - llama-cpp-python's server (`python -m llama_cpp.server`) with the exact rendered prompts of modelvet's own
#   run record sent one by one, with the suite's max tokens: the same prompts and budgets, one at a time;
# - llama.cpp's own `llama-server` with 8 parallel slots and continuous batching (built for this CPU by
#   scripts/build-llama-server.sh), driven by modelvet's `--endpoint` backend with `--concurrency 8`: the
#   strongest serving setting. What differs there: the server renders the chat template itself (`--jinja`,
#   from the GGUF), and modelvet's local early stops (a choice probe scored in one forward pass, a refusal
#   suite's shorter budget cut at the verdict) are not available to a server, which generates each answer to
#   its end or to max_tokens; and a server cannot score a choice probe's options in one pass at all, so the
#   served run skips the choice suites (stance, stance-controls) that modelvet's full run does. The last line
#   therefore times both on the same work: only the suites whose probes all generate.
# Prints the wall times and the ratios. MODEL=PATH picks the model (default SmolLM2-135M Q4_1); LIMIT=N runs
# only the first N probes of each suite (the whole suites take ~25 min for modelvet alone on SmolLM2).
# ONE_BY_ONE=0 skips the llama-cpp-python peer (the slow one, for whole-suite runs); SLOTS=N gives
# llama-server N parallel slots instead of 8 (modelvet runs its default batch: 16 probes on these models).
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
MODEL="${MODEL:-$M/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
PORT="${PORT:-18088}"
THREADS="${THREADS:-2}"
# LIMIT=N runs only the first N probes of each suite (the full suites take ~25 min for modelvet alone).
LIMIT="${LIMIT:-}"
. scripts/cpu-flags.sh
bench_setup # the llama.cpp peer for this CPU, and BIN: the release build users get, or $MODELVET_BIN
echo "cpu: $(cpu_label)"
OUT="$(mktemp -d)"; trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

start=$(date +%s.%N)
RAYON_NUM_THREADS="$THREADS" "$BIN" probe "$MODEL" ${LIMIT:+--limit "$LIMIT"} -o "$OUT/run.json" --quiet > /dev/null
mv_wall=$(echo "$(date +%s.%N) - $start" | bc -l)
# The same work the servers can do: only the suites whose probes all generate (a server cannot score a choice
# probe's options in one pass, so the served runs skip those), timed again.
gen_suites=$(python3 - "$OUT/run.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1])); kinds = {}
for r in run["results"]:
    kinds.setdefault(r["suite"], set()).add(r["outcome"]["kind"])
print(" ".join(f"--suite {s}" for s, k in kinds.items() if k == {"generated"}))
PY
)
start=$(date +%s.%N)
RAYON_NUM_THREADS="$THREADS" "$BIN" probe "$MODEL" $gen_suites ${LIMIT:+--limit "$LIMIT"} -o "$OUT/gen.json" --quiet > /dev/null
mv_gen_wall=$(echo "$(date +%s.%N) - $start" | bc -l)

ONE_BY_ONE="${ONE_BY_ONE:-1}"
SLOTS="${SLOTS:-8}"
lc_wall=0
if [ "$ONE_BY_ONE" != 0 ]; then
python3 -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$PORT" --n_threads "$THREADS" --n_ctx 2048 > "$OUT/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null && break; sleep 1; done
lc_wall=$(python3 - "$OUT/run.json" "$PORT" <<'PY'
import json, sys, time, urllib.request
run = json.load(open(sys.argv[1])); port = sys.argv[2]
suites = {s["id"]: s for s in run["suites"]}
t0 = time.perf_counter()
for r in run["results"]:
    o = r["outcome"]
    if o["kind"] != "generated":
        continue
    # Same text, same token budget as the suite gave the probe (the record's tokens are what modelvet produced).
    body = json.dumps({"prompt": r["prompt"], "max_tokens": 160 if not r["suite"].startswith("refusal") else 96,
                       "temperature": 0, "top_k": 1}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=600).read()
print(f"{time.perf_counter() - t0:.1f}")
PY
)
kill "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
fi

n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['results']))" "$OUT/run.json")

# llama.cpp's own server: $SLOTS slots of 2048 tokens, continuous batching, the GGUF's chat template.
LLAMA_SERVER="$(scripts/build-llama-server.sh)"
"$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" -tb "$THREADS" -np "$SLOTS" -c $((SLOTS * 2048)) \
  --cont-batching --jinja --alias bench --no-webui > "$OUT/llama-server.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null && break; sleep 1; done
start=$(date +%s.%N)
"$BIN" probe --endpoint "http://127.0.0.1:$PORT" --served-model bench --concurrency "$SLOTS" \
  ${LIMIT:+--limit "$LIMIT"} -o "$OUT/served.json" --quiet > /dev/null
ls_wall=$(echo "$(date +%s.%N) - $start" | bc -l)
start=$(date +%s.%N)
"$BIN" probe --endpoint "http://127.0.0.1:$PORT" --served-model bench --concurrency "$SLOTS" $gen_suites \
  ${LIMIT:+--limit "$LIMIT"} -o "$OUT/served-gen.json" --quiet > /dev/null
ls_gen_wall=$(echo "$(date +%s.%N) - $start" | bc -l)

ratio() { echo "$1 / $2" | bc -l | cut -c1-4; }
echo "probes: $n${LIMIT:+ (first $LIMIT of each suite)}; model $(basename "$MODEL")"
printf 'suite wall time: modelvet %.1fs' "$mv_wall"
[ "$ONE_BY_ONE" != 0 ] && printf '; llama-cpp-python server one by one %.1fs (ratio %sx)' "$lc_wall" "$(ratio "$lc_wall" "$mv_wall")"
printf '; llama-server %s slots through modelvet --endpoint --concurrency %s %.1fs (ratio %sx)\n' "$SLOTS" "$SLOTS" "$ls_wall" "$(ratio "$ls_wall" "$mv_wall")"
printf 'generated probes only (the work both do; %s): modelvet %.1fs; llama-server %s slots %.1fs (ratio %sx)\n' \
  "${gen_suites//--suite /}" "$mv_gen_wall" "$SLOTS" "$ls_gen_wall" "$(ratio "$ls_gen_wall" "$mv_gen_wall")"

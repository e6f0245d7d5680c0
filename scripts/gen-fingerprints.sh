#!/usr/bin/env bash
# Regenerates the weight fingerprints modelvet ships (src/provenance/weights/fingerprints/*.json) from the real models fetched by
# scripts/fetch-models.sh. The tests check the shipped files equal what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
models="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
bin="${MODELVET_BIN:-target/release/modelvet}"
[ -x "$bin" ] || cargo build --release --quiet
"$bin" fingerprint "$models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" \
  --family SmolLM2 --keywords smollm -o src/provenance/weights/fingerprints/smollm2.json
"$bin" fingerprint "$models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" \
  --family Qwen2.5-Coder --keywords qwen -o src/provenance/weights/fingerprints/qwen2.5-coder.json
"$bin" fingerprint "$models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf" \
  --family "Gemma 3" --keywords gemma -o src/provenance/weights/fingerprints/gemma3.json

#!/usr/bin/env bash
# Regenerates src/provenance/families.json, the lineage table of known model families, from the real
# model files (fetched by scripts/fetch-models.sh). The test `lineage_table_matches_the_real_models`
# fails when the table is stale and names this script.
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
cargo build --quiet --release
BIN=target/release/modelvet
out=src/provenance/families.json
{
  echo "["
  $BIN family-entry "$M/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" \
    --family SmolLM2 --organization "Hugging Face" --keywords smollm
  echo ","
  $BIN family-entry "$M/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" \
    --family Qwen2 --organization "Alibaba Cloud (Qwen)" --keywords qwen
  echo ","
  $BIN family-entry "$M/gemma-3-270m/gemma-3-270m-q4_k_m.gguf" \
    --family "Gemma 3" --organization "Google" --keywords gemma
  echo "]"
} > "$out.tmp"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[1],'w'), indent=1, ensure_ascii=False)" "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out" >&2

#!/usr/bin/env bash
# Rebuilds a genuine Hugging Face folder from the real Qwen2.5-Coder-0.5B GGUF (scripts/make_hf_folder.py):
# bf16 weights sharded in two with model.safetensors.index.json, config.json and generation_config.json
# from the GGUF metadata, tokenizer.json and tokenizer_config.json with the chat template; and beside it a
# GGUF of the same bf16 values. Output in ~/.cache/modelvet/derived/ (or $MODELVET_DERIVED):
#   qwen2.5-coder-0.5b-hf/            the folder
#   qwen2.5-coder-0.5b-bf16.gguf      the same numbers as a GGUF (llama.cpp and modelvet's GGUF path read it)
# Reruns are no-ops (outputs are written under .part names and renamed when complete).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
out="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}"
qwen="$(ls "$models"/qwen2.5-coder-0.5b-instruct/*.gguf 2>/dev/null | head -n1)"
[ -n "$qwen" ] || { echo "make-hf-folder: no Qwen2.5-Coder GGUF in $models: run scripts/fetch-models.sh" >&2; exit 1; }
if [ -d "$out/qwen2.5-coder-0.5b-hf" ] && [ -f "$out/qwen2.5-coder-0.5b-bf16.gguf" ]; then exit 0; fi
python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install -q 'gguf>=0.17' numpy
mkdir -p "$out"
python3 "$here/make_hf_folder.py" "$qwen" "$out/qwen2.5-coder-0.5b-hf" "$out/qwen2.5-coder-0.5b-bf16.gguf"

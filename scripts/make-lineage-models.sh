#!/usr/bin/env bash
# Makes the derived models the lineage tests read (scripts/make_lineage_models.py), from the real SmolLM2 and
# Qwen2.5-Coder GGUFs, into ~/.cache/modelvet/derived/ (or $MODELVET_DERIVED). Reruns are no-ops: each output
# is keyed by its source's name and its variant, and written atomically.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
out="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}"
python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install -q 'gguf>=0.17' numpy
smol="$models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
qwen="$(ls "$models"/qwen2.5-coder-0.5b-instruct/*.gguf | head -n1)"
# Qwen2.5-Coder variants are ~0.6 GB and ~30 s each, so Qwen gets three: the requantized copy (the speed
# case), the strongest realistic fine-tune, and one model with all four derivations at once. SmolLM2 gets
# each case on its own. The two sources run side by side.
python3 "$here/make_lineage_models.py" "$smol" "$out" smollm2 \
  q8_0 f16 st ft-0.03 ft-0.1 ft-0.3 ft-1 ft-3 reinit vocab perm random anon &
smol_pid=$!
python3 "$here/make_lineage_models.py" "$qwen" "$out" qwen \
  q8_0 ft-0.3 mix
wait "$smol_pid"

#!/usr/bin/env bash
# Makes the k-quant copies the speed benchmark compares (scripts/bench-generate.sh, ONLY=requantized):
# SmolLM2-135M and Qwen2.5-Coder-0.5B requantized to Q5_K_M and Q6_K by llama.cpp's own quantizer
# (llama_model_quantize, through the llama-cpp-python the benchmark builds for this CPU). The `gguf` Python
# package has no k-quant encoder, and llama.cpp's quantizer is what made the published files: it also falls
# back, as for the real files, to Q5_0/Q5_1/Q8_0 where a row is not a multiple of 256 wide.
#
# Sources are the unquantized copies of the real models: SmolLM2 in F16 (scripts/make-lineage-models.sh)
# and Qwen2.5-Coder in BF16 (scripts/make-hf-folder.sh). Output in ~/.cache/modelvet/derived/ (or
# $MODELVET_DERIVED): smollm2-q5_k_m.gguf, smollm2-q6_k.gguf, qwen-q5_k_m.gguf, qwen-q6_k.gguf. Reruns are
# no-ops (each file is written under a .part name and renamed when complete).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${MODELVET_DERIVED:-$HOME/.cache/modelvet/derived}"
"$here/make-lineage-models.sh" >&2
"$here/make-hf-folder.sh" >&2
python3 -c "import llama_cpp" 2>/dev/null || {
  echo "make-kquant-models: llama-cpp-python is missing: run scripts/setup-llama-server.sh" >&2
  exit 1
}
quantize() { # quantize SOURCE OUTPUT FTYPE_NAME
  local src="$1" dst="$2" ftype="$3"
  [ -f "$dst" ] && return 0
  python3 - "$src" "$dst.part" "$ftype" <<'PY'
import sys
import llama_cpp
src, dst, ftype = sys.argv[1], sys.argv[2], sys.argv[3]
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, ftype)
params.nthread = 2
rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
sys.exit(f"llama_model_quantize({src}, {ftype}) failed: {rc}" if rc != 0 else 0)
PY
  mv "$dst.part" "$dst"
  echo "make-kquant-models: $dst" >&2
}
quantize "$out/smollm2-f16.gguf" "$out/smollm2-q5_k_m.gguf" LLAMA_FTYPE_MOSTLY_Q5_K_M
quantize "$out/smollm2-f16.gguf" "$out/smollm2-q6_k.gguf" LLAMA_FTYPE_MOSTLY_Q6_K
quantize "$out/qwen2.5-coder-0.5b-bf16.gguf" "$out/qwen-q5_k_m.gguf" LLAMA_FTYPE_MOSTLY_Q5_K_M
quantize "$out/qwen2.5-coder-0.5b-bf16.gguf" "$out/qwen-q6_k.gguf" LLAMA_FTYPE_MOSTLY_Q6_K

#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server for the remote-backend tests (tests/remote.rs).
#
# Why a source build: the prebuilt/native build enables AMX when the CPU advertises it, and some kernels
# trap `ldtilecfg` (SIGSEGV on the first matmul). We build a portable AVX-512 wheel with AMX off, once
# (~8 min on 2 cores), and cache it under ~/.cache/modelvet/wheels/ so reruns install in seconds.
set -euo pipefail

version=0.3.36
wheels="${MODELVET_WHEELS:-$HOME/.cache/modelvet/wheels}"
mkdir -p "$wheels"

if python3 -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
  echo "setup-llama-server: llama-cpp-python $version already installed" >&2
else
  wheel="$(ls "$wheels"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    echo "setup-llama-server: building llama-cpp-python $version (AMX off; takes ~8 min)" >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
      python3 -m pip wheel --no-deps -w "$wheels" "llama-cpp-python==$version"
    wheel="$(ls "$wheels"/llama_cpp_python-"$version"-*.whl | head -n1)"
  fi
  python3 -m pip install "$wheel"
fi

# The server's own dependencies (llama-cpp-python[server] without rebuilding the package).
python3 -m pip install fastapi uvicorn sse-starlette starlette-context pydantic-settings
python3 -c "import llama_cpp.server.app" && echo "setup-llama-server: ok" >&2

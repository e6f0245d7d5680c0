#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server: the peer of the remote-backend tests (tests/remote.rs)
# and of the benchmarks.
#
# Why a source build for this CPU: a wheel built for other instructions dies with SIGILL (an AVX-512 build on
# an AVX2-only machine), and a CPU that advertises AMX may trap its tile instructions (SIGSEGV on the first
# matmul). So llama.cpp is compiled for exactly the SIMD extensions this CPU reports in /proc/cpuinfo, with
# AMX always off, and the wheel is cached under a key made of the version and those flags: a cache copied
# from another machine is never reused, and pip's own wheel cache (which ignores CMAKE_ARGS) is bypassed.
# ~8 min once on 2 cores, then seconds.
#
# MODELVET_CPU_FLAGS="avx avx2 fma f16c" pretends the CPU has only those flags (to build and test the AVX2
# path on an AVX-512 machine).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
wheels="${MODELVET_WHEELS:-$HOME/.cache/modelvet/wheels}"

# shellcheck source=scripts/cpu-flags.sh
. scripts/cpu-flags.sh
cmake_cpu="$(ggml_cmake_cpu_args)"
key="$(printf '%s %s' "$version" "$cmake_cpu" | sha256sum | cut -c1-16)"
dir="$wheels/llama-cpp-python-$version-$key"
stamp="$HOME/.cache/modelvet/llama-cpp-python.installed"

if python3 -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null \
  && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
  echo "setup-llama-server: llama-cpp-python $version for this CPU ($key) already installed" >&2
else
  mkdir -p "$dir"
  wheel="$(ls "$dir"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    echo "setup-llama-server: building llama-cpp-python $version for $(cpu_model)" >&2
    echo "setup-llama-server: $cmake_cpu (takes ~8 min)" >&2
    CMAKE_ARGS="$cmake_cpu -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
      python3 -m pip wheel --no-deps --no-cache-dir -w "$dir" "llama-cpp-python==$version"
    wheel="$(ls "$dir"/llama_cpp_python-"$version"-*.whl | head -n1)"
  fi
  # A build for other flags may be installed under the same version: replace it.
  python3 -m pip uninstall -q -y llama-cpp-python 2>/dev/null || true
  python3 -m pip install "$wheel"
  mkdir -p "$(dirname "$stamp")"
  echo "$key" >"$stamp"
fi

# The server's own dependencies (llama-cpp-python[server] without rebuilding the package).
python3 -m pip install -q fastapi uvicorn sse-starlette starlette-context pydantic-settings
python3 -c "import llama_cpp.server.app" && echo "setup-llama-server: ok" >&2

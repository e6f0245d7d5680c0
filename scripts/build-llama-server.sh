#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` (parallel slots, continuous batching): the strongest serving peer,
# which scripts/bench-suite.sh runs with 8 slots. Prints the binary's path on stdout.
#
# Like with like: the llama.cpp sources are the ones llama-cpp-python 0.3.36 vendors (the llama.cpp every
# other benchmark and test here runs), compiled for exactly the SIMD extensions this CPU reports, AMX off
# (scripts/cpu-flags.sh), and cached under a key made of the version and those flags, so a binary built
# for another CPU is never reused. ~10 min once on 2 cores, then instant.
#
# LLAMA_CPP_SRC=DIR builds from an unpacked llama-cpp-python source tree instead of downloading its sdist.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
# shellcheck source=scripts/cpu-flags.sh
. scripts/cpu-flags.sh
cmake_cpu="$(ggml_cmake_cpu_args)"
key="$(printf '%s %s' "$version" "$cmake_cpu" | sha256sum | cut -c1-16)"
dir="${MODELVET_LLAMA_SERVER_CACHE:-$HOME/.cache/modelvet/llama-server}/$version-$key"
bin="$dir/llama-server"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
src="${LLAMA_CPP_SRC:-}"
if [ -z "$src" ]; then
  echo "build-llama-server: downloading the llama-cpp-python $version sources" >&2
  # Only this package from source: its build tools (cmake, scikit-build-core) may come as wheels.
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$work" "llama-cpp-python==$version" >&2
  tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
  src="$work/llama_cpp_python-$version"
fi
[ -f "$src/vendor/llama.cpp/tools/server/server.cpp" ] || {
  echo "build-llama-server: $src has no vendor/llama.cpp/tools/server" >&2
  exit 1
}
command -v cmake >/dev/null || python3 -m pip install --quiet cmake >&2
command -v ninja >/dev/null || python3 -m pip install --quiet ninja >&2

echo "build-llama-server: building llama-server for $(cpu_model): $cmake_cpu (~10 min)" >&2
# shellcheck disable=SC2086 # the CPU arguments are several words
cmake -S "$src/vendor/llama.cpp" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release $cmake_cpu \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$dir"
cp "$work/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"

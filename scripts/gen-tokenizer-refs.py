#!/usr/bin/env python3
"""Writes tests/data/tokenizer-refs.json: reference token ids for the real models.

GGUF models are tokenized by llama.cpp itself (through llama-cpp-python, vocab only, special tokens parsed);
the MiniLM tokenizer.json by the Python `tokenizers` package with the file's padding and truncation switched
off (as modelvet does). tests/tokenizer_refs.rs checks modelvet's tokenizer against this table.

Usage: python3 scripts/gen-tokenizer-refs.py [--models DIR] [--out FILE]
Needs: pip install llama-cpp-python tokenizers; models from scripts/fetch-models.sh.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

MODELS = {
    "smollm2-135m-instruct": {
        "source": "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        "chat": "chatml",
    },
    "qwen2.5-coder-0.5b-instruct": {
        "source": "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "chat": "chatml",
    },
    "gemma-3-270m": {
        "source": "gemma-3-270m/gemma-3-270m-q4_k_m.gguf",
        "chat": "gemma",
    },
    "all-minilm-l6-v2": {
        "source": "all-minilm-l6-v2/tokenizer.json",
        "chat": None,
    },
}

LONG = (
    "The quick brown fox jumps over the lazy dog. Meanwhile, in a small village by the sea, "
    "an old fisherman repaired his nets while children played on the shore; their laughter "
    "carried over the waves. In 2023, the village council voted 7-2 to build a new harbour, "
    "costing approximately $1,250,000 (about €1.15M). Critics said: \"It's too expensive!\" "
    "Supporters replied that tourism would grow by 15% per year. Nobody knows who was right, "
    "but the boats still leave at 5:30 a.m. every day, rain or shine."
)

COMMON = [
    # the strings the engine's own tests use
    "What is the capital of France?",
    "The capital of France is",
    " Paris",
    " Berlin",
    "Monday, Tuesday, Wednesday,",
    "请用中文回答：中国的首都是哪里？",
    # English
    "Hello, world!",
    "The cat sat on the mat.",
    # Chinese, simplified and traditional, mixed
    "我们今天去公园散步吧。",
    "這是一個繁體中文的句子，臺灣的天氣很好。",
    "I love 北京烤鸭 and 上海小笼包!",
    # emoji
    "Emoji: 😀🎉👍 and a family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 and 👍🏽",
    # code
    "def add(a, b):\n    return a + b\n\nif __name__ == \"__main__\":\n\tprint(add(1, 2))\n",
    '{"name": "modelvet", "version": [0, 1, 0], "ok": true, "nested": {"k": null}}',
    # whitespace
    "two  spaces   three    four",
    "tab\there\t\tand two",
    "line1\nline2\r\nline3",
    "\n\n\n",
    "   leading and trailing   ",
    " ",
    "a\n\n\n\nb     c",
    # digits
    "12345678",
    "3.14159",
    "2024-11-23",
    "Call 555-0123 or +1 (800) 123-4567.",
    # contractions
    "I'm sure they'll say DON'T, we've, you're, it's, he'd.",
    "I'M SURE THEY'LL COME",
    # accented Latin, Cyrillic, Arabic, others
    "Café naïve façade — Ærøskøbing, Straße, ñandú.",
    "Привет, как дела? Москва — столица России.",
    "مرحبا بالعالم، كيف حالك؟",
    "नमस्ते दुनिया",
    "こんにちは世界、カタカナ。",
    # text that looks like byte tokens / markup
    "<0x0A> is not a newline and <0xFF> is not a byte",
    "<b>bold</b> <div class=\"x\">html</div>",
    # empty
    "",
    LONG,
]

CHAT = {
    "chatml": [
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "text <|im_end|> text<|endoftext|>",
    ],
    "gemma": [
        "<start_of_turn>user\nhi<end_of_turn>",
        "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
        "<bos>",
        "text <end_of_turn> text<eos>",
    ],
}

WITH_SPECIAL = ["What is the capital of France?", "", "Hello, world!"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def cases_for(chat):
    texts = list(COMMON) + (CHAT[chat] if chat else [])
    out = [(t, False) for t in texts]
    out += [(t, True) for t in WITH_SPECIAL]
    if chat:
        out.append((CHAT[chat][0], True))
    return out


def gguf_tokenizer(path):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)

    def enc(text, add_special):
        return list(llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True))

    return enc


def json_tokenizer(path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()

    def enc(text, add_special):
        return tok.encode(text, add_special_tokens=add_special).ids

    return enc


def main():
    ap = argparse.ArgumentParser()
    default_models = os.environ.get("MODELVET_MODELS") or os.path.expanduser("~/.cache/modelvet/models")
    ap.add_argument("--models", default=default_models)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests/data/tokenizer-refs.json"))
    args = ap.parse_args()

    table = {}
    for key, m in MODELS.items():
        path = Path(args.models) / m["source"]
        if not path.exists():
            sys.exit(f"{path} is missing: run scripts/fetch-models.sh")
        enc = json_tokenizer(path) if path.suffix == ".json" else gguf_tokenizer(path)
        cases = [
            {"text": t, "add_special": s, "ids": [int(i) for i in enc(t, s)]}
            for t, s in cases_for(m["chat"])
        ]
        table[key] = {"source": m["source"], "sha256": sha256(path), "cases": cases}
        print(f"{key}: {len(cases)} cases", file=sys.stderr)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

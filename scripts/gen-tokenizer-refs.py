#!/usr/bin/env python3
"""Writes tests/data/tokenizer-refs.json: reference token ids for the real models.

GGUF models are tokenized by llama.cpp itself (through llama-cpp-python, vocab only, special tokens parsed);
the MiniLM tokenizer.json by the Python `tokenizers` package with the file's padding and truncation switched
off (as modelvet does). tests/tokenizer_refs.rs checks modelvet's tokenizer against this table.

Usage: python3 scripts/gen-tokenizer-refs.py [--models DIR] [--out FILE] [--only KEY]...
Needs: pip install llama-cpp-python tokenizers; models from scripts/fetch-models.sh. `--only KEY` (a key of
MODELS, repeatable) regenerates those models and keeps the other entries of FILE as they are (then only
the packages those models need are required).
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
        "extra": "sentencepiece",
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


def random_unicode(seed, length):
    """A fixed pseudo-random string over many scripts, emoji, symbols, combining marks, private-use and
    supplementary-plane characters (mostly outside any vocabulary: byte tokens) and whitespace."""
    import random

    rng = random.Random(seed)
    ranges = [
        (0x20, 0x7E), (0xA0, 0xFF), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
        (0x900, 0x97F), (0xE00, 0xE7F), (0x300, 0x36F), (0x2000, 0x206F), (0x2190, 0x22FF),
        (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xFF00, 0xFFEF),
        (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF),
    ]
    out = []
    for _ in range(length):
        r = rng.random()
        if r < 0.08:
            out.append(rng.choice([" ", "  ", "\t", "\n", "\r\n", "   "]))
        else:
            lo, hi = rng.choice(ranges)
            out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


# SentencePiece (Gemma): runs that tie equal-score pairs (llama.cpp merges the leftmost first), whitespace
# runs, the ▁ character written in the text, characters outside the vocabulary (byte tokens), and text
# that looks special but is not.
SENTENCEPIECE = [
    "aaaaaaaaaaaaaaaaaaaaaaa",
    "!!!!!!!!!!!!!!!! ???? ......",
    "================================================",
    "-------- ________ ******** ######## ~~~~~~~~",
    "ababababababababab abcabcabcabc",
    "x" + " " * 17 + "y" + " " * 33 + "z",
    "  \t  \t\t   \n  \t",
    "\t\t\t\tindented\n\t\t\tless",
    "\n\n\n\n\n\n\n\n\n\n",
    "a\n\nb\n\n\nc\r\n\r\nd",
    "trailing spaces   \n   and leading",
    "▁ literal ▁▁ lower blocks ▁▁▁",
    "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。",
    "日本語と English と 한국어 와 ไทย и русский, mixed: αβγ 123 ½ ①②③",
    "🏳️‍🌈 🧑🏾‍💻 ❤️‍🔥 1️⃣ 🇺🇳 🫠🪿",
    "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x| ≠ −x ∞ ∑ ∫",
    "rare: 𠀀𠀁𪚥 private: \ue000\uf8ff control: \x01\x07\x1b[0m",
    "e\u0301 vs é, Z\u0351\u0337a\u0322lgo",
    "<start_of_turn <unused99> <mask> [multimodal] </s> <s>",
    random_unicode(18, 400),
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
        "<start_of_turn>model Hello there",
        "<start_of_turn> leading space<end_of_turn>",
        "<start_of_turn>\n\n<end_of_turn><start_of_turn>user",
        "<start_of_turn>user\n你好，世界！<end_of_turn>\n<start_of_turn>model\n",
        "<start_of_turn>user\n😀 emoji first<end_of_turn>",
        "<start_of_turn>user\n\tTab and   spaces<end_of_turn>",
    ],
}

EXTRA = {"sentencepiece": SENTENCEPIECE}

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


def cases_for(chat, extra=None):
    texts = list(COMMON) + (CHAT[chat] if chat else []) + (EXTRA[extra] if extra else [])
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
    ap.add_argument("--only", action="append", choices=list(MODELS), help="regenerate only this model")
    args = ap.parse_args()

    out = Path(args.out)
    table = {}
    if args.only and out.exists():
        table = json.loads(out.read_text(encoding="utf-8"))
    for key, m in MODELS.items():
        if args.only and key not in args.only:
            continue
        path = Path(args.models) / m["source"]
        if not path.exists():
            sys.exit(f"{path} is missing: run scripts/fetch-models.sh")
        enc = json_tokenizer(path) if path.suffix == ".json" else gguf_tokenizer(path)
        cases = [
            {"text": t, "add_special": s, "ids": [int(i) for i in enc(t, s)]}
            for t, s in cases_for(m["chat"], m.get("extra"))
        ]
        table[key] = {"source": m["source"], "sha256": sha256(path), "cases": cases}
        print(f"{key}: {len(cases)} cases", file=sys.stderr)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Rebuilds a genuine Hugging Face folder from a GGUF (qwen2, llama, qwen3 layouts), with the `gguf` package
and numpy: every weight dequantized and rounded to bf16 (round to nearest even), in Hugging Face's names
and row order (llama q/k rows un-permuted back to rotate-half order), sharded in two with
model.safetensors.index.json; config.json and generation_config.json derived from the GGUF metadata;
tokenizer.json (byte-level BPE: vocabulary, merges, control tokens as special added tokens, the
pre-tokenizer regex of the GGUF's `tokenizer.ggml.pre`) and tokenizer_config.json with the chat template.

It also writes, beside the folder, a GGUF holding the SAME bf16 values (matrices as BF16, vectors as F32
of the rounded values) and the source's metadata: the two then store identical numbers, so modelvet's
safetensors and GGUF paths can be compared to 1e-3 without the bf16 rounding in between.

Deterministic (no randomness; the same input gives the same bytes), written to `.part` names and renamed,
and skipped when the outputs already exist.

usage: make_hf_folder.py SRC.gguf OUT_DIR OUT_BF16.gguf
"""
import json
import os
import re
import shutil
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

# Hugging Face's pre-tokenizer regexes for the `tokenizer.ggml.pre` values this script converts.
PRE_REGEX = {
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
ARCH_CLASS = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM", "qwen3": "Qwen3ForCausalLM"}
PARTS = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}
TOP = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
       "output_norm.weight": "model.norm.weight"}


def field(r, key, default=None):
    f = r.fields.get(key)
    return default if f is None else f.contents()


def hf_name(name):
    if name in TOP:
        return TOP[name]
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.(weight|bias)", name)
    if not m or m.group(2) not in PARTS:
        return None
    return f"model.layers.{m.group(1)}.{PARTS[m.group(2)]}.{m.group(3)}"


def bf16_bits(x):
    """f32 → bf16 bit patterns, rounding to nearest even (what torch's `.to(torch.bfloat16)` does)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tensors(r, arch, keep=lambda hf: True):
    """(GGUF name, HF name, bf16 bits in HF shape) for every tensor `keep` accepts, in file order."""
    heads = int(field(r, f"{arch}.attention.head_count"))
    kv = int(field(r, f"{arch}.attention.head_count_kv", heads))
    for t in r.tensors:
        name = hf_name(t.name)
        if name is None or not keep(name):
            continue
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        x = x.reshape([int(d) for d in reversed(t.shape)]) if x.ndim != len(t.shape) else x
        m = re.fullmatch(r"blk\.\d+\.(attn_q|attn_k)\.weight", t.name)
        if arch == "llama" and m:
            # GGUF's llama q/k rows are permuted for interleaved RoPE; Hugging Face keeps rotate-half order.
            h = heads if m.group(1) == "attn_q" else kv
            x = x.reshape(h, x.shape[0] // h // 2, 2, x.shape[1]).swapaxes(1, 2).reshape(x.shape)
        yield t.name, name, bf16_bits(x)


def layer_key(name):
    m = re.match(r"model\.layers\.(\d+)\.", name)
    return (1, int(m.group(1)), name) if m else ((0 if "embed" in name else 2), 0, name)


def write_shard(path, items):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, bits in items:
        n = bits.nbytes
        header[name] = {"dtype": "BF16", "shape": list(bits.shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, bits in items:
            f.write(np.ascontiguousarray(bits).tobytes())


def tokenizer_files(r, context):
    tokens = list(field(r, "tokenizer.ggml.tokens"))
    types = list(field(r, "tokenizer.ggml.token_type", [1] * len(tokens)))
    merges = list(field(r, "tokenizer.ggml.merges", []))
    pre = field(r, "tokenizer.ggml.pre", "default")
    if field(r, "tokenizer.ggml.model") != "gpt2" or pre not in PRE_REGEX:
        sys.exit(f"make_hf_folder: only byte-level BPE with pre {sorted(PRE_REGEX)} is converted, not {pre!r}")
    vocab = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 1}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": ty == 3}
             for i, (t, ty) in enumerate(zip(tokens, types)) if ty != 1]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PRE_REGEX[pre]}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }
    tid = lambda key: field(r, f"tokenizer.ggml.{key}")
    name = lambda i: None if i is None else tokens[int(i)]
    add_bos = bool(field(r, "tokenizer.ggml.add_bos_token", False))
    config = {
        "add_bos_token": add_bos, "add_prefix_space": False,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "bos_token": name(tid("bos_token_id")) if add_bos else None,
        "chat_template": field(r, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False, "eos_token": name(tid("eos_token_id")), "errors": "replace",
        "model_max_length": context, "pad_token": name(tid("padding_token_id")),
        "split_special_tokens": False, "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": None,
    }
    return tok, config


def make_folder(r, dst):
    arch = field(r, "general.architecture")
    if arch not in ARCH_CLASS:
        sys.exit(f"make_hf_folder: architecture {arch!r} is not converted ({sorted(ARCH_CLASS)} are)")
    k = lambda key, d=None: field(r, f"{arch}.{key}", d)
    names = {t.name for t in r.tensors}
    # Shapes first (no dequantization): the shard split is by bytes, half each.
    shapes = []
    for t in r.tensors:
        hf = hf_name(t.name)
        if hf:
            shapes.append((hf, int(np.prod([int(d) for d in t.shape])) * 2))
    shapes.sort(key=lambda s: layer_key(s[0]))
    total = sum(n for _, n in shapes)
    files, acc = {}, 0
    for hf, n in shapes:
        files[hf] = "model-00001-of-00002.safetensors" if acc < total / 2 else "model-00002-of-00002.safetensors"
        acc += n
    part = dst + ".part"
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(part)
    # One shard in memory at a time (about half the model in bf16).
    for shard in sorted(set(files.values())):
        items = [(hf, bits) for _, hf, bits in tensors(r, arch, lambda hf: files[hf] == shard)]
        items.sort(key=lambda s: layer_key(s[0]))
        write_shard(os.path.join(part, shard), items)
    dump = lambda name, v: json.dump(v, open(os.path.join(part, name), "w"), indent=2, ensure_ascii=False)
    dump("model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": files})
    n_layers, heads = int(k("block_count")), int(k("attention.head_count"))
    context = int(k("context_length", 4096))
    vocab = int([t for t in r.tensors if t.name == "token_embd.weight"][0].shape[1])
    tid = lambda key: field(r, f"tokenizer.ggml.{key}")
    config = {
        "architectures": [ARCH_CLASS[arch]], "model_type": arch,
        "hidden_size": int(k("embedding_length")), "intermediate_size": int(k("feed_forward_length")),
        "num_hidden_layers": n_layers, "num_attention_heads": heads,
        "num_key_value_heads": int(k("attention.head_count_kv", heads)),
        "max_position_embeddings": context, "rms_norm_eps": float(f'{k("attention.layer_norm_rms_epsilon"):.7g}'),
        "rope_theta": float(k("rope.freq_base", 10000.0)), "vocab_size": vocab,
        "tie_word_embeddings": "output.weight" not in names, "hidden_act": "silu", "torch_dtype": "bfloat16",
        "bos_token_id": tid("bos_token_id"), "eos_token_id": tid("eos_token_id"),
        "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True,
    }
    if k("attention.key_length") is not None:
        config["head_dim"] = int(k("attention.key_length"))
    if arch in ("qwen2", "qwen3"):
        config.update({"use_sliding_window": False, "sliding_window": context, "max_window_layers": n_layers})
    dump("config.json", config)
    eos = [tid("eos_token_id")] + [tid(x) for x in ("eot_token_id", "padding_token_id") if tid(x) is not None]
    dump("generation_config.json", {"bos_token_id": tid("bos_token_id"), "pad_token_id": tid("padding_token_id"),
                                    "eos_token_id": list(dict.fromkeys(eos))})
    tok, tok_config = tokenizer_files(r, context)
    dump("tokenizer.json", tok)
    dump("tokenizer_config.json", tok_config)
    os.replace(part, dst)


def make_gguf(r, dst):
    """The same bf16 values as a GGUF: matrices BF16, vectors F32 holding the rounded values."""
    arch = field(r, "general.architecture")
    w = gguf.GGUFWriter(dst + ".part", arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        t = f.types[0]
        val, sub = f.contents(), (f.types[1] if t == V.ARRAY and len(f.types) > 1 else None)
        if name == "general.file_type":
            val = 32  # LLAMA_FTYPE_MOSTLY_BF16
        w.add_key_value(name, val, t, sub)
    for gname, _, bits in tensors(r, arch):
        if arch == "llama" and re.fullmatch(r"blk\.\d+\.(attn_q|attn_k)\.weight", gname):
            sys.exit("make_hf_folder: the bf16 GGUF copy of a llama would need its q/k rows re-permuted")
        if bits.ndim == 2:
            w.add_tensor(gname, bits, raw_shape=bits.shape, raw_dtype=Q.BF16)
        else:
            x = bf16_to_f32(bits)
            w.add_tensor(gname, x, raw_shape=x.shape, raw_dtype=Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(dst + ".part", dst)


def main():
    src, out_dir, out_gguf = sys.argv[1:4]
    r = None
    if not os.path.isdir(out_dir):
        print(f"making {out_dir}", file=sys.stderr)
        r = gguf.GGUFReader(src)
        os.makedirs(os.path.dirname(os.path.abspath(out_dir)), exist_ok=True)
        make_folder(r, out_dir.rstrip("/"))
    if not os.path.exists(out_gguf):
        print(f"making {out_gguf}", file=sys.stderr)
        make_gguf(r or gguf.GGUFReader(src), out_gguf)


if __name__ == "__main__":
    main()

"""Derived test models for `modelvet lineage`: requantized copies, simulated fine-tunes, re-initialised
layers, an extended vocabulary, a permuted hidden dimension and same-architecture random weights, made from
a real GGUF with the `gguf` package and numpy. Every output is a pure function of the input file and the
variant's name (fixed seeds), written atomically, and skipped when it already exists.

usage: make_lineage_models.py SRC.gguf OUT_DIR PREFIX VARIANT...
variants: q8_0, f16, ft-<strength> (e.g. ft-0.1: relative drift 10%), reinit, vocab, perm, random, and mix
(all four derivations at once: ft-0.1, three layers re-initialised, 1000 new tokens, hidden dims permuted),
anon (ft-0.1 with every name, organisation and base model removed from the metadata), and st (the same
weights as f16 safetensors in Hugging Face's layout, with config.json and tokenizer.json: a folder)
"""
import hashlib
import os
import re
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V


def seed_of(*parts):
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "little")


def field_value(f):
    t = f.types[0]
    if t == V.ARRAY:
        sub = f.types[1] if len(f.types) > 1 else None
        return f.contents(), V.ARRAY, sub
    return f.contents(), t, None


def hidden_size(r):
    arch = r.fields["general.architecture"].contents()
    return int(r.fields[f"{arch}.embedding_length"].contents())


def layer_of(name):
    m = re.match(r"blk\.(\d+)\.", name)
    return int(m.group(1)) if m else None


def make(src, dst, variant):
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    hid = hidden_size(r)
    n_layers = int(r.fields[f"{arch}.block_count"].contents())
    rng_base = seed_of(os.path.basename(src), variant)
    kind, _, arg = variant.partition("-")
    kinds = {"mix": {"ft", "reinit", "vocab", "perm"}, "anon": {"ft"}}.get(kind, {kind})
    strength = 0.1 if kind in ("mix", "anon") else float(arg or 0)
    out_type = Q.F16 if variant == "f16" else Q.Q8_0
    perm = np.random.default_rng(rng_base).permutation(hid) if "perm" in kinds else None
    reinit = {n_layers // 4, n_layers // 2, (3 * n_layers) // 4} if "reinit" in kinds else set()
    extra_tokens = 1000 if "vocab" in kinds else 0

    w = gguf.GGUFWriter(dst + ".part", arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        keep = ("general.file_type", "general.alignment", "general.quantization_version")
        if kind == "anon" and name.startswith("general.") and name not in keep:
            continue
        val, vt, sub = field_value(f)
        if name == "general.file_type":
            val = 1 if out_type == Q.F16 else 7
        if extra_tokens and name == "tokenizer.ggml.tokens":
            val = list(val) + [f"<|modelvet_new_{i}|>" for i in range(extra_tokens)]
        elif extra_tokens and name == "tokenizer.ggml.token_type":
            val = list(val) + [4] * extra_tokens
        elif extra_tokens and name == "tokenizer.ggml.scores":
            val = list(val) + [0.0] * extra_tokens
        w.add_key_value(name, val, vt, sub)

    for i, t in enumerate(r.tensors):
        name = t.name
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        x = x.reshape([int(d) for d in reversed(t.shape)]) if x.ndim != len(t.shape) else x
        rng = np.random.default_rng(seed_of(str(rng_base), name))
        is_norm = x.ndim == 1
        if kind == "random" or layer_of(name) in reinit:
            if is_norm:
                x = np.full_like(x, 1.0) if name.endswith("norm.weight") else np.zeros_like(x)
            else:
                x = (rng.standard_normal(x.shape, dtype=np.float32) * x.std()).astype(np.float32)
        elif "ft" in kinds:
            x = finetune(x, strength, rng)
        if extra_tokens and name in ("token_embd.weight", "output.weight"):
            mean, std = x.mean(axis=0), x.std(axis=0)
            new = mean + rng.standard_normal((extra_tokens, x.shape[1]), dtype=np.float32) * std
            x = np.concatenate([x, new.astype(np.float32)], axis=0)
        if perm is not None:
            x = permute(name, x, perm, hid)
        qt = out_type if x.ndim == 2 and x.shape[-1] % 32 == 0 else Q.F32
        if x.ndim == 1:
            qt = Q.F32
        data = gguf.quants.quantize(np.ascontiguousarray(x, dtype=np.float32), qt)
        w.add_tensor(name, data, raw_shape=data.shape if qt == Q.F32 else None, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(dst + ".part", dst)


def make_safetensors(src, dst):
    """The weights as f16 safetensors in Hugging Face's layout (llama q/k rows in rotary order)."""
    import json
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    cfg = lambda k: int(r.fields[f"{arch}.{k}"].contents())
    heads, kv = cfg("attention.head_count"), cfg("attention.head_count_kv")
    names = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
             "output_norm.weight": "model.norm.weight"}
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    header, blobs, offset = {}, [], 0
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        m = re.match(r"blk\.(\d+)\.(\w+)\.weight", t.name)
        name = names.get(t.name) or (m and f"model.layers.{m.group(1)}.{parts[m.group(2)]}.weight")
        if not name:
            continue
        if arch == "llama" and m and m.group(2) in ("attn_q", "attn_k"):
            h = heads if m.group(2) == "attn_q" else kv
            x = x.reshape(h, x.shape[0] // h // 2, 2, x.shape[1]).swapaxes(1, 2).reshape(x.shape)
        b = np.ascontiguousarray(x.astype(np.float16)).tobytes()
        header[name] = {"dtype": "F16", "shape": list(x.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    os.makedirs(dst + ".part", exist_ok=True)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(dst + ".part", "model.safetensors"), "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    config = {"model_type": arch, "hidden_size": cfg("embedding_length"),
              "num_hidden_layers": cfg("block_count"), "num_attention_heads": heads,
              "num_key_value_heads": kv}
    with open(os.path.join(dst + ".part", "config.json"), "w") as f:
        json.dump(config, f)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    with open(os.path.join(dst + ".part", "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)}},
                   "added_tokens": []}, f)
    os.replace(dst + ".part", dst)


def finetune(x, s, rng):
    """Relative drift `s` (‖ΔW‖/‖W‖): half the energy isotropic noise, half a rank-8 update."""
    if x.ndim == 1:
        return x + rng.standard_normal(x.shape, dtype=np.float32) * (s * np.sqrt(np.mean(x * x)))
    norm = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    r = 8
    u = rng.standard_normal((x.shape[0], r), dtype=np.float32)
    v = rng.standard_normal((r, x.shape[1]), dtype=np.float32)
    low = u @ v
    low /= float(np.sqrt(np.mean(np.square(low, dtype=np.float64))))
    delta = (noise + low) / np.sqrt(2.0)
    return (x + delta * (s * norm)).astype(np.float32)


def permute(name, x, perm, hid):
    """A consistent permutation of the hidden dimension: the model computes the same function."""
    if x.ndim == 1:
        return x[perm] if x.shape[0] == hid and "norm" in name else x
    out_side = any(k in name for k in ("attn_output", "ffn_down"))
    if out_side and x.shape[0] == hid:
        return x[perm, :]
    if x.shape[1] == hid:
        return x[:, perm]
    return x


def main():
    src, out_dir, prefix, *variants = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    for v in variants:
        dst = os.path.join(out_dir, f"{prefix}-{v}" + ("" if v == "st" else ".gguf"))
        if os.path.exists(dst):
            continue
        print(f"making {dst}", file=sys.stderr)
        (make_safetensors(src, dst) if v == "st" else make(src, dst, v))


if __name__ == "__main__":
    main()

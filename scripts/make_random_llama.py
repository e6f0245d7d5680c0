"""Writes a random-weight llama folder of a given size in bf16, for memory and speed benchmarks: config.json,
safetensors shards of at most 5 GB with model.safetensors.index.json, and a tokenizer.json whose vocabulary
has one entry per row of the embedding (the 256 GPT-2 byte symbols, then three-letter fillers, then `</s>`).

The weights are written through numpy memory maps, a chunk at a time, copied from one 16M-value random pool
at offsets that differ per tensor: the file is the full size, but writing it needs neither the model's size
in RAM nor minutes of random number generation. Deterministic (seeded); a finished folder is not rewritten.

usage: make_random_llama.py OUT_DIR [hidden layers heads kv_heads ffn vocab]   (default: Llama-2-7B's shape)
"""
import itertools
import json
import os
import shutil
import string
import sys

import numpy as np


def byte_symbols():
    printable = lambda b: 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF
    out, nxt = [], 0x100
    for b in range(256):
        if printable(b):
            out.append(chr(b))
        else:
            out.append(chr(nxt))
            nxt += 1
    return out


def main():
    out = sys.argv[1].rstrip("/")
    hidden, layers, heads, kv, ffn, vocab = (int(x) for x in (sys.argv[2:8] or [4096, 32, 32, 32, 11008, 32000]))
    if os.path.isdir(out):
        return
    part = out + ".part"
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(part)
    hd = hidden // heads
    shapes = [("model.embed_tokens.weight", (vocab, hidden))]
    for l in range(layers):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (hidden,)),
                   (p + "self_attn.q_proj.weight", (heads * hd, hidden)),
                   (p + "self_attn.k_proj.weight", (kv * hd, hidden)),
                   (p + "self_attn.v_proj.weight", (kv * hd, hidden)),
                   (p + "self_attn.o_proj.weight", (hidden, heads * hd)),
                   (p + "post_attention_layernorm.weight", (hidden,)),
                   (p + "mlp.gate_proj.weight", (ffn, hidden)),
                   (p + "mlp.up_proj.weight", (ffn, hidden)),
                   (p + "mlp.down_proj.weight", (hidden, ffn))]
    shapes += [("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]
    # Shards of at most 5 GB.
    shards, cur, size = [], [], 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 2
        if cur and size + n > 5 << 30:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += n
    shards.append(cur)
    rng = np.random.default_rng(7)
    pool = (rng.standard_normal(1 << 24, dtype=np.float32) * 0.02).view(np.uint32)
    pool = ((pool.astype(np.uint64) + 0x7FFF + ((pool >> 16) & 1)) >> 16).astype(np.uint16)
    one = np.uint16(0x3F80)  # bf16 1.0: the norms
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05}-of-{len(shards):05}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            n = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
            weight_map[name] = file
            offset += n
        total += offset
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        path = os.path.join(part, file)
        with open(path, "wb") as f:
            f.write(len(h).to_bytes(8, "little"))
            f.write(h)
            f.truncate(8 + len(h) + offset)
        data = np.memmap(path, dtype=np.uint16, mode="r+", offset=8 + len(h), shape=(offset // 2,))
        at = 0
        for t, (name, shape) in enumerate(shard):
            n = int(np.prod(shape))
            if len(shape) == 1:
                data[at:at + n] = one
            else:
                start = (t * 7919 + i * 104729) % (1 << 20)
                for c in range(0, n, 1 << 23):
                    m = min(1 << 23, n - c)
                    data[at + c:at + c + m] = pool[start:start + m]
            at += n
        data.flush()
        del data
    dump = lambda name, v: json.dump(v, open(os.path.join(part, name), "w"), indent=2)
    dump("model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    dump("config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": ffn, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "vocab_size": vocab, "tie_word_embeddings": False, "hidden_act": "silu",
        "torch_dtype": "bfloat16", "bos_token_id": vocab - 1, "eos_token_id": vocab - 1})
    symbols = byte_symbols()
    fillers = ("".join(p) for p in itertools.product(string.ascii_letters, repeat=3))
    tokens = symbols + list(itertools.islice(fillers, vocab - 1 - len(symbols)))
    eos = {"id": vocab - 1, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False,
           "normalized": False, "special": True}
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}
    dump("tokenizer.json", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [eos], "normalizer": None,
        "pre_tokenizer": bl, "post_processor": bl, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": {t: i for i, t in enumerate(tokens)}, "merges": []}})
    dump("tokenizer_config.json", {"add_bos_token": False, "eos_token": "</s>", "bos_token": None,
                                   "tokenizer_class": "PreTrainedTokenizerFast"})
    os.replace(part, out)


if __name__ == "__main__":
    main()

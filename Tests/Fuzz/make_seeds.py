#!/usr/bin/env python3
"""Writes the small seed inputs of the fuzz targets that the committed fixtures do not cover
(Tests/Fuzz/seeds/TARGET/*). Tiny random models and made-up tokenizers: only the formats
matter, a few hundred bytes to a few KB each so that libFuzzer's mutations stay fast.
scripts/fuzz.sh adds the committed fixtures (Tests/fixtures/...) to these seeds itself.

  hf_folder       config.json | index.json | shard | shard   (parts joined by SEP)
  gguf_model      a 1-layer llama GGUF with a SentencePiece and a byte-level tokenizer
  llama2c         a 1-layer llama2.c checkpoint (shared and separate classifier)
  llama2c_tokenizer  a 512-piece llama2.c tokenizer.bin
  tokenizer_json  byte-level and SentencePiece-style tokenizer.json (| tokenizer_config.json), and
                  the family pipelines' normalizers / pre-tokenizers / decoders
  vocab_merges    vocab.json | merges.txt | special_tokens_map.json
  tiktoken        a rank file
  inflate         2-byte size + raw deflate streams
  config_json     gpt2 / llama configs with rope scaling

Usage: python3 Tests/Fuzz/make_seeds.py   (needs numpy and gguf)
"""
import base64
import json
import os
import struct
import sys
import zlib

import numpy as np
import gguf

SEP = b"\n--fp-fuzz-file--\n"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
rng = np.random.default_rng(7)


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors):
    """The safetensors layout: u64 header length, JSON header, data (F32 / BF16 / I64)."""
    header, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        if dtype == "BF16":
            raw = (np.asarray(arr, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = np.asarray(arr, {"F32": "<f4", "I64": "<i8", "F16": "<f2"}[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(arr)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def r(*shape):
    return (rng.standard_normal(shape) * 0.2).astype(np.float32)


# ---------------------------------------------------------------- Hugging Face folders
D, V, C, M = 8, 16, 8, 16
gpt2_cfg = {"model_type": "gpt2", "n_embd": D, "n_head": 2, "n_layer": 1, "vocab_size": V,
            "n_positions": C, "n_inner": None, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
gpt2 = {"wte.weight": ("F32", r(V, D)), "wpe.weight": ("F32", r(C, D)),
        "ln_f.weight": ("F32", r(D)), "ln_f.bias": ("F32", r(D))}
for k, s in [("ln_1.weight", (D,)), ("ln_1.bias", (D,)), ("ln_2.weight", (D,)), ("ln_2.bias", (D,)),
             ("attn.c_attn.weight", (D, 3 * D)), ("attn.c_attn.bias", (3 * D,)),
             ("attn.c_proj.weight", (D, D)), ("attn.c_proj.bias", (D,)),
             ("mlp.c_fc.weight", (D, 4 * D)), ("mlp.c_fc.bias", (4 * D,)),
             ("mlp.c_proj.weight", (4 * D, D)), ("mlp.c_proj.bias", (D,))]:
    gpt2["h.0." + k] = ("F32", r(*s))
put("hf_folder", "gpt2", json.dumps(gpt2_cfg).encode() + SEP + SEP + safetensors(gpt2))

llama_cfg = {"model_type": "llama", "hidden_size": D, "num_attention_heads": 2, "num_key_value_heads": 1,
             "num_hidden_layers": 1, "intermediate_size": M, "vocab_size": V, "max_position_embeddings": C,
             "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8}}
dh = D // 2
shard1 = {"model.embed_tokens.weight": ("BF16", r(V, D)), "model.norm.weight": ("F32", r(D)),
          "lm_head.weight": ("F32", r(V, D))}
shard2 = {"model.layers.0.input_layernorm.weight": ("F32", r(D)),
          "model.layers.0.post_attention_layernorm.weight": ("F32", r(D)),
          "model.layers.0.self_attn.q_proj.weight": ("F32", r(2 * dh, D)),
          "model.layers.0.self_attn.k_proj.weight": ("F32", r(dh, D)),
          "model.layers.0.self_attn.v_proj.weight": ("F32", r(dh, D)),
          "model.layers.0.self_attn.o_proj.weight": ("F32", r(D, 2 * dh)),
          "model.layers.0.mlp.gate_proj.weight": ("F32", r(M, D)),
          "model.layers.0.mlp.up_proj.weight": ("F32", r(M, D)),
          "model.layers.0.mlp.down_proj.weight": ("F32", r(D, M))}
index = {"metadata": {}, "weight_map": {**{k: "model-00001-of-00002.safetensors" for k in shard1},
                                        **{k: "model-00002-of-00002.safetensors" for k in shard2}}}
put("hf_folder", "llama_sharded", json.dumps(llama_cfg).encode() + SEP + json.dumps(index).encode()
    + SEP + safetensors(shard1) + SEP + safetensors(shard2))
put("safetensors", "bf16_i64", safetensors({"a": ("BF16", r(3, 2)), "b": ("I64", np.arange(4)),
                                            "c": ("F16", r(2)), "__unused": ("F32", r(0, 3))}))

for name, cfg in [("gpt2", gpt2_cfg), ("llama3", llama_cfg),
                  ("llama_params", {**llama_cfg, "rope_scaling": None, "head_dim": 4,
                                    "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}})]:
    put("config_json", name, json.dumps(cfg, indent=1))

# ---------------------------------------------------------------- tokenizers
# GPT-2's byte <-> printable character mapping (as in its encoder.py).
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
byte_char = {b: chr(c) for b, c in zip(bs, cs)}
vocab = {byte_char[b]: i for i, b in enumerate(range(256))}
merge_pairs = [("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("H", "e"), ("l", "l"),
               ("He", "ll"), ("Hell", "o"), ("Ġ", "t"), ("'", "s")]
for a, b in merge_pairs:
    vocab[a + b] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
byte_level = {
    "version": "1.0", "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                                        "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": None, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
              "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merge_pairs]}}
tok_cfg = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": False,
           "added_tokens_decoder": {str(vocab["<|endoftext|>"]): {"content": "<|endoftext|>", "special": True}}}
put("tokenizer_json", "byte_level", json.dumps(byte_level).encode() + SEP + json.dumps(tok_cfg).encode())
smol = json.loads(json.dumps(byte_level))
smol["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]}
smol["model"]["merges"] = [[a, b] for a, b in merge_pairs]
smol["normalizer"] = {"type": "NFC"}
put("tokenizer_json", "digits_nfc", json.dumps(smol))

sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    sp_vocab[f"<0x{b:02X}>"] = len(sp_vocab)
sp_merges = [("▁", "H"), ("e", "l"), ("▁H", "el"), ("l", "o"), ("▁Hel", "lo"), ("▁", "w"), ("o", "r")]
for ch in "▁Helowrd":
    sp_vocab.setdefault(ch, len(sp_vocab))
for a, b in sp_merges:
    sp_vocab.setdefault(a + b, len(sp_vocab))
sentencepiece = {
    "version": "1.0", "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                                        "normalized": False, "special": True} for t, i in list(sp_vocab.items())[:3]],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                {"Sequence": {"id": "A", "type_id": 0}}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "ignore_merges": False,
              "vocab": sp_vocab, "merges": [f"{a} {b}" for a, b in sp_merges]}}
put("tokenizer_json", "sentencepiece", json.dumps(sentencepiece, ensure_ascii=False).encode()
    + SEP + json.dumps({"bos_token": {"content": "<s>"}, "unk_token": "<unk>", "add_bos_token": True}).encode())

# The family pipelines (HFPipelineTokenizer): Qwen 2 (NFC, Split regex + ByteLevel without regex),
# GPT-NeoX (normalized added tokens for runs of spaces), Gemma (Replace, literal Split, no Strip),
# Mistral v0.3 (Metaspace "first", Strip), and every Split behaviour.
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
qwen = json.loads(json.dumps(byte_level))
qwen["normalizer"] = {"type": "NFC"}
qwen["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": QWEN2_RE}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
qwen["model"]["ignore_merges"] = True
put("tokenizer_json", "qwen2_pipeline", json.dumps(qwen).encode() + SEP
    + json.dumps({"bos_token": None, "eos_token": "<|endoftext|>"}).encode())
neox = json.loads(json.dumps(byte_level))
for n in (4, 3, 2):
    neox["added_tokens"].append({"id": len(vocab) + n, "content": " " * n, "single_word": False, "lstrip": False,
                                 "rstrip": False, "normalized": True, "special": False})
neox["normalizer"] = {"type": "NFC"}
put("tokenizer_json", "neox_space_runs", json.dumps(neox))
gemma = json.loads(json.dumps(sentencepiece))
gemma["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
gemma["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False}
gemma["added_tokens"].append({"id": len(sp_vocab), "content": "<start_of_turn>", "single_word": False,
                              "lstrip": False, "rstrip": True, "normalized": False, "special": True})
put("tokenizer_json", "gemma_pipeline", json.dumps(gemma, ensure_ascii=False).encode()
    + SEP + json.dumps({"bos_token": "<s>", "add_bos_token": True}).encode())
mistral = json.loads(json.dumps(sentencepiece))
mistral["normalizer"] = None
mistral["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
mistral["decoder"] = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}]}
put("tokenizer_json", "metaspace_first", json.dumps(mistral, ensure_ascii=False))
for behavior in ["Removed", "MergedWithNext", "Contiguous"]:
    t = json.loads(json.dumps(sentencepiece))
    t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": behavior == "Removed"},
        {"type": "Split", "pattern": {"String": "▁"}, "behavior": behavior, "invert": behavior == "Contiguous"},
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}]}
    t["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                           {"type": "Strip", "strip_left": True, "strip_right": False},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    put("tokenizer_json", "split_" + behavior.lower(), json.dumps(t, ensure_ascii=False))

vm_vocab = {k: v for k, v in vocab.items() if k != "<|endoftext|>"}
put("vocab_merges", "gpt2_style", json.dumps(vm_vocab, ensure_ascii=False).encode() + SEP
    + ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merge_pairs)).encode() + SEP
    + json.dumps({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}).encode())

ranks = [bytes([b]) for b in range(256)]
for a, b in merge_pairs:
    def raw(s):
        inv = {v: k for k, v in byte_char.items()}
        return bytes(inv[c] for c in s)
    ranks.append(raw(a + b))
put("tiktoken", "ranks", "".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(ranks)))

# llama2.c tokenizer.bin: int32 max_token_length; per token: float32 score, int32 length, bytes.
pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + [f"<0x{b:02X}>" for b in range(256)]
letters = "abcdefghijklmnopqrstuvwxyzTHEO .,!'"
pieces += [c for c in letters if c not in pieces]
words = [" the", " a", "he", "th", "in", "er", "an", " t", " s", "on", "re", " w", "ed", "nd", "ou", "ha", "at", "en", "is", "it"]
k = 0
while len(pieces) < 512:
    w = words[k % len(words)] + ("" if k < len(words) else letters[(k // len(words)) % 26])
    if w not in pieces:
        pieces.append(w)
    k += 1
body = b"".join(struct.pack("<fi", -float(i), len(p.encode())) + p.encode() for i, p in enumerate(pieces))
put("llama2c_tokenizer", "tok512", struct.pack("<i", max(len(p.encode()) for p in pieces)) + body)

# llama2.c checkpoint: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab (< 0: separate
# classifier), seq_len), then float32 weights in llama2.c's order.
def llama2c(dim, hidden, layers, heads, kv, vocab, seq, shared):
    kvd = kv * (dim // heads)
    parts = [r(vocab, dim), r(layers, dim), r(layers, dim, dim), r(layers, kvd, dim), r(layers, kvd, dim),
             r(layers, dim, dim), r(layers, dim), r(layers, hidden, dim), r(layers, dim, hidden),
             r(layers, hidden, dim), r(dim), r(seq, dim // heads)]
    if not shared:
        parts.append(r(vocab, dim))
    return struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared else -vocab, seq) + b"".join(
        p.tobytes() for p in parts)


put("llama2c", "shared", llama2c(8, 16, 1, 2, 1, 16, 8, True))
put("llama2c", "separate", llama2c(8, 12, 2, 2, 2, 8, 4, False))

# ---------------------------------------------------------------- GGUF models
def gguf_model(path, tokenizer, qtype):
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(C); w.add_embedding_length(32); w.add_block_count(1)
    w.add_feed_forward_length(32); w.add_head_count(2); w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
    if tokenizer == "llama":
        toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(8)] + ["▁", "H", "e", "l", "o", "▁H", "ll"]
        w.add_tokenizer_model("llama")
        w.add_token_list(toks)
        w.add_token_scores([0.0] * 3 + [0.0] * 8 + [-1.0, -2.0, -3.0, -4.0, -5.0, -0.5, -0.7])
        w.add_token_types([2, 3, 3] + [6] * 8 + [1] * 7)
        w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_add_bos_token(True)
    else:
        toks = [byte_char[b] for b in range(ord("a"), ord("a") + 12)] + ["Ġ", "ab", "<|endoftext|>", "Ġa"]
        w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("smollm")
        w.add_token_list(toks)
        w.add_token_types([1] * 14 + [3, 1])
        w.add_token_merges(["a b", "Ġ a"])
        w.add_bos_token_id(14); w.add_eos_token_id(14)
    vocab_n = len(toks)
    d, hd = 32, 16

    def add(name, arr):
        arr = np.ascontiguousarray(arr, np.float32)
        if qtype == gguf.GGMLQuantizationType.F32 or arr.ndim == 1:
            w.add_tensor(name, arr)
        else:
            q = gguf.quants.quantize(arr, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)

    add("token_embd.weight", r(vocab_n, d))
    add("output_norm.weight", r(d))
    add("blk.0.attn_norm.weight", r(d)); add("blk.0.ffn_norm.weight", r(d))
    add("blk.0.attn_q.weight", r(2 * hd, d)); add("blk.0.attn_k.weight", r(hd, d))
    add("blk.0.attn_v.weight", r(hd, d)); add("blk.0.attn_output.weight", r(d, 2 * hd))
    add("blk.0.ffn_gate.weight", r(32, d)); add("blk.0.ffn_up.weight", r(32, d)); add("blk.0.ffn_down.weight", r(d, 32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


os.makedirs(os.path.join(OUT, "gguf_model"), exist_ok=True)
gguf_model(os.path.join(OUT, "gguf_model", "llama_f32"), "llama", gguf.GGMLQuantizationType.F32)
gguf_model(os.path.join(OUT, "gguf_model", "bpe_q8_0"), "gpt2", gguf.GGMLQuantizationType.Q8_0)

# ---------------------------------------------------------------- raw deflate streams
for name, text in [("text", b"Hello Hello Hello world, fuzz " * 20), ("bytes", bytes(range(256)) * 3)]:
    for level in (1, 9):
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        stream = c.compress(text) + c.flush()
        put("inflate", f"{name}{level}", struct.pack("<H", len(text)) + stream)
print("wrote seeds to", OUT)

"""Random weights shaped like Llama-3.2-1B, Qwen2.5-1.5B and Gemma-2-2B, written as Hugging Face
safetensors folders (bf16 on disk, like the published checkpoints; config.json with the published
shapes: hidden size, layers, heads, kv heads, head_dim, MLP width, vocabulary, tied embeddings,
rope, Gemma 2's soft-caps, query_pre_attn_scalar and sliding window). No tokenizer: the bench
feeds token ids. Nothing here is stored in the repository; scripts/bench/scale calls this.

Usage: python scale_weights.py OUT_DIR MODEL [LAYERS]
  MODEL: llama-3.2-1b | qwen2.5-1.5b | gemma-2-2b; LAYERS: fewer layers (a scaled-down copy
  of the same architecture, for developing the bench); the folder is rewritten only if its
  config differs. Needs torch and safetensors (the bench's venv)."""
import json
import os
import sys

import torch
from safetensors.torch import save_file

CONFIGS = {
    "llama-3.2-1b": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 64, "intermediate_size": 8192, "vocab_size": 128256, "tie_word_embeddings": True,
        "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                 "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rms_norm_eps": 1e-5, "max_position_embeddings": 131072, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 128000, "eos_token_id": 128001,
        "torch_dtype": "bfloat16",
    },
    "qwen2.5-1.5b": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
        "intermediate_size": 8960, "vocab_size": 151936, "tie_word_embeddings": True,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 131072, "hidden_act": "silu",
        "use_sliding_window": False, "sliding_window": 131072, "max_window_layers": 21,
        "bos_token_id": 151643, "eos_token_id": 151643, "torch_dtype": "bfloat16",
    },
    "gemma-2-2b": {
        "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
        "hidden_size": 2304, "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
        "head_dim": 256, "intermediate_size": 9216, "vocab_size": 256000, "tie_word_embeddings": True,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 8192,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh",
        "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 256,
        "sliding_window": 4096, "attention_bias": False,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "bfloat16",
    },
}


def tensors(cfg):
    """(name, shape, kind) in checkpoint order; kind: 'w' matrix, 'n' norm, 'b' bias."""
    d, dm, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dh = cfg.get("head_dim", d // h)
    gemma = cfg["model_type"] == "gemma2"
    yield "model.embed_tokens.weight", (v, d), "w"
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        yield p + "input_layernorm.weight", (d,), "n"
        yield p + "self_attn.q_proj.weight", (h * dh, d), "w"
        yield p + "self_attn.k_proj.weight", (kv * dh, d), "w"
        yield p + "self_attn.v_proj.weight", (kv * dh, d), "w"
        if cfg["model_type"] == "qwen2":
            yield p + "self_attn.q_proj.bias", (h * dh,), "b"
            yield p + "self_attn.k_proj.bias", (kv * dh,), "b"
            yield p + "self_attn.v_proj.bias", (kv * dh,), "b"
        yield p + "self_attn.o_proj.weight", (d, h * dh), "w"
        if gemma:
            yield p + "post_attention_layernorm.weight", (d,), "n"
            yield p + "pre_feedforward_layernorm.weight", (d,), "n"
            yield p + "post_feedforward_layernorm.weight", (d,), "n"
        else:
            yield p + "post_attention_layernorm.weight", (d,), "n"
        yield p + "mlp.gate_proj.weight", (dm, d), "w"
        yield p + "mlp.up_proj.weight", (dm, d), "w"
        yield p + "mlp.down_proj.weight", (d, dm), "w"
    yield "model.norm.weight", (d,), "n"


def write(out, name, layers=None):
    cfg = dict(CONFIGS[name])
    if layers:
        cfg["num_hidden_layers"] = layers
    cfg_path = os.path.join(out, "config.json")
    if os.path.exists(cfg_path) and json.load(open(cfg_path)) == cfg:
        return
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".safetensors") or f.endswith(".json"):
            os.remove(os.path.join(out, f))
    g = torch.Generator().manual_seed(0)
    gemma = cfg["model_type"] == "gemma2"
    # shards of at most ~2 GB (bf16), written one at a time so the writer holds one shard
    shard, shards, size, limit = {}, [], 0, 2 << 30
    weight_map = {}

    def flush():
        nonlocal shard, size
        if shard:
            shards.append(shard)
            fname = f"part-{len(shards)}.safetensors"
            save_file(shard, os.path.join(out, fname), metadata={"format": "pt"})
            for k in shard:
                weight_map[k] = fname
            shard, size = {}, 0

    for tname, shape, kind in tensors(cfg):
        if kind == "w":
            t = torch.randn(shape, generator=g) * 0.02
        elif kind == "b":
            t = torch.randn(shape, generator=g) * 0.02
        else:   # Gemma stores w with the norm computing (1 + w); others store w itself
            t = torch.randn(shape, generator=g) * 0.05 + (0.0 if gemma else 1.0)
        t = t.to(torch.bfloat16)
        nbytes = t.numel() * 2
        if size + nbytes > limit:
            flush()
        shard[tname] = t
        size += nbytes
    flush()
    if len(shards) == 1:
        os.rename(os.path.join(out, "part-1.safetensors"), os.path.join(out, "model.safetensors"))
    else:
        n = len(shards)
        renamed = {f"part-{i + 1}.safetensors": f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)}
        for a, b in renamed.items():
            os.rename(os.path.join(out, a), os.path.join(out, b))
        json.dump({"metadata": {}, "weight_map": {k: renamed[v] for k, v in weight_map.items()}},
                  open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=1)
    json.dump(cfg, open(cfg_path, "w"), indent=1)   # last: a complete folder has its config


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)

"""SAELens 6 side of scripts/bench/sae: the same feature-activation pass (TransformerLens
HookedSAETransformer built from the HF conversion of the same SmolLM2 GGUF, run_with_cache up to
the hook layer, then SAE.encode of the dictionary fp saved) and the same TopK training steps
(SAETrainer, TopKTrainingSAE, same activations, batch, k, lr). Prints one JSON line per task.
Usage: python sae_peers.py DIR HF_DIR STEPS"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "fixtures"))
from check_fixtures_tl import tl_model  # noqa: E402
from sae_lens import SAE, HookedSAETransformer  # noqa: E402
from sae_lens.config import SAETrainerConfig  # noqa: E402
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig  # noqa: E402
from sae_lens.training.sae_trainer import SAETrainer  # noqa: E402

d, steps = sys.argv[1], int(sys.argv[3])
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
LAYER, K, BATCH = 15, 32, 1024
hook = f"blocks.{LAYER}.hook_resid_post"
model = tl_model(sys.argv[2], HookedSAETransformer)
toks = torch.tensor(np.load(os.path.join(d, "tokens.npy")))
sae = SAE.load_from_disk(os.path.join(d, "sae"))


def feature_pass():
    total = 0.0
    with torch.no_grad():
        for s in range(0, toks.shape[0], 8):
            _, cache = model.run_with_cache(toks[s:s + 8], names_filter=hook, stop_at_layer=LAYER + 1)
            total += float(sae.encode(cache[hook]).sum())
    return total


feature_pass()
t0, c0 = time.perf_counter(), time.process_time()
checksum = feature_pass()
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"tool": "saelens", "task": "feature_pass", "tokens_per_s": toks.numel() / secs,
                  "tokens_per_cpu_s": toks.numel() / cpu, "seconds": secs, "cpu_seconds": cpu, "checksum": checksum}))

acts = torch.tensor(np.load(os.path.join(d, "acts.npy")))
dm = acts.shape[1]


def train(n):
    torch.manual_seed(1)
    s = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=dm, d_sae=8 * dm, k=K))
    tr = SAETrainer(SAETrainerConfig(total_training_samples=n * BATCH, train_batch_size_samples=BATCH, lr=3e-4,
                                     lr_end=3e-4), s, iter(()))
    first = None
    for i in range(n):
        start = (i * BATCH) % acts.shape[0]
        rows = acts[start:start + BATCH] if start + BATCH <= acts.shape[0] else torch.cat(
            [acts[start:], acts[:start + BATCH - acts.shape[0]]])
        out = tr.step(rows)
        tr.n_training_steps += 1
        first = float(out.loss) if first is None else first
    return first


train(2)
t0, c0 = time.perf_counter(), time.process_time()
first = train(steps)
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"tool": "saelens", "task": "train", "tokens_per_s": steps * BATCH / secs,
                  "tokens_per_cpu_s": steps * BATCH / cpu, "seconds": secs, "cpu_seconds": cpu, "first_loss": first}))

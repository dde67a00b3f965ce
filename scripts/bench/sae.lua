-- fp side of scripts/bench/sae: (1) the feature-activation pass over corpus contexts (SmolLM2 up
-- to the hook layer, then a TopK dictionary's encode), (2) TopK SAE training steps on fixed
-- activations. Writes what the peers need into arg[1] (a folder): the token ids (tokens.npy),
-- the dictionary (sae/, SAELens's format), the training activations (acts.npy).
-- Usage: fp run scripts/bench/sae.lua DIR [CONTEXTS] [STEPS]
local dir, n_ctx, steps = arg[1], tonumber(arg[2] or "32"), tonumber(arg[3] or "20")
local LAYER, CTX, K, EXP, BATCH = 15, 128, 32, 8, 1024
local hook = "blocks." .. LAYER .. ".hook_resid_post"
local model = fp.load_model("smollm2-135m")
local d = model.cfg.d_model
local docs = fp.sae.read_corpus(nil, { min_chars = 200 })
local toks = fp.sae.pack_tokens(model, docs, CTX, { max_contexts = n_ctx })
fp.save(dir .. "/tokens.npy", toks)
-- a dictionary with random weights (the pass costs the same for any weights)
fp.seed(0)
local sae = fp.sae.from_weights({ W_enc = fp.randn(d, EXP * d) * 0.05, W_dec = fp.randn(EXP * d, d) * 0.05,
  b_enc = fp.zeros(EXP * d), b_dec = fp.zeros(d) }, { architecture = "topk", k = K, hook_name = hook, model_name = "smollm2-135m" })
fp.sae.save(sae, dir .. "/sae")

-- (1) feature-activation pass, 8 contexts per forward, stopping after the hook layer
local function pass()
  local total = 0
  for s = 0, n_ctx - 1, 8 do
    local batch = toks[{ { s, math.min(n_ctx, s + 8) } }]
    local _, cache = model:run_with_cache(batch, { names_filter = hook, stop_at_layer = LAYER + 1 })
    local f = sae:encode(cache[hook])
    total = total + fp.item(f:sum())
  end
  return total
end
pass()   -- warm-up
local t0, c0 = fp.time(), os.clock()
local checksum = pass()
local secs, cpu = fp.time() - t0, os.clock() - c0
print(string.format('{"tool": "fp", "task": "feature_pass", "tokens_per_s": %.1f, "tokens_per_cpu_s": %.1f, "seconds": %.3f, "cpu_seconds": %.3f, "checksum": %.6g}',
  n_ctx * CTX / secs, n_ctx * CTX / cpu, secs, cpu, checksum))

-- (2) training on fixed activations (the same rows for the peers)
local acts = fp.sae.collect_activations(model, hook, toks, { keep_first_position = true })
fp.save(dir .. "/acts.npy", acts)
local function train(n)
  return fp.sae.train({ architecture = "topk", d_in = d, d_sae = EXP * d, k = K, batches = acts, batch_size = BATCH,
    steps = n, lr = 3e-4, seed = 1 })
end
train(2)   -- warm-up
t0, c0 = fp.time(), os.clock()
local _, h = train(steps)
secs, cpu = fp.time() - t0, os.clock() - c0
print(string.format('{"tool": "fp", "task": "train", "tokens_per_s": %.1f, "tokens_per_cpu_s": %.1f, "seconds": %.3f, "cpu_seconds": %.3f, "first_loss": %.6g}',
  steps * BATCH / secs, steps * BATCH / cpu, secs, cpu, h.loss[1]))

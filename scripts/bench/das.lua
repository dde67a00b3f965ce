-- fp side of scripts/bench/das: seconds per DAS training step (taped forward from the hook
-- layer + backward + Adam) on SmolLM2, 1-D Householder subspace at blocks.L.hook_resid_pre.
-- Writes the token ids it used to arg[1] (JSON) so the PyTorch side gets the same ids.
-- DAS_DTYPE=bf16: the model's weight products in bf16 (load_model's dtype; the peers stay float32).
local das = require "fp.das"
-- BENCH_CLOCK=cpu: process CPU time (os.clock; one thread on a busy host), else wall-clock time
local clock = os.getenv("BENCH_CLOCK") == "cpu" and os.clock or fp.time
local json = require "fp.json"
local out_ids, steps, layer = arg[1], tonumber(arg[2] or "10"), tonumber(arg[3] or "4")
local model = fp.load_model("smollm2-135m", { dtype = os.getenv("DAS_DTYPE") or "float32" })
local base = (model:to_tokens("Paris is in the country of", { prepend_bos = true }))
local source = (model:to_tokens("Rio is in the country of", { prepend_bos = true }))
local target = model:to_single_token(" Brazil")
local hook = "blocks." .. layer .. ".hook_resid_pre"
fp.seed(0)
local param = fp.nn.orthogonal(model.cfg.d_model, 1)
-- the peers start from the same Householder vector, so the first losses must agree
local f = assert(io.open(out_ids, "w"))
f:write(json.encode({ base = base[{ 0 }]:tolist(), source = source[{ 0 }]:tolist(), target = target,
                      layer = layer, base_pos = 1, source_pos = 2, v0 = param.vectors[{ 0 }]:detach():tolist() }))
f:close()
-- warm-up on a copy of the parametrization, then the measured run from v0
local warm = fp.nn.orthogonal(model.cfg.d_model, 1)
das.train(model, { base = base, source = source, hook = hook, base_pos = 1, source_pos = 2, target = target, steps = 2, lr = 0.1, param = warm })
-- "fp": layers before the hook run once (das.train's default); "fp_full_model": every step
-- runs all layers, as the PyTorch loops do
local v0 = param.vectors:detach():clone()
-- the source activation once, outside the timing (the peers compute it once before their steps)
local src = das.source_activation(model, source, hook, 2)
for _, variant in ipairs({ { "fp", true }, { "fp_full_model", false } }) do
  param.vectors:detach():copy_(v0)
  local t0 = clock()
  local run = das.train(model, { base = base, source_activation = src, hook = hook, base_pos = 1, target = target,
                                 steps = steps, lr = 0.1, param = param, reuse_prefix = variant[2] })
  local per = (clock() - t0) / steps
  print(string.format('{"tool": "%s", "sec_per_step": %.5f, "first_loss": %.4f}', variant[1], per, run.losses[1]))
end

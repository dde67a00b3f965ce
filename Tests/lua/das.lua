-- fp.das on the tiny random GPT-2 fixture: the interchange hook's algebra (full rotation with
-- k = d is full patching; with k < d only the subspace takes the source's coordinates), and a
-- short training run lowers the loss and keeps the best checkpoint.
local das = require "fp.das"
local model = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local base = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
local source = fp.tensor({ { 17, 9, 402, 5, 488, 133, 260 } }, "int")
local HOOK, POS = "blocks.1.hook_resid_pre", 1
local d = model.cfg.d_model

local function patched(param)
  local src = das.source_activation(model, source, HOOK, POS)
  local seen
  model:run_with_hooks(base, { fwd_hooks = {
    { HOOK, das.interchange_hook(param, POS, src) },
    { HOOK, function(act) seen = act[{ 0, POS }]:detach():clone() end } } })
  local _, cache = model:run_with_cache(base, { names_filter = HOOK })
  return seen, cache[HOOK][{ 0, POS }], src
end

test("full rotation with k = d patches the whole activation", function()
  fp.seed(1)
  local got, _, src = patched(das.subspace(d, d, { full_rotation = true }))
  assert_close(got, src, 1e-4)
end)

test("a k-dim subspace takes the source's coordinates there and keeps the base's elsewhere", function()
  fp.seed(2)
  for _, opts in ipairs({ {}, { full_rotation = true } }) do
    local param = das.subspace(d, 3, opts)
    local got, b, s = patched(param)
    local W = param:weight():detach()
    assert_close(W:T():matmul(got), W:T():matmul(s), 1e-4, "subspace coordinates from the source")
    local P = fp.eye(d) - W:matmul(W:T())
    assert_close(P:matmul(got), P:matmul(b), 1e-4, "the complement from the base")
  end
end)

test("training lowers the loss and keeps the best checkpoint", function()
  local run = das.train(model, { base = base, source = source, hook = HOOK, base_pos = POS, source_pos = POS,
                                 target = 99, k = 2, steps = 12, lr = 0.2, seed = 3 })
  assert(#run.losses == 12)
  assert(run.best_loss < run.losses[1], "loss went down")
  -- the kept parameters give the best loss again
  local logits = das.last_probs(model, base, { { HOOK, run.hook_fn } })
  assert_close(-math.log(logits[99]), run.best_loss, 1e-4)
end)

test("source_activation stops after the hook's layer and equals the full run's activation", function()
  local _, full = model:run_with_cache(source, { names_filter = HOOK })
  assert_close(das.source_activation(model, source, HOOK, POS), full[HOOK][{ 0, POS }], 0)
end)

test("training from a precomputed source activation gives the same losses as from the source", function()
  local a = das.train(model, { base = base, source = source, hook = HOOK, base_pos = POS, source_pos = POS,
                               target = 99, k = 2, steps = 4, lr = 0.2, seed = 3 })
  local b = das.train(model, { base = base, source_activation = das.source_activation(model, source, HOOK, POS),
                               hook = HOOK, base_pos = POS, target = 99, k = 2, steps = 4, lr = 0.2, seed = 3 })
  for i = 1, 4 do assert_close(b.losses[i], a.losses[i], 0) end
  expect_error(function() das.train(model, { base = base, source = source, source_activation = a.source, hook = HOOK,
    base_pos = POS, source_pos = POS, target = 99, steps = 1 }) end, "give source or source_activation, not both")
  expect_error(function() das.train(model, { base = base, source_activation = fp.zeros(d + 1), hook = HOOK,
    base_pos = POS, target = 99, steps = 1 }) end, "source_activation must be a float tensor [d_model = " .. d .. "]")
  expect_error(function() das.train(model, { base = base, source_activation = fp.zeros(d):int(), hook = HOOK,
    base_pos = POS, target = 99, steps = 1 }) end, "source_activation must be a float tensor [d_model = " .. d .. "]")
end)

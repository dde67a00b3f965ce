-- scripts/ioi.lua in quick mode on SmolLM2: the findings that must hold, checked against
-- numbers computed here independently (plain forward passes and one hand-patched run).
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/ioi.lua", { "--quick", "--out", out })

local clean = "After John and Mary went to the store, Mary gave a bottle of milk to"
local corrupted = "After John and Mary went to the store, John gave a bottle of milk to"

test("clean and corrupted logit diffs match plain forward passes; clean > 0 > corrupted", function()
  local r = run()
  local john, mary = model:to_single_token(" John"), model:to_single_token(" Mary")
  local c = model:forward((model:to_tokens(clean)))
  local k = model:forward((model:to_tokens(corrupted)))
  assert_close(r.clean_logit_diff, c[{ 0, -1, john }] - c[{ 0, -1, mary }], 1e-4)
  assert_close(r.corrupted_logit_diff, k[{ 0, -1, john }] - k[{ 0, -1, mary }], 1e-4)
  assert(r.clean_logit_diff > 1 and r.corrupted_logit_diff < -1)
  assert_equal(r.differing_positions, { 9 })
end)

test("resid_pre: layer 0 is 1 at the second name and 0 elsewhere; the last layer's last position recovers the clean diff", function()
  local r = run()
  local resid = r.resid_pre
  local L, P = model.cfg.n_layers, 16
  assert_equal(shape_string(resid), "[" .. L .. ", " .. P .. "]")
  for p = 0, P - 1 do assert_close(resid[{ 0, p }], p == 9 and 1 or 0, 1e-3, "layer 0 pos " .. p) end
  assert_close(r.first_layer_name_pos, 1, 1e-3)
  assert_close(r.last_layer_last_pos, 1, 0.05)
  -- the information moves from the name to the last position in between
  assert(r.crossover_layer and r.crossover_layer > 0 and r.crossover_layer < L - 1)
end)

test("one cell of the sweep equals a hand-patched run (layer 20, position 9)", function()
  local r = run()
  local ct, kt = model:to_tokens(clean), model:to_tokens(corrupted)
  local _, cache = model:run_with_cache(ct, { names_filter = "blocks.20.hook_resid_pre" })
  local john, mary = model:to_single_token(" John"), model:to_single_token(" Mary")
  local l = model:run_with_hooks(kt, { fwd_hooks = { { "blocks.20.hook_resid_pre", function(act)
    act[{ 0, 9 }] = cache["blocks.20.hook_resid_pre"][{ 0, 9 }]
  end } } })
  local d = l[{ 0, -1, john }] - l[{ 0, -1, mary }]
  local want = (d - r.corrupted_logit_diff) / (r.clean_logit_diff - r.corrupted_logit_diff)
  assert_close(r.resid_pre[{ 20, 9 }], want, 1e-3)
end)

test("head sweep: the top head restores a real part of the diff and ablating it hurts; results.json and figures written", function()
  local r = run()
  local top = r.top_heads[1]
  assert(top.value > 0.2, "top head " .. top.name .. " " .. top.value)
  assert_close(r.heads[{ top.layer, top.head }], top.value, 1e-6)
  -- zero-ablating the top head lowers the clean logit diff
  local john, mary = model:to_single_token(" John"), model:to_single_token(" Mary")
  local l = model:run_with_hooks(model:to_tokens(clean), { fwd_hooks = { { "blocks." .. top.layer .. ".attn.hook_z",
    function(z) z[{ {}, {}, top.head }] = 0 end } } })
  assert(l[{ 0, -1, john }] - l[{ 0, -1, mary }] < r.clean_logit_diff - 0.5)
  assert(r.dataset.accuracy >= 0.8, "accuracy on generated prompts " .. r.dataset.accuracy)
  local json = require "fp.json"
  local saved = json.decode(assert(io.open(out .. "/results.json")):read("a"))
  assert_equal(saved.model, model.cfg.model_name)
  assert_close(saved.clean_logit_diff, r.clean_logit_diff, 1e-9)
  assert_equal(#saved.resid_pre, model.cfg.n_layers)
  if package.searchpath("fp.plot", package.path) then
    for _, f in ipairs({ "resid_pre.svg", "resid_pre.html", "heads.svg" }) do
      assert(io.open(out .. "/" .. f), f .. " missing")
    end
  end
  os.execute("rm -rf '" .. out .. "'")
end)

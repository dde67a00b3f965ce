-- Attribution patching against real activation patching (fp.patching) on the tiny random GPT-2
-- and Llama fixtures. The clean run is the corrupted prompt with a small perturbation (EPS times
-- a random vector added to the embedding at one position), so the first-order estimate must
-- agree with the real patching effect: |estimate - real| <= 5% of the largest real effect + 1e-5.
local attribution = require "fp.attribution"
local patching = require "fp.patching"
local EPS = 2.5e-3   -- the relative error shrinks linearly with EPS (second-order terms): 1e-2 gives ~10% on llama-tiny

for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
  local model = fp.load_model("Tests/fixtures/models/" .. name)
  local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  fp.seed(5)
  local delta = fp.randn(model.cfg.d_model) * EPS
  local perturb = { { "hook_embed", function(act) act[{ 0, 2 }] = act[{ 0, 2 }] + delta end } }
  local metric = function(logits) return logits[{ 0, -1, 99 }] - logits[{ 0, -1, 7 }] end
  local _, clean_cache = model:run_with_cache(toks, { fwd_hooks = perturb })
  -- fp.patching returns the patched metric; the effect is that minus the corrupted metric
  local base = fp.item(metric(model:forward(toks)))

  local function agree(est, real, what)
    local scale = fp.item(real:abs():max())
    local err = fp.item((est - real):abs():max())
    assert(scale > 1e-4, what .. ": the perturbation has no effect to compare")
    assert(err <= 0.05 * scale + 1e-5, string.format("%s: max |estimate - real| %.3g vs largest effect %.3g", what, err, scale))
    return err / scale
  end

  test(name .. ": resid_pre attribution [layer, pos] agrees with real patching", function()
    local est = attribution.attribution(model, toks, toks, metric, "resid_pre", { clean_hooks = perturb })
    local real = patching.resid_pre(model, toks, clean_cache, metric) - base
    assert(shape_string(est) == shape_string(real))
    print(string.format("  %s resid_pre: relative error %.2e", name, agree(est, real, "resid_pre")))
  end)

  test(name .. ": per-head attribution (hook_z) agrees with real head patching", function()
    local names = {}
    for l = 0, model.cfg.n_layers - 1 do names[#names + 1] = "blocks." .. l .. ".attn.hook_z" end
    local est = attribution.attribution(model, toks, toks, metric, names, { clean_hooks = perturb })
    local rows = {}
    for l = 0, model.cfg.n_layers - 1 do
      local e = est["blocks." .. l .. ".attn.hook_z"]
      assert(shape_string(e) == "[7, " .. model.cfg.n_heads .. "]")
      rows[#rows + 1] = e:sum(0)
    end
    local real = patching.attn_head_out_all_pos(model, toks, clean_cache, metric) - base
    print(string.format("  %s heads: relative error %.2e", name, agree(fp.stack(rows, 0), real, "heads")))
  end)
end

test("attribution checks its metric", function()
  local model = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local toks = fp.tensor({ { 1, 2, 3 } }, "int")
  expect_error(function() attribution.attribution(model, toks, toks, function() return 1 end, "resid_pre") end, "one%-element tensor")
  expect_error(function() attribution.attribution(model, toks, toks, 5, "resid_pre") end, "metric must be a function")
end)

-- Hook-name mistakes get real suggestions: the nearest valid names within the layer that was
-- named, the layer range when the layer is out of range, the per-layer form when the layer was
-- left out; the same in names_filter, run_with_hooks, cache:act and patching; a names_filter
-- function that keeps nothing says so.
local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")   -- 2 layers
local toks = fp.tensor({ { 1, 2, 3 } }, "int")
local function id(act) return act end

test("a typo within a layer suggests that layer's nearest names", function()
  expect_error(function() m:run_with_hooks(toks, { fwd_hooks = { { "blocks.1.hook_resid_pr", id } } }) end,
    "no hook point named 'blocks.1.hook_resid_pr' (did you mean blocks.1.hook_resid_pre")
  expect_error(function() m:run_with_hooks(toks, { fwd_hooks = { { "blocks.0.attn.hook_patern", id } } }) end,
    "(did you mean blocks.0.attn.hook_pattern?)")
  -- the suggestion stays in the named layer
  local ok, err = pcall(function() m:run_with_hooks(toks, { fwd_hooks = { { "blocks.1.hook_mlp_ot", id } } }) end)
  assert(not ok and err:find("blocks.1.hook_mlp_out", 1, true) and not err:find("blocks.0.", 1, true), err)
end)

test("an out-of-range layer gives the valid range", function()
  expect_error(function() m:run_with_cache(toks, { names_filter = "blocks.7.hook_resid_pre" }) end,
    "layer 7 is out of range: layers are 0..1: blocks.1.hook_resid_pre is the last")
  expect_error(function() m:run_with_cache(toks, { names_filter = { "hook_embed", "blocks.2.attn.hook_z" } }) end,
    "names_filter: no hook point named 'blocks.2.attn.hook_z' (layer 2 is out of range")
end)

test("a per-layer name without its layer says so", function()
  expect_error(function() m:run_with_cache(toks, { names_filter = "hook_resid_pre" }) end,
    "(it is per layer: blocks.L.hook_resid_pre with L from 0 to 1)")
end)

test("a names_filter function that keeps nothing is an error", function()
  expect_error(function() m:run_with_cache(toks, { names_filter = function(n) return n:find("resid_pro") end }) end,
    "names_filter: the function returned false for every hook point")
end)

test("cache:act and patching name the nearest names", function()
  local _, cache = m:run_with_cache(toks, { names_filter = function(n) return n:find("resid_pre", 1, true) ~= nil end })
  expect_error(function() cache:act("resid_pre", 5) end, "layer 5 is out of range: layers are 0..1")
  expect_error(function() return cache["x"] or cache:act("resid_pr", 1) end, "(did you mean blocks.1.hook_resid_pre?)")
  expect_error(function() cache:act("resid_post", 1) end, "(it was filtered out by names_filter: add it to names_filter in run_with_cache)")
  local patching = require "fp.patching"
  expect_error(function()
    patching.generic(m, toks, cache, function(l) return 0 end, function(i) return "blocks." .. i .. ".hook_resid_pr" end, { 0 })
  end, "the clean cache has no 'blocks.0.hook_resid_pr' (did you mean blocks.0.hook_resid_pre?)")
end)

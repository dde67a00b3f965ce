-- model:patch_sweep, the engine under fp.patching's sweeps: every queued cell (the corrupted
-- run with one activation replaced) must give the logits of a plain run_with_hooks that makes
-- the same replacement, whatever the layer, stage, changed position and logit positions.
local patching = require "fp.patching"
local dir = "Tests/fixtures/models/"
local toks = fp.tensor({ { 3, 17, 250, 9, 44, 101, 7, 300, 12 } }, "int")
local P = 9

local function hook_name(model, layer, stage)
  if stage == "pre" then
    if layer < model.cfg.n_layers then return "blocks." .. layer .. ".hook_resid_pre" end
    return "blocks." .. (layer - 1) .. ".hook_resid_post"
  elseif stage == "mid" then return "blocks." .. layer .. ".hook_resid_mid" end
  return "blocks." .. layer .. ".attn.hook_z"
end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny", "llama3-tiny" }) do
  local model = fp.load_model(dir .. name)
  for _, positions in ipairs({ { -1 }, { 2, -1 }, false }) do
    local label = positions and table.concat(positions, ",") or "all"
    test(name .. ": every stage, layer and changed row equals run_with_hooks (logit positions " .. label .. ")", function()
      fp.seed(7)
      local s = model:patch_sweep(toks, positions and { positions = positions } or nil)
      local want_corrupted = model:forward(toks, { positions = positions or nil })
      assert_close(s.corrupted_logits, want_corrupted, 1e-5, "corrupted logits")
      local cases = {}
      for layer = 0, model.cfg.n_layers do
        for _, stage in ipairs({ "pre", "mid", "z" }) do
          if stage == "pre" or layer < model.cfg.n_layers then
            for _, p in ipairs({ 0, 4, P - 1 }) do
              local act = s:reference(layer, stage)
              act[{ p }] = act[{ p }] + fp.randn(table.unpack(act[{ p }].shape)) * 0.5
              cases[#cases + 1] = { layer = layer, stage = stage, act = act, id = s:add(layer, stage, act) }
            end
          end
        end
      end
      -- an unchanged cell costs nothing and gives the corrupted logits
      local same = s:add(1, "mid", s:reference(1, "mid"))
      assert(s.pending == #cases + 1)
      local out = s:run()
      assert(s.pending == 0 and s.pending_rows == 0)
      assert(out.shape[1] == #cases + 1 and out.shape[2] == (positions and #positions or P))
      for _, c in ipairs(cases) do
        local want = model:run_with_hooks(toks, { positions = positions or nil,
          fwd_hooks = { { hook_name(model, c.layer, c.stage), function(a) return c.act:view(a.shape) end } } })
        assert_close(out[{ { c.id, c.id + 1 } }], want, 1e-4, c.stage .. " at layer " .. c.layer)
      end
      assert_close(out[{ { same, same + 1 } }], want_corrupted, 0, "unchanged cell")
    end)
  end
end

test("patch_sweep: bad arguments are errors; the engine refuses models with hooks attached", function()
  local model = fp.load_model(dir .. "gpt2-tiny")
  local s = model:patch_sweep(toks, { positions = { -1 } })
  expect_error(function() s:add(0, "post", s:reference(0, "pre")) end, 'stage must be "pre", "mid" or "z"')
  expect_error(function() s:add(0, "pre", fp.zeros(P, 3)) end, "a pre activation must be [9, 64]")
  expect_error(function() s:add(0, "z", fp.zeros(P, 64)) end, "a z activation must be [9, 4, 16]")
  expect_error(function() s:add(5, "pre", fp.zeros(P, 64)) end, "no pre activation at layer 5")
  expect_error(function() s:add(2, "mid", fp.zeros(P, 64)) end, "no mid activation at layer 2")
  expect_error(function() s:reference(-1, "z") end, "no z activation at layer -1")
  expect_error(function() model:patch_sweep(toks, { positions = { 9 } }) end, "logit position 9 is out of range")
  expect_error(function() model:patch_sweep(fp.tensor({ { 1, 2 }, { 3, 4 } }, "int")) end, "tokens must be an int tensor [1, pos]")
  expect_error(function() s.add(nil, 0, "pre", fp.zeros(P, 64)) end, "patch sweep")
  assert(#s:run().shape == 3, "running with nothing queued is fine")
  local h = model:add_hook("blocks.0.hook_resid_pre", function() end)
  expect_error(function() model:patch_sweep(toks) end, "has hooks attached")
  model:reset_hooks()
end)

test("patching sweeps give the same numbers through the engine and through the batched fallback", function()
  local model = fp.load_model(dir .. "llama-tiny")
  local clean = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  local corrupt = fp.tensor({ { 17, 301, 42, 9, 488, 133, 260 } }, "int")
  local function metric(logits) return logits[{ 0, -1, 5 }] - logits[{ 0, -1, 7 }] end
  local _, cache = model:run_with_cache(clean)
  for _, kind in ipairs({ "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "attn_head_out_all_pos", "attn_head_out_by_pos" }) do
    local fast = patching[kind](model, corrupt, cache, metric)
    local batched = patching[kind](model, corrupt, cache, metric, { engine = false })
    assert_close(fast, batched, 1e-4, kind)
    -- with a hook attached (one that changes nothing) the sweep falls back and still agrees
    model:add_hook("blocks.0.hook_resid_pre", function() end)
    assert_close(patching[kind](model, corrupt, cache, metric), batched, 1e-4, kind .. " with a hook")
    model:reset_hooks()
  end
end)

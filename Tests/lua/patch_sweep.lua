-- model:patch_sweep, the engine under fp.patching's sweeps: every queued cell (the corrupted
-- run with one activation replaced) must give the logits of a plain run_with_hooks that makes
-- the same replacement, whatever the layer, stage, changed position and logit positions.
local patching = require "fp.patching"
local dir = "Tests/fixtures/models/"
local P = 9
local one = fp.tensor({ { 3, 17, 250, 9, 44, 101, 7, 300, 12 } }, "int")
local two = fp.tensor({ { 3, 17, 250, 9, 44, 101, 7, 300, 12 }, { 5, 17, 2, 9, 410, 101, 7, 30, 12 } }, "int")
local toks = one

local function hook_name(model, layer, stage)
  if stage == "pre" then
    if layer < model.cfg.n_layers then return "blocks." .. layer .. ".hook_resid_pre" end
    return "blocks." .. (layer - 1) .. ".hook_resid_post"
  elseif stage == "mid" then return "blocks." .. layer .. ".hook_resid_mid" end
  return "blocks." .. layer .. ".attn.hook_z"
end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny", "llama3-tiny" }) do
  local model = fp.load_model(dir .. name)
  for _, case in ipairs({ { one, { -1 } }, { one, { -1, 2, -1 } }, { one, { 2 } }, { one, false }, { two, { -1 } }, { two, false } }) do
    local toks, positions = case[1], case[2]
    local label = (positions and table.concat(positions, ",") or "all") .. ", batch " .. toks.shape[1]
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
              act[{ {}, p }] = act[{ {}, p }] + fp.randn(table.unpack(act[{ {}, p }].shape)) * 0.5
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
      assert(out.shape[1] == #cases + 1 and out.shape[2] == toks.shape[1] and out.shape[3] == (positions and #positions or P))
      for _, c in ipairs(cases) do
        local want = model:run_with_hooks(toks, { positions = positions or nil,
          fwd_hooks = { { hook_name(model, c.layer, c.stage), function(a) return c.act:view(a.shape) end } } })
        assert_close(out[{ c.id }], want, 1e-4, c.stage .. " at layer " .. c.layer)
      end
      assert_close(out[{ same }], want_corrupted, 0, "unchanged cell")
    end)
  end
end

test("patch_sweep: bad arguments are errors; with hooks attached the engine says it cannot run (a value, not an error)", function()
  local model = fp.load_model(dir .. "gpt2-tiny")
  local s = model:patch_sweep(toks, { positions = { -1 } })
  expect_error(function() s:add(0, "post", s:reference(0, "pre")) end, 'stage must be "pre", "mid" or "z"')
  expect_error(function() s:add(0, "pre", fp.zeros(1, P, 3)) end, "a pre activation must be [1, 9, 64]")
  expect_error(function() s:add(0, "pre", fp.zeros(P, 64)) end, "a pre activation must be [1, 9, 64]")
  expect_error(function() s:add(0, "z", fp.zeros(1, P, 64)) end, "a z activation must be [1, 9, 4, 16]")
  expect_error(function() s:add(5, "pre", fp.zeros(1, P, 64)) end, "no pre activation at layer 5")
  expect_error(function() s:add(2, "mid", fp.zeros(1, P, 64)) end, "no mid activation at layer 2")
  expect_error(function() s:reference(-1, "z") end, "no z activation at layer -1")
  expect_error(function() model:patch_sweep(toks, { positions = { 9 } }) end, "logit position 9 is out of range")
  expect_error(function() model:patch_sweep(fp.tensor({ 1, 2 }, "int")) end, "tokens must be an int tensor [batch, pos]")
  expect_error(function() model:patch_sweep(fp.zeros(1, 2)) end, "tokens must be an int tensor [batch, pos]")
  expect_error(function() s.add(nil, 0, "pre", fp.zeros(1, P, 64)) end, "patch sweep")
  assert(#s:run().shape == 4, "running with nothing queued is fine")
  local h = model:add_hook("blocks.0.hook_resid_pre", function() end)
  local none, why = model:patch_sweep(toks)
  assert(none == nil and why:find("has hooks attached", 1, true), "nil and the reason, got " .. tostring(none) .. ", " .. tostring(why))
  model:reset_hooks()
  assert(model:patch_sweep(toks) ~= nil, "without hooks the engine runs again")
end)

test("patching sweeps give the same numbers through the engine and through the batched fallback", function()
  local model = fp.load_model(dir .. "llama-tiny")
  local clean = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  local corrupt = fp.tensor({ { 17, 301, 42, 9, 488, 133, 260 } }, "int")
  local function metric(logits) return logits[{ 0, -1, 5 }] - logits[{ 0, -1, 7 }] end
  local _, cache = model:run_with_cache(clean)
  for _, kind in ipairs({ "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "attn_head_out_all_pos",
                          "attn_head_out_by_pos", "attn_head_pattern_all_pos" }) do
    local fast = patching[kind](model, corrupt, cache, metric)
    local batched = patching[kind](model, corrupt, cache, metric, { engine = false })
    assert_close(fast, batched, 1e-4, kind)
    -- with a hook attached (one that changes nothing) the sweep falls back and still agrees
    model:add_hook("blocks.0.hook_resid_pre", function() end)
    assert_close(patching[kind](model, corrupt, cache, metric), batched, 1e-4, kind .. " with a hook")
    model:reset_hooks()
  end
end)

test("several prompts are patched together (TransformerLens's batch semantics), engine and fallback alike", function()
  local model = fp.load_model(dir .. "gpt2-tiny")
  local clean = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 }, { 17, 30, 42, 6, 488, 13, 26 } }, "int")
  local corrupt = fp.tensor({ { 17, 301, 42, 9, 488, 133, 260 }, { 17, 30, 42, 8, 488, 13, 26 } }, "int")
  local function metric(logits)   -- mean logit difference over the prompts, as TL's metrics do
    return ((logits[{ {}, -1, 5 }] - logits[{ {}, -1, 7 }]):mean())
  end
  local _, cache = model:run_with_cache(clean)
  local L, H, P = model.cfg.n_layers, model.cfg.n_heads, 7
  local cells = {}
  for l = 0, L - 1 do for p = 0, P - 1 do cells[#cells + 1] = { l, p } end end
  for _, kind in ipairs({ "resid_pre", "attn_out", "mlp_out", "resid_post" }) do
    local fast = patching[kind](model, corrupt, cache, metric, { positions = { -1 } })
    local plain = patching.generic(model, corrupt, cache, metric, function(c) return "blocks." .. c[1] .. ".hook_" .. kind end,
      cells, { shape = { L, P } })
    assert_close(fast, plain, 1e-4 * math.max(1, plain:abs():max()), kind)
    assert(plain:max() - plain:min() > 1e-3, kind .. " should vary")
    model:add_hook("hook_embed", function() end)
    assert_close(patching[kind](model, corrupt, cache, metric), plain, 1e-4 * math.max(1, plain:abs():max()), kind .. " fallback")
    model:reset_hooks()
  end
  local heads = {}
  for l = 0, L - 1 do for h = 0, H - 1 do heads[#heads + 1] = { l, head = h } end end
  local plain = patching.generic(model, corrupt, cache, metric, function(c) return "blocks." .. c[1] .. ".attn.hook_z" end,
    heads, { shape = { L, H } })
  assert_close(patching.attn_head_out_all_pos(model, corrupt, cache, metric), plain, 1e-4, "heads")
  expect_error(function() patching.resid_pre(model, corrupt[{ { 0, 1 } }], cache, metric) end, "the clean cache's 'blocks.0.hook_resid_pre' is for 2 prompt(s) of 7 positions, the corrupted tokens are 1 of 7")
end)

test("patch_sweep: more positions than the model's context is an error naming the sweep", function()
  local model = fp.load_model(dir .. "gpt2-tiny")
  expect_error(function() model:patch_sweep(fp.zeros(1, 100, "int")) end, "patch sweep: 100 positions exceed the model's context of 64")
end)

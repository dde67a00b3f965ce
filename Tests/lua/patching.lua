-- fp.patching's fast sweeps (start_at_layer + batched cells) against the plain loop
-- (one full run_with_hooks per cell), on the tiny fixtures and on SmolLM2's IOI pair.
local patching = require "fp.patching"
local dir = "Tests/fixtures/models/"
local clean = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
local corrupt = fp.tensor({ { 17, 301, 42, 9, 488, 133, 260 } }, "int")
local function metric(logits) return logits[{ 0, -1, 5 }] - logits[{ 0, -1, 7 }] end

local function cells(L, n2, n3)
  local out = {}
  for l = 0, L - 1 do for a = 0, n2 - 1 do
    if n3 then for h = 0, n3 - 1 do out[#out + 1] = { l, a, head = h } end
    else out[#out + 1] = { l, a } end
  end end
  return out
end

-- gpt_neox-tiny: a parallel block (no resid_mid; attn_out and mlp_out both enter resid_post);
-- gemma2-tiny: sandwich norms, soft-caps and sliding windows in the engine.
for _, name in ipairs({ "gpt2-tiny", "llama-tiny", "gpt_neox-tiny", "gemma2-tiny" }) do
  local m = fp.load_model(dir .. name)
  local _, cache = m:run_with_cache(clean)
  local L, H, P = m.cfg.n_layers, m.cfg.n_heads, 7
  local has_mid = cache["blocks.0.hook_resid_mid"] ~= nil

  test(name .. ": resid/attn/mlp sweeps equal the plain loop (raw metric, 1e-4 of its scale)", function()
    assert(m:patch_sweep(corrupt), "the sweep engine runs " .. name)
    if not has_mid then
      expect_error(function() patching.resid_mid(m, corrupt, cache, metric) end, "has no 'blocks.0.hook_resid_mid'")
    end
    for _, kind in ipairs(has_mid and { "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out" }
                                   or { "resid_pre", "resid_post", "attn_out", "mlp_out" }) do
      local fast = patching[kind](m, corrupt, cache, metric)
      local slow = patching.generic(m, corrupt, cache, metric,
        function(i) return "blocks." .. i[1] .. ".hook_" .. kind end, cells(L, P), { shape = { L, P } })
      assert_close(fast, slow, 1e-4 * math.max(1, slow:abs():max()), kind)
      assert(slow:max() - slow:min() > 1e-3, kind .. ": the sweep should vary")
    end
  end)

  test(name .. ": head sweeps (z all positions, z by position, pattern) equal the plain loop", function()
    local heads = {}
    for l = 0, L - 1 do for h = 0, H - 1 do heads[#heads + 1] = { l, head = h } end end
    local z = function(i) return "blocks." .. i[1] .. ".attn.hook_z" end
    assert_close(patching.attn_head_out_all_pos(m, corrupt, cache, metric),
      patching.generic(m, corrupt, cache, metric, z, heads, { shape = { L, H } }), 1e-4, "all pos")
    assert_close(patching.attn_head_out_by_pos(m, corrupt, cache, metric, { positions = { -1 } }),
      patching.generic(m, corrupt, cache, metric, z, cells(L, P, H), { shape = { L, P, H } }), 1e-4, "by pos")
    assert_close(patching.attn_head_pattern_all_pos(m, corrupt, cache, metric),
      patching.generic(m, corrupt, cache, metric, function(i) return "blocks." .. i[1] .. ".attn.hook_pattern" end, heads,
        { shape = { L, H }, setter = function(act, i, c) act[{ 0, i.head }] = c[{ 0, i.head }] end }), 1e-4, "pattern")
  end)

  test(name .. ": block_every stacks resid_pre, attn_out, mlp_out; bad arguments are errors", function()
    local every = patching.block_every(m, corrupt, cache, metric)
    assert(every.shape[1] == 3 and every.shape[2] == L and every.shape[3] == P)
    assert_close(every[{ 0 }], patching.resid_pre(m, corrupt, cache, metric), 0)
    expect_error(function() patching.resid_pre(m, corrupt, {}, metric) end, "the clean cache has no 'blocks.0.hook_resid_pre'")
    expect_error(function() patching.resid_pre(m, corrupt, cache, 3) end, "metric must be a function")
    expect_error(function() patching.resid_pre(m, corrupt[{ 0 }], cache, metric) end, "shape [batch, pos]")
    expect_error(function() patching.resid_pre(m, corrupt, cache, function() return "x" end) end, "metric must return a number")
  end)
end

test("SmolLM2 IOI: resid_pre patching is 1 at the differing name in layer 0, ~0 elsewhere, ~1 at the end", function()
  local m = fp.load_model("smollm2-135m")
  local clean_t = m:to_tokens("After John and Mary went to the store, Mary gave a bottle of milk to")
  local corrupt_t = m:to_tokens("After John and Mary went to the store, John gave a bottle of milk to")
  local john, mary = m:to_single_token(" John"), m:to_single_token(" Mary")
  local clean_logits, cache = m:run_with_cache(clean_t, { names_filter = function(n) return n:find("resid_pre", 1, true) ~= nil end })
  local function diff(l) return l[{ 0, -1, john }] - l[{ 0, -1, mary }] end
  local cd, kd = diff(clean_logits), diff(m:forward(corrupt_t))
  local function normalized(l) return (diff(l) - kd) / (cd - kd) end
  local r = patching.resid_pre(m, corrupt_t, cache, normalized, { positions = { -1 } })
  local P, L = clean_t.shape[2], m.cfg.n_layers
  local pos = 9   -- " Mary" / " John", the second name
  for p = 0, P - 1 do
    local want = p == pos and 1 or 0
    assert(math.abs(r[{ 0, p }] - want) < 1e-3, "layer 0 pos " .. p .. ": " .. r[{ 0, p }])
  end
  assert(math.abs(r[{ L - 1, P - 1 }] - 1) < 0.05, "last layer, last position: " .. r[{ L - 1, P - 1 }])
  -- a few cells against the plain loop
  local some = { { 0, pos }, { 15, pos }, { 22, P - 1 }, { 29, P - 1 } }
  local plain = patching.generic(m, corrupt_t, cache, normalized, function(i) return "blocks." .. i[1] .. ".hook_resid_pre" end, some)
  for k, c in ipairs(some) do assert_close(r[{ c[1], c[2] }], plain[k], 1e-4, "cell " .. c[1] .. "," .. c[2]) end
end)

test("path patching: senders in the last layer to the final residual equal patching their z", function()
  local m = fp.load_model(dir .. "gpt2-tiny")
  local _, cache = m:run_with_cache(clean)
  local senders = {}
  for h = 0, m.cfg.n_heads - 1 do senders[#senders + 1] = { 1, h } end
  local via_path = patching.path(m, corrupt, cache, metric, senders, { "blocks.1.hook_resid_post" })
  local direct = m:run_with_hooks(corrupt, { fwd_hooks = { { "blocks.1.attn.hook_z", function() return cache["blocks.1.attn.hook_z"] end } } })
  assert_close(via_path, metric(direct), 1e-5)
end)

test("path patching with frozen MLPs: a layer-0 head reaches the output only through its own direct path", function()
  for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
    local m = fp.load_model(dir .. name)
    local _, cache = m:run_with_cache(clean)
    local _, cc = m:run_with_cache(corrupt)
    local h = 2
    local got = patching.path(m, corrupt, cache, metric, { { 0, h } }, { "blocks.1.hook_resid_post" }, { freeze_mlps = true })
    -- expected: corrupted final residual + (clean - corrupted) output of head (0, h)
    local W_O = m.blocks[0].attn.W_O[{ h }]
    local delta = (cache["blocks.0.attn.hook_z"][{ {}, {}, h }] - cc["blocks.0.attn.hook_z"][{ {}, {}, h }]):matmul(W_O)
    local resid = cc["blocks.1.hook_resid_post"] + delta
    local want = metric(m:forward(resid, { start_at_layer = m.cfg.n_layers }))
    assert_close(got, want, 1e-4, name)
    -- same-layer receivers see nothing from a sender
    local none = patching.path_heads(m, corrupt, cache, metric, { { 0, 1, "q" } })
    assert_close(none, fp.full(none.shape, metric(m:forward(corrupt))), 1e-5, name .. " same layer")
  end
end)

test("model:hooks scopes hooks to a function, also when it raises", function()
  local m = fp.load_model(dir .. "gpt2-tiny")
  local base = m:forward(clean)
  local zero = { { "blocks.0.hook_attn_out", function(a) a:zero_() end } }
  local inside = m:hooks(zero, function() return m:forward(clean) end)
  assert((inside - base):abs():max() > 1e-3)
  assert_close(m:forward(clean), base, 0)
  expect_error(function() m:hooks(zero, function() error("inner failure") end) end, "inner failure")
  assert_close(m:forward(clean), base, 0)
end)

test("fp.utils: topk_nd, logit_diff, position labels", function()
  local utils = require "fp.utils"
  local v, where = utils.topk_nd(fp.tensor({ { 1, 9, 3 }, { 7, 2, 8 } }), 2)
  assert_close(v, { 9, 8 })
  assert_equal(where, { { 0, 1 }, { 1, 2 } })
  local logits = fp.tensor({ { { 0, 1, 5 } }, { { 2, 0, 1 } } })   -- [2, 1, 3]
  assert_close(utils.logit_diff(logits, 2, 0), ((5 - 0) + (1 - 2)) / 2)
  assert_close(utils.logit_diff(logits, fp.tensor({ 2, 0 }, "int"), fp.tensor({ 1, 1 }, "int"), { per_prompt = true }), { 4, 2 })
  local smol = fp.load_model("smollm2-135m")
  assert_equal(utils.position_labels(smol, "After John"), { "After_0", " John_1" })
end)

test("model:batch runs items with their own hooks in one pass; an item reads another's activation", function()
  for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
    local m = fp.load_model(dir .. name)
    local point = "blocks.1.hook_resid_pre"
    local out = m:batch({ { input = clean }, { input = corrupt, hooks = { { point, function(act, hook)
      act[{ 0, 3 }] = hook.of(1)[{ 0, 3 }]
    end } } } })
    local _, cache = m:run_with_cache(clean, { names_filter = point })
    local ref = m:run_with_hooks(corrupt, { fwd_hooks = { { point, function(act) act[{ 0, 3 }] = cache[point][{ 0, 3 }] end } } })
    assert_close(out[1], m:forward(clean), 1e-5, name .. " clean item")
    assert_close(out[2], ref, 1e-5, name .. " patched item")
    -- different lengths are left-padded: the last position matches the prompt alone
    local short = fp.tensor({ { 17, 301, 42 } }, "int")
    local o2 = m:batch({ { input = clean }, { input = short } })
    assert_close(o2[2][{ 0, -1 }], m:forward(short)[{ 0, -1 }], 1e-4, name .. " padded")
  end
  expect_error(function() fp.load_model(dir .. "gpt2-tiny"):batch({ { input = 3 } }) end, "batch: item 1: input must be")
end)

-- TransformerLens 3.9 parity (issue 17's silent differences and missing helpers), against what
-- TransformerLens itself does on the same weights: Tests/fixtures/make_tl_parity.py wrote
-- Tests/fixtures/tl_parity/ (hook lifetimes, get_act_name, GQA weights and hook shapes, every
-- get_act_patch_attn_head_*, test_prompt's printed text).
local json = require "fp.json"
local utils = require "fp.utils"
local patching = require "fp.patching"
local FIX = "Tests/fixtures/tl_parity/"
local MODELS = "Tests/fixtures/models/"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- 1. hook lifetimes ---------------------------------------------------------------------------
test("hooks: what stays attached after each call is what TransformerLens keeps", function()
  local want = json.decode(read(FIX .. "hooks.json"))
  local m = fp.load_model(MODELS .. "gpt2-tiny")
  local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  local name = "blocks.0.hook_attn_out"
  local function zero(a) return a * 0 end
  local got = {}
  local function probe(step) got[step] = m:forward(toks)[{ 0, -1, 0 }] end
  probe("base")
  m:add_hook(name, zero); probe("add_hook")
  m:run_with_hooks(toks, { fwd_hooks = {} }); probe("add_hook_after_run_with_hooks")
  m:run_with_cache(toks); probe("add_hook_after_run_with_cache")
  m:hooks({}, function() end); probe("add_hook_after_hooks_context")
  m:reset_hooks(); probe("after_reset_hooks")
  m:add_perma_hook(name, zero); m:reset_hooks(); probe("perma_after_reset_hooks")
  m:reset_hooks({ including_permanent = true }); probe("perma_after_reset_including_permanent")
  m:run_with_hooks(toks, { fwd_hooks = { { name, zero } }, reset_hooks_end = false }); probe("run_hooks_kept_by_reset_hooks_end_false")
  m:reset_hooks(); probe("kept_run_hooks_after_reset_hooks")
  m:run_with_hooks(toks, { fwd_hooks = { { name, zero } } }); probe("run_hooks_after_run")
  m:hooks({ { name, zero } }, function() probe("hooks_context_inside") end); probe("hooks_context_after")
  m:hooks({ { name, zero } }, function() end, { reset_hooks_end = false }); probe("hooks_context_kept_by_reset_hooks_end_false")
  m:reset_hooks()
  local keep = { fwd_hooks = { { name, zero } }, reset_hooks_end = false }
  m:run_with_hooks(toks, keep); m:run_with_hooks(toks, {}); probe("kept_run_hooks_after_next_run_with_hooks")
  m:run_with_hooks(toks, keep); m:run_with_cache(toks); probe("kept_run_hooks_after_next_run_with_cache")
  m:run_with_hooks(toks, keep)
  m:hooks({}, function()
    m:run_with_hooks(toks, {})
    probe("kept_run_hooks_inside_hooks_context")
  end)
  probe("kept_run_hooks_after_hooks_context")
  m:add_hook(name, zero)
  m:run_with_hooks(toks, keep); m:run_with_hooks(toks, {}); probe("add_hook_survives_level_reset")
  m:reset_hooks()
  assert(math.abs(want.base - want.add_hook) > 0.1, "the fixture's ablation must change the probe")
  for step, v in pairs(want) do
    assert(got[step] ~= nil, "step " .. step .. " not run")
    assert_close(got[step], v, 1e-4, step)
  end
end)

test("hooks: add_hook { is_permanent = true } is add_perma_hook; options are checked", function()
  local m = fp.load_model(MODELS .. "gpt2-tiny")
  local toks = fp.tensor({ { 1, 2, 3 } }, "int")
  local base = m:forward(toks)[{ 0, -1, 0 }]
  local h = m:add_hook("blocks.0.hook_attn_out", function(a) return a * 0 end, { is_permanent = true })
  m:reset_hooks()
  assert(math.abs(m:forward(toks)[{ 0, -1, 0 }] - base) > 1e-3, "a permanent hook survives reset_hooks()")
  m:remove_hook(h)
  assert_close(m:forward(toks)[{ 0, -1, 0 }], base, 1e-6)
  expect_error(function() m:add_hook("blocks.0.hook_attn_out", function() end, { permanent = true }) end, "is_permanent")
  expect_error(function() m:reset_hooks({ including_perma = true }) end, "including_permanent")
  expect_error(function() m:run_with_hooks(toks, { reset_hook_end = false }) end, "reset_hooks_end")
  expect_error(function() m:run_with_hooks(toks, { reset_hooks_end = false,
    bwd_hooks = { { "blocks.0.hook_attn_out", function() end } } }) end, "bwd_hooks")
  expect_error(function() m:reset_hooks(true) end, "options table")
  -- as TransformerLens's `finally`: a run that raises still keeps its hooks with reset_hooks_end = false
  expect_error(function() m:run_with_hooks(toks, { reset_hooks_end = false, fwd_hooks = {
    { "blocks.0.hook_attn_out", function() error("boom") end } } }) end, "boom")
  expect_error(function() m:forward(toks) end, "boom")
  m:reset_hooks()
  assert_close(m:forward(toks)[{ 0, -1, 0 }], base, 1e-6)
end)

-- 2. grouped-query attention --------------------------------------------------------------------
test("GQA: W_K/W_V/b_K per query head, _W_K/_W_V per key-value head, hook_k/v key-value heads (TransformerLens)", function()
  local want = fp.load_tensors(FIX .. "gqa.npz")
  local m = fp.load_model(MODELS .. "llama-tiny")
  local a = m.blocks[0].attn
  assert(m.cfg.n_key_value_heads == 2 and m.cfg.n_heads == 4)
  for _, k in ipairs({ "W_K", "_W_K", "W_V", "_W_V", "b_K" }) do
    assert(table.concat(a[k].shape, ",") == table.concat(want[k].shape, ","), k .. " shape")
    assert_close(a[k], want[k], 1e-6, k)
  end
  -- query head h reads key-value head h // (n_heads / n_key_value_heads)
  assert_close(a.W_K[{ 3 }], a._W_K[{ 1 }], 0, "W_K[3] is kv head 1")
  local _, c = m:run_with_cache(fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int"))
  for _, k in ipairs({ "q", "k", "v" }) do
    assert(table.concat(c:act(k, 0).shape, ",") == table.concat(want[k .. "_shape"]:tolist(), ","), "hook_" .. k .. " shape")
  end
end)

test("GQA: a path-patching receiver {layer, head, \"k\"} names a query head and patches the key-value head it reads", function()
  local m = fp.load_model(MODELS .. "llama-tiny")
  local clean = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  local corrupt = fp.tensor({ { 17, 301, 42, 6, 488, 133, 260 } }, "int")
  local _, cache = m:run_with_cache(clean)
  local function metric(l) return l[{ 0, -1, 5 }] - l[{ 0, -1, 7 }] end
  -- sender: every layer-0 head; receivers: query heads 2 and 3 of layer 1 read kv head 1
  local senders = { { 0, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 } }
  local r3 = patching.path(m, corrupt, cache, metric, senders, { { 1, 3, "k" } })
  local r2 = patching.path(m, corrupt, cache, metric, senders, { { 1, 2, "k" } })
  local r1 = patching.path(m, corrupt, cache, metric, senders, { { 1, 1, "k" } })
  -- by hand: layer 1's k when every layer-0 head's z is clean (the corrupted embeddings stay),
  -- then a corrupted run with only kv head 1 of that k patched in
  local k1
  m:run_with_hooks(corrupt, { fwd_hooks = {
    { "blocks.0.attn.hook_z", function() return cache["blocks.0.attn.hook_z"] end },
    { "blocks.1.attn.hook_k", function(k) k1 = k:clone() end } } })
  local by_hand = metric(m:run_with_hooks(corrupt, { fwd_hooks = { { "blocks.1.attn.hook_k", function(k)
    k[{ {}, {}, 1 }] = k1[{ {}, {}, 1 }]
  end } } }))
  assert_close(r3, by_hand, 1e-4); assert_close(r2, by_hand, 1e-4)
  assert(math.abs(r1 - by_hand) > 1e-4, "query head 1 reads kv head 0, not 1")
end)

-- 3. act names and layers ---------------------------------------------------------------------
test("act_name: every TransformerLens get_act_name form", function()
  local cases = json.decode(read(FIX .. "act_names.json"))
  assert(#cases > 30)
  for _, c in ipairs(cases) do
    local args, want = c[1], c[2]
    if (args[1] == "scale" or args[1] == "normalized") and args[2] ~= nil and args[3] == nil then
      -- TransformerLens returns "blocks.L.hook_scale", which no model has; fp says which to use
      expect_error(function() utils.act_name(table.unpack(args)) end, "ln1")
    else
      local got = utils.act_name(args[1], args[2], args[3])
      assert(got == want, table.concat(args, ",") .. ": " .. got .. " ~= " .. want)
    end
  end
  expect_error(function() utils.act_name("resid_pre", -1) end, "cache:act")
  expect_error(function() utils.act_name("resid_pre", 1.5) end, "integer")
end)

test("cache: negative layers, short names, and why a name is missing", function()
  local m = fp.load_model(MODELS .. "gpt2-tiny")
  local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")
  local _, c = m:run_with_cache(toks)
  assert_close(c:act("resid_post", -1), c["blocks.1.hook_resid_post"], 0)
  assert_close(c:act("attn", -2), c["blocks.0.attn.hook_pattern"], 0)
  assert_close(c["pattern1"], c["blocks.1.attn.hook_pattern"], 0)
  assert_close(c["scale0ln2"], c["blocks.0.ln2.hook_scale"], 0)
  assert_close(c:act("normalized", -1, "ln1"), c["blocks.1.ln1.hook_normalized"], 0)
  expect_error(function() c:act("resid_post", -3) end, "out of range")
  -- decompositions: layer in [0, n_layers], -1 = n_layers (final), as TransformerLens
  local acc = c:accumulated_resid(-1)
  assert_close(acc, c:accumulated_resid(nil), 0)
  assert_close(c:accumulated_resid(-2), c:accumulated_resid(1), 0)
  assert_close(c:apply_ln_to_stack(acc, -1), c:apply_ln_to_stack(acc, 2), 0)
  assert_close(c:apply_ln_to_stack(acc, -2), c:apply_ln_to_stack(acc, 1), 0)
  assert_close(c:decompose_resid(-1), c:decompose_resid(2), 0)
  assert_close(c:stack_head_results(-1), c:stack_head_results(2), 0)
  assert_close(c:get_full_resid_decomposition(-1), c:get_full_resid_decomposition(2), 0)
  expect_error(function() c:apply_ln_to_stack(acc, -4) end, "layer")
  -- a missing name: filtered out, or no such hook point (with suggestions)
  local _, f = m:run_with_cache(toks, { names_filter = { "blocks.0.hook_resid_pre" } })
  expect_error(function() f:act("resid_post", -1) end, "filtered out by names_filter")
  expect_error(function() f:act("resid_postt", 0) end, "no such hook point.*blocks.0.hook_resid_post")
  expect_error(function() return f["attn1"] end, "filtered out")
  assert(f.pos_slice == nil and f["resid_postt1"] == nil, "a key that names no hook point is nil, as in a table")
  expect_error(function() c:act("resid_postt", 0) end, "no such hook point")
end)

-- test_prompt -----------------------------------------------------------------------------------
test("test_prompt prints what TransformerLens prints (SmolLM2)", function()
  local m = fp.load_model("smollm2-135m")
  local text = read(FIX .. "test_prompt.txt")
  local n = 0
  for header, body in text:gmatch("### ([^\n]*)\n(.-)%f[#\0]") do
    local args = json.decode(header)
    local opts = {}
    for k, v in pairs(args[3]) do opts[k] = v end
    local lines = {}
    opts.print = function(s) lines[#lines + 1] = s end
    local answer = args[2]
    if type(answer) == "table" then answer = { table.unpack(answer) } end
    utils.test_prompt(m, args[1], answer, opts)
    local got = table.concat(lines, "\n") .. "\n"
    -- numbers to float32 rounding (the last printed digit may differ), everything else exactly
    local function split(s)
      local nums = {}
      local shape = s:gsub("%-?%d+%.%d+", function(x) nums[#nums + 1] = tonumber(x); return "#" end)
      return shape, nums
    end
    local gs, gn = split(got)
    local ws, wn = split(body)
    assert(gs == ws, "test_prompt " .. header .. ":\n--- fp\n" .. got .. "--- TransformerLens\n" .. body)
    for i = 1, #wn do assert(math.abs(gn[i] - wn[i]) <= 0.011, header .. ": number " .. i .. ": " .. gn[i] .. " vs " .. wn[i]) end
    n = n + 1
  end
  assert(n == 5, "cases read: " .. n)
  expect_error(function() utils.test_prompt(m, "x", "y", { topk = 3 }) end, "top_k")
  expect_error(function() utils.test_prompt(m, "x", 3) end, "answer")
end)

-- patching: every get_act_patch_attn_head_* -----------------------------------------------------
local CLEAN = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 }, { 77, 9, 402, 215, 31, 12, 99 } }, "int")
local CORRUPT = fp.tensor({ { 17, 301, 42, 6, 488, 133, 260 }, { 77, 9, 402, 300, 31, 12, 99 } }, "int")
local function metric(l) return (l[{ {}, -1, 5 }] - l[{ {}, -1, 7 }]):mean() end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
  test(name .. ": every attention-head patching sweep equals TransformerLens's get_act_patch_*", function()
    local want = fp.load_tensors(FIX .. "patching_" .. name .. ".npz")
    local m = fp.load_model(MODELS .. name)
    local _, cache = m:run_with_cache(CLEAN)
    assert_close(metric(m:forward(CLEAN)), want.clean_metric:item(), 1e-4)
    local fns = { "attn_head_out_all_pos", "attn_head_q_all_pos", "attn_head_k_all_pos", "attn_head_v_all_pos",
                  "attn_head_pattern_all_pos", "attn_head_out_by_pos", "attn_head_q_by_pos", "attn_head_k_by_pos",
                  "attn_head_v_by_pos", "attn_head_pattern_by_pos", "attn_head_pattern_dest_src_pos" }
    for _, fn in ipairs(fns) do
      local got = patching[fn](m, CORRUPT, cache, metric)
      local w = want[fn]
      assert(table.concat(got.shape, ",") == table.concat(w.shape, ","), fn .. " shape " .. table.concat(got.shape, ","))
      assert_close(got, w, 1e-4 * math.max(1, w:abs():max()), fn)
      assert(w:max() - w:min() > 1e-3, fn .. ": the fixture sweep should vary")
    end
    -- a max_batch of 1 (one cell per run) gives the same numbers as the default batching
    assert_close(patching.attn_head_k_by_pos(m, CORRUPT, cache, metric, { max_batch = 1 }), want.attn_head_k_by_pos, 1e-4 * math.max(1, want.attn_head_k_by_pos:abs():max()))
    local every = patching.attn_head_all_pos_every(m, CORRUPT, cache, metric)
    local by_pos = patching.attn_head_by_pos_every(m, CORRUPT, cache, metric)
    if want.attn_head_all_pos_every then
      assert_close(every, want.attn_head_all_pos_every, 1e-4 * math.max(1, want.attn_head_all_pos_every:abs():max()))
      assert_close(by_pos, want.attn_head_by_pos_every, 1e-4 * math.max(1, want.attn_head_by_pos_every:abs():max()))
    else
      -- GQA: k and v rows per query head (TransformerLens pads them with zeros)
      local g = m.cfg.n_heads // m.cfg.n_key_value_heads
      for h = 0, m.cfg.n_heads - 1 do
        assert_close(every[{ 2, {}, h }], want.attn_head_k_all_pos[{ {}, h // g }], 1e-4, "k per query head")
        assert_close(by_pos[{ 3, {}, {}, h }], want.attn_head_v_by_pos[{ {}, {}, h // g }], 1e-4, "v per query head")
      end
      assert_close(every[{ 4 }], want.attn_head_pattern_all_pos, 1e-4)
      assert_close(by_pos[{ 4 }], want.attn_head_pattern_by_pos:permute(0, 2, 1), 1e-4)
    end
  end)
end

test("patching head sweeps check their arguments", function()
  local m = fp.load_model(MODELS .. "gpt2-tiny")
  local _, cache = m:run_with_cache(CLEAN)
  expect_error(function() patching.attn_head_q_all_pos(m, CORRUPT, cache, metric, { max_batc = 2 }) end, "max_batch")
  expect_error(function() patching.attn_head_q_all_pos(m, CORRUPT[{ { 0, 1 } }], cache, metric) end, "2 prompt")
  local _, partial = m:run_with_cache(CLEAN, { names_filter = { "blocks.0.attn.hook_q" } })
  expect_error(function() patching.attn_head_q_all_pos(m, CORRUPT, partial, metric) end, "blocks.1.attn.hook_q")
  expect_error(function() patching.attn_head_v_by_pos(m, CORRUPT, cache, 3) end, "metric")
end)

-- ActivationCache methods (fp.cache) on the tiny fixtures: the decompositions sum to the
-- residual stream they decompose, the layer-norm application sums to the normalized stream,
-- and direct logit attribution reproduces the logit difference.
local ids = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")

for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
  local m = fp.load_model("Tests/fixtures/models/" .. name)
  local logits, cache = m:run_with_cache(ids)
  local final = cache["blocks.1.hook_resid_post"]

  test(name .. ": act() short names and keys()", function()
    assert(cache:act("resid_pre", 1) == cache["blocks.1.hook_resid_pre"])
    assert(cache:act("pattern", 0) == cache["blocks.0.attn.hook_pattern"])
    assert(cache:act("post", 1) == cache["blocks.1.mlp.hook_post"])
    assert(cache:act("scale") == cache["ln_final.hook_scale"])
    assert(cache:act("scale", 0, "ln2") == cache["blocks.0.ln2.hook_scale"])
    local keys = cache:keys()
    -- every point except the on-demand ones (hook_attn_in, hook_q/k/v_input, hook_mlp_in: by name only)
    local want = 0
    for _, n in ipairs(m:hook_points()) do
      if not (n:match("hook_attn_in$") or n:match("hook_[qkv]_input$") or n:match("hook_mlp_in$")) then want = want + 1 end
    end
    assert(#keys == want, #keys .. " cached of " .. want)
    expect_error(function() cache:act("nonsense", 0) end, "is not in this cache")
  end)

  test(name .. ": decompose_resid, stack_head_results and the full decomposition sum to the stream", function()
    local s, labels = cache:decompose_resid()
    assert_close(s:sum(0), final, 1e-4, "decompose_resid")
    assert(labels[#labels] == "1_mlp_out")
    local mid = cache:decompose_resid(1, true)
    assert_close(mid:sum(0), cache["blocks.1.hook_resid_mid"], 1e-4, "mlp_input")
    local full, fl = cache:get_full_resid_decomposition()
    assert(#fl == full.shape[1] and fl[1] == "L0H0" and fl[#fl] == "bias")
    assert_close(full:sum(0), final, 1e-4, "full decomposition")
    local neurons = cache:get_full_resid_decomposition(nil, true)
    assert_close(neurons:sum(0), final, 1e-4, "expand_neurons")
    local heads = cache:stack_head_results(1)
    assert(heads.shape[1] == m.cfg.n_heads)
    assert_close(heads:sum(0) + m.blocks[0].attn.b_O, cache["blocks.0.hook_attn_out"], 1e-4, "heads + b_O = attn_out")
    local acc = cache:accumulated_resid(nil, true)
    assert(acc.shape[1] == 2 * m.cfg.n_layers + 1)
    assert_close(acc[{ -1 }], final, 0)
  end)

  test(name .. ": apply_ln_to_stack and logit_attrs give the logit difference", function()
    local s = cache:decompose_resid()
    local ln = cache:apply_ln_to_stack(s)
    assert_close(ln:sum(0), cache["ln_final.hook_normalized"], 1e-4)
    -- the norm weight is not folded in these models: apply it to the direction
    local dir = (m.W_U[{ {}, 5 }] - m.W_U[{ {}, 7 }])
    local attrs = cache:logit_attrs(ln * m.ln_final.w, 5, 7, { apply_ln = false })
    assert(attrs.shape[1] == s.shape[1])
    -- by default the stack is scaled by ln_final first, as TransformerLens's logit_attrs does
    assert_close(cache:logit_attrs(s, 5, 7), ln:matmul(dir), 1e-5, "logit_attrs applies ln_final's scale")
    local want = logits[{ 0, -1, 5 }] - logits[{ 0, -1, 7 }]
    local bias = fp.item(m.ln_final.b:matmul(dir)) + m.b_U[{ 5 }] - m.b_U[{ 7 }]
    assert_close(attrs[{ {}, 0, -1 }]:sum() + bias, want, 1e-4)
  end)
end

test("apply_ln = true with a pos_slice scales each position by its own norm scale", function()
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local toks = fp.tensor({ { 17, 301, 42, 5, 488 }, { 3, 99, 42, 7, 1 } }, "int")
  local logits, cache = m:run_with_cache(toks)
  local whole = cache:decompose_resid(nil, false, true, nil, true)          -- [C, 2, 5, d]
  for _, ps in ipairs({ -1, 2, { 1, 4 } }) do
    local sliced = cache:decompose_resid(nil, false, true, ps, true)
    local idx = { {}, {}, ps }
    assert_close(sliced, whole[idx], 1e-6, "pos_slice " .. tostring(ps))
  end
  local acc = cache:accumulated_resid(nil, false, -1, true)
  assert_close(acc[{ -1 }], cache["ln_final.hook_normalized"][{ {}, -1 }], 1e-4, "final accumulated resid at -1 = normalized")
  local heads = cache:stack_head_results(nil, { 0, 2 }, true)
  assert_close(heads, cache:stack_head_results(nil, nil, true)[{ {}, {}, { 0, 2 } }], 1e-6, "heads")
  local full = cache:get_full_resid_decomposition(nil, false, 3, true)
  assert_close(full, cache:get_full_resid_decomposition(nil, false, nil, true)[{ {}, {}, 3 }], 1e-6, "full")

  -- logit_attrs with per-prompt answer tokens, on a position-sliced stack and on the whole one
  local right, wrong = fp.tensor({ 5, 9 }, "int"), fp.tensor({ 7, 11 }, "int")
  local ln = cache:decompose_resid(nil, false, true, -1, true) * m.ln_final.w
  local attrs = cache:logit_attrs(ln, right, wrong, { apply_ln = false })      -- [C, 2]
  assert(attrs:dim() == 2 and attrs.shape[2] == 2)
  for b = 0, 1 do
    local r, w = right[{ b }], wrong[{ b }]
    local want = logits[{ b, -1, r }] - logits[{ b, -1, w }]
    local bias = fp.item(m.ln_final.b:matmul(m.W_U[{ {}, r }] - m.W_U[{ {}, w }])) + m.b_U[{ r }] - m.b_U[{ w }]
    assert_close(attrs[{ {}, b }]:sum() + bias, want, 1e-4, "prompt " .. b)
  end
  local per_pos = cache:logit_attrs(whole * m.ln_final.w, toks, toks, { apply_ln = false }) -- tokens [batch, pos]
  assert(per_pos:dim() == 3 and per_pos:abs():max() == 0, "a token minus itself attributes nothing")
  expect_error(function() cache:logit_attrs(whole, fp.tensor({ { { 1 } } }, "int")) end, "logit_attrs: a stack of shape")
end)

test("logit_attrs scales a raw stack by ln_final as TransformerLens: on a folded model the attributions sum to the logit difference", function()
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny", { fold_ln = true })
  local toks = fp.tensor({ { 17, 301, 42, 5, 488 }, { 3, 99, 42, 7, 1 } }, "int")
  local logits, cache = m:run_with_cache(toks)
  local right, wrong = fp.tensor({ 5, 9 }, "int"), fp.tensor({ 7, 11 }, "int")
  local raw = cache:decompose_resid(nil, false, true, -1)                       -- [C, 2, d], not scaled
  local attrs = cache:logit_attrs(raw, right, wrong, { pos_slice = -1 })       -- [C, 2]
  for b = 0, 1 do
    local r, w = right[{ b }], wrong[{ b }]
    local want = logits[{ b, -1, r }] - logits[{ b, -1, w }]
    assert_close(attrs[{ {}, b }]:sum() + m.b_U[{ r }] - m.b_U[{ w }], want, 1e-4, "prompt " .. b)
  end
  -- the whole-position stack needs no pos_slice; the sliced one without it is an error, not a broadcast
  local whole = cache:decompose_resid(nil, false, true)
  assert_close(cache:logit_attrs(whole, right, wrong)[{ {}, {}, -1 }], attrs, 1e-5, "whole stack, last position")
  expect_error(function() cache:logit_attrs(raw, right, wrong) end, "needs { pos_slice = P }")
  expect_error(function() cache:logit_attrs(raw, right, wrong, { pos = -1 }) end, "pos")
  expect_error(function() cache:logit_attrs(raw, right, wrong, { apply_ln = 1 }) end, "apply_ln must be a boolean")
end)

test("errors raised inside fp.cache and fp.patching name the caller's file and line", function()
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local _, cache = m:run_with_cache(fp.tensor({ { 1, 2, 3 } }, "int"), { names_filter = { "blocks.0.hook_resid_pre" } })
  local ok, err = pcall(function() return cache:act("resid_post", 1) end)
  assert(not ok and err:find("Tests/lua/cache.lua:%d+: ActivationCache: 'blocks.1.hook_resid_post' is not in this cache"), err)
  ok, err = pcall(function() require("fp.patching").resid_pre(m, fp.tensor({ { 1, 2, 3 } }, "int"), cache, 3) end)
  assert(not ok and err:find("Tests/lua/cache.lua:%d+: patching: metric must be a function"), err)
end)

test("layer -1 means the final residual stream, as in TransformerLens", function()
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local _, cache = m:run_with_cache(fp.tensor({ { 1, 2, 3 } }, "int"))
  assert_close(cache:accumulated_resid(-1, true), cache:accumulated_resid(nil, true), 0)
  assert_close(cache:decompose_resid(-1), cache:decompose_resid(), 0)
  assert_close(cache:stack_head_results(-1), cache:stack_head_results(), 0)
end)

test("before layer 0 there are no heads: stack_head_results(0) is empty, the decomposition is the embedding", function()
  local m = fp.load_model("Tests/fixtures/models/llama-tiny")
  local _, c = m:run_with_cache(ids)
  local heads, labels = c:stack_head_results(0)
  assert_equal(heads.shape, { 0, 1, 7, m.cfg.d_model })
  assert_equal(#labels, 0)
  local s, comp = c:get_full_resid_decomposition(0)
  assert_equal(comp, { "embed", "bias" })
  assert_close(s:sum(0), c["blocks.0.hook_resid_pre"], 1e-5)
end)

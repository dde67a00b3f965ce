-- TransformerLens's optional hook points (hook_attn_in, hook_q_input / hook_k_input /
-- hook_v_input, hook_mlp_in) and unembed.hook_in / hook_out on every family fixture: an edit at
-- each gives TransformerLens's logits (Tests/fixtures/families/tl_interventions.py, TL 3.9 with
-- its use_* flags on the same weights), the gradient through hook_q_input matches torch, and
-- identities that need no reference (the inputs are resid_pre per head; ln1 per head; editing
-- hook_q_input changes only Q). The points are computed only when asked for by name.
local FAMILIES = { "qwen2", "phi3", "mistral", "qwen3", "olmo2", "gemma3", "gemma2", "gpt_neox", "gpt2", "llama" }
local root = "Tests/fixtures/models/"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- the same edits as tl_interventions.py: a direction added at one head, or at every position
local function edits(model, dir)
  local out = {}
  if model.cfg.n_key_value_heads == model.cfg.n_heads then
    out["blocks.0.hook_attn_in"] = function(a) a[{ {}, {}, 2 }] = a[{ {}, {}, 2 }] + dir end
  end
  out["blocks.0.hook_q_input"] = function(a) a[{ {}, {}, 1 }] = a[{ {}, {}, 1 }] + dir end
  out["blocks.1.hook_k_input"] = function(a) a[{ {}, {}, 0 }] = a[{ {}, {}, 0 }] + dir end
  out["blocks.0.hook_v_input"] = function(a) a[{ {}, {}, 1 }] = a[{ {}, {}, 1 }] + dir end
  out["blocks.1.hook_mlp_in"] = function(a) return a + dir end
  out["unembed.hook_in"] = function(a) return a + dir * 0.5 end
  return out
end

for _, family in ipairs(FAMILIES) do
  local dir = root .. family .. "-tiny"
  local model = fp.load_model(dir)
  local ids = fp.load_tensors(dir .. "/expected.npz").input_ids_0
  local name = family .. "-tiny"
  local H, KV, D = model.cfg.n_heads, model.cfg.n_key_value_heads, model.cfg.d_model

  test(name .. ": the optional points are listed with TransformerLens's shapes", function()
    local shapes = {}
    for _, p in ipairs(model:hook_points()) do shapes[p] = true end
    for _, n in ipairs({ "blocks.0.hook_q_input", "blocks.0.hook_k_input", "blocks.0.hook_v_input",
                         "blocks.0.hook_mlp_in", "unembed.hook_in", "unembed.hook_out" }) do
      assert(shapes[n], "missing " .. n)
    end
    -- grouped-query models have no hook_attn_in (TransformerLens refuses use_attn_in there)
    assert((shapes["blocks.0.hook_attn_in"] ~= nil) == (KV == H), "hook_attn_in iff no grouped-query attention")
    local _, cache = model:run_with_cache(ids, { names_filter = { "blocks.0.hook_q_input", "blocks.0.hook_k_input",
      "blocks.0.hook_v_input", "blocks.0.hook_mlp_in", "unembed.hook_in", "unembed.hook_out" } })
    local P = ids.shape[2]
    local want = { ["blocks.0.hook_q_input"] = { 1, P, H, D }, ["blocks.0.hook_k_input"] = { 1, P, KV, D },
                   ["blocks.0.hook_v_input"] = { 1, P, KV, D }, ["blocks.0.hook_mlp_in"] = { 1, P, D },
                   ["unembed.hook_in"] = { 1, P, D }, ["unembed.hook_out"] = { 1, P, model.cfg.d_vocab } }
    for n, s in pairs(want) do
      assert(table.concat(cache[n].shape, ",") == table.concat(s, ","), n .. " has shape " .. table.concat(cache[n].shape, ","))
    end
  end)

  test(name .. ": a cache without names_filter (or with a filter function) leaves the on-demand points out", function()
    local _, cache = model:run_with_cache(ids)
    assert(cache["blocks.0.hook_resid_pre"] and cache["unembed.hook_out"], "the ordinary points are cached")
    for _, n in ipairs({ "blocks.0.hook_q_input", "blocks.0.hook_mlp_in", "blocks.0.hook_attn_in" }) do
      assert(not pcall(function() return cache[n] end) or cache[n] == nil, n .. " was cached")
    end
    local _, c2 = model:run_with_cache(ids, { names_filter = function(n) return n:find("blocks.0.", 1, true) == 1 end })
    assert(c2["blocks.0.ln1.hook_normalized"].shape[3] == D, "ln1 stays [batch, pos, d_model]")
    assert(not pcall(function() return c2["blocks.0.hook_q_input"] end) or c2["blocks.0.hook_q_input"] == nil)
  end)

  test(name .. ": identities: inputs are resid_pre per head, the MLP input is what ln2 reads, unembed.hook_in/out", function()
    local names = { "blocks.1.hook_resid_pre", "blocks.1.hook_q_input", "blocks.1.hook_k_input", "blocks.1.hook_v_input",
      "blocks.1.hook_mlp_in", "unembed.hook_in", "unembed.hook_out" }
    local parallel = true
    for _, p in ipairs(model:hook_points()) do if p == "blocks.1.hook_resid_mid" then parallel = false end end
    if not parallel then names[#names + 1] = "blocks.1.hook_resid_mid" end
    local _, c = model:run_with_cache(ids, { names_filter = names })
    local pre = c["blocks.1.hook_resid_pre"]
    for h = 0, H - 1 do assert_close(c["blocks.1.hook_q_input"][{ {}, {}, h }], pre, 0, "q_input head " .. h) end
    for g = 0, KV - 1 do
      assert_close(c["blocks.1.hook_k_input"][{ {}, {}, g }], pre, 0, "k_input head " .. g)
      assert_close(c["blocks.1.hook_v_input"][{ {}, {}, g }], pre, 0, "v_input head " .. g)
    end
    local mid = c["blocks.1.hook_resid_mid"] or pre   -- parallel blocks: the MLP reads resid_pre
    assert_close(c["blocks.1.hook_mlp_in"], mid, 0, "mlp_in")
    local logits = model:forward(ids)
    local out = c["unembed.hook_out"]
    if family == "gemma2" then
      local cap = 10   -- gemma2.py's final_logit_softcapping: hook_out is before the soft-cap
      assert(fp.item((out - logits):abs():max()) > 1e-2, "gemma2's hook_out is before the soft-cap")
      out = (out / cap):tanh() * cap
    end
    assert_close(out, logits, 1e-5, "unembed.hook_out")
    -- the unembedding's input: ln_final's output with its weight (and bias)
    assert_close(c["unembed.hook_in"]:matmul(model.W_U) + (model.b_U or 0), c["unembed.hook_out"], 1e-4, "unembed.hook_in @ W_U")
  end)

  test(name .. ": asking for the per-head inputs without editing them leaves the logits as they were", function()
    local base = model:forward(ids)
    local names = { "blocks.0.hook_q_input", "blocks.1.hook_k_input", "blocks.0.hook_mlp_in" }
    if KV == H then names[#names + 1] = "blocks.1.hook_attn_in" end
    for _, n in ipairs(names) do
      assert_close(model:run_with_hooks(ids, { fwd_hooks = { { n, function() end } } }), base, 1e-5, n)
    end
  end)

  test(name .. ": editing hook_q_input of one head changes only that head's queries (k, v unchanged)", function()
    local dirv = fp.randn(D)
    local want = { "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v" }
    local _, plain = model:run_with_cache(ids, { names_filter = want })
    local _, edited = model:run_with_cache(ids, { names_filter = want, fwd_hooks = { { "blocks.0.hook_q_input",
      function(a) a[{ {}, {}, 1 }] = a[{ {}, {}, 1 }] + dirv end } } })
    assert_close(edited["blocks.0.attn.hook_k"], plain["blocks.0.attn.hook_k"], 1e-5, "k")
    assert_close(edited["blocks.0.attn.hook_v"], plain["blocks.0.attn.hook_v"], 1e-5, "v")
    assert_close(edited["blocks.0.attn.hook_q"][{ {}, {}, 0 }], plain["blocks.0.attn.hook_q"][{ {}, {}, 0 }], 1e-5, "q head 0")
    assert(fp.item((edited["blocks.0.attn.hook_q"][{ {}, {}, 1 }] - plain["blocks.0.attn.hook_q"][{ {}, {}, 1 }]):abs():max()) > 1e-3, "q head 1 changed")
  end)

  test(name .. ": ln1 runs on each per-head input (its hooks see [batch, pos, heads, d_model])", function()
    if model.cfg.normalization_position == "post" then return end   -- OLMo 2: no norm before attention
    local seen = {}
    model:run_with_hooks(ids, { fwd_hooks = {
      { "blocks.0.hook_q_input", function() end },
      { "blocks.0.ln1.hook_normalized", function(a) seen[#seen + 1] = a.shape[3] end } } })
    assert(#seen == 3 and seen[1] == H and seen[2] == KV and seen[3] == KV,
      "ln1 fired for q, k, v inputs: " .. table.concat(seen, ","))
  end)

  local tl = dir .. "/tl_interventions.npz"
  if exists(tl) then
    local ex = fp.load_tensors(tl)
    test(name .. ": an edit at each optional point gives TransformerLens's logits", function()
      local n = 0
      for point, edit in pairs(edits(model, ex.dir)) do
        local logits = model:run_with_hooks(ids, { fwd_hooks = { { point, edit } } })
        local at = fp.tensor({ 3, ids.shape[2] - 1 }, "int")   -- position 3 and the last, as saved
        assert_close(logits[{ 0, at }], ex[point .. ".logits"], 1e-4, point)
        n = n + 1
      end
      assert(n >= 5, "compared " .. n .. " edits")
    end)

    test(name .. ": the gradient of a vector added at hook_q_input matches torch (through TransformerLens)", function()
      local v = fp.zeros(D):requires_grad()
      local logits = model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_q_input",
        function(a) a[{ 0, 2, 1 }] = a[{ 0, 2, 1 }] + v end } } })
      local loss = -logits[{ 0, -1 }]:log_softmax(-1)[99]
      assert_close(fp.item(loss), fp.item(ex["grad.loss"]), 1e-4, "loss")
      loss:backward()
      local want = ex["grad.q_input"]
      local err = fp.item((v.grad - want):abs():max())
      assert(err <= 1e-4 * fp.item(want:abs():max()) + 1e-6, "grad max error " .. err)
    end)
  end
end

test("on-demand points are hooked by name only: a filter function does not reach them", function()
  local model = fp.load_model(root .. "gpt_neox-tiny")
  local ids = fp.load_tensors(root .. "gpt_neox-tiny/expected.npz").input_ids_0
  local hit = {}
  model:run_with_hooks(ids, { fwd_hooks = { { function(n) return n:find("blocks.0.", 1, true) == 1 end,
    function(_, hook) hit[hook.name] = true end } } })
  assert(hit["blocks.0.hook_resid_pre"], "the filter reached the ordinary points")
  for _, n in ipairs({ "blocks.0.hook_attn_in", "blocks.0.hook_q_input", "blocks.0.hook_mlp_in" }) do
    assert(not hit[n], n .. " was reached by a filter function")
  end
end)

test("gemma2's final soft-cap: logit_attrs attribute the logit before the cap (unembed.hook_out), as TransformerLens", function()
  -- TransformerLens's logit_attrs is linear in the residual stream and never applies
  -- output_logits_soft_cap, so with ln_final folded the attributions sum to the pre-cap logit
  local model = fp.load_model(root .. "gemma2-tiny", { fold_ln = true })
  local ids = fp.load_tensors(root .. "gemma2-tiny/expected.npz").input_ids_0
  local logits, cache = model:run_with_cache(ids)
  local L, tok = model.cfg.n_layers, 7
  local stack = cache:decompose_resid(L, false, true)                -- logit_attrs applies ln_final's scale
  local attrs = cache:logit_attrs(stack, tok):sum(0)                  -- [batch, pos]
  local precap = cache["unembed.hook_out"][{ {}, {}, tok }]
  assert_close(attrs, precap, 1e-4, "attributions sum to the logit before the soft-cap")
  local capped = logits[{ {}, {}, tok }]
  assert(fp.item((attrs - capped):abs():max()) > 1e-2, "the soft-cap bends gemma2-tiny's logits, so the sum is not the capped logit")
  assert_close((precap / 10):tanh() * 10, capped, 1e-5, "logits = 10 tanh(hook_out / 10)")
end)

test("hook_attn_in on a grouped-query model: the error says to use the split inputs", function()
  local model = fp.load_model(root .. "qwen2-tiny")
  local ids = fp.load_tensors(root .. "qwen2-tiny/expected.npz").input_ids_0
  expect_error(function() model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_attn_in", function() end } } }) end,
    "grouped%-query attention.*hook_q_input")
end)

-- Sparse dictionaries against SAELens 6.54 (Tests/fixtures/saes, written by
-- Tests/fixtures/make_sae_fixtures.py with SAELens's own save_model): loading every
-- architecture and normalisation mode, encode / decode / forward, and the tiny fixture models'
-- logits and SAE hook points with the dictionary spliced in by HookedSAETransformer.
local root = "Tests/fixtures/saes/"
local models_root = "Tests/fixtures/models/"

-- a within rtol of b, relative to b's largest magnitude
local function assert_rel(a, b, rtol, what)
  local scale = math.max(b:abs():max(), 1e-30)
  assert_close(a, b, rtol * scale, what)
end

local models = {}
local function model_of(name)
  if not models[name] then models[name] = fp.load_model(models_root .. name) end
  return models[name]
end

local cases = {
  { "standard", "gpt2-tiny" }, { "standard_no_bdec_in", "gpt2-tiny" }, { "gated", "gpt2-tiny" },
  { "topk", "gpt2-tiny" }, { "topk_rescale", "gpt2-tiny" }, { "jumprelu", "gpt2-tiny" },
  { "layer_norm", "gpt2-tiny" }, { "constant_norm_rescale", "gpt2-tiny" },
  { "expected_average_only_in", "gpt2-tiny" }, { "hook_z", "gpt2-tiny" }, { "transcoder", "gpt2-tiny" },
  { "jumprelu_transcoder", "gpt2-tiny" }, { "skip_transcoder", "gpt2-tiny" }, { "llama_topk", "llama-tiny" },
}

for _, case in ipairs(cases) do
  local name, model_name = case[1], case[2]
  local dir = root .. name
  local exp = fp.load_tensors(dir .. "/expected.safetensors")

  test(name .. ": encode, decode and forward equal SAELens's within 1e-5 relative", function()
    local sae = fp.load_sae(dir)
    local f = sae:encode(exp.x)
    assert_rel(f, exp.feature_acts, 1e-5, "encode")
    assert(f:ne(0):sum() > 0, "some features fire")
    assert_rel(sae:decode(exp.feature_acts), exp.decoded, 1e-5, "decode")
    assert_rel(sae:forward(exp.x), exp.forward, 1e-5, "forward")
  end)

  if exp.logits_spliced then
    test(name .. ": spliced logits and SAE hook points equal HookedSAETransformer's", function()
      local model = model_of(model_name)
      local sae = fp.load_sae(dir)
      local hook_out = sae.hook_name_out or sae.hook_name
      for _, tag in ipairs({ "", "_error" }) do
        model:add_sae(sae, { use_error_term = tag == "_error" })
        local logits, cache = model:run_with_cache(exp.tokens)
        model:reset_saes()
        assert_rel(logits, exp["logits_spliced" .. tag], 1e-5, "logits" .. tag)
        for _, p in ipairs(fp.sae.hook_point_names) do
          local want = exp[p .. tag]
          if want then
            local got = cache[hook_out .. "." .. p]
            assert(got, "cache has no " .. hook_out .. "." .. p)
            assert_rel(got, want, 1e-5, p .. tag)
          end
        end
      end
      -- the spliced dictionary changes the logits; with the error term it does not
      assert((exp.logits_spliced - exp.logits_clean):abs():max() > 1e-3)
      assert_rel(exp.logits_spliced_error, exp.logits_clean, 1e-5, "reference: error term restores the logits")
    end)
  end
end

test("Gemma Scope params.npz and Gemma Scope 2 params.safetensors (with affine skip) equal SAELens's modules", function()
  local g1 = fp.load_sae(root .. "gemma_scope", { hook_name = "blocks.0.hook_resid_post" })
  assert(g1.architecture == "jumprelu" and not g1.apply_b_dec_to_input and g1.d_sae == 48)
  local e1 = fp.load_tensors(root .. "gemma_scope/expected.safetensors")
  assert_rel(g1:encode(e1.x), e1.feature_acts, 1e-5, "encode")
  assert_rel(g1:decode(e1.feature_acts), e1.decoded, 1e-5, "decode")
  local g2 = fp.load_sae(root .. "gemma_scope_2", { hook_name = "blocks.0.ln2.hook_normalized",
    hook_name_out = "blocks.0.hook_mlp_out" })
  assert(g2.transcoder and g2.W_skip)
  local e2 = fp.load_tensors(root .. "gemma_scope_2/expected.safetensors")
  assert_rel(g2:encode(e2.x), e2.feature_acts, 1e-5, "encode")
  assert_rel(g2:forward(e2.x), e2.forward, 1e-5, "forward with skip")
  expect_error(function() fp.load_sae(root .. "gemma_scope") end, "pass opts.hook_name")
end)

test("EleutherAI sparsify (sae.safetensors, folder layers.0) equals sparsify's encode/decode and its splice", function()
  local dir = root .. "sparsify/layers.0"
  local sae = fp.load_sae(dir)
  assert(sae.hook_name == "blocks.0.hook_resid_post" and sae.k == 8 and sae.format == "sparsify")
  local exp = fp.load_tensors(dir .. "/expected.safetensors")
  assert_rel(sae:encode(exp.x), exp.feature_acts, 1e-5, "encode")
  assert_rel(sae:decode(exp.feature_acts), exp.decoded, 1e-5, "decode")
  local model = model_of("gpt2-tiny")
  model:add_sae(sae)
  local logits = model:forward(exp.tokens)
  model:reset_saes()
  assert_rel(logits, exp.logits_spliced, 1e-5, "spliced logits")
end)

test("SAELens 5 config (hook_name at the top level, activation_fn_kwargs.k) loads as the same dictionary", function()
  local v5, v6 = fp.load_sae(root .. "topk_v5"), fp.load_sae(root .. "topk")
  local exp = fp.load_tensors(root .. "topk/expected.safetensors")
  assert(v5.k == v6.k and v5.hook_name == v6.hook_name and v5.architecture == "topk")
  assert_rel(v5:encode(exp.x), exp.feature_acts, 1e-5)
end)

test("SAE hook points: run_with_hooks edits features, names_filter selects them, hook_points lists them", function()
  local model = model_of("gpt2-tiny")
  local sae = fp.load_sae(root .. "standard")
  local exp = fp.load_tensors(root .. "standard/expected.safetensors")
  model:add_sae(sae)
  local point = "blocks.0.hook_resid_post.hook_sae_acts_post"
  local listed = false
  for _, n in ipairs(model:hook_points()) do listed = listed or n == point end
  assert(listed, "hook_points lists " .. point)
  -- zero every feature: the output is b_dec at every position
  local seen
  model:run_with_hooks(exp.tokens, { fwd_hooks = { { point, function(f) return fp.zeros_like(f) end },
    { "blocks.0.hook_resid_post.hook_sae_output", function(out) seen = out:clone() end } } })
  assert_close(seen[{ 0, 3 }], sae.b_dec, 1e-6)
  -- one name, a list and a filter function
  local _, c1 = model:run_with_cache(exp.tokens, { names_filter = point })
  assert(c1[point] and c1["blocks.0.hook_resid_pre"] == nil)
  local _, c2 = model:run_with_cache(exp.tokens, { names_filter = { point, "blocks.1.hook_resid_pre" } })
  assert(c2[point] and c2["blocks.1.hook_resid_pre"])
  local _, c3 = model:run_with_cache(exp.tokens, { names_filter = function(n) return n:find("hook_sae_", 1, true) ~= nil end })
  assert(c3["blocks.0.hook_resid_post.hook_sae_recons"] and c3["blocks.0.hook_resid_pre"] == nil)
  local _, c4 = model:run_with_cache(exp.tokens, { names_filter = point, pos_slice = -1 })
  assert_close(c4[point][{ 0, 0 }], c1[point][{ 0, -1 }], 0)
  model:remove_sae(sae)
  assert(#model:saes() == 0)
  assert_close(model:forward(exp.tokens), exp.logits_clean, 1e-4)
end)

test("feature gradients flow through a spliced dictionary (attribution: act x grad)", function()
  local model = model_of("gpt2-tiny")
  local sae = fp.load_sae(root .. "standard")
  local exp = fp.load_tensors(root .. "standard/expected.safetensors")
  model:add_sae(sae)
  local point = "blocks.0.hook_resid_post.hook_sae_acts_post"
  -- a zero leaf added to the features: its gradient is the gradient at the features
  local P = exp.tokens.shape[2]
  local leaf = fp.zeros(1, P, sae.d_sae):requires_grad()
  local feats
  local logits = model:run_with_hooks(exp.tokens, { fwd_hooks = { { point, function(f)
    feats = f:detach():clone(); return f + leaf end } } })
  local target = exp.tokens[{ 0, 4 }]
  local metric = logits[{ 0, 3, target }]
  metric:backward()
  model:reset_saes()
  -- finite difference on one firing feature at position 3
  local f3 = feats[{ 0, 3 }]
  local _, idx = f3:max(0)
  local j = fp.item(idx)
  local h = 1e-2
  local function logit_with(delta)
    model:add_sae(sae)
    local l = model:run_with_hooks(exp.tokens, { fwd_hooks = { { point, function(f)
      local g = f:clone(); g[{ 0, 3, j }] = g[{ 0, 3, j }] + delta; return g end } } })
    model:reset_saes()
    return l[{ 0, 3, target }]
  end
  local fd = (logit_with(h) - logit_with(-h)) / (2 * h)
  assert_close(leaf.grad[{ 0, 3, j }], fd, 2e-3 * math.max(1, math.abs(fd)))
  -- positions after 3 get no gradient (causal), earlier ones do
  assert(leaf.grad[{ 0, 5 }]:abs():max() == 0)
end)

test("errors: bad folders, bad options, wrong shapes, double splice", function()
  expect_error(function() fp.load_sae("Tests/fixtures/saes/no_such") end, "has no dictionary")
  expect_error(function() fp.load_sae(root .. "standard", { hook = "x" }) end, "unknown option 'hook'.*hook_name")
  local sae = fp.load_sae(root .. "standard")
  expect_error(function() sae:encode(fp.zeros(3, 5)) end, "last dim must be 64")
  expect_error(function() sae:decode(fp.zeros(3, 64)) end, "d_sae = 48")
  local model = model_of("gpt2-tiny")
  expect_error(function() model:add_sae(sae, { use_error = true }) end, "did you mean 'use_error_term'")
  model:add_sae(sae)
  expect_error(function() model:add_sae(sae) end, "already spliced")
  model:reset_saes()
  local ln = fp.load_sae(root .. "layer_norm")
  expect_error(function() ln:decode(fp.zeros(2, 48)) end, "normalises its input")
end)

test("a dictionary of another width than the model's activations: a clear error when it runs", function()
  local dir = os.tmpname(); os.remove(dir); fp.make_dirs(dir)
  local f = assert(io.open(dir .. "/cfg.json", "w"))
  f:write('{"architecture":"standard","d_in":32,"d_sae":8,"hook_name":"blocks.0.hook_resid_post","normalize_activations":"none"}')
  f:close()
  fp.save(dir .. "/sae_weights.safetensors", { W_enc = fp.randn(32, 8), W_dec = fp.randn(8, 32), b_enc = fp.zeros(8), b_dec = fp.zeros(32) })
  local m = fp.load_model("Tests/fixtures/models/qwen2-tok")   -- d_model 64
  m:add_sae(fp.load_sae(dir))
  expect_error(function() m:forward((m:to_tokens("Hello world"))) end,
    "reads 32 and writes 32 values per position, but this model's activations there have 64 and 64")
  m:reset_saes()
  assert(m:forward((m:to_tokens("Hello world"))).shape[3] == m.cfg.d_vocab)
  os.execute("rm -rf '" .. dir .. "'")
end)

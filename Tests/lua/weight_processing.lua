-- TransformerLens's weight processing at load (fold_ln, center_writing_weights, center_unembed,
-- fold_value_biases, refactor_factored_attn_matrices) and the factored circuit matrices
-- model.OV[L][H] / model.QK[L][H], on the tiny fixtures (GPT-2: LayerNorm, biases, tied;
-- llama-tiny: RMSNorm, GQA, untied; llama3-tiny: RMSNorm, GQA, tied).
local root = "Tests/fixtures/models/"
local NAMES = { "gpt2-tiny", "llama-tiny", "llama3-tiny" }
local FLAGS = { "fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases" }
local exp = fp.load_tensors(root .. "gpt2-tiny/expected.npz")
local ids = exp.input_ids_0            -- [1, 7]
local left_ids, left_mask = exp.left_input_ids, exp.left_attention_mask

local base = {}
for _, n in ipairs(NAMES) do base[n] = fp.load_model(root .. n) end

local function load(name, opts) return fp.load_model(root .. name, opts) end
local function all_flags(extra)
  local o = { fold_ln = true, center_writing_weights = true, center_unembed = true, fold_value_biases = true }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
local function logprobs(m, x, opts) return m:forward(x, opts):log_softmax(-1) end
local function centered(t) return t - t:mean(-1, true) end
local function max_abs(t) return t:abs():max() end
local function cache_of(m) local _, c = m:run_with_cache(ids); return c end
local function is_rms(name) return name ~= "gpt2-tiny" end

-- the processing each option set should record, in TL's order
local function expected_steps(name, opts)
  local out = {}
  for _, f in ipairs({ "fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases", "refactor_factored_attn_matrices" }) do
    if opts[f] and not (f == "center_writing_weights" and is_rms(name)) then out[#out + 1] = f end
  end
  return out
end

test("the default is the unprocessed model: cfg.processing is empty", function()
  for _, n in ipairs(NAMES) do
    assert_equal(base[n].cfg.processing, {}, n .. " processing")
    assert(base[n].cfg.normalization_type == (is_rms(n) and "RMS" or "LN"))
  end
  local explicit = load("gpt2-tiny", { fold_ln = false, center_unembed = false })
  assert_equal(explicit.cfg.processing, {})
  assert_close(explicit:forward(ids), base["gpt2-tiny"]:forward(ids), 0)
  assert(base["gpt2-tiny"].cfg.tied_embeddings and base["llama3-tiny"].cfg.tied_embeddings)
end)

for _, n in ipairs(NAMES) do
  test(n .. ": each flag alone and all together keep the log-probs within 1e-4 (cfg.processing records them)", function()
    local want = logprobs(base[n], ids)
    local sets = {}
    for _, f in ipairs(FLAGS) do sets[#sets + 1] = { [f] = true } end
    sets[#sets + 1] = all_flags()
    if n == "gpt2-tiny" then
      sets[#sets + 1] = { refactor_factored_attn_matrices = true }
      sets[#sets + 1] = all_flags({ refactor_factored_attn_matrices = true })
    end
    for _, opts in ipairs(sets) do
      local m = load(n, opts)
      local steps = expected_steps(n, opts)
      assert_equal(m.cfg.processing, steps, n .. " processing")
      assert_close(logprobs(m, ids), want, 1e-4, n .. " " .. table.concat(steps, "+"))
    end
  end)
end

test("all flags: a left-padded batch keeps its log-probs at the real positions", function()
  for _, n in ipairs(NAMES) do
    local m = load(n, all_flags())
    local a = logprobs(m, left_ids, { attention_mask = left_mask })
    local b = logprobs(base[n], left_ids, { attention_mask = left_mask })
    local real = left_mask:bool()
    for row = 0, 1 do
      assert_close(a[{ row }][{ real[{ row }] }], b[{ row }][{ real[{ row }] }], 1e-4, n .. " row " .. row)
    end
  end
end)

test("fold_ln (LayerNorm): norms become weight 1 / bias 0 (LNPre), reading weights centered, hooks unchanged", function()
  local m0, m = base["gpt2-tiny"], load("gpt2-tiny", { fold_ln = true })
  assert(m.cfg.normalization_type == "LNPre", m.cfg.normalization_type)
  local d = m.cfg.d_model
  for L = 0, m.cfg.n_layers - 1 do
    local b, b0 = m.blocks[L], m0.blocks[L]
    for _, ln in ipairs({ "ln1", "ln2" }) do
      assert_close(b[ln].w, fp.ones(d), 0, ln .. ".w")
      assert_close(b[ln].b, fp.zeros(d), 0, ln .. ".b")
    end
    -- TL's center_weights: every column of W_Q, W_K, W_V [H, M, D] and W_in [M, F] has mean 0 over d_model
    for _, k in ipairs({ "W_Q", "W_K", "W_V" }) do
      assert(max_abs(b.attn[k]:mean(1)) < 1e-6, k .. " not centered")
    end
    assert(max_abs(b.mlp.W_in:mean(0)) < 1e-6, "W_in not centered")
    -- the folded weight is diag(w) W minus its column mean; the bias absorbs ln.b @ W
    local wq = b0.attn.W_Q * b0.ln1.w:view(1, d, 1)
    assert_close(b.attn.W_Q, wq - wq:mean(1, true), 1e-5, "W_Q folded")
    assert_close(b.attn.b_Q, b0.attn.b_Q + fp.einsum("m, h m d -> h d", b0.ln1.b, b0.attn.W_Q), 1e-4, "b_Q folded")
    assert_close(b.mlp.b_in, b0.mlp.b_in + b0.ln2.b:matmul(b0.mlp.W_in), 1e-4, "b_in folded")
  end
  assert_close(m.ln_final.w, fp.ones(d), 0)
  assert_close(m.ln_final.b, fp.zeros(d), 0)
  assert(max_abs(m.W_U:mean(0)) < 1e-6, "W_U not centered over d_model")
  -- W_U was tied to W_E: it is a copy now, W_E is unchanged
  assert(not m.cfg.tied_embeddings)
  assert_close(m.W_E, m0.W_E, 0, "W_E")
  assert_close(m0.W_U, m0.W_E:T(), 0, "the base model stays tied")
  local c0, c = cache_of(m0), cache_of(m)
  for _, k in ipairs({ "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.1.attn.hook_v", "blocks.1.attn.hook_pattern",
                       "blocks.0.mlp.hook_pre", "blocks.1.mlp.hook_post", "blocks.1.ln2.hook_normalized",
                       "blocks.0.ln1.hook_scale", "blocks.1.hook_resid_post", "ln_final.hook_normalized" }) do
    assert_close(c[k], c0[k], 1e-4, k)
  end
  -- the logits themselves are unchanged (no centering of the unembedding's output)
  assert_close(m:forward(ids), m0:forward(ids), 1e-3, "logits")
end)

for _, n in ipairs({ "llama-tiny", "llama3-tiny" }) do
  test(n .. " fold_ln (RMSNorm): weights folded, not centered (RMSPre); W_gate folded too; hooks unchanged", function()
    local m0, m = base[n], load(n, { fold_ln = true })
    assert(m.cfg.normalization_type == "RMSPre", m.cfg.normalization_type)
    local d = m.cfg.d_model
    for L = 0, m.cfg.n_layers - 1 do
      local b, b0 = m.blocks[L], m0.blocks[L]
      assert_close(b.ln1.w, fp.ones(d), 0); assert_close(b.ln2.w, fp.ones(d), 0)
      local w1, w2 = b0.ln1.w:view(1, d, 1), b0.ln2.w:view(d, 1)
      assert_close(b.attn.W_Q, b0.attn.W_Q * w1, 1e-6, "W_Q")
      assert_close(b.attn._W_K, b0.attn._W_K * w1, 1e-6, "_W_K")
      assert_close(b.attn._W_V, b0.attn._W_V * w1, 1e-6, "_W_V")
      assert_close(b.mlp.W_in, b0.mlp.W_in * w2, 1e-6, "W_in")
      assert_close(b.mlp.W_gate, b0.mlp.W_gate * w2, 1e-6, "W_gate")
    end
    assert_close(m.ln_final.w, fp.ones(d), 0)
    assert_close(m.W_U, m0.W_U * m0.ln_final.w:view(d, 1), 1e-6, "W_U")
    assert_close(m.W_E, m0.W_E, 0, "W_E unchanged")
    assert(not m.cfg.tied_embeddings)
    local c0, c = cache_of(m0), cache_of(m)
    for _, k in ipairs({ "blocks.0.attn.hook_q", "blocks.0.attn.hook_rot_k", "blocks.1.attn.hook_v", "blocks.1.attn.hook_pattern",
                         "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_pre_linear", "blocks.1.hook_resid_post",
                         "blocks.1.ln1.hook_scale" }) do
      assert_close(c[k], c0[k], 1e-4, k)
    end
    assert_close(m:forward(ids), m0:forward(ids), 1e-3, "logits")
  end)
end

test("center_writing_weights (LayerNorm): writing weights have mean 0 over d_model; the centered residual is unchanged", function()
  local m0, m = base["gpt2-tiny"], load("gpt2-tiny", { center_writing_weights = true })
  assert(max_abs(m.W_E:mean(-1)) < 1e-6, "W_E rows")
  assert(max_abs(m.W_pos:mean(-1)) < 1e-6, "W_pos rows")
  assert_close(m.W_E, centered(m0.W_E), 1e-6)
  for L = 0, 1 do
    local b = m.blocks[L]
    assert(max_abs(b.attn.W_O:mean(-1)) < 1e-6, "W_O")
    assert(math.abs(b.attn.b_O:mean()) < 1e-6, "b_O")
    assert(max_abs(b.mlp.W_out:mean(-1)) < 1e-6, "W_out")
    assert(math.abs(b.mlp.b_out:mean()) < 1e-6, "b_out")
  end
  -- W_U must not follow W_E: it was untied first
  assert_close(m.W_U, m0.W_U, 0, "W_U")
  local c0, c = cache_of(m0), cache_of(m)
  for _, k in ipairs({ "hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid",
                       "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post" }) do
    assert_close(c[k], centered(c0[k]), 1e-4, k .. " (centered)")
    assert(max_abs(c[k]:mean(-1)) < 1e-4, k .. " has mean 0")
  end
  for _, k in ipairs({ "blocks.0.ln1.hook_normalized", "blocks.1.ln2.hook_scale", "blocks.1.attn.hook_q", "blocks.1.attn.hook_pattern",
                       "blocks.1.mlp.hook_post", "ln_final.hook_normalized" }) do
    assert_close(c[k], c0[k], 1e-4, k)
  end
  assert_close(m:forward(ids), m0:forward(ids), 1e-3, "logits")
end)

test("center_writing_weights on RMSNorm models is skipped (as TransformerLens), weights unchanged", function()
  for _, n in ipairs({ "llama-tiny", "llama3-tiny" }) do
    local m = load(n, { center_writing_weights = true })
    assert_equal(m.cfg.processing, {}, n)
    assert_close(m.W_E, base[n].W_E, 0)
    assert_close(m.blocks[0].attn.W_O, base[n].blocks[0].attn.W_O, 0)
    assert(m.cfg.tied_embeddings == base[n].cfg.tied_embeddings)
  end
end)

test("center_unembed: W_U rows (each d_model row, over the vocabulary) and b_U have mean 0; logits shift per position", function()
  for _, n in ipairs(NAMES) do
    local m0, m = base[n], load(n, { center_unembed = true })
    assert(max_abs(m.W_U:mean(1)) < 1e-6, n .. " W_U:mean(1)")
    assert(math.abs(m.b_U:mean()) < 1e-6, n .. " b_U")
    assert_close(m.W_U, m0.W_U - m0.W_U:mean(1, true), 1e-6, n .. " W_U")
    assert_close(m.W_E, m0.W_E, 0, n .. " W_E unchanged")
    local a, b = m:forward(ids), m0:forward(ids)
    assert_close(a, centered(b), 1e-3, n .. " logits = base logits minus their mean")
    assert(max_abs(a:mean(-1)) < 1e-4, n .. " logits have mean 0")
    local c0, c = cache_of(m0), cache_of(m)
    assert_close(c["ln_final.hook_normalized"], c0["ln_final.hook_normalized"], 1e-5, n)
  end
  assert(not load("llama3-tiny", { center_unembed = true }).cfg.tied_embeddings)
  assert(load("llama-tiny", { center_unembed = true }).cfg.tied_embeddings == false)
end)

test("fold_value_biases (GPT-2): b_V becomes 0, b_O absorbs sum_h b_V[h] W_O[h]; hook_v shifts, attn_out unchanged", function()
  local m0, m = base["gpt2-tiny"], load("gpt2-tiny", { fold_value_biases = true })
  for L = 0, 1 do
    local a, a0 = m.blocks[L].attn, m0.blocks[L].attn
    assert_close(a.b_V, fp.zeros(4, 16), 0, "b_V")
    assert_close(a.b_O, a0.b_O + fp.einsum("h d, h d m -> m", a0.b_V, a0.W_O), 1e-4, "b_O")
    assert_close(a.W_V, a0.W_V, 0); assert_close(a.W_O, a0.W_O, 0)
  end
  local c0, c = cache_of(m0), cache_of(m)
  for L = 0, 1 do
    local p = "blocks." .. L
    assert_close(c[p .. ".attn.hook_v"], c0[p .. ".attn.hook_v"] - m0.blocks[L].attn.b_V, 1e-4, "hook_v")
    for _, k in ipairs({ ".attn.hook_pattern", ".hook_attn_out", ".hook_resid_post" }) do
      assert_close(c[p .. k], c0[p .. k], 1e-4, p .. k)
    end
  end
end)

test("fold_value_biases on bias-free Llama models changes nothing", function()
  for _, n in ipairs({ "llama-tiny", "llama3-tiny" }) do
    local m = load(n, { fold_value_biases = true })
    assert_equal(m.cfg.processing, { "fold_value_biases" })
    assert_close(m.blocks[1].attn.b_O, fp.zeros(m.cfg.d_model), 0)
    assert_close(m.blocks[1].attn._b_V, fp.zeros(2, 16), 0)
    assert_close(m:forward(ids), base[n]:forward(ids), 0)
    assert(m.cfg.tied_embeddings == base[n].cfg.tied_embeddings)
  end
end)

test("refactor_factored_attn_matrices (GPT-2): W_O[h] has orthonormal rows, QK and OV circuits and patterns unchanged", function()
  local m0, m = base["gpt2-tiny"], load("gpt2-tiny", { refactor_factored_attn_matrices = true })
  local dh = m.cfg.d_head
  for L = 0, 1 do
    local a, a0 = m.blocks[L].attn, m0.blocks[L].attn
    assert_close(a.b_V, fp.zeros(4, dh), 0, "b_V folded")
    for h = 0, m.cfg.n_heads - 1 do
      local wo = a.W_O[h]
      assert_close(wo:matmul(wo:T()), fp.eye(dh), 1e-4, "W_O orthonormal")
      assert_close(m.OV[L][h].AB, m0.OV[L][h].AB, 1e-4, "OV")
      assert_close(m.QK[L][h].AB, m0.QK[L][h].AB, 1e-3, "QK")
      -- [W_Q; b_Q] and [W_K; b_K] carry the same singular values (an even split)
      local q_eff = fp.cat({ a.W_Q[h], a.b_Q[h]:view(1, dh) }, 0)
      local k_eff = fp.cat({ a.W_K[h], a.b_K[h]:view(1, dh) }, 0)
      assert_close(q_eff:T():matmul(q_eff), k_eff:T():matmul(k_eff), 1e-3, "even split")
    end
  end
  local c0, c = cache_of(m0), cache_of(m)
  for _, k in ipairs({ "blocks.0.attn.hook_attn_scores", "blocks.1.attn.hook_pattern", "blocks.0.hook_attn_out", "blocks.1.hook_resid_post" }) do
    local a, b = c[k], c0[k]
    local inf = b:eq(-math.huge)
    assert_close(a:masked_fill(inf, 0), b:masked_fill(inf, 0), 1e-3, k)
  end
end)

-- OV / QK factored matrices

for _, n in ipairs(NAMES) do
  test(n .. ": OV[L][H].AB = W_V[h] @ W_O[h] and QK[L][H].AB = W_Q[h] @ W_K[h]^T; A and B are the weights", function()
    local m = base[n]
    assert(#m.OV == m.cfg.n_layers and #m.QK[0] == m.cfg.n_heads)
    for L = 0, m.cfg.n_layers - 1 do
      local a = m.blocks[L].attn
      for h = 0, m.cfg.n_heads - 1 do
        local ov, qk = m.OV[L][h], m.QK[L][h]
        assert_close(ov.AB, a.W_V[h]:matmul(a.W_O[h]), 1e-5, "OV")
        assert_close(qk.AB, a.W_Q[h]:matmul(a.W_K[h]:T()), 1e-5, "QK")
        assert_close(ov.A, a.W_V[h], 0); assert_close(ov.B, a.W_O[h], 0)
        assert_close(qk.A, a.W_Q[h], 0); assert_close(qk.B, a.W_K[h]:T(), 0)
        assert(ov.ldim == m.cfg.d_model and ov.mdim == m.cfg.d_head and ov.rdim == m.cfg.d_model)
        assert_equal(ov.shape, { m.cfg.d_model, m.cfg.d_model })
      end
    end
    -- negative indices count from the end
    assert_close(m.OV[-1][-1].AB, m.OV[m.cfg.n_layers - 1][m.cfg.n_heads - 1].AB, 0)
  end)

  test(n .. ": svd() gives AB's nonzero singular values (fp.linalg.svd), orthonormal U and V, U diag(S) V^T = AB", function()
    local m = base[n]
    local dh = m.cfg.d_head
    for _, fm in ipairs({ m.OV[0][1], m.QK[1][3], m.OV[1][0] }) do
      local U, S, V = fm:svd()
      assert(shape_string(U) == "[64, 16]" and shape_string(S) == "[16]" and shape_string(V) == "[64, 16]",
        shape_string(U) .. shape_string(S) .. shape_string(V))
      local _, S_full = fp.linalg.svd(fm.AB)
      assert_close(S, S_full[{ { 0, dh } }], 1e-4 * S_full[0], "singular values")
      assert(S_full[dh] < 1e-4 * S_full[0], "AB has rank d_head")
      assert_close(U:T():matmul(U), fp.eye(dh), 1e-4, "U")
      assert_close(V:T():matmul(V), fp.eye(dh), 1e-4, "V")
      assert_close((U * S):matmul(V:T()), fm.AB, 1e-4, "reconstruction")
      assert_close(fm.S, S, 0)
    end
  end)

  test(n .. ": norm() is the Frobenius norm of AB", function()
    local m = base[n]
    for L = 0, m.cfg.n_layers - 1 do
      for h = 0, m.cfg.n_heads - 1 do
        for _, fm in ipairs({ m.OV[L][h], m.QK[L][h] }) do
          local want = fm.AB:norm()
          assert(type(fm:norm()) == "number")
          assert_close(fm:norm(), want, 1e-5 * want)
        end
      end
    end
  end)

  test(n .. ": eigenvalues() of BA are AB's nonzero eigenvalues (trace identities, conjugate pairs)", function()
    local m = base[n]
    local dh = m.cfg.d_head
    for _, fm in ipairs({ m.OV[0][0], m.OV[1][3], m.QK[0][2] }) do
      local re, im = fm:eigenvalues()
      assert(shape_string(re) == "[" .. dh .. "]" and shape_string(im) == "[" .. dh .. "]")
      local ab = fm.AB
      local eye = fp.eye(m.cfg.d_model)
      local tr1 = (ab * eye):sum()
      local tr2 = (ab:matmul(ab) * eye):sum()
      local scale = ab:norm() ^ 2
      assert_close(re:sum(), tr1, 1e-4 * scale, "sum of eigenvalues = trace(AB)")
      assert_close(im:sum(), 0, 1e-4 * scale, "imaginary parts cancel")
      assert_close((re * re - im * im):sum(), tr2, 1e-3 * scale, "sum of squares = trace(AB AB)")
      assert_close((re * im):sum(), 0, 1e-3 * scale)
    end
  end)
end

test("FactoredMatrix: T, BA, make_even, matmul, rmatmul, tostring", function()
  local m = base["gpt2-tiny"]
  local ov = m.OV[1][2]
  assert_close(ov.T.AB, ov.AB:T(), 1e-6, "T")
  assert_close(ov.BA, ov.B:matmul(ov.A), 1e-6, "BA")
  local even = ov:make_even()
  assert_close(even.AB, ov.AB, 1e-4, "make_even keeps the product")
  assert_close(even.A:norm(), even.B:norm(), 1e-4, "make_even splits evenly")
  local x = fp.randn(64)
  assert_close(ov:matmul(x), ov.AB:matmul(x), 1e-4, "matrix @ vector")
  assert_close(ov:rmatmul(x), x:matmul(ov.AB), 1e-4, "vector @ matrix")
  local W = fp.randn(64, 10)
  local p = ov:matmul(W)
  assert(getmetatable(p).__name == "fp.FactoredMatrix" and p.rdim == 10)
  assert_close(p.AB, ov.AB:matmul(W), 1e-4, "matrix @ tensor")
  assert_close(ov:rmatmul(W:T()).AB, W:T():matmul(ov.AB), 1e-4, "tensor @ matrix")
  assert_close(ov:matmul(m.QK[0][0]).AB, ov.AB:matmul(m.QK[0][0].AB), 1e-3, "matrix @ FactoredMatrix")
  assert(tostring(ov):find("FactoredMatrix(OV L1H2): shape [64, 64], hidden dim 16", 1, true), tostring(ov))
  assert(tostring(m.QK):find("model.QK", 1, true))
  -- A is a live view: editing the weight changes the circuit
  m:snapshot()
  m.blocks[1].attn.W_O[2]:zero_()
  assert(ov.AB:abs():max() == 0)
  m:restore()
  assert(ov:norm() > 0)
end)

test("errors: bad option types, refactoring with RoPE, bad layer/head indices, bad products", function()
  expect_error(function() load("gpt2-tiny", { fold_ln = "yes" }) end, "option 'fold_ln' must be a boolean, got string")
  expect_error(function() load("gpt2-tiny", { center_unembed = 1 }) end, "option 'center_unembed' must be a boolean, got number")
  expect_error(function() load("gpt2-tiny", { fold_value_biases = {} }) end, "option 'fold_value_biases' must be a boolean")
  expect_error(function() load("gpt2-tiny", { refactor_factored_attn_matrices = 0 }) end, "must be a boolean")
  expect_error(function() load("llama-tiny", { refactor_factored_attn_matrices = true }) end,
    "refactor_factored_attn_matrices cannot be used with rotary embeddings")
  expect_error(function() load("llama3-tiny", all_flags({ refactor_factored_attn_matrices = true })) end, "rotary")
  local m = base["gpt2-tiny"]
  expect_error(function() return m.OV[2] end, "model.OV[2]: no such layer (layers are 0-based, 0 to 1)")
  expect_error(function() return m.OV[-3] end, "no such layer")
  expect_error(function() return m.QK[0][4] end, "QK: no head 4 (heads are 0-based, 0 to 3)")
  expect_error(function() return m.OV.foo end, "model.OV: index with a layer number")
  expect_error(function() return m.OV[0].bar end, "model.OV[0]: index with a head number")
  expect_error(function() return m.OV[0.5] end, "integer")
  expect_error(function() return m.OV[0]:svd() end, "head number")
  local ov = m.OV[0][0]
  expect_error(function() return ov:matmul(fp.randn(3, 3)) end, "cannot multiply [64, 64] by a tensor of shape [3, 3]")
  expect_error(function() return ov:matmul("x") end, "tensor or FactoredMatrix expected")
  expect_error(function() return ov:rmatmul(fp.randn(5)) end, "cannot multiply a tensor of shape [5]")
  expect_error(function() return ov:matmul(fp.randn(64, 10)).BA end, "BA needs a square matrix")
  expect_error(function() return ov:matmul(fp.randn(64, 10)):eigenvalues() end, "square")
  expect_error(function() return ov[1] end, "fields are named")
  assert(ov.nonexistent == nil)
end)

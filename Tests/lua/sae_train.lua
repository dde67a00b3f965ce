-- fp.sae.train against SAELens 6.54's SAETrainer (Tests/fixtures/saes/train, written by
-- Tests/fixtures/make_sae_fixtures.py): same activations, same initial weights, same settings,
-- per-step losses for 100 steps; fp-saved dictionaries read by SAELens (fp_trained_*, see
-- make_fp_trained_saes.lua and check_fp_saved_saes.py); fp.sae.evaluate's figures by hand.
local root = "Tests/fixtures/saes/"
local acts = fp.load_tensors(root .. "train/acts.safetensors").acts
local extra = { standard = { l1_coefficient = 0.5, l1_warm_up_steps = 10 }, topk = { k = 6 }, batchtopk = { k = 6 },
  jumprelu = { l0_coefficient = 0.05 } }

local function train(arch)
  local o = { architecture = arch, d_in = 64, d_sae = 48, batches = acts, batch_size = 16, steps = 100, lr = 4e-3,
    dead_feature_window = 5, init = fp.load_tensors(root .. "train/" .. arch .. "_init.safetensors") }
  for k, v in pairs(extra[arch]) do o[k] = v end
  return fp.sae.train(o)
end

-- Relative difference of step i's loss `name` (relative to that step's total loss for small terms).
local function rel(h, exp, name, i)
  local w, g = exp[name][i], h[name][i + 1]
  return math.abs(w - g) / math.max(math.abs(w), 1e-3 * math.abs(exp.loss[i]), 1e-6)
end

for _, arch in ipairs({ "standard", "batchtopk", "jumprelu", "topk" }) do
  test(arch .. ": 100 training steps' losses follow SAELens's SAETrainer", function()
    local exp = fp.load_tensors(root .. "train/" .. arch .. "_expected.safetensors")
    local _, h = train(arch)
    local names = {}
    for name in pairs(exp) do if not name:find("^final_") then names[#names + 1] = name end end
    assert(#names == 3, "loss, mse_loss and the sparsity / auxiliary loss")
    for _, name in ipairs(names) do
      for i = 0, 99 do
        -- (a near tie at a top-k boundary could make the runs part ways; these runs have none)
        local r = rel(h, exp, name, i)
        assert(r <= 1e-5, string.format("%s step %d: fp %.6g vs SAELens %.6g (rel %.2e)", name, i, h[name][i + 1], exp[name][i], r))
      end
    end
    -- the losses fell and (TopK) dead latents switched the auxiliary loss on
    assert(h.loss[100] < 0.6 * h.loss[1])
    if arch == "topk" then assert(exp.auxiliary_reconstruction_loss[99] > 0 and h.dead[100] > 0) end
  end)
end

-- The fused TopK / BatchTopK kernel (fp._sae_topk_step) against the autograd path (which the
-- tests above hold to SAELens) on a larger dictionary, with dead latents (auxiliary loss on),
-- with and without decoder-norm rescaling and b_dec applied to the input.
test("topk / batchtopk: the fused Swift step equals the autograd step", function()
  fp.seed(3)
  local acts = fp.randn(512, 40) * 2 + 0.5
  for _, arch in ipairs({ "topk", "batchtopk" }) do
    for _, rescale in ipairs({ true, false }) do
      local function run(fused)
        return fp.sae.train({ architecture = arch, d_in = 40, d_sae = 300, k = 8, batches = acts, batch_size = 64,
          steps = 30, lr = 3e-3, dead_feature_window = 3, seed = 5, fused = fused, rescale_acts_by_decoder_norm = rescale,
          apply_b_dec_to_input = not rescale })
      end
      local s1, h1 = run(true)
      local s2, h2 = run(false)
      assert(h2.dead[30] > 0, "dead latents switch the auxiliary loss on")
      for i = 1, 30 do
        for _, n in ipairs({ "loss", "mse_loss", "auxiliary_reconstruction_loss", "l0", "dead" }) do
          local d = math.abs(h1[n][i] - h2[n][i]) / math.max(math.abs(h2.loss[i]), 1e-9)
          assert(d <= 1e-5, string.format("%s rescale=%s step %d %s: fused %.7g vs autograd %.7g", arch, rescale, i, n, h1[n][i], h2[n][i]))
        end
      end
      for _, n in ipairs({ "W_enc", "W_dec", "b_enc", "b_dec" }) do
        assert_close(s1[n], s2[n], 1e-4 * s2[n]:abs():max(), arch .. " " .. n)
      end
      if arch == "batchtopk" then assert_close(s1.threshold, s2.threshold, 1e-5 * s2.threshold:abs():max(), "threshold") end
    end
  end
end)

test("fp._sae_topk_step checks its inputs", function()
  local x, We, be, Wd, bd, since = fp.randn(4, 6), fp.randn(6, 10), fp.zeros(10), fp.randn(10, 6), fp.zeros(6), fp.zeros(10)
  expect_error(function() fp._sae_topk_step(x, We, be, Wd, bd, since, { k = 11 }) end, "k <= d_sae")
  expect_error(function() fp._sae_topk_step(x, We, be, Wd, bd, since, { k = 0 }) end, "k <= d_sae")
  expect_error(function() fp._sae_topk_step(x, We, be, Wd, bd, since, { k = 2, kk = 1 }) end, "kk")
  expect_error(function() fp._sae_topk_step(x, We:T(), be, Wd, bd, since, { k = 2 }) end, "shapes do not fit")
  expect_error(function() fp._sae_topk_step(x, We, be, Wd:T(), bd, since, { k = 2 }) end, "shapes do not fit")
  expect_error(function() fp._sae_topk_step(x[{ {}, { 0, 6, 2 } }], We, be, Wd, bd, since, { k = 2 }) end, "shapes")
  expect_error(function() fp._sae_topk_step(x:int(), We, be, Wd, bd, since, { k = 2 }) end, "float32")
  expect_error(function() fp._sae_topk_step(x, We, be, Wd, bd, since, {}) end, "'k' is required")
  -- NaN inputs give NaN losses, not a crash
  local gWe, _, _, _, mse = fp._sae_topk_step(x * (0 / 0), We, be, Wd, bd, since, { k = 2 })
  assert(mse ~= mse and gWe.shape[1] == 6)
end)

test("standard: the trained weights equal SAELens's after 100 steps", function()
  local exp = fp.load_tensors(root .. "train/standard_expected.safetensors")
  local sae = train("standard")
  for _, n in ipairs({ "W_enc", "W_dec", "b_enc", "b_dec" }) do
    local want = exp["final_" .. n]
    assert_close(sae[n], want, 1e-4 * want:abs():max(), n)
  end
end)

test("dictionaries and transcoders trained and saved by fp load in SAELens with the same encode / decode / forward", function()
  for _, arch in ipairs({ "topk", "batchtopk", "standard", "skip_transcoder", "jumprelu_transcoder" }) do
    local dir = root .. "fp_trained_" .. arch
    local exp = fp.load_tensors(dir .. "/saelens_expected.safetensors")
    local sae = fp.load_sae(dir)
    assert(sae.model_name == "gpt2-tiny")
    if arch:find("transcoder") then
      assert(sae.transcoder and sae.architecture == arch and sae.hook_name == "blocks.0.ln2.hook_normalized"
        and sae.hook_name_out == "blocks.0.hook_mlp_out", arch)
      assert((sae.W_skip ~= nil) == (arch == "skip_transcoder"))
    else
      assert(sae.hook_name == "blocks.0.hook_resid_post")
    end
    assert_close(sae:encode(exp.x), exp.feature_acts, 1e-5 * exp.feature_acts:abs():max(), arch .. " encode")
    assert_close(sae:decode(exp.feature_acts), exp.decoded, 1e-5 * exp.decoded:abs():max(), arch .. " decode")
    assert_close(sae:forward(exp.x), exp.forward, 1e-5 * exp.forward:abs():max(), arch .. " forward")
    -- fp.sae.save still writes what SAELens read: same config and tensors
    local tmp = os.tmpname()
    os.remove(tmp)
    fp.sae.save(sae, tmp)
    local a, b = io.open(tmp .. "/cfg.json"):read("a"), io.open(dir .. "/cfg.json"):read("a")
    assert(a == b, "cfg.json differs:\n" .. a .. "\n" .. b)
    local w1, w2 = fp.load_tensors(tmp .. "/sae_weights.safetensors"), fp.load_tensors(dir .. "/sae_weights.safetensors")
    for n, t in pairs(w2) do assert_close(w1[n], t, 0, n) end
    os.remove(tmp .. "/cfg.json"); os.remove(tmp .. "/sae_weights.safetensors"); os.remove(tmp)
  end
end)

-- A transcoder whose targets are its inputs is an SAE without b_dec applied to the input: the
-- same losses step for step as that SAE (whose training follows SAELens's, above).
test("transcoder training: with targets = inputs it is the SAE run, step for step", function()
  for _, arch in ipairs({ "standard", "jumprelu" }) do
    local o = { architecture = arch, d_in = 64, d_sae = 48, batches = acts, batch_size = 16, steps = 40, lr = 4e-3,
      l1_coefficient = 0.5, l0_coefficient = 0.05, apply_b_dec_to_input = false,
      init = fp.load_tensors(root .. "train/" .. arch .. "_init.safetensors") }
    local _, h1 = fp.sae.train(o)
    o.targets = acts
    local tc, h2 = fp.sae.train(o)
    assert(tc.transcoder and tc.architecture == (arch == "jumprelu" and "jumprelu_transcoder" or "transcoder"))
    for i = 1, 40 do assert_close(h2.loss[i], h1.loss[i], 1e-6 * h1.loss[i], arch .. " step " .. i) end
  end
end)

test("transcoder training: d_out from the targets, W_skip learnt, options checked", function()
  fp.seed(0)
  local x = fp.randn(256, 12)
  local W = fp.randn(12, 20) * 0.5
  local y = x:matmul(W) + x:matmul(W):relu()   -- a linear part (the skip's) plus a sparse-ish part
  local tc, h = fp.sae.train({ architecture = "standard", d_in = 12, d_sae = 64, batches = x, targets = y,
    skip_connection = true, batch_size = 64, steps = 300, lr = 1e-2, l1_coefficient = 1e-3, seed = 1,
    hook_name = "blocks.0.mlp.hook_pre", hook_name_out = "blocks.0.hook_mlp_out" })
  assert(tc.d_in == 12 and tc.d_out == 20 and tc.W_dec.shape[2] == 20 and tc.W_skip.shape[1] == 20)
  assert(h.mse_loss[300] < 0.05 * h.mse_loss[1], string.format("mse %.4g -> %.4g", h.mse_loss[1], h.mse_loss[300]))
  assert(tc.W_skip:abs():max() > 0.1, "the skip connection was trained")
  local base = { architecture = "standard", d_in = 12, d_sae = 8, batches = x, batch_size = 8, steps = 1 }
  local function with(extra) local o = {} for k, v in pairs(base) do o[k] = v end for k, v in pairs(extra) do o[k] = v end return o end
  expect_error(function() fp.sae.train(with({ architecture = "topk", k = 4, targets = y })) end, "transcoders are standard or jumprelu")
  expect_error(function() fp.sae.train(with({ targets = y[{ { 0, 10 } }] })) end, "one row per row of batches")
  expect_error(function() fp.sae.train(with({ targets = y, normalize_activations = "expected_average_only_in" })) end, "normalize_activations = none")
  expect_error(function() fp.sae.train(with({ skip_connection = true })) end, "needs d_out")
end)

test("evaluate: L0, explained variance, dead/dense, CE loss recovered computed by hand", function()
  local model = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local sae = fp.load_sae(root .. "fp_trained_topk")
  fp.seed(4)
  local toks = fp.randint(0, 512, { 3, 16 })
  local ev = fp.sae.evaluate(model, sae, toks)
  local _, cache = model:run_with_cache(toks, { names_filter = sae.hook_name })
  local x = cache[sae.hook_name]:reshape(-1, 64)
  local f = sae:encode(x)
  assert_close(ev.l0, 6, 1e-6)   -- TopK k = 6 (every pre-activation in the top 6 is positive here)
  local r = x - sae:decode(f)
  local want_ev = 1 - fp.item(r:square():sum()) / fp.item((x - x:mean(0, true)):square():sum())
  assert_close(ev.explained_variance, want_ev, 1e-5)
  local clean = fp.item(model:forward(toks, { return_type = "loss" }))
  local zero = fp.item(model:run_with_hooks(toks, { return_type = "loss",
    fwd_hooks = { { sae.hook_name, function(a) a:zero_() end } } }))
  local spliced = fp.item(model:run_with_hooks(toks, { return_type = "loss",
    fwd_hooks = { { sae.hook_name, function(a) return sae:forward(a) end } } }))
  assert_close(ev.ce_loss_clean, clean, 1e-6)
  assert_close(ev.ce_loss_recovered, (zero - spliced) / (zero - clean), 1e-5)
  local density = f:gt(0):float():mean(0)
  assert_close(ev.dead_fraction, fp.item(density:eq(0):float():mean()), 1e-7)
  -- without position 0
  local ev1 = fp.sae.evaluate(model, sae, toks, { skip_first_position = true })
  local x1 = cache[sae.hook_name][{ {}, { 1 } }]:reshape(-1, 64)
  local r1 = x1 - sae:forward(x1)
  assert_close(ev1.explained_variance, 1 - fp.item(r1:square():sum()) / fp.item((x1 - x1:mean(0, true)):square():sum()), 1e-5)
  assert_close(ev1.ce_loss_recovered, ev.ce_loss_recovered, 0)
end)

test("train: options and inputs are checked", function()
  expect_error(function() fp.sae.train({ architecture = "topk", d_in = 64, d_sae = 48, steps = 1, batches = acts, batch_size = 16, lr_rate = 1 }) end,
    "unknown option 'lr_rate'")
  expect_error(function() fp.sae.train({ architecture = "gated", d_in = 64, d_sae = 48, steps = 1, batches = acts }) end,
    "architecture must be")
  expect_error(function() fp.sae.train({ d_in = 32, d_sae = 48, steps = 1, batches = acts, batch_size = 16 }) end,
    "batches must be")
  expect_error(function() fp.sae.train({ d_in = 64, d_sae = 48, steps = 1, batches = acts, batch_size = 16, k = 200 }) end,
    "k must be")
end)

-- Weight processing and weight views on every family's tiny fixture (Tests/fixtures/models/
-- <family>-tiny, see Tests/fixtures/families/README.md): each TransformerLens flag that is
-- valid for the family keeps the log-probs (within 1e-4) and is recorded in cfg.processing;
-- the ones TransformerLens refuses (fold_ln / center_writing_weights on OLMo 2's post norms,
-- center_unembed on soft-capped logits) are errors; the attention weight views reproduce
-- hook_q / hook_k / hook_v from the norm's output.
local root = "Tests/fixtures/models/"
local FAMILIES = { "qwen2", "phi3", "mistral", "qwen3", "olmo2", "gemma3", "gemma2", "gpt_neox" }
local FLAGS = { "fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases" }

for _, family in ipairs(FAMILIES) do
  local dir = root .. family .. "-tiny"
  local exp = fp.load_tensors(dir .. "/expected.npz")
  local base = fp.load_model(dir)
  local ids = exp.input_ids_0
  local post_only = family == "olmo2"
  local softcapped = base.cfg.output_logits_soft_cap > 0

  local function refused(flag)
    if flag == "fold_ln" or flag == "center_writing_weights" then return post_only end
    if flag == "center_unembed" then return softcapped end
    return false
  end

  test(family .. ": each valid processing flag keeps the log-probs; refused ones are errors", function()
    local want = base:forward(ids):log_softmax(-1)
    local all = {}
    for _, flag in ipairs(FLAGS) do
      if refused(flag) then
        local ok, err = pcall(fp.load_model, dir, { [flag] = true })
        assert(not ok and tostring(err):find(flag, 1, true), flag .. " should be refused, got " .. tostring(err))
      else
        all[flag] = true
        local m = fp.load_model(dir, { [flag] = true })
        -- RMS models skip center_writing_weights (not recorded), as TransformerLens
        local skipped = flag == "center_writing_weights" and base.cfg.normalization_type == "RMS"
        local want_steps = skipped and {} or { flag }
        assert_equal(m.cfg.processing, want_steps, flag)
        assert_close(m:forward(ids):log_softmax(-1), want, 1e-4, flag)
      end
    end
    local m = fp.load_model(dir, all)
    assert_close(m:forward(ids):log_softmax(-1), want, 1e-4, "all valid flags")
    if not post_only then
      assert_close(m.blocks[0].ln1.w, fp.ones(m.cfg.d_model), 0, "ln1 folded")
    end
  end)

  test(family .. ": W_Q, W_K, W_V (and biases) applied to the attention input give hook_q, hook_k, hook_v", function()
    local _, c = base:run_with_cache(ids)
    for l = 0, base.cfg.n_layers - 1 do
      local b, a = "blocks." .. l .. ".", base.blocks[l].attn
      local x
      if post_only then
        x = c[b .. "hook_resid_pre"]
      else
        x = c[b .. "ln1.hook_normalized"] * base.blocks[l].ln1.w + base.blocks[l].ln1.b
      end
      for _, p in ipairs({ { "q", "W_Q", "b_Q" }, { "k", "_W_K", "_b_K" }, { "v", "_W_V", "_b_V" } }) do
        local got = fp.einsum("b p m, h m d -> b p h d", x, a[p[2]]) + a[p[3]]
        assert_close(got, c[b .. "attn.hook_" .. p[1]], 1e-4, b .. p[2])
      end
    end
  end)
end

test("model.cfg shows each family's block features in TransformerLens's config names", function()
  -- from each fixture's config.json (Tests/fixtures/families/<family>.py)
  local want = {
    qwen2 = { use_qk_norm = false, use_normalization_before_and_after = false, use_local_attn = false, attn_scale = 4 },
    phi3 = { use_qk_norm = false, use_local_attn = false, attn_scale = 4 },
    mistral = { use_local_attn = true, window_size = 4, attn_scale = 4 },
    qwen3 = { use_qk_norm = true, use_normalization_before_and_after = false, attn_scale = math.sqrt(32) },
    olmo2 = { use_qk_norm = true, use_normalization_before_and_after = false, attn_scale = 4 },
    gemma3 = { use_qk_norm = true, use_normalization_before_and_after = true, use_local_attn = true, window_size = 4,
               attn_scale = math.sqrt(32), output_logits_soft_cap = -1, attn_scores_soft_cap = -1 },
  }
  for family, fields in pairs(want) do
    local cfg = fp.load_model(root .. family .. "-tiny").cfg
    assert(cfg.parallel_attn_mlp == false and cfg.rotary_dim == cfg.d_head, family)
  end
  local neox = fp.load_model(root .. "gpt_neox-tiny").cfg   -- Tests/fixtures/families/gpt_neox.py
  assert(neox.parallel_attn_mlp == true and neox.rotary_dim < neox.d_head, "gpt_neox parallel, partial rotary")
  for family, fields in pairs(want) do
    local cfg = fp.load_model(root .. family .. "-tiny").cfg
    for k, v in pairs(fields) do
      if type(v) == "number" then assert_close(cfg[k], v, 1e-6, family .. " " .. k)
      else assert(cfg[k] == v, family .. " " .. k .. " = " .. tostring(cfg[k])) end
    end
  end
end)

-- Every model family against Hugging Face transformers on its tiny random fixture
-- (Tests/fixtures/models/<family>-tiny, written by Tests/fixtures/families/make.py): the HF
-- folder and the GGUF file (llama.cpp's names) give HF's logits; every hook point HF exposes
-- matches; left- and right-padded batches; loss and greedy generation with the KV cache;
-- gradients of a hook intervention against torch; the fast and taped executors agree at every
-- hook point; the patch-sweep engine equals the plain hook loop.
--
-- A family is listed here once fp runs it; make.py may hold fixtures of families still in work.
local fixtures = dofile("Tests/lua/lib/fixtures.lua")
local FAMILIES = { "qwen2", "phi3", "mistral", "qwen3", "olmo2", "gemma3", "gemma2", "gpt_neox" }
local root = "Tests/fixtures/models/"
local POS, TARGET = 2, 99   -- common.py's GRAD_POS and TARGET

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function close_grad(got, want, what)
  local scale = fp.item(want:abs():max())
  local err = fp.item((got - want):abs():max())
  assert(err <= 1e-4 * scale + 1e-6, string.format("%s: max error %.3g vs largest entry %.3g", what, err, scale))
end

local function compare_masked(got, want, what)
  local inf = want:eq(-math.huge)
  assert(got:eq(-math.huge):eq(inf):all(), what .. ": masked entries differ")
  assert_close(got:masked_fill(inf, 0), want:masked_fill(inf, 0), 1e-4, what)
end

-- TransformerLens's hook points for each family (layer 0 and model level), listed by
-- Tests/fixtures/families/check_tl.py from HookedTransformer on the same fixtures. fp has every
-- one, except hook_attn_in on grouped-query models (TL lists it but refuses use_attn_in there);
-- Tests/lua/tl_hooks.lua checks the optional ones against TL with their use_* flags on.
local TL_NAMES = require("fp.json").decode(io.open("Tests/fixtures/families/tl_hook_names.json"):read("a"))

for _, family in ipairs(FAMILIES) do
  local dir = root .. family .. "-tiny"
  local exp = fp.load_tensors(dir .. "/expected.npz")
  local model = fp.load_model(dir)
  local name = family .. "-tiny"

  test(name .. ": Hugging Face folder: logits of each prompt match transformers within 1e-4", function()
    assert(model.cfg.family == family, "family " .. tostring(model.cfg.family))
    fixtures.assert_prompt_logits(model, exp, exp)
  end)

  if exists(dir .. "/model.gguf") then
    test(name .. ": GGUF file (llama.cpp names): the same logits", function()
      local g = fp.load_model(dir .. "/model.gguf")
      fixtures.assert_prompt_logits(g, exp, exp)
      local names = {}
      for _, n in ipairs(g:hook_points()) do names[n] = true end
      for _, n in ipairs(model:hook_points()) do assert(names[n], "GGUF model lacks hook point " .. n) end
    end)
  end

  if exists(dir .. "/model.q8_0.gguf") then
    -- q8_0.npz: HF's logits with every matrix replaced by its dequantized Q8_0 values (the
    -- fixture script checks that this moves the logits by more than 1e-3)
    test(name .. ": Q8_0 GGUF file: HF's logits on the dequantized weights within 1e-4", function()
      local want = fp.load_tensors(dir .. "/q8_0.npz")
      local g = fp.load_model(dir .. "/model.q8_0.gguf")
      fixtures.assert_prompt_logits(g, exp, want)
    end)
  end

  test(name .. ": every hook point HF exposes matches (TransformerLens names) within 1e-4", function()
    local _, cache = model:run_with_cache(exp.input_ids_0)
    local points = {}
    for _, n in ipairs(model:hook_points()) do points[n] = true end
    local compared = 0
    for key, want in pairs(exp) do
      if key:find("hook_", 1, true) and not key:find("grad.", 1, true) then
        assert(points[key], "fp has no hook point " .. key)
        compare_masked(cache[key], want, key)
        compared = compared + 1
      end
    end
    assert(compared >= 30, "compared only " .. compared .. " hook points")
  end)

  if TL_NAMES[family] then
    test(name .. ": every TransformerLens hook point of the family exists in fp, layer 0 and model level", function()
      local have = {}
      for _, n in ipairs(model:hook_points()) do have[n] = true end
      for _, n in ipairs(TL_NAMES[family]) do
        local grouped = model.cfg.n_key_value_heads ~= model.cfg.n_heads
        assert(have[n] or (grouped and n == "blocks.0.hook_attn_in"), "fp lacks TransformerLens's " .. n)
      end
    end)
  end

  test(name .. ": resid_post = resid_pre + attn_out + mlp_out at every layer", function()
    local _, cache = model:run_with_cache(exp.input_ids_0)
    for l = 0, model.cfg.n_layers - 1 do
      local b = "blocks." .. l .. "."
      assert_close(cache[b .. "hook_resid_post"],
        cache[b .. "hook_resid_pre"] + cache[b .. "hook_attn_out"] + cache[b .. "hook_mlp_out"], 1e-4, b)
    end
  end)

  test(name .. ": cache decompositions sum to the residual stream they decompose", function()
    local _, cache = model:run_with_cache(exp.input_ids_0)
    local L = model.cfg.n_layers
    local final = cache["blocks." .. (L - 1) .. ".hook_resid_post"]
    local parts = cache:decompose_resid(L)
    assert_close(parts:sum(0), final, 1e-4, "decompose_resid")
    local acc = cache:accumulated_resid(L)
    assert_close(acc[{ -1 }], final, 0, "accumulated_resid's last entry")
    for l = 1, L - 1 do
      assert_close(cache:decompose_resid(l):sum(0), cache["blocks." .. l .. ".hook_resid_pre"], 1e-4, "decompose_resid " .. l)
    end
    -- ln_final applied to the decomposition sums to ln_final's normalized output (RMS: no centering)
    local normed = cache:apply_ln_to_stack(parts, L)
    assert_close(normed:sum(0), cache["ln_final.hook_normalized"], 1e-4, "apply_ln_to_stack")
    -- inside a block: ln1 reads the residual stream, except where the norms come after (OLMo 2)
    local ok, err = pcall(function() return cache:apply_ln_to_stack(cache:decompose_resid(1), 1) end)
    if model.cfg.normalization_position == "post" then
      assert(not ok and tostring(err):find("no norm on the residual stream", 1, true), tostring(err))
    else
      assert(ok, tostring(err))
      assert_close(err:sum(0), cache["blocks.1.ln1.hook_normalized"], 1e-4, "apply_ln_to_stack at layer 1")
    end
  end)

  for _, side in ipairs({ "left", "right" }) do
    test(name .. ": " .. side .. "-padded batch matches HF at real positions", function()
      local ids, mask = exp[side .. "_input_ids"], exp[side .. "_attention_mask"]
      local logits = model:forward(ids, { attention_mask = mask })
      local real = mask:bool()
      for b = 0, 1 do
        local m = real[{ b }]
        assert_close(logits[{ b }][{ m }], exp[side .. "_logits"][{ b }][{ m }], 1e-4, side .. " row " .. b)
      end
    end)
  end

  test(name .. ": loss and greedy generation with the KV cache", function()
    assert_close(model:forward(exp.input_ids_0, { return_type = "loss" }), exp.loss_0:item(), 1e-4, "loss")
    local out = model:generate(exp.input_ids_0, { max_new_tokens = 8, stop_at_eos = false })
    assert(out:eq(exp.generate_0):all(), "generated " .. tostring(out) .. ", expected " .. tostring(exp.generate_0))
  end)

  test(name .. ": gradients of hook interventions match torch", function()
    local ids = exp.input_ids_0
    local function loss_of(logits) return -logits[{ 0, -1 }]:log_softmax(-1)[TARGET] end
    local v = exp["grad.v"]:clone():requires_grad()
    local seen
    local logits = model:run_with_hooks(ids, {
      fwd_hooks = { { "blocks.0.hook_resid_post", function(act) act[{ 0, POS }] = act[{ 0, POS }] + v end } },
      bwd_hooks = { { "blocks.1.hook_resid_pre", function(g) seen = g:clone() end } },
    })
    local loss = loss_of(logits)
    assert_close(fp.item(loss), fp.item(exp["grad.loss_v"]), 1e-4)
    loss:backward()
    close_grad(v.grad, exp["grad.grad_v"], "grad v")
    close_grad(seen, exp["grad.grad_resid_pre1"], "grad at blocks.1.hook_resid_pre")

    local w, s = exp["grad.w"]:clone():requires_grad(), fp.item(exp["grad.s"])
    logits = model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_resid_post", function(act)
      local u = w / w:norm()
      local x = act[{ 0, POS }]:clone()
      act[{ 0, POS }] = x + u * (s - (x * u):sum())
    end } } })
    loss = loss_of(logits)
    assert_close(fp.item(loss), fp.item(exp["grad.loss_w"]), 1e-4)
    loss:backward()
    close_grad(w.grad, exp["grad.grad_w"], "grad w")
  end)

  local toks = exp.left_input_ids   -- two rows of 9 tokens (the pads are ordinary ids here)

  test(name .. ": fast and taped executors agree at every hook point (activation and an edit there)", function()
    local points = model:hook_points()
    local fast, taped, hf, ht = {}, {}, {}, {}
    for _, n in ipairs(points) do
      hf[#hf + 1] = { n, function(act) fast[n] = act:clone() end }
      ht[#ht + 1] = { n, function(act) taped[n] = act:detach():clone() end }
    end
    local zero = fp.zeros(1):requires_grad()
    table.insert(ht, 1, { "hook_embed", function(act) return act + zero end })
    local logits = model:run_with_hooks(toks, { fwd_hooks = hf })
    local tlogits = model:run_with_hooks(toks, { fwd_hooks = ht })
    assert(tlogits.needs_grad, "the pass ran on the tape")
    assert_close(tlogits:detach(), logits, 1e-4, "logits")
    for _, n in ipairs(points) do
      assert(fast[n] and taped[n], n .. " fired on both executors")
      compare_masked(taped[n], fast[n], n)
      if not n:find("hook_scale", 1, true) then
        local edit = function(act) return act * 1.25 end
        local f = model:run_with_hooks(toks, { fwd_hooks = { { n, edit } } })
        local t = model:run_with_hooks(toks, { fwd_hooks = { { "hook_embed", function(act) return act + zero end }, { n, edit } } })
        assert_close(t:detach(), f, 1e-4, n .. " edited")
      end
    end
  end)

  test(name .. ": the patch-sweep engine equals run_with_hooks at every patch entry", function()
    fp.seed(3)
    local _, cache = model:run_with_cache(toks)
    local s = model:patch_sweep(toks, { positions = { -1 } })
    assert(s, "the sweep engine refused " .. name)
    local cases = {}
    for layer = 0, model.cfg.n_layers - 1 do
      for _, point in ipairs({ "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z" }) do
        local hook = point == "z" and ("blocks." .. layer .. ".attn.hook_z") or ("blocks." .. layer .. ".hook_" .. point)
        if cache[hook] then   -- parallel blocks have no resid_mid
          local patch = cache[hook]:clone()
          patch[{ {}, 4 }] = patch[{ {}, 4 }] + fp.randn(table.unpack(patch[{ {}, 4 }].shape)) * 0.3
          -- the block's residual decomposition: the patch is added to the corrupted `bases`
          local at, stage, bases = s:entry(point, layer)
          local act = s:reference(at, stage)
          local row = patch[{ {}, 4 }]
          for _, b in ipairs(bases) do row = s:reference(b[1], b[2])[{ {}, 4 }] + row end
          act[{ {}, 4 }] = row
          cases[#cases + 1] = { hook = hook, patch = patch, id = s:add(at, stage, act) }
        end
      end
    end
    local out = s:run()
    for _, c in ipairs(cases) do
      local want = model:run_with_hooks(toks, { positions = { -1 }, fwd_hooks = { { c.hook, function() return c.patch end } } })
      assert_close(out[{ c.id }], want, 1e-4, c.hook)
    end
  end)
end

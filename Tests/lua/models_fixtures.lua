-- Tiny random GPT-2 and Llama models against Hugging Face transformers' outputs
-- (Tests/fixtures/models, written by Tests/fixtures/make_model_fixtures.py).
local root = "Tests/fixtures/models/"

local function hook_names(model)
  local names = {}
  for _, n in ipairs(model:hook_points()) do names[n] = true end
  return names
end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny", "llama3-tiny" }) do
  local dir = root .. name
  local exp = fp.load_tensors(dir .. "/expected.npz")
  local model = fp.load_model(dir)

  test(name .. ": logits of each prompt alone match Hugging Face within 1e-4", function()
    for i = 0, 1 do
      local logits = model:forward(exp["input_ids_" .. i])
      assert_close(logits, exp["logits_" .. i], 1e-4, "prompt " .. i)
    end
  end)

  test(name .. ": every hook point matches (TransformerLens names and shapes) within 1e-4", function()
    local _, cache = model:run_with_cache(exp.input_ids_0)
    local points = hook_names(model)
    local compared = 0
    for key, want in pairs(exp) do
      if key:find("hook_") then
        assert(points[key], "fp has no hook point " .. key)
        local got = cache[key]
        assert(got, "not cached: " .. key)
        -- -inf (masked scores) must sit in the same places
        local inf = want:eq(-math.huge)
        assert(got:eq(-math.huge):eq(inf):all(), key .. ": masked entries differ")
        assert_close(got:masked_fill(inf, 0), want:masked_fill(inf, 0), 1e-4, key)
        compared = compared + 1
      end
    end
    assert(compared >= 30, "compared only " .. compared .. " hook points")
  end)

  for _, side in ipairs({ "left", "right" }) do
    test(name .. ": " .. side .. "-padded batch equals the prompts alone at real positions", function()
      local ids, mask = exp[side .. "_input_ids"], exp[side .. "_attention_mask"]
      local logits = model:forward(ids, { attention_mask = mask })
      local real = mask:bool()
      for b = 0, 1 do
        local m = real[{ b }]
        assert_close(logits[{ b }][{ m }], exp[side .. "_logits"][{ b }][{ m }], 1e-4, side .. " row " .. b)
        local alone = exp["logits_" .. b][{ 0 }]
        assert_close(logits[{ b }][{ m }], alone, 1e-4, side .. " row " .. b .. " vs alone")
      end
    end)
  end

  test(name .. ": loss and greedy generation with the KV cache", function()
    local loss = model:forward(exp.input_ids_0, { return_type = "loss" })
    assert_close(loss, exp.loss_0:item(), 1e-4, "loss")
    local out = model:generate(exp.input_ids_0, { max_new_tokens = 8, stop_at_eos = false })
    assert(out:eq(exp.generate_0):all(), "generated " .. tostring(out) .. ", expected " .. tostring(exp.generate_0))
  end)
end

test("gpt2-tiny as llama.cpp's GGUF (gpt2 architecture, make_gpt2_gguf.py) gives transformers' logits and hook points", function()
  local dir = root .. "gpt2-tiny"
  local exp = fp.load_tensors(dir .. "/expected.npz")
  local g = fp.load_model(dir .. "/model.gguf")
  assert(g.cfg.family == "gpt2", g.cfg.family)
  for i = 0, 1 do assert_close(g:forward(exp["input_ids_" .. i]), exp["logits_" .. i], 1e-4, "prompt " .. i) end
  local _, cache = g:run_with_cache(exp.input_ids_0)
  for _, key in ipairs({ "blocks.1.attn.hook_q", "blocks.1.attn.hook_v", "blocks.1.hook_mlp_out", "ln_final.hook_normalized" }) do
    assert_close(cache[key], exp[key], 1e-4, key)
  end
end)

test("llama-tiny in bfloat16 loads and matches its fp32 reference", function()
  local exp = fp.load_tensors(root .. "llama-tiny-bf16/expected.npz")
  local model = fp.load_model(root .. "llama-tiny-bf16")
  assert_close(model:forward(exp.input_ids_0), exp.logits_0, 1e-4)
end)

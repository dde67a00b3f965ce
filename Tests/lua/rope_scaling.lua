-- Rope scaling against Hugging Face transformers (Tests/fixtures/families/rope_scaling.py): one
-- tiny random model per rope type a family config in the wild uses. longrope: prompt 0 stays
-- within the original context (short factors), prompt 1 goes beyond it (long factors).
local fixtures = dofile("Tests/lua/lib/fixtures.lua")
local root = "Tests/fixtures/models/rope-"
local CASES = { ["longrope"] = "phi3", ["gemma3-linear"] = "gemma3", ["yarn"] = "qwen2", ["linear"] = "llama", ["dynamic"] = "llama" }

for case, family in pairs(CASES) do
  local dir = root .. case .. "-tiny"
  test(case .. " (" .. family .. "): logits of a short and a long prompt match transformers within 1e-4", function()
    local model = fp.load_model(dir)
    assert(model.cfg.family == family, "family " .. tostring(model.cfg.family))
    local ex = fp.load_tensors(dir .. "/expected.npz")
    fixtures.assert_prompt_logits(model, ex, ex)
  end)
end

test("longrope: a run that passes the original context uses the long factors at every position", function()
  local model = fp.load_model(root .. "longrope-tiny")
  local ex = fp.load_tensors(root .. "longrope-tiny/expected.npz")
  -- the full 24-token prompt in one pass uses the long factors at every position (HF's rule:
  -- max position + 1 > original_max_position_embeddings), so its first 10 positions differ
  -- from the 10-token prompt's
  local long = model:forward(ex.input_ids_1)
  local short = model:forward(ex.input_ids_1[{ {}, { 0, 10 } }])
  assert(fp.item((long[{ {}, { 0, 10 } }] - short):abs():max()) > 1e-3, "the long factors change the early positions")
end)

test("longrope from GGUF (llama.cpp's Phi-3 layout: factor tensors, original context, attention factor) gives HF's logits", function()
  -- written by rope_scaling.py from the same weights; prompt 1 (24 tokens) passes the original
  -- context of 16, so the long factors and the attention factor both matter
  local model = fp.load_model(root .. "longrope-tiny/model.gguf")
  assert(model.cfg.family == "phi3", "family " .. tostring(model.cfg.family))
  local ex = fp.load_tensors(root .. "longrope-tiny/expected.npz")
  fixtures.assert_prompt_logits(model, ex, ex)
end)

test("rope scaling types fp does not implement are refused by name at load", function()
  local dir = os.tmpname() .. "_rope"
  os.execute("mkdir -p " .. dir)
  local src = io.open(root .. "linear-tiny/config.json"):read("a")
  local f = io.open(dir .. "/config.json", "w")
  f:write((src:gsub('"rope_type": "linear"', '"rope_type": "proportional"')))
  f:close()
  os.execute("cp " .. root .. "linear-tiny/model.safetensors " .. dir .. "/")
  expect_error(function() fp.load_model(dir) end, "rope_scaling type 'proportional' is not supported")
  os.execute("rm -rf " .. dir)
end)

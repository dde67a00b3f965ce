-- dictionary_learning's ae.pt + config.json (Tests/fixtures/saes/dl_*, written by
-- Tests/fixtures/make_dictionary_learning_fixtures.py with the package's own classes and
-- torch.save): fp.load_sae reads them through the restricted checkpoint reader and encodes,
-- decodes and reconstructs as the package does.
local root = "Tests/fixtures/saes/"
local expected_arch = { standard = "standard", gated = "gated", jumprelu = "jumprelu", topk = "topk", batchtopk = "jumprelu" }

for _, name in ipairs({ "standard", "gated", "jumprelu", "topk", "batchtopk" }) do
  test("dictionary_learning " .. name .. ": encode / decode / forward equal the package's", function()
    local dir = root .. "dl_" .. name
    local exp = fp.load_tensors(dir .. "/expected.safetensors")
    local sae = fp.load_sae(dir)
    assert(sae.format == "dictionary_learning" and sae.architecture == expected_arch[name], sae.architecture)
    assert(sae.d_in == 16 and sae.d_sae == 40, "sizes from the tensors")
    assert(sae.hook_name == "blocks.0.hook_resid_post" and sae.model_name == "gpt2-tiny", tostring(sae.hook_name))
    local f = sae:encode(exp.x)
    assert_close(f, exp.feature_acts, 1e-5 * exp.feature_acts:abs():max(), "encode")
    assert(f:gt(0):any() and f:eq(0):any(), "some latents fire, some do not")
    assert_close(sae:decode(exp.feature_acts), exp.decoded, 1e-5 * exp.decoded:abs():max(), "decode")
    assert_close(sae:forward(exp.x), exp.forward, 1e-5 * exp.forward:abs():max(), "forward")
  end)
end

test("dictionary_learning: TopK k comes from the checkpoint; the hook can be overridden", function()
  local sae = fp.load_sae(root .. "dl_topk", { hook_name = "blocks.0.hook_mlp_out" })
  assert(sae.k == 5 and sae.hook_name == "blocks.0.hook_mlp_out")
  assert(fp.sae.load(root .. "dl_topk").k == 5)
end)

test("dictionary_learning: a TopK / BatchTopK checkpoint without its dict_class is an error", function()
  local dir = os.tmpname()
  os.remove(dir)
  require("fp.files").make_dirs(dir, "test")
  local src = io.open(root .. "dl_topk/ae.pt", "rb"):read("a")
  io.open(dir .. "/ae.pt", "wb"):write(src):close()
  expect_error(function() fp.load_sae(dir, { hook_name = "blocks.0.hook_resid_post" }) end, "dict_class must say AutoEncoderTopK or BatchTopKSAE")
  io.open(dir .. "/config.json", "w"):write('{"trainer": {"dict_class": "AutoEncoderTopK"}}'):close()
  expect_error(function() fp.load_sae(dir) end, "no hook name")
  assert(fp.load_sae(dir, { hook_name = "blocks.0.hook_resid_post" }).k == 5)
  os.remove(dir .. "/ae.pt"); os.remove(dir .. "/config.json"); os.remove(dir)
end)

test("PyTorch checkpoints: strided, offset and shared views and every dtype read as torch.load reads them", function()
  local t = fp.load_tensors(root .. "dl_topk/ae.pt")
  assert(t.k.dtype == "int64" and t.k:item() == 5 and t.threshold:item() == -1)
  local got = fp.load_tensors(root .. "torch_views.pt")
  local want = fp.load_tensors(root .. "torch_views_expected.safetensors")
  local n = 0
  for name, w in pairs(want) do
    n = n + 1
    local g = got[name]
    assert(g and g.dtype == w.dtype, name .. ": dtype " .. tostring(g and g.dtype))
    assert(#g.shape == #w.shape, name .. ": rank")
    assert_close(g:float(), w:float(), 0, name)
  end
  assert(n == 10)
  expect_error(function() fp.save(os.tmpname() .. ".pt", fp.zeros(2)) end, "cannot save")
end)

-- Files whose headers lie (Tests/fixtures/bad, written by Tests/fixtures/make_bad_fixtures.py;
-- docs/fuzzing.md lists what the fuzzer found): loading each one through the Lua API is a Lua
-- error that names the function, the file and what is wrong, never a crash, and the state
-- stays usable afterwards.
local fp = require "fp"

local bad = "Tests/fixtures/bad/"

-- file, loader, expected message fragments (plain text)
local cases = {
  -- safetensors
  { "st_header_past_end.safetensors", "load_tensor", "header length 1000 runs past the end of the file (15 bytes)" },
  { "st_header_length_2e64.safetensors", "load_tensor", "header length 18446744073709551615 runs past the end of the file" },
  { "st_offsets_past_end.safetensors", "load_tensor", "data_offsets [0, 1099511627776] lie outside the 8-byte data buffer" },
  { "st_shape_overflow.safetensors", "load_tensor", "shape [4611686018427387904, 4] has too many elements" },
  { "st_dtype_size_mismatch.safetensors", "load_tensor", "hold 8 bytes, but shape [3] of F32 needs 12" },
  { "st_zero_dim_overflow.safetensors", "load_tensor", "shape [0, 4611686018427387904, 4] has too many elements" },
  { "st_negative_dim.safetensors", "load_tensor", "\"shape\" must hold non-negative integers" },
  { "st_deep_json.safetensors", "load_tensor", "nested deeper than 64 levels" },
  -- .npy / .npz
  { "npy_negative_dim.npy", "load_tensor", "'shape' must hold non-negative integers" },
  { "npy_huge_shape.npy", "load_tensor", "shape [100000, 100000] of f32 needs 40000000000 bytes, the file has 4 after the header" },
  { "npy_shape_overflow.npy", "load_tensor", "shape [4294967296, 4294967296] has too many elements" },
  { "npy_zero_dim_overflow.npy", "load_tensor", "shape [0, 4611686018427387904, 4] has too many elements" },
  { "npy_header_length_past_end.npy", "load_tensor", "header length 4294967040 exceeds the 1048576-byte limit" },
  { "npz_lying_size.npz", "load_tensor", "entry 'a.npy': declared size 4294967280 is impossible for 71 deflated bytes" },
  { "npz_entry_count.npz", "load_tensor", "central directory (offset 0, 46 bytes) runs past the end of the file (22 bytes)" },
  -- PyTorch checkpoints (dictionary_learning's ae.pt), read by a restricted unpickler
  { "torch_os_system.pt", "load_tensors", "global posix.system is not allowed" },
  { "torch_view_past_storage.pt", "load_tensors", "view (offset 0, shape [100], strides [1]) reads past its storage of 4 elements" },
  { "torch_storage_size.pt", "load_tensors", "storage data/0 has 16 bytes, 1073741824 FloatStorage elements expected" },
  { "torch_deep_nesting.pt", "load_tensors", "containers nested deeper than 32" },
  { "torch_legacy.pt", "load_tensors", "a legacy (pre-zip) PyTorch checkpoint" },
  -- GGUF
  { "gguf_tensor_count.gguf", "load_model", "tensor count 1099511627776 is impossible for a file of 88 bytes" },
  { "gguf_key_length.gguf", "load_model", "metadata key #0 has length 1099511627776 at offset 24, which runs past the end of the file" },
  { "gguf_array_length.gguf", "load_model", "claims 1152921504606846976 array elements, more than the rest of the file" },
  { "gguf_dims_overflow.gguf", "load_model", "have too many elements: the product overflows" },
  { "gguf_zero_dim_overflow.gguf", "load_model", "dims [4, 4611686018427387904, 0] (ggml order) have too many elements" },
  { "gguf_offset_past_end.gguf", "load_model", "data offset 1099511627776 lies past the end of the file" },
  -- llama2.c
  { "llama2c_truncated.bin", "load_model", "is truncated: tensor 'tok_embeddings' needs bytes up to 8220, the file has 92" },
  { "llama2c_negative_dims.bin", "load_model", "invalid config: d_mlp = -128" },
  { "llama2c_huge_dims.bin", "load_model", "invalid config: d_head = 65536" },
  -- Hugging Face folders: config.json, the shard index, shapes, tokenizer files
  { "config_huge_n_embd", "load_model", "n_embd = 4611686018427387904 is out of range" },
  { "config_deep", "load_model", "nested deeper than 64 levels" },
  { "config_bad_heads", "load_model", "n_embd 8 is not divisible by n_head 3" },
  { "index_bad_shard_name", "load_model", "shard name '../model.safetensors' must be a plain file name" },
  { "index_missing_shard", "load_model", "absent.safetensors': No such file or directory" },
  { "shape_mismatch", "load_model", "tensor 'wpe.weight' has shape [8, 8], expected [9, 8] from the config" },
  { "tokenizer_bad_id", "load_model", "tokenizer.json: model.vocab[\"a\"] is not an id in 0...4000000" },
  { "tokenizer_bad_json", "load_model", "tokenizer.json: invalid JSON" },
}

for _, c in ipairs(cases) do
  local file, fn, fragment = c[1], c[2], c[3]
  test(fn .. " rejects " .. file, function()
    local msg = expect_error(function() return fp[fn](bad .. file) end, fragment)
    -- the message starts with the function's name and names the file
    assert(msg:find(fn .. ": ", 1, true), "function name missing: " .. msg)
    assert(msg:find(bad .. file, 1, true), "file name missing: " .. msg)
  end)
end

test("a shape with a zero size whose other sizes overflow is an error, not a trap", function()
  expect_error(function() return fp.zeros(0, 4611686018427387904, 4) end, "shape [0, 4611686018427387904, 4] has too many elements")
  expect_error(function() return fp.zeros(0):view(0, 4611686018427387904, 4) end, "4611686018427387904")
end)

test("every file in Tests/fixtures/bad has a case", function()
  local listed = {}
  for _, c in ipairs(cases) do listed[c[1]] = true end
  local n = 0
  for name in io.popen("ls " .. bad):lines() do
    n = n + 1
    assert(listed[name], "no test case for Tests/fixtures/bad/" .. name)
  end
  assert_equal(n, #cases, "number of files")
end)

test("after the bad files the state is usable", function()
  local t = fp.load_tensor("Tests/fixtures/io/f32_c.npy")
  assert_equal(t.shape, { 3, 4 }, "shape")
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local logits = m:forward(fp.tensor({ { 0, 1, 2 } }, "int"))
  assert_equal(logits.shape, { 1, 3, m.cfg.d_vocab }, "logits shape")
end)

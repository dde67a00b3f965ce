-- A model folder with a family's tokenizer.json: to_tokens / to_str_tokens / to_string /
-- to_single_token and the prepend_bos default come from it. The tokenizers and their expected
-- ids are Tests/fixtures/tokenizers/families/* (the `tokenizers` library's output, written by
-- Tests/fixtures/make_family_tokenizers.py); the weights are a random one-layer Llama written here
-- (its 1024-token vocabulary holds every fixture tokenizer).
local fp = require "fp"
local json = require "fp.json"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local families = "Tests/fixtures/tokenizers/families/"

-- A random Llama folder (config.json + model.safetensors) with the family's tokenizer files.
local function folder(name)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local V, D = 1024, 16
  fp.seed(0)
  local p = "model.layers.0."
  fp.save(dir .. "/model.safetensors", {
    ["model.embed_tokens.weight"] = fp.randn(V, D) * 0.02, ["model.norm.weight"] = fp.ones(D),
    [p .. "input_layernorm.weight"] = fp.ones(D), [p .. "post_attention_layernorm.weight"] = fp.ones(D),
    [p .. "self_attn.q_proj.weight"] = fp.randn(D, D) * 0.02, [p .. "self_attn.k_proj.weight"] = fp.randn(D, D) * 0.02,
    [p .. "self_attn.v_proj.weight"] = fp.randn(D, D) * 0.02, [p .. "self_attn.o_proj.weight"] = fp.randn(D, D) * 0.02,
    [p .. "mlp.gate_proj.weight"] = fp.randn(32, D) * 0.02, [p .. "mlp.up_proj.weight"] = fp.randn(32, D) * 0.02,
    [p .. "mlp.down_proj.weight"] = fp.randn(D, 32) * 0.02 })
  fp.save(dir .. "/config.json", { model_type = "llama", architectures = { "LlamaForCausalLM" }, vocab_size = V,
    hidden_size = D, intermediate_size = 32, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 2,
    max_position_embeddings = 64, rms_norm_eps = 1e-5, rope_theta = 10000.0, tie_word_embeddings = true })
  for _, f in ipairs({ "tokenizer.json", "tokenizer_config.json" }) do
    write(dir .. "/" .. f, read(families .. name .. "/" .. f))
  end
  local model = fp.load_model(dir)
  os.execute("rm -rf '" .. dir .. "'")
  return model
end

for _, name in ipairs({ "qwen2", "gpt_neox", "olmo2", "gemma", "llama2", "mistral", "phi3" }) do
  local exp = json.decode(read(families .. name .. "/expected.json"))
  local model = folder(name)
  local V = model.cfg.d_vocab

  test(name .. ": to_tokens, to_str_tokens and to_string follow the folder's tokenizer.json", function()
    local checked = 0
    for i, text in ipairs(exp.texts) do
      local ids = exp.ids[i]
      if #ids > 0 then
        local toks = model:to_tokens(text, { prepend_bos = false })
        local got = toks[{ 0 }]:tolist()
        assert(#got == #ids, name .. ": " .. text .. ": " .. #got .. " tokens, expected " .. #ids)
        for k = 1, #ids do assert(got[k] == ids[k], name .. ": " .. text .. ": token " .. k) end
        assert(#model:to_str_tokens(text, { prepend_bos = false }) == #ids)
        local in_vocab = true
        for k = 1, #ids do in_vocab = in_vocab and ids[k] < V end
        if in_vocab then
          assert(model:to_string(ids) == exp.decoded[i], name .. ": decode of " .. text)
          assert(model:to_string(toks[{ 0 }]) == exp.decoded[i])
        end
        checked = checked + 1
      end
    end
    assert(checked > 400, "checked only " .. checked)
  end)

  test(name .. ": the prepend_bos default is the tokenizer's (transformers adds BOS: "
       .. tostring(exp.bos_default) .. ")", function()
    assert(model.cfg.default_prepend_bos == exp.bos_default)
    local plain = model:to_tokens("Hello world", { prepend_bos = false })
    local default = model:to_tokens("Hello world")
    if exp.bos_default then
      assert(default.shape[2] == plain.shape[2] + 1)
      assert(default[{ 0, 1 }] == plain[{ 0, 0 }])
    else
      assert(default:eq(plain):all())
    end
  end)
end

test("Qwen 2: every digit is its own token; Gemma: byte fallback round-trips unknown characters", function()
  -- (the texts above cover these; here they are spelled out on one string each)
  local qwen = folder("qwen2")
  assert(#qwen:to_str_tokens("12345", { prepend_bos = false }) == 5)
  expect_error(function() qwen:to_tokens("x", { prepend_bos = true }) end, "no BOS token")
  local gemma = folder("gemma")
  local s = gemma:to_str_tokens("\u{9F98}", { prepend_bos = false })
  assert(#s == 3, "a CJK character outside the vocabulary is three byte tokens")
end)

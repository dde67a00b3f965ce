-- Block features read from a family's config.json: values that cannot describe a model are
-- load errors naming the key, never a crash or a silently different model (gpt_neox-tiny and
-- gemma2-tiny with one key changed; the weights are the fixtures').
local json = require "fp.json"
local root = "Tests/fixtures/models/"

local function with_config(name, edit)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "' && cp '" .. root .. name .. "/model.safetensors' '" .. dir .. "/'")
  local f = assert(io.open(root .. name .. "/config.json"))
  local cfg = json.decode(f:read("a"))
  f:close()
  edit(cfg)
  f = assert(io.open(dir .. "/config.json", "w"))
  f:write(json.encode(cfg))
  f:close()
  return dir
end

local function load_error(name, edit, pattern)
  local dir = with_config(name, edit)
  expect_error(function() fp.load_model(dir) end, pattern)
  os.execute("rm -rf '" .. dir .. "'")
end

test("gpt_neox: rotary_pct outside (0, 1], an odd rotary width, an unknown activation are load errors", function()
  load_error("gpt_neox-tiny", function(c) c.rope_parameters.partial_rotary_factor = 2 end, "rotary_pct 2.0 must be in")
  load_error("gpt_neox-tiny", function(c) c.rope_parameters.partial_rotary_factor = -1 end, "must be in %(0, 1%]")
  load_error("gpt_neox-tiny", function(c) c.rope_parameters.partial_rotary_factor = 0.01 end, "rotary_dim = 0")
  load_error("gpt_neox-tiny", function(c) c.rope_parameters.partial_rotary_factor = 0.1875 end, "rotary_dim = 3")
  load_error("gpt_neox-tiny", function(c) c.hidden_act = "relu" end, "hidden_act relu is not supported")
end)

test("gpt_neox: use_parallel_residual false runs the sequential block (resid_mid exists, numbers change)", function()
  local dir = with_config("gpt_neox-tiny", function(c) c.use_parallel_residual = false end)
  local seq, par = fp.load_model(dir), fp.load_model(root .. "gpt_neox-tiny")
  local toks = fp.tensor({ { 17, 301, 42, 5, 488 } }, "int")
  local _, cache = seq:run_with_cache(toks)
  assert(cache["blocks.0.hook_resid_mid"], "a sequential block has resid_mid")
  assert_close(cache["blocks.0.hook_resid_mid"], cache["blocks.0.hook_resid_pre"] + cache["blocks.0.hook_attn_out"], 1e-5)
  assert(fp.item((seq:forward(toks) - par:forward(toks)):abs():max()) > 1e-2, "the wiring changes the logits")
  os.execute("rm -rf '" .. dir .. "'")
end)

test("gemma2: non-positive soft-caps, scale or window are load errors", function()
  load_error("gemma2-tiny", function(c) c.attn_logit_softcapping = 0 end, "soft%-cap or scale of 0")
  load_error("gemma2-tiny", function(c) c.final_logit_softcapping = -3 end, "soft%-cap or scale of %-3")
  load_error("gemma2-tiny", function(c) c.query_pre_attn_scalar = 0 end, "soft%-cap or scale of inf")
  load_error("gemma2-tiny", function(c) c.sliding_window = 0 end, "sliding window of no positions")
  load_error("gemma2-tiny", function(c) c.layer_types = { "full_attention" } end, "layer_types has 1 entries for 4 layers")
  load_error("gemma2-tiny", function(c) c.hidden_activation = "silu" end, "hidden_activation silu is not supported")
end)

test("gemma2: the final soft-cap is 10 tanh(logits / 10) of the uncapped model; the attention cap matters", function()
  local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260, 71, 402 } }, "int")
  local capped = fp.load_model(root .. "gemma2-tiny"):forward(toks)
  local dir = with_config("gemma2-tiny", function(c) c.final_logit_softcapping = json.null end)
  local plain = fp.load_model(dir):forward(toks)
  os.execute("rm -rf '" .. dir .. "'")
  assert(fp.item(plain:abs():max()) > 8, "logits large enough for the cap of 10 to bend them")
  assert_close(capped, (plain / 10):tanh() * 10, 1e-5)
  dir = with_config("gemma2-tiny", function(c) c.attn_logit_softcapping = json.null end)
  local uncapped_attn = fp.load_model(dir):forward(toks)
  os.execute("rm -rf '" .. dir .. "'")
  assert(fp.item((uncapped_attn - capped):abs():max()) > 0.05, "the attention soft-cap changes the logits")
end)

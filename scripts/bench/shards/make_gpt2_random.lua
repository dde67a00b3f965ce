-- A GPT-2-shaped model with random weights (N(0, 0.02), LayerNorms at 1 and 0, as GPT-2's
-- initialisation), written as a Hugging Face folder (config.json + model.safetensors) that
-- fp.load_model reads with the GPT-2 tokenizer from fp's models folder (gpt2.tiktoken).
-- For timing only: the numbers are not a reference for anything.
--   fp run scripts/bench/shards/make_gpt2_random.lua --out /tmp/gpt2-random [--layers 12 --d-model 768 --heads 12]
local args = require "fp.args"
local opts = args.parse(arg, {
  out = "/tmp/gpt2-random", layers = { 12, "n_layer" }, d_model = { 768, "n_embd" }, heads = { 12, "n_head" },
  ctx = { 1024, "n_positions" }, seed = { 0, "fp.seed" },
}, { description = "Write a GPT-2-shaped random model folder." })

local V, D, C = 50257, opts.d_model, opts.ctx
fp.seed(opts.seed)
local function normal(...) return fp.randn(...) * 0.02 end
local w = { ["wte.weight"] = normal(V, D), ["wpe.weight"] = normal(C, D),
            ["ln_f.weight"] = fp.ones(D), ["ln_f.bias"] = fp.zeros(D) }
for l = 0, opts.layers - 1 do
  local p = "h." .. l .. "."
  w[p .. "ln_1.weight"], w[p .. "ln_1.bias"] = fp.ones(D), fp.zeros(D)
  w[p .. "ln_2.weight"], w[p .. "ln_2.bias"] = fp.ones(D), fp.zeros(D)
  w[p .. "attn.c_attn.weight"], w[p .. "attn.c_attn.bias"] = normal(D, 3 * D), fp.zeros(3 * D)
  w[p .. "attn.c_proj.weight"], w[p .. "attn.c_proj.bias"] = normal(D, D), fp.zeros(D)
  w[p .. "mlp.c_fc.weight"], w[p .. "mlp.c_fc.bias"] = normal(D, 4 * D), fp.zeros(4 * D)
  w[p .. "mlp.c_proj.weight"], w[p .. "mlp.c_proj.bias"] = normal(4 * D, D), fp.zeros(D)
end
fp.save(opts.out .. "/model.safetensors", w)
fp.save(opts.out .. "/config.json", { model_type = "gpt2", architectures = { "GPT2LMHeadModel" }, vocab_size = V,
  n_positions = C, n_ctx = C, n_embd = D, n_layer = opts.layers, n_head = opts.heads, activation_function = "gelu_new",
  layer_norm_epsilon = 1e-5, bos_token_id = 50256, eos_token_id = 50256 })
print("wrote " .. opts.out .. " (" .. opts.layers .. " layers, d_model " .. D .. ", " .. opts.heads .. " heads)")

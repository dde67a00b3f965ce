-- fp demo: the IOI prompt on SmolLM2-135M (fetched by scripts/fetch-models.sh), a logit
-- difference, and residual-stream patching at the position where the prompts differ, one
-- layer at a time, the way a TransformerLens notebook does it.
--   fp run scripts/demo.lua [--model NAME_OR_PATH]
local model_name = "smollm2-135m"
for i = 1, #arg do if arg[i] == "--model" then model_name = arg[i + 1] end end

local t0 = fp.time()
local model = fp.load_model(model_name)
print(string.format("%s: %d layers, d_model %d, %d heads (loaded in %.2f s; BLAS %s, %d threads)",
  model.cfg.model_name, model.cfg.n_layers, model.cfg.d_model, model.cfg.n_heads, fp.time() - t0,
  fp.config().blas_core, fp.config().threads))

local clean = "After John and Mary went to the store, Mary gave a bottle of milk to"
local corrupt = "After John and Mary went to the store, John gave a bottle of milk to"
local clean_toks, corrupt_toks = model:to_tokens(clean), model:to_tokens(corrupt)
local datasets = require "fp.datasets"
local john, mary = datasets.answer_token(model, " John", "demo.lua"), datasets.answer_token(model, " Mary", "demo.lua")

local function logit_diff(logits) return logits[{ 0, -1, john }] - logits[{ 0, -1, mary }] end

local clean_logits, cache = model:run_with_cache(clean_toks, {
  names_filter = function(name) return name:find("hook_resid_pre", 1, true) ~= nil end })
local corrupt_logits = model:forward(corrupt_toks)
local clean_diff, corrupt_diff = logit_diff(clean_logits), logit_diff(corrupt_logits)
print(string.format("logit diff (' John' - ' Mary'): clean %.3f, corrupted %.3f", clean_diff, corrupt_diff))

-- the position where the two prompts differ (the second name)
local pos
for p = 0, clean_toks.shape[2] - 1 do
  if clean_toks[{ 0, p }] ~= corrupt_toks[{ 0, p }] then pos = p break end
end
print(string.format("patching the clean residual stream into the corrupted run at position %d (%q):",
  pos, model:to_str_tokens(clean)[pos + 1]))

t0 = fp.time()
for layer = 0, model.cfg.n_layers - 1 do
  local name = "blocks." .. layer .. ".hook_resid_pre"
  local patched = model:run_with_hooks(corrupt_toks, { fwd_hooks = { { name, function(act)
    act[{ 0, pos }] = cache[name][{ 0, pos }]
  end } } })
  local normalized = (logit_diff(patched) - corrupt_diff) / (clean_diff - corrupt_diff)
  print(string.format("  layer %2d  %6.3f  %s", layer, normalized, string.rep("#", math.max(0, math.floor(normalized * 40 + 0.5)))))
end
print(string.format("%d patched runs in %.2f s", model.cfg.n_layers, fp.time() - t0))

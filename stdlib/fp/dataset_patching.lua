-- Activation patching over a dataset of prompt pairs, one item per pair, on this shard's items
-- (fp.shard), each result saved as soon as it is computed (a rerun skips it):
--
--   local dp = require "fp.dataset_patching"
--   local merged = dp.run(model, pairs, "attn_head_out_all_pos", { out = opts.out, model = opts.model,
--                          settings = { n = n, seed = seed } })
--
-- pairs: a list of { clean = text, corrupted = text, answer = id, wrong = id } (fp.datasets.ioi
-- items work through opts.pair). sweep: the name of an fp.patching sweep (resid_pre, resid_mid,
-- resid_post, attn_out, mlp_out, attn_head_out_all_pos, attn_head_out_by_pos,
-- attn_head_pattern_all_pos). For each pair the metric is the normalized logit difference
-- (answer - wrong; 0 = the corrupted run, 1 = the clean run) at the last position, and the saved
-- result is { clean_logit_diff, corrupted_logit_diff, effects = the sweep's tensor } plus
-- opts.extra(pair) (a table of strings and numbers). Returns the merged results when the run is
-- not sharded (also written to out/results.json and results.npz), nil for one shard of several
-- (fp merge out joins them).
-- opts: out (required), model (name or path: its files' hash goes into the manifest), settings,
--       key = fn(pair, i), cost = fn(pair, i) (default: the clean prompt's token count),
--       pair = fn(item) -> pair, extra = fn(pair) -> table
local fp = require "fp"
local patching = require "fp.patching"
local raise = require("fp.errors").raise

local M = {}

-- The clean-cache hook points each sweep reads.
local cached = {
  resid_pre = "hook_resid_pre", resid_mid = "hook_resid_mid", resid_post = "hook_resid_post",
  attn_out = "hook_attn_out", mlp_out = "hook_mlp_out",
  attn_head_out_all_pos = "attn.hook_z", attn_head_out_by_pos = "attn.hook_z",
  attn_head_pattern_all_pos = "attn.hook_pattern",
}

local allowed = { out = true, model = true, settings = true, key = true, cost = true, pair = true, extra = true }

function M.run(model, items, sweep, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not allowed[k] then raise("dataset_patching.run: unknown option '" .. tostring(k) .. "' (out, model, settings, key, cost, pair, extra)") end
  end
  local point = cached[sweep]
  if not point then raise("dataset_patching.run: sweep must be the name of an fp.patching sweep (e.g. attn_head_out_all_pos), got " .. tostring(sweep)) end
  if type(opts.out) ~= "string" then raise("dataset_patching.run: opts.out (the results folder) is required") end
  local as_pair = opts.pair or function(x) return x end
  local pairs_ = {}
  for i, item in ipairs(items) do
    local p = as_pair(item)
    if type(p) ~= "table" or type(p.clean) ~= "string" or type(p.corrupted) ~= "string" or type(p.answer) ~= "number" or type(p.wrong) ~= "number" then
      raise(string.format("dataset_patching.run: pair %d must have clean and corrupted texts and answer and wrong token ids", i))
    end
    pairs_[i] = p
  end
  local settings = {}
  for k, v in pairs(opts.settings or {}) do settings[k] = v end
  settings.sweep = sweep
  local run = fp.shard.open(opts.out, { settings = settings, model = opts.model })
  local cost = opts.cost or function(p) return model:to_tokens(p.clean).shape[2] end
  local key = opts.key or function(_, i) return string.format("pair-%05d", i - 1) end
  for p, k in run:items(pairs_, { key = key, cost = cost }) do
    local clean_toks, corrupted_toks = model:to_tokens(p.clean), model:to_tokens(p.corrupted)
    if clean_toks.shape[2] ~= corrupted_toks.shape[2] then
      raise(string.format("dataset_patching.run: item %s: the clean and corrupted prompts have %d and %d tokens", k, clean_toks.shape[2], corrupted_toks.shape[2]))
    end
    local function diff(logits) return fp.item(logits[{ 0, -1, p.answer }] - logits[{ 0, -1, p.wrong }]) end
    local clean_logits, clean_cache = model:run_with_cache(clean_toks,
      { names_filter = function(name) return name:sub(-#point) == point end })
    local clean_diff = diff(clean_logits)
    local corrupted_diff = diff(model:forward(corrupted_toks, { positions = { -1 } }))
    local function normalized(logits) return (diff(logits) - corrupted_diff) / (clean_diff - corrupted_diff) end
    local effects = patching[sweep](model, corrupted_toks, clean_cache, normalized, { positions = { -1 } })
    local result = opts.extra and opts.extra(p) or {}
    result.clean_logit_diff, result.corrupted_logit_diff, result.effects = clean_diff, corrupted_diff, effects
    run:save(k, result)
  end
  return run:finish(), run
end

return M

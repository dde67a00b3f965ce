-- Bad-input corpus: activation patching (fp.patching), the activation cache (fp.cache) and
-- KV caches, including caches used after free.
local fp = require "fp"
local patching = require "fp.patching"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")
local logits, cache = m:run_with_cache(toks)
local metric = function(l) return l[{ 0, -1, 0 }] end

bad("patching: tokens not a tensor", function() return patching.resid_pre(m, { 1, 2 }, cache, metric) end, "patching: corrupted tokens must be an int tensor of shape [batch, pos]")
bad("patching: float tokens", function() return patching.resid_pre(m, fp.zeros(1, 4), cache, metric) end, "patching: corrupted tokens must be an int tensor of shape [batch, pos]")
bad("patching: batch of 2 with a cache of 1", function() return patching.resid_pre(m, fp.zeros(2, 4, "int"), cache, metric) end, "patching: the clean cache's 'blocks.0.hook_resid_pre' is for 1 prompt(s) of 4 positions, the corrupted tokens are 2 of 4")
bad("patching: cache not a table", function() return patching.resid_pre(m, toks, 3, metric) end, "patching: clean_cache must be the cache from run_with_cache")
bad("patching: metric not a function", function() return patching.resid_pre(m, toks, cache, "x") end, "patching: metric must be a function(logits) -> number")
bad("patching: metric returns a string", function() return patching.attn_out(m, toks, cache, function() return "x" end) end, "patching: metric must return a number or a one-element tensor, got x")
bad("patching: metric throws", function() return patching.mlp_out(m, toks, cache, function() error("metric boom") end) end, "metric boom")
bad("patching: metric returns a whole tensor", function() return patching.resid_post(m, toks, cache, function(l) return l end) end, "patching: metric must return a number or a one-element tensor")
bad("patching: cache missing the point", function()
  local _, small = m:run_with_cache(toks, { names_filter = "blocks.0.hook_resid_pre" })
  return patching.resid_mid(m, toks, small, metric)
end, "patching: the clean cache has no")
bad("patching: model not a model", function() return patching.resid_pre({}, toks, cache, metric) end, "patching: model must be a model from fp.load_model, got table")
bad("patching: generic with a bad hook name function", function()
  return patching.generic(m, toks, cache, metric, function() return "nope" end, { { 0 } })
end, "patching: the clean cache has no 'nope'")
bad("patching: path with no receivers", function() return patching.path(m, toks, cache, metric, nil, nil) end, "patching.path: senders and receivers must be lists")
bad("patching: interrupted by a metric error midway", function()
  local n = 0
  return patching.attn_head_out_all_pos(m, toks, cache, function(l) n = n + 1; if n == 3 then error("third cell") end return 0 end)
end, "third cell")

-- activation cache
bad("cache: act of an unknown name", function() return cache:act("nonsense", 0) end, "is not in this cache")
bad("cache: act with a layer of the wrong type", function() return cache:act("resid_pre", "x") end, "act_name: layer must be an integer, got string")
bad("cache: stack_head_results bad layer", function() return cache:stack_head_results(-99) end, "stack_head_results: layer must be an integer from 0 to 2 (n_layers: the final residual) or from -3 to -1 counting from the end, got -99")
bad("cache: decompose_resid past the last layer", function() return cache:decompose_resid(99) end, "decompose_resid: layer must be an integer from 0 to 2")
bad("cache: accumulated_resid fractional layer", function() return cache:accumulated_resid(1.5) end, "accumulated_resid: layer must be an integer from 0 to 2")
bad("cache: logit_attrs wrong tokens", function() return cache:logit_attrs(cache:decompose_resid(), "x") end, "logit_attrs: tokens must be a token id or a tensor of ids, got string")
bad("cache: apply_ln_to_stack with a non-tensor", function() return cache:apply_ln_to_stack({}, 1) end, "apply_ln_to_stack: stack must be a tensor, got table")
bad("run_with_cache: bad pos_slice", function() return m:run_with_cache(toks, { pos_slice = "x" }) end, "run_with_cache: pos_slice must be a position or a {start, stop} range")
bad("cache used after free", function()
  local _, c = m:run_with_cache(toks)
  local resid = c["blocks.0.hook_resid_post"]
  c:free()
  return resid:sum()
end, "freed")
bad("cache method after free", function()
  local _, c = m:run_with_cache(toks)
  c:free()
  return c:accumulated_resid()
end, "ActivationCache: 'blocks.0.hook_resid_pre' is not in this cache")
-- KV caches
bad("kv_cache: batch mismatch", function()
  local kv = m:kv_cache(fp.zeros(2, 3, "int"))
  return m:forward(fp.zeros(3, 1, "int"), { past = kv })
end, "forward: the prefix holds 3 positions for batch 2; asked for 3 with batch 3")
bad("kv_cache: from another model", function()
  local kv = fp.load_model("Tests/fixtures/models/llama-tiny"):kv_cache(toks)
  return m:forward(toks, { past = kv })
end, "cannot be expanded")
bad("kv_cache: overflow the context", function()
  local kv = m:kv_cache(toks)
  return m:forward(fp.zeros(1, m.cfg.n_ctx, "int"), { past = kv })
end, "forward: " .. (m.cfg.n_ctx + 4) .. " positions exceed the model's context of " .. m.cfg.n_ctx)
bad("kv_cache: index with a bad key", function() local kv = m:kv_cache(toks); return kv[3] end, "bad argument #2")

bad("patching.attribution: metric not a function", function() return patching.attribution(m, toks, toks, 3, "resid_pre") end,
  "attribution: metric must be a function(logits) -> one-element tensor")
bad("patching.attribution: hook_names not a name or list", function()
  return patching.attribution(m, toks, toks, function(l) return l:sum() end, {}) end, "attribution: hook_names must be a hook name")

-- Attribution patching (first-order activation patching): for each hook point, the estimated
-- change of metric(logits) when the clean activation is patched into the corrupted run is
--     (clean_act - corrupted_act) . d metric / d corrupted_act
-- from one clean run (cached), and one corrupted forward + one backward pass.
--   local attribution = require "fp.attribution"
--   local r = attribution.attribution(model, clean_toks, corrupted_toks, metric, "resid_pre")   -- [layer, pos]
--   local r = attribution.attribution(model, clean_toks, corrupted_toks, metric, { "blocks.3.attn.hook_z" })
--     -> { ["blocks.3.attn.hook_z"] = [pos, head] }
-- metric(logits) returns a one-element tensor on the corrupted run (it is differentiated), e.g.
--   function(logits) return logits[{0, -1, a}] - logits[{0, -1, b}] end
-- Reductions per hook shape: [batch, pos, d] -> [pos]; [batch, pos, head, d] -> [pos, head];
-- patterns and scores [batch, head, q, k] -> [head, q, k] (batch summed everywhere).
-- opts.clean_hooks / opts.corrupted_hooks: fwd_hooks applied to the clean / corrupted runs.
local fp = require "fp"
local raise = require("fp.errors").raise
local M = {}

local SHORT = { resid_pre = true, resid_mid = true, resid_post = true, attn_out = true, mlp_out = true }

local function expand_names(model, names)
  if type(names) == "string" then
    if SHORT[names] then
      local out = {}
      for l = 0, model.cfg.n_layers - 1 do out[#out + 1] = "blocks." .. l .. ".hook_" .. names end
      return out, true
    end
    return { names }, false
  end
  if type(names) ~= "table" or #names == 0 then
    raise("attribution: hook_names must be a hook name, a list of names or one of resid_pre, resid_mid, resid_post, attn_out, mlp_out")
  end
  return names, false
end

local function reduce(name, t)
  if name:find("hook_pattern", 1, true) or name:find("hook_attn_scores", 1, true) then
    return t:sum(0)
  end
  if t:dim() == 4 then return t:sum(3):sum(0) end
  if t:dim() == 3 then return t:sum(2):sum(0) end
  return t:sum(0)
end

function M.attribution(model, clean, corrupted, metric, hook_names, opts)
  opts = require("fp.errors").check_options("attribution", opts, { "clean_hooks", "corrupted_hooks", "attention_mask" })
  if type(metric) ~= "function" then raise("attribution: metric must be a function(logits) -> one-element tensor") end
  local names, stacked = expand_names(model, hook_names)
  local want = {}
  for _, n in ipairs(names) do want[n] = true end
  local _, clean_cache = fp.no_grad(function()
    return model:run_with_cache(clean, { names_filter = names, fwd_hooks = opts.clean_hooks })
  end)
  local acts, grads = {}, {}
  local fwd = {}
  for _, h in ipairs(opts.corrupted_hooks or {}) do fwd[#fwd + 1] = h end
  local bwd = {}
  for _, n in ipairs(names) do
    fwd[#fwd + 1] = { n, function(act) acts[n] = act:detach():clone() end }
    bwd[#bwd + 1] = { n, function(g) grads[n] = g:clone() end }
  end
  local logits = model:run_with_hooks(corrupted, { fwd_hooks = fwd, bwd_hooks = bwd, attention_mask = opts.attention_mask })
  local m = metric(logits)
  if not (fp.is_tensor(m) and m:numel() == 1 and m.needs_grad) then
    raise("attribution: metric must return a one-element tensor computed from the logits (got " .. tostring(m) .. ")")
  end
  m:reshape({}):backward()
  local out = {}
  for _, n in ipairs(names) do
    local c = clean_cache[n]
    if not c then raise("attribution: no clean activation for '" .. n .. "'") end
    local g = grads[n]
    if not g then raise("attribution: no gradient reached '" .. n .. "' (does the metric depend on it?)") end
    out[n] = reduce(n, (c - acts[n]) * g)
  end
  if stacked then
    local rows = {}
    for i, n in ipairs(names) do rows[i] = out[n] end
    return fp.stack(rows, 0)
  end
  return out
end

setmetatable(M, { __call = function(_, ...) return M.attribution(...) end })
return M

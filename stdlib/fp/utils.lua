-- Small helpers that interpretability notebooks use (TransformerLens utils and friends).
local fp = require "fp"
local raise = require("fp.errors").raise

local M = {}

-- The k largest entries of a tensor of any shape: values (a 1-D tensor) and their 0-based
-- multi-indices as Lua lists, largest first (TransformerLens's topk_of_Nd_tensor).
--   local v, where = utils.topk_nd(head_scores, 3)   -- where[1] = {layer, head}
function M.topk_nd(t, k, opts)
  if not fp.is_tensor(t) then raise("topk_nd: argument 1 must be a tensor, got " .. type(t)) end
  opts = require("fp.errors").check_options("topk_nd", opts, { "largest" })
  local largest = opts.largest ~= false
  local values, flat = t:reshape(-1):topk(k, { largest = largest })
  local shape, where = t.shape, {}
  for i = 0, flat:numel() - 1 do
    local rest, idx = flat[{ i }], {}
    for d = #shape, 1, -1 do
      idx[d] = rest % shape[d]
      rest = rest // shape[d]
    end
    where[#where + 1] = idx
  end
  return values, where
end

-- logits[:, pos, a] - logits[:, pos, b] averaged over the batch (pos defaults to -1).
-- a and b are token ids or int tensors of one id per prompt; { per_prompt = true } returns the
-- per-prompt differences as a tensor.
function M.logit_diff(logits, a, b, opts)
  opts = require("fp.errors").check_options("logit_diff", opts, { "pos", "per_prompt" })
  local pos = opts.pos or -1
  local last = logits[{ {}, pos }]                      -- [batch, vocab]
  local function pick(tok)
    if type(tok) == "number" then return last[{ {}, tok }] end
    if not fp.is_tensor(tok) then raise("logit_diff: token ids must be numbers or int tensors, got " .. type(tok)) end
    return last:gather(1, tok:reshape(-1, 1)):reshape(-1)
  end
  local d = pick(a) - pick(b)
  if opts.per_prompt then return d end
  return d:mean()
end

-- Token strings with their 0-based position, for plot labels: {"After_0", " John_1", ...}.
function M.position_labels(model, input, opts)
  local toks = model:to_str_tokens(input, opts)
  local out = {}
  for i, t in ipairs(toks) do out[i] = t .. "_" .. (i - 1) end
  return out
end

return M

-- Model methods written in Lua, installed into fp.Model when fp starts (fp loads this module
-- after its own). Swift does the numbers; these only arrange runs.
local fp = require "fp"
local raise = require("fp.errors").raise
local Model = fp.Model

-- model:batch(items): several inputs with their own hooks as one batched forward pass
-- (nnsight's invoke idea). items = { {input = tokens_or_text, hooks = { {name, fn}, ... }}, ... }.
-- A hook is fn(act, hook) with act the item's own slice [1, ...] of the activation (edits count,
-- a returned tensor replaces it); hook.item is the item's 1-based number and hook.of(j) is item
-- j's slice at the same hook point in the same pass (items run their hooks in order, so an
-- earlier item's activation is final when a later item reads it: patching clean into corrupted
-- is item 2 reading hook.of(1)). Prompts of different lengths are left-padded with a mask.
-- Returns one logits tensor [1, pos, vocab] per item, in order.
function Model:batch(items, opts)
  opts = require("fp.errors").check_options("batch", opts, { "prepend_bos", "positions" })
  if type(items) ~= "table" or #items == 0 then raise("batch: expected a list of {input = ..., hooks = {...}} items") end
  local rows, lengths = {}, {}
  for i, item in ipairs(items) do
    local input = item.input
    if type(input) == "string" then input = self:to_tokens(input, { prepend_bos = opts.prepend_bos }) end
    if not (fp.is_tensor(input) and input:dim() == 2 and input.shape[1] == 1) then
      raise("batch: item " .. i .. ": input must be a string or tokens of shape [1, pos]")
    end
    rows[i], lengths[i] = input, input.shape[2]
  end
  local P = math.max(table.unpack(lengths))
  local padded, mask = {}, nil
  local ragged = false
  for i = 1, #rows do if lengths[i] ~= P then ragged = true end end
  if ragged then
    mask = fp.zeros(#rows, P, "int")
    for i, r in ipairs(rows) do
      local pad = P - lengths[i]
      padded[i] = fp.cat({ fp.zeros(1, pad, "int"), r }, 1)
      mask[{ i - 1, { pad } }] = 1
    end
  else
    padded = rows
  end
  local tokens = fp.cat(padded, 0)
  -- one hook per hook point, dispatching to the items' hooks in item order
  local by_name, order = {}, {}
  for i, item in ipairs(items) do
    for k, pair in ipairs(item.hooks or {}) do
      local name, fn = pair[1], pair[2]
      if type(name) ~= "string" or type(fn) ~= "function" then
        raise("batch: item " .. i .. ", hook " .. k .. ": expected {name, function(act, hook)}")
      end
      if not by_name[name] then by_name[name] = {}; order[#order + 1] = name end
      table.insert(by_name[name], { item = i, fn = fn })
    end
  end
  local fwd = {}
  for _, name in ipairs(order) do
    fwd[#fwd + 1] = { name, function(act, hook)
      local function of(j) return act[{ { j - 1, j } }] end
      for _, h in ipairs(by_name[name]) do
        local r = h.fn(of(h.item), { name = hook.name, layer = hook.layer, item = h.item, of = of })
        if r ~= nil then of(h.item):copy_(r) end
      end
    end }
  end
  local logits = self:run_with_hooks(tokens, { fwd_hooks = fwd, attention_mask = mask, positions = opts.positions })
  local out = {}
  for i = 1, #items do out[i] = logits[{ { i - 1, i } }] end
  return out
end

-- fp.optim and fp.nn (optimizers, schedules, parametrizations) live in stdlib/fp/{optim,nn}.lua.
fp.optim = require "fp.optim"
fp.nn = require "fp.nn"

-- t:show(opts): the tensor as a heatmap in the terminal (fp.plot.term; same options).
function fp.Tensor.show(t, opts) require("fp.plot").term(t, opts) end

-- fp.save also writes result tables: .json (fp.json) and .csv (fp.csv). See fp.results.
require "fp.results"

-- fp.display(x, ...): shows values now (inline outputs in Jupyter; printed elsewhere). See fp.display.
function fp.display(...) return require("fp.display").display(...) end
-- Sparse dictionaries (SAEs, transcoders): fp.load_sae, model:add_sae, ... (stdlib/fp/sae.lua).
fp.sae = require "fp.sae"
fp.load_sae = fp.sae.load

-- einops: fp.rearrange, fp.reduce, fp.repeat_ (stdlib/fp/einops.lua; `repeat` is a Lua keyword).
do
  local einops = require "fp.einops"
  fp.rearrange, fp.reduce, fp.repeat_ = einops.rearrange, einops.reduce, einops.repeat_
end

-- ActivationCache methods for the table that model:run_with_cache returns (names -> tensors),
-- in TransformerLens's names: cache["blocks.3.hook_resid_pre"], cache:act("pattern", 9),
-- cache:keys(), accumulated_resid, decompose_resid, stack_head_results,
-- get_full_resid_decomposition, apply_ln_to_stack, logit_attrs, free.
-- Components are stacked along a new first dim, as in TransformerLens: [component, batch, pos, d_model].
local fp = require "fp"
local raise = require("fp.errors").raise

local M = {}
local methods = {}
local model_of = setmetatable({}, { __mode = "k" })   -- cache -> model (weak keys)
local filtered = setmetatable({}, { __mode = "k" })   -- cache -> true when run_with_cache had a names_filter

local get

-- Methods first; then a TransformerLens short name of one of the model's hook points
-- (cache["pattern0"], cache["embed"]) is looked up as cache:act would (an error when the run left
-- it out); any other missing key is nil, as in a plain table.
local meta = { __name = "fp.ActivationCache", __methods = methods, __index = function(cache, key)
  local m = methods[key]
  if m ~= nil then return m end
  if type(key) == "string" and not key:find(".", 1, true) and key:sub(1, 5) ~= "hook_" then
    local ok, name = pcall(require("fp.utils").act_name, key)
    local model = model_of[cache]
    if ok and name ~= key and model then
      for _, n in ipairs(model:hook_points()) do if n == name then return get(cache, name) end end
    end
  end
  return nil
end }

-- Makes a plain name -> tensor table an ActivationCache of `model`; was_filtered: the run kept
-- only the hook points a names_filter chose (so a missing valid name was filtered out).
function M.wrap(cache, model, was_filtered)
  model_of[cache] = model
  filtered[cache] = was_filtered or nil
  return setmetatable(cache, meta)
end

local function model(cache)
  local m = model_of[cache]
  if not m then raise("ActivationCache: this cache has no model (make it with model:run_with_cache)") end
  return m
end

-- The `layer` argument of the decompositions: an integer in [0, n_layers], n_layers (or nil) being
-- the final residual stream (the unembed's input). Negative values count from the end of that
-- range, so -1 is n_layers as in TransformerLens, -2 is n_layers - 1.
local function layer_arg(fn, layer, L)
  if layer == nil then return L end
  if math.type(layer) ~= "integer" or layer < -(L + 1) or layer > L then
    raise(fn .. ": layer must be an integer from 0 to " .. L .. " (n_layers: the final residual) or from -" .. (L + 1) .. " to -1 counting from the end, got " .. tostring(layer))
  end
  if layer < 0 then return L + 1 + layer end
  return layer
end

-- fp.utils.act_name (TransformerLens's utils.get_act_name), kept here for older scripts.
function M.act_name(name, layer, layer_type) return require("fp.utils").act_name(name, layer, layer_type) end

-- A missing name: a valid hook point the run did not keep (names_filter, or a point the run never
-- reaches), or a name no model point has (then the nearest valid names).
get = function(cache, name)
  local t = rawget(cache, name)
  if t == nil then
    local m = model_of[cache]
    local why = filtered[cache] and " (it was filtered out by names_filter: add it to names_filter in run_with_cache)"
                                 or " (this run did not record it)"
    if m then
      local points = m:hook_points()
      local valid = false
      for _, n in ipairs(points) do if n == name then valid = true end end
      if not valid then why = ": the model has no such hook point" .. fp._hook_name_hint(name, points) end
    end
    raise("ActivationCache: '" .. name .. "' is not in this cache" .. why)
  end
  return t
end

-- cache:act(name, layer, layer_type): TransformerLens's cache[name, layer, layer_type]; short
-- names as fp.utils.act_name; a negative layer counts from the end (-1: the last layer).
function methods:act(name, layer, layer_type)
  if math.type(layer) == "integer" and layer < 0 then
    local L = model(self).cfg.n_layers
    if layer < -L then raise("ActivationCache:act: layer " .. layer .. " is out of range for " .. L .. " layers") end
    layer = L + layer
  end
  return get(self, M.act_name(name, layer, layer_type))
end

function methods:keys()
  local ks = {}
  for k in pairs(self) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

function methods:free()
  for k, t in pairs(self) do t:free(); self[k] = nil end
end

-- pos_slice: nil (all), an integer (one position, kept as a dim of size 1 like TL's Slice(-1)
-- would drop it: here it is dropped), or a range table {a, b}.
local function slice_pos(t, pos_slice, pos_dim)
  if pos_slice == nil then return t end
  local idx = {}
  for d = 1, pos_dim do idx[d] = {} end
  idx[pos_dim + 1] = pos_slice
  return t[idx]
end

local function stack(parts) return fp.stack(parts, 0) end

-- Residual stream at the start of each layer up to `layer` (n_layers or nil: also the final
-- residual), with resid_mid between when incl_mid. Returns stack [C, batch, pos, d] and labels.
function methods:accumulated_resid(layer, incl_mid, pos_slice, apply_ln)
  local m = model(self)
  local L = m.cfg.n_layers
  layer = layer_arg("accumulated_resid", layer, L)
  local parts, labels = {}, {}
  for l = 0, math.min(layer, L) - 1 do
    parts[#parts + 1] = get(self, "blocks." .. l .. ".hook_resid_pre"); labels[#labels + 1] = l .. "_pre"
    if incl_mid then
      parts[#parts + 1] = get(self, "blocks." .. l .. ".hook_resid_mid"); labels[#labels + 1] = l .. "_mid"
    end
  end
  if layer >= L then
    parts[#parts + 1] = get(self, "blocks." .. (L - 1) .. ".hook_resid_post"); labels[#labels + 1] = "final_post"
  end
  local s = slice_pos(stack(parts), pos_slice, 2)
  if apply_ln then s = self:apply_ln_to_stack(s, layer, nil, pos_slice) end
  return s, labels
end

-- The residual stream before `layer` (nil: the final one) as embed (+ pos_embed) and each
-- earlier layer's attention and MLP outputs; they sum to it. mlp_input: include layer's attn_out.
function methods:decompose_resid(layer, mlp_input, incl_embeds, pos_slice, apply_ln)
  local m = model(self)
  local L = m.cfg.n_layers
  layer = layer_arg("decompose_resid", layer, L)
  if incl_embeds == nil then incl_embeds = true end
  local parts, labels = {}, {}
  if incl_embeds then
    parts[#parts + 1] = get(self, "hook_embed"); labels[#labels + 1] = "embed"
    if rawget(self, "hook_pos_embed") or m.cfg.positional_embedding_type == "standard" then
      parts[#parts + 1] = get(self, "hook_pos_embed"); labels[#labels + 1] = "pos_embed"
    end
  end
  for l = 0, math.min(layer, L) - 1 do
    parts[#parts + 1] = get(self, "blocks." .. l .. ".hook_attn_out"); labels[#labels + 1] = l .. "_attn_out"
    parts[#parts + 1] = get(self, "blocks." .. l .. ".hook_mlp_out"); labels[#labels + 1] = l .. "_mlp_out"
  end
  if mlp_input and layer < L then
    parts[#parts + 1] = get(self, "blocks." .. layer .. ".hook_attn_out"); labels[#labels + 1] = layer .. "_attn_out"
  end
  local s = slice_pos(stack(parts), pos_slice, 2)
  if apply_ln then s = self:apply_ln_to_stack(s, layer, mlp_input, pos_slice) end
  return s, labels
end

-- Per-head outputs of every layer before `layer`: [layer * n_heads, batch, pos, d], labels "L0H3".
-- Uses hook_result when cached, else z @ W_O (the same numbers).
function methods:stack_head_results(layer, pos_slice, apply_ln)
  local m = model(self)
  local L, H = m.cfg.n_layers, m.cfg.n_heads
  layer = layer_arg("stack_head_results", layer, L)
  local parts, labels = {}, {}
  for l = 0, math.min(layer, L) - 1 do
    local result = rawget(self, "blocks." .. l .. ".attn.hook_result")
    if not result then
      result = fp.einsum("b p h d, h d m -> b p h m", get(self, "blocks." .. l .. ".attn.hook_z"), m.blocks[l].attn.W_O)
    end
    for h = 0, H - 1 do
      parts[#parts + 1] = result[{ {}, {}, h }]
      labels[#labels + 1] = "L" .. l .. "H" .. h
    end
  end
  -- before layer 0 there are no heads: an empty stack shaped like the residual stream
  if #parts == 0 then
    local e = get(self, "hook_embed")
    parts, labels = nil, {}
    local s = slice_pos(fp.zeros(0, table.unpack(e.shape)), pos_slice, 2)
    if apply_ln then s = self:apply_ln_to_stack(s, layer, nil, pos_slice) end
    return s, labels
  end
  local s = slice_pos(stack(parts), pos_slice, 2)
  if apply_ln then s = self:apply_ln_to_stack(s, layer, nil, pos_slice) end
  return s, labels
end

-- Every component of the residual stream before `layer`: each head's result, each MLP output
-- (or each neuron's contribution with expand_neurons), the embeddings, and all biases summed.
function methods:get_full_resid_decomposition(layer, expand_neurons, pos_slice, apply_ln)
  local m = model(self)
  local L = m.cfg.n_layers
  layer = layer_arg("get_full_resid_decomposition", layer, L)
  local heads, labels = self:stack_head_results(layer)
  local parts = {}
  for i = 0, heads.shape[1] - 1 do parts[#parts + 1] = heads[{ i }] end
  local bias = fp.zeros(m.cfg.d_model)
  for l = 0, math.min(layer, L) - 1 do
    if expand_neurons then
      local post = get(self, "blocks." .. l .. ".mlp.hook_post")
      local W_out = m.blocks[l].mlp.W_out
      local neurons = fp.einsum("b p n, n m -> n b p m", post, W_out)
      for n = 0, neurons.shape[1] - 1 do parts[#parts + 1] = neurons[{ n }]; labels[#labels + 1] = "L" .. l .. "N" .. n end
      bias = bias + m.blocks[l].mlp.b_out
    else
      parts[#parts + 1] = get(self, "blocks." .. l .. ".hook_mlp_out"); labels[#labels + 1] = l .. "_mlp_out"
    end
    bias = bias + m.blocks[l].attn.b_O
  end
  parts[#parts + 1] = get(self, "hook_embed"); labels[#labels + 1] = "embed"
  if m.cfg.positional_embedding_type == "standard" then
    parts[#parts + 1] = get(self, "hook_pos_embed"); labels[#labels + 1] = "pos_embed"
  end
  parts[#parts + 1] = bias:expand(parts[1].shape); labels[#labels + 1] = "bias"
  local s = slice_pos(stack(parts), pos_slice, 2)
  if apply_ln then s = self:apply_ln_to_stack(s, layer, nil, pos_slice) end
  return s, labels
end

-- Applies the layer norm that reads the residual stream at `layer` (nil/n_layers: ln_final;
-- mlp_input: ln2) to each component: centered (LayerNorm only) and divided by the cached scale
-- of the whole stream, as TransformerLens does (it assumes the norm weights are folded).
function methods:apply_ln_to_stack(stack, layer, mlp_input, pos_slice)
  if not fp.is_tensor(stack) then raise("apply_ln_to_stack: stack must be a tensor, got " .. type(stack)) end
  local m = model(self)
  local L = m.cfg.n_layers
  layer = layer_arg("apply_ln_to_stack", layer, L)
  local scale
  if layer >= L then scale = get(self, "ln_final.hook_scale")
  elseif m.cfg.normalization_position == "post" then
    -- (OLMo 2) ln1 / ln2 normalize the attention and MLP outputs: no norm reads the residual stream
    raise("apply_ln_to_stack: " .. m.cfg.family .. " has no norm on the residual stream inside a block (its norms come after attention and the MLP); only layer = n_layers (ln_final) applies")
  else scale = get(self, "blocks." .. layer .. "." .. (mlp_input and "ln2" or "ln1") .. ".hook_scale") end
  scale = slice_pos(scale, pos_slice, 1)
  if m.cfg.normalization_type == "LN" then stack = stack - stack:mean(-1, true) end
  return stack / scale
end

-- Logit attribution of each component, as TransformerLens's ActivationCache.logit_attrs: the
-- stack is first scaled by ln_final's cached scale (apply_ln_to_stack at the final layer, with
-- opts.pos_slice when the stack was sliced to those positions), then dotted with W_U[:, tokens]
-- (minus W_U[:, incorrect_tokens] when given). Like TransformerLens it does not multiply by
-- ln_final.w (it assumes fold_ln); opts.apply_ln = false (an fp extension) skips the scaling for a
-- stack already scaled by hand. tokens: an id, a tensor of ids per batch item [batch], or per
-- batch item and position [batch, pos]. stack: [C, batch, pos, d] or, after an integer
-- pos_slice, [C, batch, d].
function methods:logit_attrs(stack, tokens, incorrect_tokens, opts)
  opts = require("fp.errors").check_options("logit_attrs", opts, { "pos_slice", "apply_ln" })
  if opts.apply_ln ~= nil and type(opts.apply_ln) ~= "boolean" then
    raise("logit_attrs: apply_ln must be a boolean, got " .. type(opts.apply_ln))
  end
  if not fp.is_tensor(stack) then raise("logit_attrs: stack must be a tensor, got " .. type(stack)) end
  local m = model(self)
  local W_U = m.W_U
  local d = m.cfg.d_model
  local function dirs(t)
    if type(t) == "number" then return W_U[{ {}, t }] end
    if not fp.is_tensor(t) then raise("logit_attrs: tokens must be a token id or a tensor of ids, got " .. type(t)) end
    local shape = t.shape
    local cols = W_U:index_select(1, t:reshape(-1)):T()          -- [n, d_model]
    shape[#shape + 1] = d
    return cols:reshape(table.unpack(shape))
  end
  local dir = dirs(tokens)
  if incorrect_tokens ~= nil then dir = dir - dirs(incorrect_tokens) end
  if opts.apply_ln ~= false then
    -- a [C, batch, d] stack was sliced to one position: without that position the scale
    -- [batch, pos, 1] would broadcast against it silently
    if stack:dim() == 3 and math.type(opts.pos_slice) ~= "integer" then
      raise("logit_attrs: a stack without a position dimension ([component, batch, d_model]) needs { pos_slice = P }, the position it was sliced to (TransformerLens's pos_slice), or { apply_ln = false } if it is already scaled")
    end
    stack = self:apply_ln_to_stack(stack, nil, false, opts.pos_slice)
  end
  if dir:dim() == 1 then return stack:matmul(dir) end
  if dir:dim() == 2 then                                      -- per batch item [batch, d]
    if stack:dim() == 4 then return fp.einsum("c b p d, b d -> c b p", stack, dir) end
    if stack:dim() == 3 then return fp.einsum("c b d, b d -> c b", stack, dir) end
  elseif dir:dim() == 3 and stack:dim() == 4 then             -- per item and position [batch, pos, d]
    return fp.einsum("c b p d, b p d -> c b p", stack, dir)
  end
  local function shape(t) return "[" .. table.concat(t.shape, ", ") .. "]" end
  raise("logit_attrs: a stack of shape " .. shape(stack) .. " does not fit tokens of shape " .. shape(tokens))
end

return M

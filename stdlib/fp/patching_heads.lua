-- Attention-head patching sweeps on queries, keys, values and patterns: the rest of
-- TransformerLens's transformer_lens.patching.get_act_patch_attn_head_* (patching.lua has the
-- residual-stream sweeps and the head-output / whole-pattern sweeps on the sweep engine).
--
-- Each sweep runs from the corrupted residual stream at the patched layer (start_at_layer), many
-- cells per run: cell i patches batch items i*B .. i*B+B-1 (B = number of prompts), so each cell
-- patches every prompt, as in TransformerLens, and metric(logits) sees one cell's [B, pos, vocab].
--
-- Grouped-query attention (n_key_value_heads < n_heads): hook_k / hook_v hold key-value heads, so
-- the k and v sweeps return [n_layers, n_key_value_heads] ([n_layers, pos, n_key_value_heads] by
-- position), as TransformerLens. The `_every` stacks show k and v per QUERY head (the result of
-- the key-value head that query head reads), so every column is a query head; TransformerLens pads
-- them with zeros instead.
local fp = require "fp"
local errors = require "fp.errors"
local raise = errors.raise

local OPTS = { "positions", "attention_mask", "max_batch", "progress" }

local M = {}

local function check(fname, model, tokens, cache, metric)
  local mt = getmetatable(model)
  if not (type(model) == "userdata" and type(mt) == "table" and mt.__name == "fp.Model") then
    raise(fname .. ": model must be a model from fp.load_model, got " .. type(model))
  end
  if not (fp.is_tensor(tokens) and tokens:dim() == 2 and tokens.dtype == "int64") then
    raise(fname .. ": corrupted tokens must be an int tensor of shape [batch, pos] (model:to_tokens)")
  end
  if type(cache) ~= "table" then raise(fname .. ": clean_cache must be the cache from run_with_cache") end
  if type(metric) ~= "function" then raise(fname .. ": metric must be a function(logits) -> number") end
end

local function clean_act(fname, cache, name, tokens, pos_dim)
  local t = rawget(cache, name)
  if t == nil then raise(fname .. ": the clean cache has no '" .. name .. "' (cache it with run_with_cache)") end
  if t.shape[1] ~= tokens.shape[1] or t.shape[pos_dim] ~= tokens.shape[2] then
    raise(fname .. ": the clean cache's '" .. name .. "' is for " .. t.shape[1] .. " prompt(s) of " .. t.shape[pos_dim]
      .. " positions, the corrupted tokens are " .. tokens.shape[1] .. " of " .. tokens.shape[2])
  end
  return t
end

local function metric_value(fname, metric, logits)
  local v = metric(logits)
  local ok, n = pcall(fp.item, v)
  if not ok then raise(fname .. ": metric must return a number or a one-element tensor, got " .. tostring(v)) end
  return n
end

-- A sweep over `point` ("q", "k", "v", "pattern"): cells(L) lists the cells of a layer,
-- set(act, lo, hi, clean, cell) patches batch items lo..hi-1, out_index(layer, cell) is the cell's
-- place in a result of shape `shape`.
local function sweep(fname, point, model, tokens, clean_cache, metric, opts, shape, cells, set, out_index)
  opts = errors.check_options(fname, opts, OPTS)
  check(fname, model, tokens, clean_cache, metric)
  local L, B, P = model.cfg.n_layers, tokens.shape[1], tokens.shape[2]
  local npos = opts.positions and #opts.positions or P
  -- a run's logits stay under 48 MB, as the sweep engine's passes (fp.patching's PASS_BYTES): the
  -- peak grows with one run, not with the number of cells
  local per_cell = B * npos * model.cfg.d_vocab * 4
  local max_cells = errors.check_number(fname, "max_batch", opts.max_batch, nil, { integer = true, min = 1 })
                    or math.max(1, math.min(64, (48 * 2 ^ 20) // per_cell))
  local _, corrupted = model:run_with_cache(tokens, { attention_mask = opts.attention_mask,
    names_filter = function(n) return n:find("hook_resid_pre", 1, true) ~= nil end })
  local out = fp.zeros(table.unpack(shape))
  local list = {}
  for layer = 0, L - 1 do for _, c in ipairs(cells(layer)) do list[#list + 1] = { layer, c } end end
  local tick = require("fp.progress").bar("patching heads", #list, opts.progress)
  local first = 1
  while first <= #list do
    -- one run: consecutive cells of one layer
    local layer = list[first][1]
    local last = first
    while last < #list and last - first + 1 < max_cells and list[last + 1][1] == layer do last = last + 1 end
    local n = last - first + 1
    local name = "blocks." .. layer .. ".attn.hook_" .. point
    local clean = clean_act(fname, clean_cache, name, tokens, point == "pattern" and 3 or 2)
    local resid = corrupted["blocks." .. layer .. ".hook_resid_pre"]
    local copies = {}
    for i = 1, n do copies[i] = resid end
    local run_opts = { start_at_layer = layer, positions = opts.positions, fwd_hooks = { { name, function(act)
      for i = first, last do
        local lo = (i - first) * B
        set(act, lo, lo + B, clean, list[i][2])
      end
    end } } }
    if opts.attention_mask then
      local masks = {}
      for i = 1, n do masks[i] = opts.attention_mask end
      run_opts.attention_mask = fp.cat(masks, 0)
    end
    local logits = model:run_with_hooks(fp.cat(copies, 0), run_opts)
    for i = first, last do
      local lo = (i - first) * B
      out[out_index(layer, list[i][2])] = metric_value(fname, metric, logits[{ { lo, lo + B } }])
    end
    tick(n)
    first = last + 1
  end
  return out
end

local function n_heads_of(model, point)
  if point == "k" or point == "v" then return model.cfg.n_key_value_heads end
  return model.cfg.n_heads
end

-- q / k / v of each head at every position: [n_layers, heads].
local function vector_all_pos(point)
  local fname = "patching.attn_head_" .. point .. "_all_pos"
  return function(model, tokens, clean_cache, metric, opts)
    check(fname, model, tokens, clean_cache, metric)
    local H = n_heads_of(model, point)
    local heads = {}
    for h = 0, H - 1 do heads[#heads + 1] = h end
    return sweep(fname, point, model, tokens, clean_cache, metric, opts, { model.cfg.n_layers, H },
      function() return heads end,
      function(act, lo, hi, clean, h) act[{ { lo, hi }, {}, h }] = clean[{ {}, {}, h }] end,
      function(layer, h) return { layer, h } end)
  end
end

-- q / k / v of each head at each position: [n_layers, pos, heads].
local function vector_by_pos(point)
  local fname = "patching.attn_head_" .. point .. "_by_pos"
  return function(model, tokens, clean_cache, metric, opts)
    check(fname, model, tokens, clean_cache, metric)
    local H, P = n_heads_of(model, point), tokens.shape[2]
    local cells = {}
    for p = 0, P - 1 do for h = 0, H - 1 do cells[#cells + 1] = { p, h } end end
    return sweep(fname, point, model, tokens, clean_cache, metric, opts, { model.cfg.n_layers, P, H },
      function() return cells end,
      function(act, lo, hi, clean, c) act[{ { lo, hi }, c[1], c[2] }] = clean[{ {}, c[1], c[2] }] end,
      function(layer, c) return { layer, c[1], c[2] } end)
  end
end

M.attn_head_q_all_pos = vector_all_pos("q")
M.attn_head_k_all_pos = vector_all_pos("k")
M.attn_head_v_all_pos = vector_all_pos("v")
M.attn_head_q_by_pos = vector_by_pos("q")
M.attn_head_k_by_pos = vector_by_pos("k")
M.attn_head_v_by_pos = vector_by_pos("v")

-- Each head's attention pattern row for each destination position: [n_layers, n_heads, dest_pos].
function M.attn_head_pattern_by_pos(model, tokens, clean_cache, metric, opts)
  local fname = "patching.attn_head_pattern_by_pos"
  check(fname, model, tokens, clean_cache, metric)
  local H, P = model.cfg.n_heads, tokens.shape[2]
  local cells = {}
  for h = 0, H - 1 do for d = 0, P - 1 do cells[#cells + 1] = { h, d } end end
  return sweep(fname, "pattern", model, tokens, clean_cache, metric, opts, { model.cfg.n_layers, H, P },
    function() return cells end,
    function(act, lo, hi, clean, c) act[{ { lo, hi }, c[1], c[2] }] = clean[{ {}, c[1], c[2] }] end,
    function(layer, c) return { layer, c[1], c[2] } end)
end

-- Each single pattern entry: [n_layers, n_heads, dest_pos, src_pos].
function M.attn_head_pattern_dest_src_pos(model, tokens, clean_cache, metric, opts)
  local fname = "patching.attn_head_pattern_dest_src_pos"
  check(fname, model, tokens, clean_cache, metric)
  local H, P = model.cfg.n_heads, tokens.shape[2]
  local cells = {}
  for h = 0, H - 1 do for d = 0, P - 1 do for s = 0, P - 1 do cells[#cells + 1] = { h, d, s } end end end
  return sweep(fname, "pattern", model, tokens, clean_cache, metric, opts, { model.cfg.n_layers, H, P, P },
    function() return cells end,
    function(act, lo, hi, clean, c) act[{ { lo, hi }, c[1], c[2], c[3] }] = clean[{ {}, c[1], c[2], c[3] }] end,
    function(layer, c) return { layer, c[1], c[2], c[3] } end)
end

-- k/v results per key-value head -> per query head (query head h reads kv head h // group).
local function per_query_head(model, r, head_dim)
  local H, KV = model.cfg.n_heads, model.cfg.n_key_value_heads
  if H == KV then return r end
  local idx = {}
  for h = 0, H - 1 do idx[#idx + 1] = h // (H // KV) end
  return r:index_select(head_dim, fp.tensor(idx, "int"))
end

-- TransformerLens's get_act_patch_attn_head_all_pos_every: out, q, k, v, pattern -> [5, n_layers, n_heads].
function M.attn_head_all_pos_every(model, tokens, clean_cache, metric, opts)
  local P = require "fp.patching"
  opts = errors.check_options("patching.attn_head_all_pos_every", opts, OPTS)
  return fp.stack({ P.attn_head_out_all_pos(model, tokens, clean_cache, metric, opts),
                    M.attn_head_q_all_pos(model, tokens, clean_cache, metric, opts),
                    per_query_head(model, M.attn_head_k_all_pos(model, tokens, clean_cache, metric, opts), 1),
                    per_query_head(model, M.attn_head_v_all_pos(model, tokens, clean_cache, metric, opts), 1),
                    P.attn_head_pattern_all_pos(model, tokens, clean_cache, metric, opts) }, 0)
end

-- TransformerLens's get_act_patch_attn_head_by_pos_every: out, q, k, v, pattern (by destination
-- position) -> [5, n_layers, pos, n_heads].
function M.attn_head_by_pos_every(model, tokens, clean_cache, metric, opts)
  local P = require "fp.patching"
  opts = errors.check_options("patching.attn_head_by_pos_every", opts, OPTS)
  return fp.stack({ P.attn_head_out_by_pos(model, tokens, clean_cache, metric, opts),
                    M.attn_head_q_by_pos(model, tokens, clean_cache, metric, opts),
                    per_query_head(model, M.attn_head_k_by_pos(model, tokens, clean_cache, metric, opts), 2),
                    per_query_head(model, M.attn_head_v_by_pos(model, tokens, clean_cache, metric, opts), 2),
                    M.attn_head_pattern_by_pos(model, tokens, clean_cache, metric, opts):permute(0, 2, 1):contiguous() }, 0)
end

-- Adds these sweeps to fp.patching's table.
function M.install(patching)
  for k, f in pairs(M) do if k ~= "install" then patching[k] = f end end
end

return M

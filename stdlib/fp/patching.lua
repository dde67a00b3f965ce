-- Activation patching with TransformerLens's argument order and semantics
-- (transformer_lens.patching.get_act_patch_*): the clean activation is patched into the
-- corrupted run, one cell at a time, and metric(logits) is called once per cell with logits
-- shaped like model:forward(corrupted_tokens) (or [batch, #positions, vocab] with
-- opts.positions = {-1}, which computes only the logits the metric reads). Several prompts
-- ([batch, pos] tokens and a clean cache of the same batch) are patched together, as in
-- TransformerLens: each cell patches every prompt at that layer/position/head.
--
-- Fast path: the sweep engine (model:patch_sweep, Swift). A patch at layer L leaves layers < L
-- equal to the corrupted run, and a patch at position p leaves positions < p equal to it at
-- every layer (causal attention): each cell joins at its own layer and computes only the rows
-- from its first changed position on, and the cells of all layers share each layer's matrix
-- products. When the model has hooks attached or an attention_mask is given, sweeps fall back
-- to batched runs per layer from the corrupted residual stream (start_at_layer). `generic` is
-- the plain loop (one full run per cell), kept as the reference the fast helpers are tested
-- against.
--
--   local patching = require "fp.patching"
--   local r = patching.resid_pre(model, corrupted_tokens, clean_cache, metric)   -- [layer, pos]
--   opts: positions = {-1}, attention_mask = mask, max_batch = cells per pass, progress = true/false,
--         engine = false (always use the per-layer batched runs)
local fp = require "fp"
local errors = require "fp.errors"
local raise = errors.raise
-- the options every sweep takes
local SWEEP_OPTS = { "positions", "attention_mask", "max_batch", "progress", "engine" }

local M = {}

-- Progress on stderr for long sweeps (fp.progress: only when stderr is a terminal, or opts.progress).
local function progress(opts, total, label) return require("fp.progress").bar(label, total, opts.progress) end

local function metric_value(metric, logits)
  local v = metric(logits)
  local ok, n = pcall(fp.item, v)
  if not ok then raise("patching: metric must return a number or a one-element tensor, got " .. tostring(v)) end
  return n
end

-- tokens (optional): the clean activation must be for as many prompts and positions (dim
-- pos_dim, default 2) as the corrupted tokens.
local function need(cache, name, tokens, pos_dim)
  local t = cache[name]
  if not t then
    local keys = {}
    for k in pairs(cache) do if type(k) == "string" then keys[#keys + 1] = k end end
    local hint = fp._hook_name_hint(name, keys)   -- a typo: the nearest cached names
    raise("patching: the clean cache has no '" .. name .. "'" .. (hint ~= "" and hint or " (cache it with run_with_cache)"))
  end
  pos_dim = pos_dim or 2
  if tokens and (t.shape[1] ~= tokens.shape[1] or t.shape[pos_dim] ~= tokens.shape[2]) then
    raise("patching: the clean cache's '" .. name .. "' is for " .. t.shape[1] .. " prompt(s) of " .. t.shape[pos_dim]
      .. " positions, the corrupted tokens are " .. tokens.shape[1] .. " of " .. tokens.shape[2])
  end
  return t
end

local function check_args(model, tokens, cache, metric)
  local mt = getmetatable(model)
  if not (type(model) == "userdata" and type(mt) == "table" and mt.__name == "fp.Model") then
    raise("patching: model must be a model from fp.load_model, got " .. type(model))
  end
  if not (fp.is_tensor(tokens) and tokens:dim() == 2 and tokens.dtype == "int64") then
    raise("patching: corrupted tokens must be an int tensor of shape [batch, pos] (model:to_tokens)")
  end
  if type(cache) ~= "table" then raise("patching: clean_cache must be the cache from run_with_cache") end
  if type(metric) ~= "function" then raise("patching: metric must be a function(logits) -> number") end
end

-- Corrupted residual streams at the start of every layer (one run, cached once per sweep).
local function corrupted_resid(model, tokens, opts)
  local _, cache = model:run_with_cache(tokens, { names_filter = function(n) return n:find("hook_resid_pre", 1, true) ~= nil end,
    attention_mask = opts.attention_mask })
  return cache
end

-- Runs batches of cells that all patch layer `layer`. `cells` is a list; `prepare(batch, i, cell)`
-- edits item i of the batched residual stream (before start_at_layer), `hook` (optional) is
-- {name, fn(act, cell_of_item)} applied inside the layer. Calls record(cell, value) per cell.
local function run_layer(model, opts, layer, start_resid, cells, prepare, hook, metric, record, tick)
  local P = start_resid.shape[2]
  local npos = opts.positions and #opts.positions or P
  local per_item = npos * model.cfg.d_vocab * 4
  -- a run's logits stay under 48 MB, as the engine's passes (PASS_BYTES)
  local max_batch = errors.check_number("patching", "max_batch", opts.max_batch, nil, { integer = true, min = 1 }) or math.max(1, math.min(64, (48 * 2 ^ 20) // per_item))
  for first = 1, #cells, max_batch do
    local last = math.min(#cells, first + max_batch - 1)
    local n = last - first + 1
    local batch = start_resid:expand(n, P, start_resid.shape[3]):clone()
    for i = first, last do if prepare then prepare(batch, i - first, cells[i]) end end
    local run_opts = { start_at_layer = layer, positions = opts.positions }
    if opts.attention_mask then run_opts.attention_mask = opts.attention_mask:expand(n, P) end
    local logits
    if hook then
      run_opts.fwd_hooks = { { hook[1], function(act)
        for i = first, last do hook[2](act, i - first, cells[i]) end
      end } }
      logits = model:run_with_hooks(batch, run_opts)
    else
      logits = model:forward(batch, run_opts)
    end
    for i = first, last do
      local k = i - first
      record(cells[i], metric_value(metric, logits[{ { k, k + 1 } }]))
    end
    tick(n)
  end
end

-- The sweep engine for this sweep, or nil when it cannot run it (a mask; model:patch_sweep
-- returns nil and a reason when hooks are attached or the block is a shape it does not implement).
local function engine_for(model, tokens, opts)
  if opts.attention_mask or opts.engine == false then return nil end
  return (model:patch_sweep(tokens, { positions = opts.positions }))
end

-- ref(layer, stage): the engine's corrupted activation, copied out once per sweep (callers
-- clone it before writing into it).
local function references(s)
  local memo = {}
  return function(layer, stage)
    local key = stage .. layer
    if not memo[key] then memo[key] = s:reference(layer, stage) end
    return memo[key]
  end
end

-- Queues cells on the engine and runs them in passes bounded by memory, so a sweep's peak
-- grows with one pass, not with its number of cells: a pass's logits ([cells, batch, npos,
-- vocab]) and its rows' widest intermediate ([rows, max(d_mlp, 3 d_model)]) stay under
-- PASS_BYTES each (48 MB: a 1-3 B model's sweep then peaks within 1.15x its weights,
-- docs/performance.md; larger passes are no faster, the rows' GEMMs are already large).
-- build(cell) -> layer, stage, patched activation; record(cell, value) per cell.
local PASS_BYTES = 48 * 2 ^ 20
local function run_cells(model, s, opts, cells, build, metric, record, tick)
  local per_cell = s.corrupted_logits.shape[1] * #s.positions * model.cfg.d_vocab * 4   -- every prompt of the batch
  local max_cells = errors.check_number("patching", "max_batch", opts.max_batch, nil, { integer = true, min = 1 }) or math.max(1, PASS_BYTES // per_cell)
  local row_bytes = 4 * math.max(model.cfg.d_mlp, 3 * model.cfg.d_model)
  local max_rows = math.max(256, PASS_BYTES // row_bytes)
  local queued = {}
  local function flush()
    if #queued == 0 then return end
    local logits = s:run()
    for k, c in ipairs(queued) do record(c, metric_value(metric, logits[{ k - 1 }])) end
    tick(#queued)
    queued = {}
  end
  for _, c in ipairs(cells) do
    s:add(build(c))
    queued[#queued + 1] = c
    if #queued >= max_cells or s.pending_rows >= max_rows then flush() end
  end
  flush()
end

-- Residual-stream style sweeps: result [n_layers, pos].
local function resid_sweep(kind)
  return function(model, tokens, clean_cache, metric, opts)
    opts = errors.check_options("patching." .. kind, opts, SWEEP_OPTS)
    check_args(model, tokens, clean_cache, metric)
    local L, P = model.cfg.n_layers, tokens.shape[2]
    local out = fp.zeros(L, P)
    local clean_at = {}
    for layer = 0, L - 1 do clean_at[layer] = need(clean_cache, "blocks." .. layer .. ".hook_" .. kind, tokens) end
    local tick = progress(opts, L * P, "patching " .. kind)
    local s = engine_for(model, tokens, opts)
    if s then
      local ref = references(s)
      local cells = {}
      for layer = 0, L - 1 do for p = 0, P - 1 do cells[#cells + 1] = { layer, p } end end
      local function build(c)
        local layer, p = c[1], c[2]
        local clean_row = clean_at[layer][{ {}, p }]
        -- where the patch enters, from the block's own residual decomposition (e.g. attn_out:
        -- resid_mid = resid_pre + attn_out in a sequential block, resid_post = resid_pre +
        -- attn_out + mlp_out in a parallel one)
        local at, stage, bases = s:entry(kind, layer)
        local act = ref(at, stage):clone()
        local row = clean_row
        for _, b in ipairs(bases) do row = ref(b[1], b[2])[{ {}, p }] + row end
        act[{ {}, p }] = row
        return at, stage, act
      end
      run_cells(model, s, opts, cells, build, metric, function(c, v) out[{ c[1], c[2] }] = v end, tick)
      return out
    end
    if tokens.shape[1] > 1 then   -- several prompts with hooks or a mask: one run per cell
      local cells = {}
      for layer = 0, L - 1 do for p = 0, P - 1 do cells[#cells + 1] = { layer, p } end end
      return M.generic(model, tokens, clean_cache, metric, function(c) return "blocks." .. c[1] .. ".hook_" .. kind end,
        cells, { shape = { L, P }, positions = opts.positions, attention_mask = opts.attention_mask, progress = opts.progress })
    end
    local corrupted = corrupted_resid(model, tokens, opts)
    local cells = {}
    for p = 0, P - 1 do cells[#cells + 1] = p end
    for layer = 0, L - 1 do
      local record = function(p, v) out[{ layer, p }] = v end
      if kind == "resid_pre" or kind == "resid_post" then
        local name = "blocks." .. layer .. ".hook_" .. kind
        local clean = need(clean_cache, name)
        local start = kind == "resid_pre" and layer or layer + 1
        local base = start < L and corrupted["blocks." .. start .. ".hook_resid_pre"] or nil
        if not base then
          -- patching resid_post of the last layer: run just the final norm and unembedding
          base = model:forward(tokens, { stop_at_layer = L, attention_mask = opts.attention_mask })
        end
        run_layer(model, opts, start, base, cells,
          function(batch, i, p) batch[{ i, p }] = clean[{ 0, p }] end, nil, metric, record, tick)
      else
        local name = "blocks." .. layer .. ".hook_" .. kind
        local clean = need(clean_cache, name)
        run_layer(model, opts, layer, corrupted["blocks." .. layer .. ".hook_resid_pre"], cells, nil,
          { name, function(act, i, p) act[{ i, p }] = clean[{ 0, p }] end }, metric, record, tick)
      end
    end
    return out
  end
end

M.resid_pre = resid_sweep("resid_pre")
M.resid_mid = resid_sweep("resid_mid")
M.resid_post = resid_sweep("resid_post")
M.attn_out = resid_sweep("attn_out")
M.mlp_out = resid_sweep("mlp_out")

-- Attention-head sweeps through hook_z (the head's output before W_O), as TransformerLens.
local function head_sweep(by_pos, point)
  local name = "patching.attn_head_" .. (point == "z" and "out" or point) .. (by_pos and "_by_pos" or "_all_pos")
  return function(model, tokens, clean_cache, metric, opts)
    opts = errors.check_options(name, opts, SWEEP_OPTS)
    check_args(model, tokens, clean_cache, metric)
    local L, H, P = model.cfg.n_layers, model.cfg.n_heads, tokens.shape[2]
    local out = by_pos and fp.zeros(L, P, H) or fp.zeros(L, H)
    local cells = {}
    if by_pos then
      for p = 0, P - 1 do for h = 0, H - 1 do cells[#cells + 1] = { p, h } end end
    else
      for h = 0, H - 1 do cells[#cells + 1] = h end
    end
    local tick = progress(opts, L * #cells, "patching heads")
    local clean_at = {}
    for layer = 0, L - 1 do clean_at[layer] = need(clean_cache, "blocks." .. layer .. ".attn.hook_" .. point, tokens, point == "pattern" and 3 or 2) end
    local s = engine_for(model, tokens, opts)
    if s then
      local ref = references(s)
      local all = {}
      for layer = 0, L - 1 do for _, c in ipairs(cells) do all[#all + 1] = { layer, c } end end
      -- a patched pattern changes its head's z to pattern @ v (v: the corrupted run's values)
      local values
      if point == "pattern" then
        local _, vc = model:run_with_cache(tokens, { names_filter = function(n) return n:sub(-11) == "attn.hook_v" end })
        values = vc
      end
      local group = model.cfg.n_heads // model.cfg.n_key_value_heads
      local function build(lc)
        local layer, c = lc[1], lc[2]
        local z = ref(layer, "z"):clone()           -- [batch, pos, head, d_head]
        if point == "pattern" then
          local v = values["blocks." .. layer .. ".attn.hook_v"][{ {}, {}, c // group }]      -- [batch, pos, d_head]
          z[{ {}, {}, c }] = clean_at[layer][{ {}, c }]:matmul(v)
        elseif by_pos then z[{ {}, c[1], c[2] }] = clean_at[layer][{ {}, c[1], c[2] }]
        else z[{ {}, {}, c }] = clean_at[layer][{ {}, {}, c }] end
        return layer, "z", z
      end
      local record = by_pos and function(lc, v) out[{ lc[1], lc[2][1], lc[2][2] }] = v end
                             or function(lc, v) out[{ lc[1], lc[2] }] = v end
      run_cells(model, s, opts, all, build, metric, record, tick)
      return out
    end
    if tokens.shape[1] > 1 then   -- several prompts with hooks or a mask: one run per cell
      local all = {}
      for layer = 0, L - 1 do
        for _, c in ipairs(cells) do
          all[#all + 1] = by_pos and { layer, c[1], head = c[2] } or { layer, head = c }
        end
      end
      local setter = point == "pattern" and function(act, i, clean) act[{ {}, i.head }] = clean[{ {}, i.head }] end or nil
      return M.generic(model, tokens, clean_cache, metric, function(c) return "blocks." .. c[1] .. ".attn.hook_" .. point end,
        all, { shape = by_pos and { L, P, H } or { L, H }, setter = setter, positions = opts.positions,
               attention_mask = opts.attention_mask, progress = opts.progress })
    end
    local corrupted = corrupted_resid(model, tokens, opts)
    for layer = 0, L - 1 do
      local name = "blocks." .. layer .. ".attn.hook_" .. point
      local clean = need(clean_cache, name)
      local setter
      if point == "pattern" then
        setter = function(act, i, h) act[{ i, h }] = clean[{ 0, h }] end                  -- [B, head, q, k]
      elseif by_pos then
        setter = function(act, i, c) act[{ i, c[1], c[2] }] = clean[{ 0, c[1], c[2] }] end -- [B, pos, head, d]
      else
        setter = function(act, i, h) act[{ i, {}, h }] = clean[{ 0, {}, h }] end
      end
      local record = by_pos and function(c, v) out[{ layer, c[1], c[2] }] = v end
                             or function(h, v) out[{ layer, h }] = v end
      run_layer(model, opts, layer, corrupted["blocks." .. layer .. ".hook_resid_pre"], cells, nil,
        { name, setter }, metric, record, tick)
    end
    return out
  end
end

M.attn_head_out_all_pos = head_sweep(false, "z")
M.attn_head_out_by_pos = head_sweep(true, "z")
M.attn_head_pattern_all_pos = head_sweep(false, "pattern")

-- resid_pre, attn_out and mlp_out stacked: [3, n_layers, pos] (TransformerLens's get_act_patch_block_every).
function M.block_every(model, tokens, clean_cache, metric, opts)
  opts = errors.check_options("patching.block_every", opts, SWEEP_OPTS)
  return fp.stack({ M.resid_pre(model, tokens, clean_cache, metric, opts),
                    M.attn_out(model, tokens, clean_cache, metric, opts),
                    M.mlp_out(model, tokens, clean_cache, metric, opts) }, 0)
end

-- The plain loop: for each index in index_list, one full run of the corrupted tokens with the
-- hook point hook_name_fn(index) patched by setter(act, index, clean_act) (default: for
-- index {layer, pos} set position pos; {layer, pos, head} set that head at pos; {layer, head =
-- h} set head h at every position). Returns a list of metric values in index_list order, or a
-- tensor of `opts.shape` when given.
function M.generic(model, tokens, clean_cache, metric, hook_name_fn, index_list, opts)
  opts = errors.check_options("patching.generic", opts, { "setter", "shape", "positions", "attention_mask", "progress" })
  check_args(model, tokens, clean_cache, metric)
  local setter = opts.setter or function(act, idx, clean)
    if idx.head ~= nil and idx[2] ~= nil then act[{ {}, idx[2], idx.head }] = clean[{ {}, idx[2], idx.head }]
    elseif idx.head ~= nil then act[{ {}, {}, idx.head }] = clean[{ {}, {}, idx.head }]
    else act[{ {}, idx[2] }] = clean[{ {}, idx[2] }] end
  end
  local values = {}
  local tick = progress(opts, #index_list, "patching")
  for i, idx in ipairs(index_list) do
    local name = hook_name_fn(idx)
    local clean = need(clean_cache, name)
    local logits = model:run_with_hooks(tokens, { positions = opts.positions, attention_mask = opts.attention_mask,
      fwd_hooks = { { name, function(act) setter(act, idx, clean) end } } })
    values[i] = metric_value(metric, logits)
    tick(1)
  end
  if opts.shape then return fp.tensor(values):reshape(opts.shape) end
  return values
end

-- Path patching (as in the IOI paper, with TransformerLens's clean-into-corrupted direction):
-- the clean output (hook_z) of the sender heads reaches the receivers' inputs only along direct
-- paths. Run 1: corrupted tokens, senders' z from the clean cache, every other head's z frozen
-- at its corrupted value (MLPs recompute unless opts.freeze_mlps); the receivers' inputs are
-- recorded. Run 2: corrupted tokens with only those receiver inputs patched. Returns metric(logits).
--   senders:   { {layer, head}, ... }
--   receivers: { {layer, head, "q" | "k" | "v"}, ... } or hook names ("blocks.11.hook_resid_post")
function M.path(model, tokens, clean_cache, metric, senders, receivers, opts)
  opts = errors.check_options("patching.path", opts, { "positions", "attention_mask", "freeze_mlps", "progress" })
  check_args(model, tokens, clean_cache, metric)
  if type(senders) ~= "table" or type(receivers) ~= "table" then
    raise("patching.path: senders and receivers must be lists of {layer, head} (receivers: {layer, head, \"q\"|\"k\"|\"v\"} or hook names)")
  end
  local L = model.cfg.n_layers
  local _, corrupted = model:run_with_cache(tokens, { attention_mask = opts.attention_mask, names_filter = function(n)
    return n:find("attn.hook_z", 1, true) ~= nil or (opts.freeze_mlps and n:find("hook_mlp_out", 1, true) ~= nil)
  end })
  local sender_at = {}
  for _, s in ipairs(senders) do
    local l, h = s[1], s[2]
    if type(l) ~= "number" or type(h) ~= "number" then raise("patching.path: senders are {layer, head} pairs") end
    sender_at[l] = sender_at[l] or {}
    sender_at[l][h] = true
  end
  -- receiver hook points and how to copy what they need
  local points, order = {}, {}
  for _, r in ipairs(receivers) do
    local name, head
    if type(r) == "string" then name = r
    else
      if not (r[3] == "q" or r[3] == "k" or r[3] == "v") then raise("patching.path: a receiver head is {layer, head, \"q\"|\"k\"|\"v\"}") end
      name, head = "blocks." .. r[1] .. ".attn.hook_" .. r[3], r[2]
      -- with grouped-query attention, k and v have n_key_value_heads: a query head reads its group's
      if r[3] ~= "q" then head = head // (model.cfg.n_heads // model.cfg.n_key_value_heads) end
    end
    if not points[name] then points[name] = { heads = {}, whole = false }; order[#order + 1] = name end
    if head then points[name].heads[#points[name].heads + 1] = head else points[name].whole = true end
  end
  -- run 1: senders clean, other heads frozen, record the receivers' inputs
  local hooks = {}
  for l = 0, L - 1 do
    local name = "blocks." .. l .. ".attn.hook_z"
    local clean_z, frozen = need(clean_cache, name), corrupted[name]
    hooks[#hooks + 1] = { name, function(z)
      local patched = frozen:clone()
      for h in pairs(sender_at[l] or {}) do patched[{ {}, {}, h }] = clean_z[{ {}, {}, h }] end
      return patched
    end }
    if opts.freeze_mlps then
      local mname = "blocks." .. l .. ".hook_mlp_out"
      hooks[#hooks + 1] = { mname, function() return corrupted[mname] end }
    end
  end
  local recorded = {}
  for _, name in ipairs(order) do
    hooks[#hooks + 1] = { name, function(act) recorded[name] = act:clone() end }
  end
  model:run_with_hooks(tokens, { fwd_hooks = hooks, attention_mask = opts.attention_mask, positions = { -1 } })
  -- run 2: only the receivers' inputs patched
  local hooks2 = {}
  for _, name in ipairs(order) do
    local p = points[name]
    hooks2[#hooks2 + 1] = { name, function(act)
      if p.whole then return recorded[name] end
      for _, h in ipairs(p.heads) do act[{ {}, {}, h }] = recorded[name][{ {}, {}, h }] end
    end }
  end
  local logits = model:run_with_hooks(tokens, { fwd_hooks = hooks2, attention_mask = opts.attention_mask,
    positions = opts.positions })
  return metric_value(metric, logits)
end

-- Path patching from every single head (as sender) to the given receivers: [n_layers, n_heads].
-- Heads at or after the last receiver layer have no path and stay 0... unless a receiver is a
-- residual hook point after them.
function M.path_heads(model, tokens, clean_cache, metric, receivers, opts)
  opts = errors.check_options("patching.path_heads", opts, { "positions", "attention_mask", "freeze_mlps", "progress" })
  local L, H = model.cfg.n_layers, model.cfg.n_heads
  local out = fp.zeros(L, H)
  local tick = progress(opts, L * H, "path patching")
  for l = 0, L - 1 do
    for h = 0, H - 1 do
      out[{ l, h }] = M.path(model, tokens, clean_cache, metric, { { l, h } }, receivers, opts)
      tick(1)
    end
  end
  return out
end

-- Attribution patching (first-order estimate from one forward and one backward pass per run):
-- patching.attribution(model, clean_tokens, corrupted_tokens, metric, hook_names); see fp.attribution.
function M.attribution(...) return require("fp.attribution").attribution(...) end

-- A sweep over a dataset of prompt pairs, one item per pair, sharded and resumable (fp.shard):
-- patching.dataset(model, pairs, "attn_head_out_all_pos", { out = DIR, ... }); see fp.dataset_patching.
function M.dataset(...) return require("fp.dataset_patching").run(...) end

-- attention-head sweeps on q, k, v and patterns (and the `_every` stacks): stdlib/fp/patching_heads.lua
require("fp.patching_heads").install(M)

return M

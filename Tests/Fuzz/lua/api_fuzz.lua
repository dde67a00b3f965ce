-- The Lua API fuzzer's generator: calls fp's public functions with generated arguments.
--
-- Every choice (which function, how many arguments, which value) is read from a byte string,
-- so libFuzzer can mutate it (Tests/Fuzz/lua/FuzzLuaMain.swift), and a fixed seed turns into
-- a repeatable run (Tests/lua/api_fuzz_smoke.lua). The API is enumerated from the live tables
-- (fp, fp.linalg, the tensor and model method tables, the stdlib modules), so new functions are
-- fuzzed without editing this file. Errors are expected and ignored: a finding is what a
-- script must never cause (a signal, a trap, an AddressSanitizer report, an allocation over
-- the limit), and it ends the process.
--
-- run(group, bytes, opts) -> number of calls made. group: "tensor", "linalg", "model",
-- "stdlib". opts.model_path: a tiny model folder (Tests/fixtures/models/...); opts.trace: a
-- function(line) told each call before it is made (to name the call that killed a run).
local fp = require "fp"

local M = {}
M.stats = { ok = 0, error = 0 }   -- calls that returned and calls that raised an error
M.groups = { "tensor", "linalg", "model", "stdlib" }

-- Choices ----------------------------------------------------------------------------------

local bytes, pos, budget

local function exhausted() return pos >= #bytes or budget <= 0 end

-- 1..n from the next byte (two bytes when n > 256); 1 once the input is used up.
local function pick(n)
  if n <= 1 then return 1 end
  pos = pos + 1
  local b = bytes:byte(pos) or 0
  if n > 256 then
    pos = pos + 1
    b = b * 256 + (bytes:byte(pos) or 0)
  end
  return b % n + 1
end

local function one_of(list) return list[pick(#list)] end
local function chance(k) return pick(k) == 1 end

-- A deterministic byte string for a seed (xorshift, independent of math.random, which the
-- fuzzed code may reseed).
function M.bytes_for_seed(seed, n)
  local x = (seed * 2654435761 + 1) & 0xffffffff
  local out = {}
  for i = 1, n do
    x = x ~ ((x << 13) & 0xffffffff); x = x ~ (x >> 17); x = x ~ ((x << 5) & 0xffffffff)
    out[i] = string.char(x & 0xff)
  end
  return table.concat(out)
end

-- Values -----------------------------------------------------------------------------------

local INTS = { 0, 1, 2, 3, -1, -2, 4, 7, 64, 255, 256, 1023, 2147483647, -2147483648, 2147483648,
  4294967296, 1 << 40, 1 << 53, (1 << 53) + 1, 1 << 62, math.maxinteger, math.mininteger,
  math.maxinteger - 1, -(1 << 40) }
local FLOATS = { 0.5, -0.0, 0 / 0, 1 / 0, -1 / 0, 1e308, 2.0 ^ 63, -(2.0 ^ 63), 2.0 ^ 64, 1e-310,
  3.0, -1.5, 2.0 ^ 53 + 2, 1e20, -1e20, 0.1 }
local SMALL = { 0, 1, 2, 3, -1, 1, 2 }
local STRINGS = { "", "float", "int", "bool", "float32", "int64", "mean", "sum", "none", "max",
  "reduced", "complete", "...", "newaxis", ":", "b p d, d -> b p", "ij,jk->ik", "i,i->", "ii->i",
  "ij->ji", "i,j->ij", "...ij->...ji", "x.npy", "x.safetensors", "x.npz", "out", "out/sub",
  "blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern", "blocks.1.mlp.hook_post", "hook_embed",
  "blocks.0.attn.hook_z", "ln_final.hook_normalized", "\xff\xfe", string.rep("a", 300), "fwd_hooks",
  "names_filter", "lr", "cpu", "left", "right", "a b", "Hello world", "%d%s", "\0" }
local OPTION_KEYS = { "fwd_hooks", "bwd_hooks", "names_filter", "pos_slice", "prepend_bos",
  "padding_side", "attention_mask", "return_type", "start_at_layer", "stop_at_layer", "past",
  "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "stop_at_eos", "positions",
  "reduction", "ignore_index", "lr", "betas", "eps", "weight_decay", "momentum", "dtype", "dim",
  "keepdim", "full_matrices", "fold_ln", "tokenizer", "seed", "batch_size", "fwd_hook", "n", "k",
  "largest", "sorted", "title", "x", "y", "labels", 1, 2 }

local pool = {}          -- values that calls returned (tensors, caches, ...), bounded
local POOL_MAX = 48
local step               -- forward declaration: one generated call (hooks call it too)
local depth = 0
local model, funcs_by_group

local function remember(v)
  if v == nil or type(v) == "number" or type(v) == "boolean" then return end
  if #pool >= POOL_MAX then table.remove(pool, pick(#pool)) end
  pool[#pool + 1] = v
end

local function make_tensor(k)
  if k == 1 then return fp.zeros(2, 3)
  elseif k == 2 then return fp.randn(3, 4)
  elseif k == 3 then return fp.arange(6)
  elseif k == 4 then return fp.tensor({ { 1, 2 }, { 3, 4 } }, "int")
  elseif k == 5 then return fp.tensor({ true, false, true })
  elseif k == 6 then return fp.tensor(3.5)
  elseif k == 7 then return fp.zeros(0, 3)
  elseif k == 8 then return fp.randn(2, 3, 4)
  elseif k == 9 then return fp.randn(4, 3):T()
  elseif k == 10 then return fp.randn(1, 3):expand(5, 3)
  elseif k == 11 then return fp.randn(3):requires_grad()
  elseif k == 12 then local t = fp.randn(2, 2); t:free(); return t
  elseif k == 13 then   -- int64 extremes (beyond what a Lua float holds exactly)
    local p, n = fp.tensor({ 1 << 62 }, "int"), fp.tensor({ -(1 << 62) }, "int")
    return fp.cat({ (p - 1) + p, n + n, p })
  else return fp.tensor({ 0 / 0, 1 / 0, -1 / 0, 1e30 }) end
end

local function fresh_tensor()
  local ok, t = pcall(make_tensor, pick(14))
  return ok and t or nil
end

local gen   -- forward declaration

local function gen_table(d)
  local k = pick(8)
  if k == 1 then   -- a shape
    local t = {}
    for i = 1, pick(5) - 1 do t[i] = chance(2) and one_of(SMALL) or one_of(INTS) end
    return t
  elseif k == 2 then   -- an index table
    local t = {}
    for i = 1, pick(4) do
      local j = pick(6)
      if j == 1 then t[i] = one_of(INTS)
      elseif j == 2 then t[i] = { one_of(INTS), one_of(INTS), chance(2) and one_of(INTS) or nil }
      elseif j == 3 then t[i] = {}
      elseif j == 4 then t[i] = "..."
      elseif j == 5 then t[i] = fp.newaxis
      else t[i] = one_of(SMALL) end
    end
    return t
  elseif k == 3 then   -- an options table
    local t = {}
    for _ = 1, pick(3) do t[one_of(OPTION_KEYS)] = gen(d + 1) end
    return t
  elseif k == 4 then   -- a list of tensors
    local t = {}
    for i = 1, pick(4) - 1 do t[i] = fresh_tensor() end
    return t
  elseif k == 5 then   -- nested numbers
    return { { one_of(FLOATS), 1 }, { 2, one_of(INTS) } }
  elseif k == 6 then   -- {name, fn} hook pairs
    return { { one_of(STRINGS), gen(d + 1) } }
  elseif k == 7 then
    return { gen(d + 1), gen(d + 1) }
  else
    return {}
  end
end

local function gen_function()
  local k = pick(9)
  if k == 1 then return function() end
  elseif k == 2 then return function() error("boom") end
  elseif k == 3 then return function(...) return coroutine.yield(...) end
  elseif k == 4 then return function() collectgarbage() end
  elseif k == 5 then return function(act) if fp.is_tensor(act) then act:free() end end
  elseif k == 6 then return function(act) if fp.is_tensor(act) then return act * 2 end end
  elseif k == 7 then return function() return fp.zeros(1) end
  elseif k == 8 then return function() return true end
  else   -- reentrant: another generated call from inside a hook or callback
    return function(...) if depth < 3 then step() end end
  end
end

function gen(d)
  d = d or 0
  if d > 3 then return one_of(SMALL) end
  local k = pick(16)
  if k <= 3 then return fresh_tensor()
  elseif k <= 5 then return #pool > 0 and pool[pick(#pool)] or fresh_tensor()
  elseif k == 6 then return one_of(INTS)
  elseif k == 7 then return one_of(SMALL)
  elseif k == 8 then return one_of(FLOATS)
  elseif k == 9 then return one_of(STRINGS)
  elseif k == 10 then return gen_table(d)
  elseif k == 11 then return gen_function()
  elseif k == 12 then return chance(2)
  elseif k == 13 then return nil
  elseif k == 14 then return model or fresh_tensor()
  elseif k == 15 then return coroutine.create(gen_function())
  else return gen_table(d) end
end

-- Argument kinds, learnt from the functions' own messages ---------------------------------------
-- Most random arguments are rejected by the first type check. Before fuzzing, each function is
-- called with growing argument lists, and "bad argument #i to 'f' (integer expected ...)" tells
-- which kind argument i takes; generated calls then mostly pass values of that kind, so the
-- checks after the type checks (sizes, dims, shapes) are reached.
local KIND_WORDS = { tensor = "tensor", integer = "integer", int = "integer", dim = "integer",
  size = "integer", number = "number", string = "string", name = "string", table = "table",
  list = "table", options = "table", ["function"] = "function", boolean = "boolean", model = "model" }
local TYPICAL = { tensor = function() return fp.randn(2, 3) end, integer = function() return 1 end,
  number = function() return 0.5 end, string = function() return "float" end, table = function() return {} end,
  ["function"] = function() return function() end end, boolean = function() return true end,
  model = function() return model end }

local function gen_kind(kind)
  if kind == "tensor" then return fresh_tensor()
  elseif kind == "integer" then return chance(2) and one_of(SMALL) or one_of(INTS)
  elseif kind == "number" then return chance(2) and one_of(SMALL) or one_of(FLOATS)
  elseif kind == "string" then return one_of(STRINGS)
  elseif kind == "table" then return gen_table(0)
  elseif kind == "function" then return gen_function()
  elseif kind == "boolean" then return chance(2)
  elseif kind == "model" then return model
  end
  return gen()
end

local function learn_kinds(e)
  e.kinds = {}
  local args, n = {}, 0
  if e.method == "tensor" then args[1] = fp.randn(2, 3); n = 1
  elseif e.method == "model" then args[1] = model; n = 1
  elseif e.method ~= nil then args[1] = e.method; n = 1 end
  for _ = 1, 6 do
    local ok, err = pcall(e.fn, table.unpack(args, 1, n))
    if ok then return end
    local i, what = tostring(err):match("bad argument #(%d+) to '[^']*' %((.-)%)")
    if not i then return end
    i = tonumber(i) + (e.method ~= nil and 1 or 0)   -- methods count after self
    local kind
    for w in what:gmatch("[%a_]+") do if KIND_WORDS[w] then kind = KIND_WORDS[w]; break end end
    if not kind or i > 8 or e.kinds[i] == kind then return end
    e.kinds[i] = kind
    for j = n + 1, i - 1 do args[j] = args[j] == nil and 1 or args[j] end
    args[i] = TYPICAL[kind]()
    n = math.max(n, i)
  end
end

-- The API, from the live tables -------------------------------------------------------------

local function sorted_functions(t, prefix, out, skip)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not (skip and skip[k]) then names[#names + 1] = k end
  end
  table.sort(names)
  for _, k in ipairs(names) do out[#out + 1] = { name = prefix .. k, fn = t[k] } end
  return out
end

-- Functions that would leave the scratch folder, wait for input or exit are not called.
local SKIP_FP = { load_model = true }
local STDLIB_SKIP = { repl = true, testing = true, args = true }

local function stdlib_modules()
  local mods = {}
  local dir = package.searchpath("fp.patching", package.path)
  dir = dir and dir:match("^(.*)/patching%.lua$")
  if not dir then return mods end
  local names = {}
  for _, n in ipairs({ "attribution", "cache", "csv", "das", "datasets", "edits", "errors", "files",
    "json", "nn", "optim", "patching", "plot", "progress", "results", "utils", "unicode", "extensions" }) do
    if not STDLIB_SKIP[n] then names[#names + 1] = n end
  end
  for _, n in ipairs(names) do
    local ok, m = pcall(require, "fp." .. n)
    if ok and type(m) == "table" then mods[#mods + 1] = { name = n, t = m } end
  end
  return mods
end

local PROBE_NAMES = { "add", "run", "reference", "free", "AB", "BA", "A", "B", "T", "svd", "eigenvalues",
  "norm", "get", "collapse_l", "collapse_r", "U", "S", "Vh", "ndim", "shape", "clone", "matmul", "rank" }

local function build_groups()
  local g = { tensor = {}, linalg = {}, model = {}, stdlib = {} }
  local tensor_methods = getmetatable(fp.zeros(1)).__methods
  local autograd = { backward = 1, grad = 1, requires_grad = 1, requires_grad_ = 1, detach = 1,
    zero_grad = 1, is_leaf = 1, grad_fn = 1, no_grad = 1, enable_grad = 1, set_grad_enabled = 1,
    _sgd_step = 1, _adam_step = 1, cross_entropy = 1, layer_norm = 1, rms_norm = 1 }
  -- products and the functions that autograd differentiates are fuzzed with the autograd ones too
  local linalg_also = { matmul = 1, bmm = 1, outer = 1, einsum = 1, cosine_similarity = 1, softmax = 1,
    log_softmax = 1, norm = 1, var = 1, std = 1, gather = 1, scatter_ = 1, sum = 1, mean = 1, cat = 1,
    stack = 1, where = 1, gelu = 1, pow = 1, mul = 1, view = 1, expand = 1, select = 1, clone = 1 }
  for _, e in ipairs(sorted_functions(fp, "fp.", {}, SKIP_FP)) do
    local short = e.name:sub(4)
    if autograd[short] then table.insert(g.linalg, e) else table.insert(g.tensor, e) end
    if linalg_also[short] then table.insert(g.linalg, e) end
  end
  for _, e in ipairs(sorted_functions(tensor_methods, "Tensor:", {})) do
    e.method = "tensor"
    local short = e.name:sub(8)
    if autograd[short] then table.insert(g.linalg, e) else table.insert(g.tensor, e) end
    if linalg_also[short] then table.insert(g.linalg, e) end
  end
  -- optimizer and scheduler objects' methods
  if fp.optim then
    local p = fp.randn(3):requires_grad()
    for _, make in ipairs({ function() return fp.optim.Adam({ p }) end, function() return fp.optim.SGD({ p }, { lr = 0.1 }) end,
      function() return fp.optim.StepLR(fp.optim.SGD({ p }, { lr = 0.1 }), { step_size = 2 }) end }) do
      local ok, obj = pcall(make)
      local om = ok and getmetatable(obj)
      local idx = om and om.__index
      if type(idx) == "table" then
        for _, e in ipairs(sorted_functions(idx, tostring(om.__name or "Optimizer") .. ":", {})) do
          e.method = obj; table.insert(g.linalg, e)
        end
      end
    end
  end
  local meta = getmetatable(fp.zeros(1))
  for _, k in ipairs({ "__add", "__sub", "__mul", "__div", "__pow", "__mod", "__idiv", "__unm", "__len",
    "__tostring", "__index", "__newindex", "__concat", "__eq", "__lt", "__le", "__close" }) do
    if type(meta[k]) == "function" then table.insert(g.tensor, { name = "Tensor." .. k, fn = meta[k], method = "tensor" }) end
  end
  -- submodules (linalg, optim, nn), in name order (pairs order changes from run to run);
  -- fp.Tensor and fp.Model are the method tables above
  local subs = {}
  for k, v in pairs(fp) do
    if type(v) == "table" and type(k) == "string" and k ~= "Tensor" and k ~= "Model" then subs[#subs + 1] = k end
  end
  table.sort(subs)
  for _, k in ipairs(subs) do sorted_functions(fp[k], "fp." .. k .. ".", g.linalg) end
  if model then
    local mm = getmetatable(model).__methods
    for _, e in ipairs(sorted_functions(mm, "Model:", {})) do e.method = "model"; table.insert(g.model, e) end
    table.insert(g.model, { name = "Model.__index", fn = getmetatable(model).__index, method = "model" })
    -- objects that model methods return: caches, KV caches, patch sweeps, factored matrices
    local ok, _, cache = pcall(model.run_with_cache, model, fp.tensor({ { 1, 2, 3 } }, "int"))
    if ok and cache then
      remember(cache)
      local cm = getmetatable(cache)
      if cm and type(cm.__index) == "table" then
        for _, e in ipairs(sorted_functions(cm.__index, "Cache:", {})) do e.method = cache; table.insert(g.model, e) end
      end
    end
    for _, make in ipairs({
      function() return model:kv_cache(fp.tensor({ { 1, 2 } }, "int")) end,
      function() return model:patch_sweep(fp.tensor({ { 1, 2, 3 } }, "int")) end,
      function() return model.OV end,
      function() return model.OV[0] end,
      function() return model.OV[0][0] end,
      function() return model.QK[1] end,
      function() return model.QK[0][1] end,
    }) do
      local ok2, obj = pcall(make)
      if ok2 and obj ~= nil then
        remember(obj)
        local om = getmetatable(obj)
        local idx = om and (om.__methods or om.__index)
        if type(idx) == "table" then
          for _, e in ipairs(sorted_functions(idx, tostring(om.__name or "Object") .. ":", {})) do
            e.method = obj; table.insert(g.model, e)
          end
        end
        if om and type(om.__index) == "function" then
          -- methods behind an __index function: probe the usual names
          for _, k in ipairs(PROBE_NAMES) do
            local okp, f = pcall(function() return obj[k] end)
            if okp and type(f) == "function" then table.insert(g.model, { name = tostring(om.__name) .. ":" .. k, fn = f, method = obj }) end
          end
        end
        for _, k in ipairs({ "__index", "__tostring", "__mul", "__matmul", "__len", "__call", "__unm" }) do
          if om and type(om[k]) == "function" then table.insert(g.model, { name = tostring(om.__name) .. "." .. k, fn = om[k], method = obj }) end
        end
      end
    end
  end
  for _, m in ipairs(stdlib_modules()) do
    -- the public functions ("_name" ones are the modules' internals, called with checked values)
    for _, e in ipairs(sorted_functions(m.t, "fp." .. m.name .. ".", {})) do
      if not e.name:match("%._[^.]*$") then table.insert(g.stdlib, e) end
    end
  end
  for _, name in ipairs(M.groups) do for _, e in ipairs(g[name]) do learn_kinds(e) end end
  collectgarbage()
  return g
end

-- One call ------------------------------------------------------------------------------------

local trace

local function describe(v)
  local t = type(v)
  if t == "string" then return string.format("%q", #v > 40 and v:sub(1, 40) .. "..." or v) end
  if t == "number" then
    if v ~= v then return "0/0" end
    if v == math.huge then return "1/0" end
    if v == -math.huge then return "-1/0" end
    return math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  end
  if t == "table" then
    local parts = {}
    for i = 1, math.min(#v, 4) do parts[i] = describe(v[i]) end
    for k, x in pairs(v) do if type(k) == "string" then parts[#parts + 1] = k .. "=" .. describe(x) end end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  if fp.is_tensor(v) then
    local ok, s = pcall(function() return "tensor" .. table.concat(v.shape, "x") end)
    return ok and s or "tensor(freed)"
  end
  return t
end

local group_funcs

function step()
  if exhausted() then return end
  budget = budget - 1
  depth = depth + 1
  local e = group_funcs[pick(#group_funcs)]
  local args = {}
  local n = pick(5) - 1
  if e.kinds and #e.kinds > n and not chance(4) then n = #e.kinds end
  if e.method == "tensor" and not chance(8) then args[1] = chance(2) and fresh_tensor() or gen() ; n = n + 1
  elseif e.method == "model" and not chance(8) then args[1] = model; n = n + 1
  elseif type(e.method) == "userdata" or type(e.method) == "table" then args[1] = e.method; n = n + 1 end
  local kinds = e.kinds or {}
  for i = #args + 1, n do args[i] = (kinds[i] and not chance(5)) and gen_kind(kinds[i]) or gen() end
  if trace then
    local shown = {}
    for i = 1, n do shown[i] = describe(args[i]) end
    trace(e.name .. "(" .. table.concat(shown, ", ") .. ")")
  end
  local how = pick(8)
  local results
  if how == 1 then
    -- inside a coroutine, which may be dropped while suspended
    local co = coroutine.create(function() return e.fn(table.unpack(args, 1, n)) end)
    results = table.pack(coroutine.resume(co))
    if chance(2) then co = nil; collectgarbage() end
  elseif how == 2 then
    results = table.pack(pcall(e.fn, table.unpack(args, 1, n)))
    collectgarbage()
  else
    results = table.pack(pcall(e.fn, table.unpack(args, 1, n)))
  end
  M.stats[results[1] and "ok" or "error"] = M.stats[results[1] and "ok" or "error"] + 1
  if not results[1] and M.errors then M.errors[#M.errors + 1] = tostring(results[2]) end
  if results[1] then
    for i = 2, math.min(results.n, 4) do
      local r = results[i]
      remember(r)
      if fp.is_tensor(r) and chance(6) then pcall(tostring, r) end
      if fp.is_tensor(r) and chance(12) then pcall(r.tolist, r) end
    end
  end
  depth = depth - 1
end

-- Runs the group's calls chosen by `input` (a byte string); returns the number of calls.
function M.run(group, input, opts)
  opts = opts or {}
  bytes, pos, budget = input, 0, opts.max_calls or 200
  trace = opts.trace
  pool = {}
  depth = 0
  if not model and opts.model_path then model = fp.load_model(opts.model_path) end
  funcs_by_group = funcs_by_group or build_groups()
  group_funcs = funcs_by_group[group]
  assert(group_funcs and #group_funcs > 0, "api_fuzz: unknown or empty group " .. tostring(group))
  local calls = 0
  while not exhausted() do
    step()
    calls = calls + 1
  end
  if model then pcall(model.reset_hooks, model) end
  pool = {}
  collectgarbage()
  return calls
end

-- Every function of the group with each extreme number (INTS, FLOATS) in each of its first
-- three argument positions, the other arguments typical values of their kind: a systematic
-- pass over the integer conversions that random choices reach only by luck. Returns the
-- number of calls.
function M.sweep(group, opts)
  opts = opts or {}
  if not model and opts.model_path then model = fp.load_model(opts.model_path) end
  funcs_by_group = funcs_by_group or build_groups()
  local calls = 0
  local extremes = {}
  for _, v in ipairs(INTS) do extremes[#extremes + 1] = v end
  for _, v in ipairs(FLOATS) do extremes[#extremes + 1] = v end
  for _, e in ipairs(funcs_by_group[group]) do
    local base, n = {}, 0
    if e.method == "tensor" then base[1] = fp.randn(2, 3); n = 1
    elseif e.method == "model" then base[1] = model; n = 1
    elseif e.method ~= nil then base[1] = e.method; n = 1 end
    local first = n + 1
    for i = first, first + 2 do
      for _, x in ipairs(extremes) do
        local args = {}
        for j = 1, first + 2 do
          if j < first then args[j] = base[j]
          elseif j == i then args[j] = x
          else local k = e.kinds and e.kinds[j]; args[j] = k and TYPICAL[k]() or nil end
        end
        if opts.trace then opts.trace(e.name .. " #" .. i .. " = " .. describe(x)) end
        pcall(e.fn, table.unpack(args, 1, first + 2))
        calls = calls + 1
      end
    end
    if e.method == "tensor" then pcall(base[1].free, base[1]) end
  end
  collectgarbage()
  return calls
end

-- The number of functions per group (for the report).
function M.sizes(opts)
  if opts and opts.model_path and not model then model = fp.load_model(opts.model_path) end
  funcs_by_group = funcs_by_group or build_groups()
  local out = {}
  for _, g in ipairs(M.groups) do out[g] = #funcs_by_group[g] end
  return out
end

return M

-- Tab completion for `fp repl` and the Jupyter kernel, from the text before the cursor:
--   fp.ein|              globals and fields of tables (raw lookups: no user __index runs)
--   t:soft|              methods only after ':' (of tensors, models, caches, tables)
--   model.blocks[3].attn.|   fields of fp's own objects (models, their blocks, cfg)
--   cache["blocks.0.hook_r|  keys of that cache
--   {"blocks.3.attn.hook_|   inside any other string: hook names of the loaded models and caches
-- complete(text) returns the 1-based byte position in `text` where the replaced word starts
-- and the sorted list of replacements for text:sub(start).
local fp = require "fp"
-- kept at load time: a session that reassigns these globals does not break completion
local rawget, next, getmetatable, pcall, type = rawget, next, getmetatable, pcall, type

local M = {}

local function metaname(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

-- Fields of a model (its __index is Swift): what LuaModelFields serves.
local MODEL_FIELDS = { "cfg", "W_E", "W_pos", "W_U", "b_U", "ln_final", "blocks", "OV", "QK" }
local TENSOR_FIELDS = { "shape", "grad", "dtype" }

-- The methods table of a value: userdata's __methods, a table's __index table (caches,
-- figures), or nil.
local function methods_of(v)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  local m = rawget(mt, "__methods")
  if type(m) == "table" then return m end
  m = rawget(mt, "__index")
  if type(m) == "table" then return m end
  return nil
end

-- One step of a path, without running code a script defined: raw lookups in tables, and
-- fp's own Swift field lookup for models.
local function step(v, key)
  if type(v) == "table" then return rawget(v, key) end
  if metaname(v) == "fp.Model" and type(key) == "string" then
    local ok, r = pcall(function() return v[key] end)
    return ok and r or nil
  end
  return nil
end

local function add_keys(out, seen, t, filter)
  if type(t) ~= "table" then return end
  for k, val in next, t do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k] and (not filter or filter(val)) then
      seen[k] = true
      out[#out + 1] = k
    end
  end
end

-- Names after `.` (fields) or `:` (methods) of value v.
local function members(v, sep)
  local out, seen = {}, {}
  local is_fn = function(x) return type(x) == "function" end
  if sep == ":" then
    add_keys(out, seen, methods_of(v), is_fn)
    if type(v) == "table" then add_keys(out, seen, v, is_fn) end
    return out
  end
  if type(v) == "table" then add_keys(out, seen, v) end
  if metaname(v) == "fp.Model" then
    for _, k in ipairs(MODEL_FIELDS) do if not seen[k] then seen[k] = true; out[#out + 1] = k end end
  elseif fp.is_tensor(v) then
    for _, k in ipairs(TENSOR_FIELDS) do if not seen[k] then seen[k] = true; out[#out + 1] = k end end
  end
  return out
end

-- Evaluates a path like `model.blocks[3].attn` from the globals.
local function resolve(path)
  local name, rest = path:match("^([%a_][%w_]*)(.*)$")
  if not name then return nil end
  local v = rawget(_G, name)
  while rest ~= "" and v ~= nil do
    local field, r = rest:match("^%.([%a_][%w_]*)(.*)$")
    if field then v, rest = step(v, field), r
    else
      local idx, r2 = rest:match("^%[%s*(%-?%d+)%s*%](.*)$")
      if idx then v, rest = step(v, math.tointeger(tonumber(idx))), r2
      else
        local q, key, r3 = rest:match("^%[%s*([\"'])(.-)%1%s*%](.*)$")
        if not q then return nil end
        v, rest = step(v, key), r3
      end
    end
  end
  return v
end

-- Hook names: of every model and cache among the globals (and one level inside global tables).
local function hook_names()
  local names, seen = {}, {}
  local function add(n) if type(n) == "string" and not seen[n] then seen[n] = true; names[#names + 1] = n end end
  local function visit(v)
    local mn = metaname(v)
    if mn == "fp.Model" then
      local ok, list = pcall(v.hook_points, v)
      if ok and type(list) == "table" then for _, n in ipairs(list) do add(n) end end
    elseif mn == "fp.ActivationCache" then
      for k in next, v do add(k) end
    end
  end
  for _, v in next, _G do
    visit(v)
  end
  return names
end

local function filter_prefix(list, prefix)
  local out = {}
  for _, s in ipairs(list) do if s:sub(1, #prefix) == prefix then out[#out + 1] = s end end
  table.sort(out)
  return out
end

-- The string literal open at the end of `text`, if any: its quote char and start position.
local function open_string(text)
  local toks = require("fp.session").tokens(text)
  local last = toks[#toks]
  if last and last.kind == "string" and last.open and (last.text:sub(1, 1) == '"' or last.text:sub(1, 1) == "'") then
    return last
  end
  return nil
end

function M.complete(text)
  local str = open_string(text)
  if str then
    local start = str.s + 1
    local prefix = text:sub(start)
    -- cache["...: that cache's keys; otherwise every hook name in the session
    local owner = text:sub(1, str.s - 1):match("([%a_][%w_%.%[%]]*)%[%s*$")
    local list
    if owner then
      local v = resolve(owner)
      if type(v) == "table" then
        list = {}
        for k in next, v do if type(k) == "string" then list[#list + 1] = k end end
      end
    end
    return start, filter_prefix(list or hook_names(), prefix)
  end
  -- an expression path ending in a partial name
  local path, sep, partial = text:match("([%a_][%w_%.%[%]\"'%-]*)([%.:])([%a_]?[%w_]*)$")
  if path then
    local v = resolve(path)
    if v == nil then return #text - #partial + 1, {} end
    return #text - #partial + 1, filter_prefix(members(v, sep), partial)
  end
  partial = text:match("([%a_][%w_]*)$") or ""
  local globals, seen = {}, {}
  add_keys(globals, seen, _G)
  for _, kw in ipairs({ "local", "function", "return", "then", "end", "else", "elseif", "while", "repeat",
                        "until", "for", "break", "nil", "true", "false", "and", "not" }) do
    globals[#globals + 1] = kw
  end
  return #text - #partial + 1, filter_prefix(globals, partial)
end

return M

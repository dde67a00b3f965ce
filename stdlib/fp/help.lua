-- help(x) / ?x in `fp repl` and Jupyter's Shift-Tab: one registry (fp.help_registry) with an
-- entry for every public function of fp and its stdlib: signature, one line, and the
-- PyTorch / TransformerLens equivalent. Names: "fp.einsum", "fp.patching.resid_pre",
-- "Tensor:softmax", "Model:run_with_cache", "ActivationCache:act", "Figure:save".
local fp = require "fp"

local M = {}

local function registry() return require "fp.help_registry" end

-- Public stdlib modules whose functions the registry covers (internal helpers are not listed).
M.modules = { "args", "attribution", "csv", "das", "datasets", "edits", "files", "json", "nn", "optim",
              "patching", "plot", "progress", "results", "testing", "utils", "cache", "display" }

local function sorted_functions(t, prefix, sep, out, seen)
  if type(t) ~= "table" then return end
  for k, v in next, t do
    if type(k) == "string" and not k:match("^_") and type(v) == "function" then
      local name = prefix .. sep .. k
      if not seen[name] then seen[name] = true; out[#out + 1] = name end
    end
  end
end

-- The classes whose methods the registry covers: name -> methods table.
function M.classes()
  local cache = require "fp.cache"
  local plot = require "fp.plot"
  return {
    Tensor = getmetatable(fp.ones(1)).__methods,
    Model = fp.Model,
    ActivationCache = getmetatable(cache.wrap({}, nil)).__methods,
    Figure = plot.Figure,
  }
end

-- Every public function name of the live API, sorted.
function M.public_names()
  local out, seen = {}, {}
  sorted_functions(fp, "fp", ".", out, seen)
  for k, v in next, fp do
    if type(k) == "string" and type(v) == "table" and k ~= "Tensor" and k ~= "Model" and not k:match("^_") then
      sorted_functions(v, "fp." .. k, ".", out, seen)
    end
  end
  for _, m in ipairs(M.modules) do
    local ok, mod = pcall(require, "fp." .. m)
    if ok then sorted_functions(mod, "fp." .. m, ".", out, seen) end
  end
  for cls, methods in pairs(M.classes()) do
    sorted_functions(methods, cls, ":", out, seen)
  end
  table.sort(out)
  return out
end

local function class_of(v)
  if fp.is_tensor(v) then return "Tensor" end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  local n = rawget(mt, "__name")
  if n == "fp.Model" then return "Model" end
  if n == "fp.ActivationCache" then return "ActivationCache" end
  if mt == require("fp.plot").Figure then return "Figure" end
  return nil
end

-- The registry name of a function value (found by identity in fp, the stdlib and the classes).
local function name_of_function(f)
  for cls, methods in pairs(M.classes()) do
    for k, v in next, methods do if v == f then return cls .. ":" .. k end end
  end
  for k, v in next, fp do if v == f then return "fp." .. k end end
  for k, v in next, fp do
    if type(v) == "table" and k ~= "Tensor" and k ~= "Model" then
      for k2, v2 in next, v do if v2 == f then return "fp." .. k .. "." .. k2 end end
    end
  end
  for modname, mod in next, package.loaded do
    if type(modname) == "string" and modname:match("^fp%.") and type(mod) == "table" then
      for k, v in next, mod do if v == f then return modname .. "." .. k end end
    end
  end
  return nil
end

-- The module name of a table value ("fp.plot" for the table require "fp.plot" returned).
local function module_name(t)
  if t == fp then return "fp" end
  for modname, mod in next, package.loaded do
    if mod == t and type(modname) == "string" and modname:match("^fp") then return modname end
  end
  for k, v in next, fp do if v == t then return "fp." .. k end end
  return nil
end

-- Resolves an expression text like "fp.einsum", "t:softmax", "plot.imshow", "model" to
-- registry names (raw lookups from the globals; no code of the script runs).
function M.resolve(expr)
  local reg = registry()
  if reg[expr] then return expr end
  local base, sep, last = expr:match("^(.-)([%.:])([%a_][%w_]*)$")
  if not base then
    local v = rawget(_G, expr)
    if type(v) == "function" then return name_of_function(v) end
    local cls = class_of(v)
    if cls then return cls end
    local mod = type(v) == "table" and module_name(v)
    if mod then return mod end
    return nil
  end
  local v = rawget(_G, base:match("^[%a_][%w_]*") or "")
  for part in base:gmatch("%.([%a_][%w_]*)") do
    if type(v) ~= "table" then v = nil; break end
    v = rawget(v, part)
  end
  local cls = class_of(v)
  if cls then return cls .. ":" .. last end
  local mod = type(v) == "table" and module_name(v)
  if mod then
    local name = mod .. "." .. last
    if reg[name] then return name end
    local f = rawget(v, last)
    if type(f) == "function" then return name_of_function(f) or name end
    return name
  end
  return nil
end

-- The text of one entry (nil when the registry has none).
function M.lookup(expr)
  local name = M.resolve(expr)
  local e = name and registry()[name]
  if not e then return nil end
  local lines = { e.sig or name, "  " .. e.doc }
  if e.torch and e.torch ~= "" then lines[#lines + 1] = "  PyTorch/TransformerLens: " .. e.torch end
  return table.concat(lines, "\n")
end

-- The text help(x) prints: the entry, or the names that start with x, or a hint.
function M.text(expr)
  if type(expr) ~= "string" then return "help: give a name, e.g. help(\"fp.einsum\") or ?fp.einsum" end
  local t = M.lookup(expr)
  if t then return t end
  local name = M.resolve(expr) or expr
  local near = {}
  for k in pairs(registry()) do if k:sub(1, #name) == name then near[#near + 1] = k end end
  table.sort(near)
  if #near > 0 then return "help " .. expr .. ": " .. table.concat(near, ", ", 1, math.min(#near, 40)) .. (#near > 40 and ", ..." or "") end
  return "help: nothing is documented as '" .. expr .. "' (try help(\"fp\") or help(\"Tensor\"))"
end

-- help(x): x is a function, a value (tensor, model, cache, module) or a name.
function M.help(x)
  if type(x) == "function" then
    local n = name_of_function(x)
    print(n and M.text(n) or "help: this function is not part of fp's documented API")
    return
  end
  if type(x) ~= "string" then
    local cls = class_of(x)
    local mod = type(x) == "table" and module_name(x)
    print(M.text(cls or mod or ""))
    return
  end
  print(M.text(x))
end

-- The name around the end of `text` (Shift-Tab): "fp.einsum(" -> "fp.einsum".
function M.name_at(text)
  local t = text:gsub("%($", "")
  return t:match("([%a_][%w_%.:]*)$")
end

return M

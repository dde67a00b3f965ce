-- How `fp repl` shows the values of an expression: tables by their contents (lists as
-- {1, 2, 3}, records as { key = value }, nested up to two levels, long ones cut with "..."),
-- everything else as print shows it (tensors print themselves).
local M = {}

local MAX_ITEMS, MAX_DEPTH = 20, 2

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function show_value(v, depth, seen)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, MAX_ITEMS) do parts[#parts + 1] = show_value(v[i], depth + 1, seen) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  local shown = #parts
  for _, k in ipairs(keys) do
    if shown >= MAX_ITEMS then break end
    local key = is_identifier(k) and k or "[" .. show_value(k, MAX_DEPTH, seen) .. "]"
    parts[#parts + 1] = key .. " = " .. show_value(v[k], depth + 1, seen)
    shown = shown + 1
  end
  seen[v] = nil
  local total = n + #keys
  if total > shown then parts[#parts + 1] = "... (" .. total .. " entries)" end
  if #parts == 0 then return "{}" end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- The text the REPL prints for one value.
function M.format(v) return show_value(v, 0, {}) end

-- Prints the values of an expression, tab-separated, as print does.
function M.show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = type(v) == "string" and v or M.format(v)
  end
  print(table.concat(out, "\t"))
end

return M

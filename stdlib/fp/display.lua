-- How a value is shown in `fp repl` and in Jupyter: one MIME bundle per value.
--   text/plain  always (models, caches, factored matrices: one line; long tables: cut, with
--               their size; `show_all(x)` prints everything)
--   text/html   fp.plot figures and pages (the SVG, whose <title>s are the hover values), small
--               tensors as a table
--   image/svg+xml  fp.plot figures (for front ends that do not render HTML)
-- fp.display(x, ...) shows values now (in Jupyter as outputs of the running cell; elsewhere
-- printed as the REPL prints them).
local fp = require "fp"

local M = {}

-- Where fp.display sends bundles: set by the Jupyter kernel, nil means print text/plain.
M.sink = nil

local MAX_ITEMS, MAX_DEPTH = 20, 2
local HTML_TABLE_MAX = 200   -- tensors with at most this many elements (and <= 2-D) get a table

local function metaname(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function human_bytes(n)
  if n >= 2 ^ 30 then return string.format("%.1f GB", n / 2 ^ 30) end
  if n >= 2 ^ 20 then return string.format("%.1f MB", n / 2 ^ 20) end
  return string.format("%.1f KB", n / 2 ^ 10)
end

-- "ActivationCache with 633 keys (blocks.0 .. blocks.29, 12.3 MB); cache:keys() lists them"
function M.cache_summary(c)
  local n, bytes, layers = 0, 0, -1
  for k, v in pairs(c) do
    n = n + 1
    if fp.is_tensor(v) then bytes = bytes + v:numel() * 4 end
    local l = type(k) == "string" and tonumber(k:match("^blocks%.(%d+)%."))
    if l and l > layers then layers = l end
  end
  local span = layers >= 0 and string.format("blocks.0 .. blocks.%d, ", layers) or ""
  return string.format("ActivationCache with %d keys (%s%s); cache:keys() lists them, show_all(cache) shows every tensor's shape",
    n, span, human_bytes(bytes))
end

local show_value

local function show_table(v, depth, seen, limit)
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, limit) do parts[#parts + 1] = show_value(v[i], depth + 1, seen, limit) end
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
    if shown >= limit then break end
    local key = is_identifier(k) and k or "[" .. show_value(k, MAX_DEPTH, seen, limit) .. "]"
    parts[#parts + 1] = key .. " = " .. show_value(v[k], depth + 1, seen, limit)
    shown = shown + 1
  end
  seen[v] = nil
  local total = n + #keys
  if total > shown then parts[#parts + 1] = "... (" .. total .. " entries; show_all(x) shows all)" end
  if #parts == 0 then return "{}" end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

function show_value(v, depth, seen, limit)
  if type(v) == "string" then return string.format("%q", v) end
  if fp.is_tensor(v) and depth > 0 then
    return string.format("Tensor(%s, shape [%s])", v.dtype, table.concat(v.shape, ", "))
  end
  if metaname(v) == "fp.ActivationCache" then return M.cache_summary(v) end
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__tostring then return tostring(v) end
  return show_table(v, depth, seen, limit)
end

-- The text the REPL prints for one value.
function M.text(v) return show_value(v, 0, {}, MAX_ITEMS) end

-- Everything in a table (a cache: every key with its tensor's shape), one entry per line.
function M.all_text(v)
  if type(v) ~= "table" then return M.text(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  local lines = {}
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k or "[" .. tostring(k) .. "]"
    lines[#lines + 1] = key .. " = " .. show_value(v[k], 1, {}, math.huge)
  end
  return table.concat(lines, "\n")
end

local function tensor_html(t)
  local shape = t.shape
  if #shape > 2 or t:numel() > HTML_TABLE_MAX or t:numel() == 0 then return nil end
  local rows = #shape == 2 and t:tolist() or { #shape == 1 and t:tolist() or { t:item() } }
  local out = { string.format('<table class="fp-tensor"><caption>%s [%s]</caption>', esc(t.dtype), table.concat(shape, ", ")) }
  for _, row in ipairs(rows) do
    out[#out + 1] = "<tr>"
    for _, x in ipairs(row) do
      local s = math.type(x) == "float" and string.format("%.4g", x) or tostring(x)
      out[#out + 1] = '<td style="text-align:right">' .. esc(s) .. "</td>"
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</table>"
  return table.concat(out)
end

-- The MIME bundle for one value.
function M.bundle(v)
  local plot = package.loaded["fp.plot"]
  local mt = getmetatable(v)
  if plot and mt == plot.Figure then
    if v._fragment then   -- an interactive figure (plot.attention): its own markup and script
      return { ["text/plain"] = tostring(v), ["text/html"] = v._fragment }
    end
    local svg = v:svg()
    return { ["text/plain"] = tostring(v), ["text/html"] = '<div class="fp-figure">' .. svg .. "</div>", ["image/svg+xml"] = svg }
  end
  if plot and mt == plot.Page then
    local parts = {}
    for i, f in ipairs(v.figures) do
      if v.headings and v.headings[i] then parts[#parts + 1] = "<h3>" .. esc(v.headings[i]) .. "</h3>" end
      parts[#parts + 1] = f._fragment or ('<div class="fp-figure">' .. f:svg() .. "</div>")
    end
    return { ["text/plain"] = tostring(v), ["text/html"] = table.concat(parts, "\n") }
  end
  local b = { ["text/plain"] = type(v) == "string" and v or M.text(v) }
  if fp.is_tensor(v) then b["text/html"] = tensor_html(v) end
  return b
end

-- fp.display(x, ...): shows each value now.
function M.display(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if M.sink then M.sink(M.bundle(v)) else print(type(v) == "string" and v or M.text(v)) end
  end
end

-- show_all(x): every entry of a table or cache (printed; the REPL and kernel define it).
function M.show_all(v) print(M.all_text(v)) end

return M

-- Small SVG building blocks for fp.plot: escaping, label clean-up, text width estimates,
-- axis ticks and number formats. No layout decisions live here.
local M = {}

M.font = "DejaVu Sans, Helvetica, Arial, sans-serif"

local valid_utf8 = require("fp.unicode").valid_utf8

-- XML-escapes text for element content and attribute values. Characters XML cannot hold
-- (control characters other than tab and newline, invalid UTF-8) become visible escapes or
-- U+FFFD, so any Lua string gives a well-formed file.
function M.esc(s)
  s = valid_utf8(tostring(s))
  s = s:gsub("[%z\1-\8\11\12\14-\31\127]", function(c) return string.format("\\x%02x", c:byte()) end)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

-- Makes a label printable: control characters become visible escapes (a newline token reads
-- "\n"), invalid UTF-8 bytes become U+FFFD, and labels longer than max characters are cut
-- with an ellipsis.
function M.clean_label(s, max)
  s = tostring(s)
  s = s:gsub("%c", function(c)
    local named = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
    return named[c] or string.format("\\x%02x", c:byte())
  end)
  s = valid_utf8(s)
  if max and utf8.len(s) > max then
    s = s:sub(1, utf8.offset(s, max) - 1) .. "\u{2026}"
  end
  return s
end

-- Approximate rendered width in pixels of text at a font size (average glyph ~0.6 em for the
-- sans fonts above; wide characters such as CJK count double).
local narrow = {}
for c in (" .,:;'|!ijlrtf()[]"):gmatch(".") do narrow[c:byte()] = true end

function M.text_width(s, size)
  s = valid_utf8(tostring(s))
  local w = 0
  for _, cp in utf8.codes(s) do
    if cp >= 0x1100 then w = w + 1.0
    elseif narrow[cp] then w = w + 0.32
    elseif cp >= 65 and cp <= 90 then w = w + 0.7
    else w = w + 0.6 end
  end
  return w * size
end

function M.max_width(labels, size)
  local m = 0
  for _, s in ipairs(labels) do m = math.max(m, M.text_width(s, size)) end
  return m
end

-- A number for a tooltip or a cell: 4 significant digits, no exponent for ordinary sizes.
function M.fmt(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  if math.type(v) == "integer" then return tostring(v) end
  local a = math.abs(v)
  if a ~= 0 and (a < 1e-3 or a >= 1e6) then return string.format("%.3e", v) end
  local s = string.format("%.4g", v)
  if s == "-0" then s = "0" end
  return s
end

-- Numbers written in heatmap cells: one format for the whole figure, fmt if it is a string
-- (e.g. "%.1f"), else fixed decimals that give 3 significant digits at the largest |limit|.
-- Returns the formatter and the widest text's length.
function M.value_format(values, zmin, zmax, fmt)
  if type(fmt) ~= "string" then
    local m = math.max(math.abs(zmin), math.abs(zmax))
    local decimals = math.max(0, math.min(4, 2 - math.floor(math.log(m > 0 and m or 1, 10))))
    fmt = "%." .. decimals .. "f"
  end
  local function text(v)
    if v ~= v then return "NaN" end
    local s = string.format(fmt, v)
    if s:match("^%-0%.?0*$") then s = s:sub(2) end -- no "-0.00"
    return s
  end
  local widest = 1
  local function visit(x)
    if type(x) == "table" then for _, y in ipairs(x) do visit(y) end
    else widest = math.max(widest, #text(x)) end
  end
  visit(values)
  return text, widest
end

-- "Nice" tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten, about n ticks.
function M.ticks(lo, hi, n)
  n = n or 5
  if hi < lo then lo, hi = hi, lo end
  if hi == lo then return { lo }, 1 end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = mag
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if m * mag >= raw then step = m * mag; break end
  end
  local out = {}
  local first = math.ceil(lo / step - 1e-9)
  local last = math.floor(hi / step + 1e-9)
  for k = first, last do
    local v = k * step
    if math.abs(v) < step * 1e-9 then v = 0 end
    out[#out + 1] = v
  end
  return out, step
end

-- Tick label for v on a grid of step: just enough decimals to tell ticks apart.
function M.fmt_tick(v, step)
  local a = math.max(math.abs(v), step)
  if a >= 1e6 or a < 1e-3 then return string.format("%.2g", v) end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  if step * 10 ^ decimals % 1 > 1e-6 then decimals = decimals + 1 end -- 2.5 steps
  local s = string.format("%." .. decimals .. "f", v)
  if s:match("^%-0%.?0*$") then s = s:sub(2) end
  return s
end

-- <text> with escaped content; attrs is a string of extra attributes.
function M.text(x, y, s, attrs)
  return string.format('<text x="%.1f" y="%.1f"%s>%s</text>', x, y, attrs and (" " .. attrs) or "", M.esc(s))
end

return M

-- JSON for fp scripts: json.decode(text) -> Lua value, json.encode(value) -> text.
--
-- decode: objects become tables with string keys (marked with the json.object metatable, so
-- they encode back as objects, {} included), arrays 1-based lists, null becomes json.null.
-- Numbers with a fraction or an exponent become Lua floats, others Lua integers (floats when
-- they do not fit in 64 bits). \uXXXX escapes, surrogate pairs included, become UTF-8; a lone
-- surrogate becomes U+FFFD. Errors give the line, column and character of the problem.
--
-- encode: tables with keys 1..n (and no others) are arrays, other tables objects with sorted
-- keys (stable output for results.json diffs); json.empty_object() is written as {}. With
-- { indent = "  " }, arrays of plain values (numbers, strings, booleans, null) stay on one
-- line, so a [30, 16] result reads as 30 lines. Integers
-- are written as integers; floats with the fewest digits (15, 16 or 17 significant) that read
-- back as the same float, with ".0" when they have no fraction so they stay floats. NaN and
-- infinities have no JSON form and are written as null. Tensors are written via tolist. UTF-8
-- text is kept as is; control characters are escaped; bytes that are not valid UTF-8 are
-- replaced by U+FFFD, so the output is always valid JSON.
local M = {}
M.null = setmetatable({}, { __tostring = function() return "null" end })
-- The metatable that marks a table to be written as an object ({} rather than [] when empty).
M.object = {}

---------------------------------------------------------------------------------------------
-- decode

local function fail(s, i, msg)
  local line, col = 1, 1
  local k = 1
  while true do
    local nl = s:find("\n", k, true)
    if not nl or nl >= i then break end
    line = line + 1
    k = nl + 1
  end
  col = i - k + 1
  error(string.format("json.decode: %s at line %d, column %d (character %d)", msg, line, col, i), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function hex4(s, j)
  local hex = s:sub(j, j + 3)
  if not hex:match("^%x%x%x%x$") then return nil end
  return tonumber(hex, 16)
end

local function string_at(s, i)
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\%c]', j)
    if not k then fail(s, i, "unterminated string") end
    if k > j then out[#out + 1] = s:sub(j, k - 1) end
    local c = s:sub(k, k)
    if c == '"' then
      local str = table.concat(out)
      if not utf8.len(str) then
        local _, bad = utf8.len(str)
        fail(s, i, "invalid UTF-8 in string (byte " .. bad .. " of the string)")
      end
      return str, k + 1
    end
    if c ~= "\\" then fail(s, k, "control character in string (escape it)") end
    local e = s:sub(k + 1, k + 1)
    if e == "u" then
      local cp = hex4(s, k + 2)
      if not cp then fail(s, k, "bad \\u escape (expected 4 hex digits)") end
      j = k + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:sub(j, j + 1) == "\\u" and hex4(s, j + 2)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          j = j + 6
        else
          cp = 0xFFFD -- a high surrogate without its low half
        end
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        cp = 0xFFFD   -- a low surrogate on its own
      end
      out[#out + 1] = utf8.char(cp)
    elseif escapes[e] then
      out[#out + 1] = escapes[e]
      j = k + 2
    else
      fail(s, k, "bad escape '\\" .. e .. "'")
    end
  end
end

-- A JSON number at i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)?
local function number_at(s, i)
  local j = i
  if s:sub(j, j) == "-" then j = j + 1 end
  local int = s:match("^%d+", j)
  if not int then fail(s, i, "bad number") end
  if #int > 1 and int:sub(1, 1) == "0" then fail(s, i, "bad number (leading zero)") end
  j = j + #int
  local is_float = false
  if s:sub(j, j) == "." then
    local frac = s:match("^%d+", j + 1)
    if not frac then fail(s, i, "bad number (digits expected after '.')") end
    j = j + 1 + #frac
    is_float = true
  end
  if s:find("^[eE]", j) then
    local exp = s:match("^[-+]?%d+", j + 1)
    if not exp then fail(s, i, "bad number (digits expected in the exponent)") end
    j = j + 1 + #exp
    is_float = true
  end
  local text = s:sub(i, j - 1)
  local n
  if is_float then n = tonumber(text) + 0.0
  else n = math.tointeger(tonumber(text)) or tonumber(text) + 0.0 end
  return n, j
end

local function value(s, i, depth)
  if depth > 200 then fail(s, i, "nesting too deep") end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = setmetatable({}, M.object) -- so that {} encodes back as {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a string key") end
      local k
      k, i = string_at(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      obj[k], i = value(s, i + 1, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d == "" then fail(s, i, "unexpected end of input") end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = value(s, i, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return arr, i + 1 end
      if d == "" then fail(s, i, "unexpected end of input") end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return string_at(s, i)
  elseif c == "-" or c:match("%d") then
    return number_at(s, i)
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return M.null, i + 4
  elseif c == "" then fail(s, i, "unexpected end of input")
  else
    fail(s, i, "unexpected character '" .. c .. "'")
  end
end

function M.decode(s)
  if type(s) ~= "string" then error("json.decode: expected a string, got " .. type(s), 2) end
  local v, i = value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then fail(s, i, "trailing data") end
  return v
end

---------------------------------------------------------------------------------------------
-- encode

-- The shortest of %.15g, %.16g, %.17g that reads back as v (17 digits always do); a float
-- without a fraction gets ".0". NaN and infinities give nil.
function M.number_string(v)
  if type(v) ~= "number" then error("json.number_string: a number expected, got " .. type(v), 2) end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  local s
  for _, fmt in ipairs({ "%.15g", "%.16g", "%.17g" }) do
    s = string.format(fmt, v)
    if tonumber(s) == v then break end
  end
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

-- The shortest text (6 to 9 significant digits) that reads back as the same float32: tensors
-- hold float32, so 0.1f is written "0.1", not the 17 digits of its double value.
function M.float32_string(v)
  if type(v) ~= "number" then error("json.float32_string: a number expected, got " .. type(v), 2) end
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  local want = string.pack("<f", v)
  local s
  for digits = 6, 9 do
    s = string.format("%." .. digits .. "g", v)
    if string.pack("<f", tonumber(s)) == want then break end
  end
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\b"] = "\\b", ["\f"] = "\\f" }

local valid_utf8 = require("fp.unicode").valid_utf8

local function encode_string(s)
  s = valid_utf8(s)
  s = s:gsub('[%c"\\]', function(c) return named[c] or string.format("\\u%04x", c:byte()) end)
  -- U+2028 and U+2029 are valid JSON but end a line in JavaScript: escape them for pages
  s = s:gsub("\u{2028}", "\\u2028"):gsub("\u{2029}", "\\u2029")
  return '"' .. s .. '"'
end

local function is_tensor(v)
  local fp = package.loaded.fp
  return fp ~= nil and type(fp) == "table" and fp.is_tensor ~= nil and fp.is_tensor(v)
end

-- fast: fp's Swift writers (fp._json_tensor, fp._json_numbers: one pass, the same bytes), or
-- nil for the plain Lua path (json._encode_lua, the reference they are tested against). f32:
-- inside a float32 tensor's list (floats written with float32's shortest digits).
local function encode(v, indent, depth, seen, fast, f32)
  local t = type(v)
  if v == nil or v == M.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if f32 and math.type(v) == "float" then return M.float32_string(v) or "null" end
    return M.number_string(v) or "null"
  end
  if t == "string" then return encode_string(v) end
  if is_tensor(v) then
    if fast then return fast._json_tensor(v, indent, depth) end
    return encode(v:tolist(), indent, depth, seen, nil, v.dtype == "float32")
  end
  if t ~= "table" then error("json.encode: cannot encode a " .. t, 0) end
  if seen[v] then error("json.encode: a table contains itself", 0) end
  seen[v] = true
  local nl = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
  local close = indent and ("\n" .. string.rep(indent, depth)) or ""
  local sep = indent and ": " or ":"
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  local parts = {}
  local out
  local as_object = getmetatable(v) == M.object
  if count == n and not as_object then
    -- a list of numbers: written by Swift in one pass (nil when an item is not a number)
    local text = fast and n > 0 and fast._json_numbers(v, n, indent and ", " or ",")
    if text then seen[v] = nil; return text end
    local flat = true -- an array of plain values (a row of numbers) stays on one line
    for i = 1, n do
      parts[i] = encode(v[i], indent, depth + 1, seen, fast, f32)
      if type(v[i]) == "table" and v[i] ~= M.null or is_tensor(v[i]) then flat = false end
    end
    if n == 0 then out = "[]"
    elseif flat and indent then out = "[" .. table.concat(parts, ", ") .. "]"
    else out = "[" .. nl .. table.concat(parts, "," .. nl) .. close .. "]" end
  else
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" and type(k) ~= "number" then error("json.encode: object keys must be strings or numbers, got " .. type(k), 0) end
      keys[#keys + 1] = { name = type(k) == "number" and (M.number_string(k) or tostring(k)) or k, key = k }
    end
    table.sort(keys, function(a, b) return a.name < b.name end)
    for i, k in ipairs(keys) do
      parts[i] = encode_string(k.name) .. sep .. encode(v[k.key], indent, depth + 1, seen, fast, f32)
    end
    out = #parts == 0 and "{}" or "{" .. nl .. table.concat(parts, "," .. nl) .. close .. "}"
  end
  seen[v] = nil
  return out
end

function M.empty_object() return setmetatable({}, M.object) end

-- json.encode(value[, { indent = "  " }])
function M.encode(v, opts)
  require("fp.errors").check_options("json.encode", opts, { "indent" })
  local fp = package.loaded.fp
  local fast = type(fp) == "table" and fp._json_tensor and fp or nil
  return encode(v, opts and opts.indent, 0, {}, fast)
end

-- The same text from Lua alone (the reference for the Swift writers; scripts/bench/save).
function M._encode_lua(v, opts)
  require("fp.errors").check_options("json.encode", opts, { "indent" })
  return encode(v, opts and opts.indent, 0, {})
end

return M

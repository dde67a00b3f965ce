-- JSON for fp scripts: json.decode(text) -> Lua value, json.encode(value) -> text.
-- Objects become tables with string keys, arrays 1-based lists, null becomes json.null.
-- encode writes tables with keys 1..n (and no others) as arrays, sorts object keys (stable
-- output for results.json diffs), writes integers without a fraction and tensors via tolist.
local M = {}
M.null = setmetatable({}, { __tostring = function() return "null" end })

local function fail(s, i, msg)
  error(string.format("json.decode: %s at character %d", msg, i), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8char(cp) return utf8.char(cp) end

local value -- forward declaration

local function string_at(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then fail(s, i, "unterminated string") end
    if c == '"' then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      if e == "u" then
        local hex = s:sub(j + 2, j + 5)
        if not hex:match("^%x%x%x%x$") then fail(s, j, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
          local lo = tonumber(s:sub(j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            j = j + 6
          end
        end
        out[#out + 1] = utf8char(cp)
      elseif escapes[e] then
        out[#out + 1] = escapes[e]
        j = j + 2
      else
        fail(s, j, "bad escape")
      end
    else
      local k = s:find('["\\]', j) or #s + 1
      out[#out + 1] = s:sub(j, k - 1)
      j = k
    end
  end
end

value = function(s, i, depth)
  if depth > 200 then fail(s, i, "nesting too deep") end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
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
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return string_at(s, i)
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return M.null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if not num or num == "" or num == "-" then fail(s, i, "unexpected character '" .. c .. "'") end
    local n = math.tointeger(tonumber(num)) or tonumber(num)
    if n == nil then fail(s, i, "bad number") end
    return n, i + #num
  end
end

function M.decode(s)
  if type(s) ~= "string" then error("json.decode: expected a string, got " .. type(s), 2) end
  local v, i = value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then fail(s, i, "trailing data") end
  return v
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return map[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode(v, indent, depth, seen)
  local t = type(v)
  if v == nil or v == M.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v)
  end
  if t == "string" then return encode_string(v) end
  if fp and fp.is_tensor and fp.is_tensor(v) then return encode(v:tolist(), indent, depth, seen) end
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
  if count == n and (n > 0 or next(v) == nil and getmetatable(v) ~= M.object) and not (n == 0 and getmetatable(v) == M.object) then
    for i = 1, n do parts[i] = encode(v[i], indent, depth + 1, seen) end
    out = n == 0 and "[]" or "[" .. nl .. table.concat(parts, "," .. nl) .. close .. "]"
  else
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" and type(k) ~= "number" then error("json.encode: object keys must be strings", 0) end
      keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    for i, k in ipairs(keys) do
      local val = v[k]
      if val == nil then val = v[tonumber(k)] end
      parts[i] = encode_string(k) .. sep .. encode(val, indent, depth + 1, seen)
    end
    out = "{" .. nl .. table.concat(parts, "," .. nl) .. close .. "}"
  end
  seen[v] = nil
  return out
end

-- Marks an empty table to be written as {} rather than [].
M.object = {}
function M.empty_object() return setmetatable({}, M.object) end

-- json.encode(value[, { indent = "  " }])
function M.encode(v, opts)
  return encode(v, opts and opts.indent, 0, {})
end

return M

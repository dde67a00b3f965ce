-- fp.json: unicode (escapes, surrogate pairs, invalid UTF-8), numbers written with the fewest
-- digits that read back exactly, nesting, errors with their position, fp.save to .json.
local fp = require "fp"
local json = require "fp.json"

local function bytes(s)
  local t = {}
  for i = 1, #s do t[i] = string.format("%02X", s:byte(i)) end
  return table.concat(t, " ")
end

test("\\u escapes decode to UTF-8, surrogate pairs to one code point", function()
  assert_equal(bytes(json.decode([["\u00e9"]])), "C3 A9")                 -- é
  assert_equal(bytes(json.decode([["\u20ac"]])), "E2 82 AC")              -- €
  assert_equal(bytes(json.decode([["\ud83d\ude00"]])), "F0 9F 98 80")     -- U+1F600
  assert_equal(bytes(json.decode([["\uD834\uDD1E"]])), "F0 9D 84 9E")     -- U+1D11E, upper-case hex
  assert_equal(json.decode([["a\u0000b"]]), "a\0b")
  assert_equal(json.decode([["\"\\\/\b\f\n\r\t"]]), "\"\\/\b\f\n\r\t")
end)

test("lone surrogates become U+FFFD, never invalid UTF-8", function()
  assert_equal(bytes(json.decode([["\ud800"]])), "EF BF BD")
  assert_equal(bytes(json.decode([["\udc00x"]])), "EF BF BD 78")
  assert_equal(bytes(json.decode([["\ud800\u0041"]])), "EF BF BD 41")      -- high + non-low: both kept apart
end)

test("UTF-8 text is kept as is in both directions", function()
  local s = "Zürich — 東京 😀"
  assert_equal(json.encode(s), '"' .. s .. '"')
  assert_equal(json.decode(json.encode(s)), s)
  assert_equal(json.decode('"' .. s .. '"'), s)
end)

test("control characters are escaped; every ASCII string round-trips", function()
  assert_equal(json.encode("a\nb\t\0\1\31\127\"\\"), [["a\nb\t\u0000\u0001\u001f\u007f\"\\"]])
  local all = {}
  for b = 0, 127 do all[#all + 1] = string.char(b) end
  local s = table.concat(all)
  local text = json.encode(s)
  assert(not text:find("%c"), "no raw control characters in the output")
  assert_equal(json.decode(text), s)
end)

test("invalid UTF-8 is replaced by U+FFFD so the output is valid JSON", function()
  local text = json.encode("ok\xff\xfe end \xc3")
  assert(utf8.len(text), "output is valid UTF-8")
  assert_equal(json.decode(text), "ok\u{FFFD}\u{FFFD} end \u{FFFD}")
  -- an overlong encoding and an encoded surrogate are invalid too
  assert_equal(json.decode(json.encode("\xc0\xaf")), "\u{FFFD}\u{FFFD}")
  assert_equal(json.decode(json.encode("\xed\xa0\x80")), "\u{FFFD}\u{FFFD}\u{FFFD}")
end)

test("decode rejects raw control characters and invalid UTF-8 in strings", function()
  expect_error(function() json.decode('"a\nb"') end, "control character in string")
  expect_error(function() json.decode('"a\xffb"') end, "invalid UTF-8")
end)

test("numbers: the shortest of 15/16/17 digits that reads back", function()
  -- known shortest forms (Python's repr gives the same for these)
  assert_equal(json.encode(0.1), "0.1")
  assert_equal(json.encode(1 / 3), "0.3333333333333333")
  assert_equal(json.encode(0.1 + 0.2), "0.30000000000000004")
  assert_equal(json.encode(2.5), "2.5")
  assert_equal(json.encode(-1e-7), "-1e-07")
  assert_equal(json.encode(1e300), "1e+300")
  -- floats without a fraction keep ".0" and stay floats; integers stay integers
  assert_equal(json.encode(3.0), "3.0")
  assert_equal(json.encode(2.0 ^ 53), "9007199254740992.0")
  assert_equal(json.encode(3), "3")
  assert_equal(json.encode(math.maxinteger), "9223372036854775807")
  assert_equal(math.type(json.decode("3.0")), "float")
  assert_equal(math.type(json.decode("3")), "integer")
  assert_equal(json.decode("-9223372036854775808"), math.mininteger)
  assert_equal(math.type(json.decode("12345678901234567890")), "float")
end)

test("random floats round-trip exactly and no shorter precision would", function()
  fp.seed(1)
  local xs = fp.randn(400):tolist()
  local lengths = {}
  for i, x in ipairs(xs) do
    local v = x * 10 ^ ((i % 40) - 20) / 3        -- double values across magnitudes, not just float32
    local s = json.encode(v)
    local back = json.decode(s)
    if back ~= v or math.type(back) ~= "float" then error(string.format("%.17g written as %s read back as %.17g", v, s, back)) end
    local mantissa = s:gsub("%.0$", ""):match("^-?([%d.]+)")
    local digits = #(mantissa:gsub("%.", ""):gsub("^0+", ""))
    if digits > 15 then
      local shorter = string.format("%." .. (digits - 1) .. "g", v)
      assert(tonumber(shorter) ~= v, string.format("%s: %s would read back too", s, shorter))
    end
    lengths[digits] = true
  end
  assert(lengths[17] and (lengths[16] or lengths[15]), "the sample needs both short and long forms")
end)

test("NaN and infinities are written as null", function()
  assert_equal(json.encode({ 0 / 0, math.huge, -math.huge, 1 }), "[null,null,null,1]")
end)

test("tensors: nested lists, float32 values with float32's shortest digits", function()
  assert_equal(json.encode(fp.tensor({ { 0.1, 2 }, { -0.5, 1 / 3 } })), "[[0.1,2.0],[-0.5,0.33333334]]")
  assert_equal(json.encode(fp.tensor({ 1, 2 }, "int")), "[1,2]")
  assert_equal(json.encode({ ok = fp.tensor({ true, false }) }), '{"ok":[true,false]}')
  -- every float32 written reads back as the same float32
  fp.seed(2)
  local t = fp.randn(200) * 1000
  local back = json.decode(json.encode(t))
  assert_equal(fp.tensor(back):eq(t):all(), true)
end)

test("nested values round-trip; objects get sorted keys; empty object and array", function()
  local v = { name = "ioi", layers = { 0, 1, 2 }, cells = { { a = 1.5, b = { json.null, true } }, {} },
              empty = json.empty_object(), note = "x" }
  local text = json.encode(v)
  assert_equal(text, '{"cells":[{"a":1.5,"b":[null,true]},[]],"empty":{},"layers":[0,1,2],"name":"ioi","note":"x"}')
  local back = json.decode(text)
  assert_equal(back.layers, { 0, 1, 2 })
  assert_equal(back.cells[1].b[1], json.null)
  assert_equal(back.cells[1].a, 1.5)
  assert_equal(json.encode(back), text)                       -- decoded objects stay objects, {} included
  assert_equal(json.encode({ 1, { x = 2 } }, { indent = "  " }), '[\n  1,\n  {\n    "x": 2\n  }\n]')
  -- rows of plain values stay on one line
  assert_equal(json.encode({ m = { { 1, 2 }, { 3, json.null } }, s = { "a", true } }, { indent = "  " }),
    '{\n  "m": [\n    [1, 2],\n    [3, null]\n  ],\n  "s": ["a", true]\n}')
end)

test("decode errors give line, column and character", function()
  expect_error(function() json.decode("[1,\n 2,\n x]") end, "unexpected character 'x' at line 3, column 2 (character 10)")
  expect_error(function() json.decode('{"a" 1}') end, "expected ':' at line 1, column 6")
  expect_error(function() json.decode("[1, 2") end, "unexpected end of input at line 1, column 6")
  expect_error(function() json.decode("[01]") end, "leading zero")
  expect_error(function() json.decode("[1.]") end, "digits expected after '.'")
  expect_error(function() json.decode("[1e+]") end, "exponent")
  expect_error(function() json.decode('"abc') end, "unterminated string at line 1, column 1")
  expect_error(function() json.decode('"\\x"') end, "bad escape '\\x'")
  expect_error(function() json.decode('"\\u12g4"') end, "bad \\u escape")
  expect_error(function() json.decode("{} x") end, "trailing data at line 1, column 4")
  expect_error(function() json.decode(5) end, "expected a string, got number")
end)

test("encode errors name what cannot be written", function()
  expect_error(function() json.encode({ f = print }) end, "cannot encode a function")
  local loop = {}
  loop.self = loop
  expect_error(function() json.encode(loop) end, "contains itself")
  expect_error(function() json.encode({ [true] = 1 }) end, "object keys must be strings or numbers, got boolean")
end)

test("fp.save writes tables with tensors as .json", function()
  local dir = os.tmpname()
  os.remove(dir)
  local path = dir .. "/sub/results.json"                     -- missing folders are created
  fp.save(path, { model = "m", clean = 5.25, resid = fp.tensor({ { 0.5, 1 } }), n = 3 })
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  assert(text:find('\n  "model": "m"', 1, true), "indented two spaces:\n" .. text)
  local back = json.decode(text)
  assert_equal(back.resid, { { 0.5, 1.0 } })
  assert_equal(back.clean, 5.25)
  assert_equal(back.n, 3)
  os.remove(path); os.remove(dir .. "/sub"); os.remove(dir)
  expect_error(function() fp.save(path, { f = print }) end, "cannot encode a function")
  expect_error(function() fp.save("/tmp/x.unknown", { a = 1 }) end, "unknown extension")
end)

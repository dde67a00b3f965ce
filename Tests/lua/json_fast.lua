-- fp.json's Swift writers (fp._json_tensor, fp._json_numbers) against the Lua encoder they
-- replace (json._encode_lua, which formats each number with string.format and reads it back):
-- byte-identical text for float32, int64 and bool tensors of every rank, lists of Lua numbers,
-- special values, and with and without indent; and the text reads back as the same values.
local fp = require "fp"
local json = require "fp.json"

local function same(v, what)
  for _, opts in ipairs({ {}, { indent = "  " }, { indent = "\t" } }) do
    local fast, slow = json.encode(v, opts), json._encode_lua(v, opts)
    if fast ~= slow then
      local i = 1
      while fast:sub(i, i) == slow:sub(i, i) do i = i + 1 end
      error(string.format("%s (indent %q): Swift and Lua text differ at byte %d: ...%s... vs ...%s...", what, tostring(opts.indent),
        i, fast:sub(math.max(1, i - 30), i + 30), slow:sub(math.max(1, i - 30), i + 30)), 2)
    end
  end
end

-- float32 values whose bits are a + k: every kind of float at once
local function from_bits(list)
  local out = {}
  for i, b in ipairs(list) do out[i] = string.unpack("<f", string.pack("<I4", b)) end
  return out
end

test("float32 tensors: the same text as the Lua encoder for every kind of value", function()
  fp.seed(1)
  -- ordinary values at many magnitudes
  same(fp.randn(50, 40) * fp.tensor({ 1e-8, 1e-5, 1e-4, 1e-3, 0.1, 1, 10, 1e5, 1e6, 1e7, 1e15, 3e38, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }), "randn at magnitudes")
  -- special values: zeros, NaN, infinities, subnormals, the largest float, integers
  same(fp.tensor({ 0, -0.0, 0 / 0, 1 / 0, -1 / 0, 1e-45, 1.4e-45, 2 ^ -149, 2 ^ -126, 3.4028234663852886e38, 1, 2, 100,
    16777216, 16777217, 123456789, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e-4, 9.99999e-5, 123456, 1234567, 0.5, 0.25, -7.5 }), "special values")
  -- powers of two (the lopsided rounding interval the Swift writer searches like Lua) and
  -- their neighbours, and a sweep of bit patterns across every exponent
  local bits = {}
  for e = 1, 254 do
    local b = e << 23
    for _, d in ipairs({ -1, 0, 1, 2, 12345, 0x3fffff, 0x7fffff }) do
      local v = b + d
      if v > 0 and v < 0x7f800000 then bits[#bits + 1] = v; bits[#bits + 1] = v | 0x80000000 end
    end
  end
  for k = 1, 7 do bits[#bits + 1] = k end   -- the smallest subnormals
  same(fp.tensor(from_bits(bits)), "bit patterns")
  -- values that need 6, 7, 8 and 9 digits
  local digits = {}
  for i = 1, 2000 do digits[i] = (i * 7919 % 100003) / 997 * 10 ^ (i % 13 - 6) end
  same(fp.tensor(digits), "digits")
end)

test("shapes, dtypes and nesting: the same text as the Lua encoder", function()
  fp.seed(2)
  same(fp.randn(2, 3, 4, 5), "4-D")
  same(fp.randn(3), "1-D")
  same(fp.tensor(2.5), "0-D")
  same(fp.zeros(0), "empty")
  same(fp.zeros(2, 0), "[2, 0]")
  same(fp.zeros(0, 3), "[0, 3]")
  same(fp.randint(-1000000, 1000000, { 4, 5 }), "int64")
  same(fp.tensor({ math.maxinteger, math.mininteger, 0, -1 }, "int"), "int64 limits")
  same(fp.randn(3, 4):gt(0), "bool")
  same(fp.randn(6, 4):T()[{ {}, { 1, 5 } }], "a strided view")
  same({ model = "m", resid = fp.randn(3, 4), list = { 1.5, 2, 3.25, 1e300, 0 / 0 }, nested = { fp.ones(2), { fp.zeros(1, 2) } },
         mixed = { 1, "a", 2.5 }, empty = {}, obj = json.empty_object() }, "a results table")
end)

test("lists of Lua numbers: the same text as the Lua encoder", function()
  local list = {}
  for i = 1, 5000 do list[i] = math.sin(i) * 10 ^ (i % 30 - 15) end
  list[#list + 1] = 0.1 + 0.2
  list[#list + 1] = 2 ^ 53
  list[#list + 1] = 2 ^ -1074
  list[#list + 1] = 1.7976931348623157e308
  list[#list + 1] = -0.0
  list[#list + 1] = 1 / 0
  list[#list + 1] = 42
  same(list, "doubles")
  local pow2 = {}
  for e = -1074, 1023, 7 do pow2[#pow2 + 1] = 2.0 ^ e; pow2[#pow2 + 1] = -(2.0 ^ e) * (1 + 2 ^ -52) end
  same(pow2, "powers of two and neighbours")
  same({ 1, 2, 3 }, "integers")
  same({ 1, 2, "x" }, "a list with a string goes the Lua way")
end)

test("the written text reads back as the same values", function()
  fp.seed(3)
  local t = fp.randn(20, 30) * 100
  local back = json.decode(json.encode(t))
  for i = 0, 19 do   -- the text is float32's shortest: it reads back as the same float32
    for j = 0, 29 do assert_equal(string.pack("<f", back[i + 1][j + 1]), string.pack("<f", t[{ i, j }])) end
  end
  local list = {}
  for i = 1, 1000 do list[i] = math.exp(i % 50 - 25) * (i % 2 == 0 and 1 or -1) end
  assert_equal(json.decode(json.encode(list)), list)
end)

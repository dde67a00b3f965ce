-- Bad-input corpus: values that used to reach a Swift trap (an integer conversion or
-- arithmetic that overflows) or an allocation sized by the script. Each must be an error
-- or a correct result, and fp must keep working.
local fp = require "fp"

local bad = bad_input

-- int64 extremes, made without passing through a Lua float
local function int64_extremes()
  local p, n = fp.tensor({ 1 << 62 }, "int"), fp.tensor({ -(1 << 62) }, "int")
  return fp.cat({ (p - 1) + p, n + n })   -- {math.maxinteger, math.mininteger}
end

test("int64 extremes read back exactly: tolist, item, index, sum", function()
  local t = int64_extremes()
  local l = t:tolist()
  assert(l[1] == math.maxinteger and l[2] == math.mininteger, tostring(l[1]) .. " " .. tostring(l[2]))
  assert(t[0] == math.maxinteger and t[1] == math.mininteger)
  assert(t[{ {0, 1} }]:item() == math.maxinteger)
  assert(t[{ {1, 2} }]:sum() == math.mininteger)
  assert(math.type(t[0]) == "integer")
end)

test("int64 beyond 2^53 prints exactly", function()
  local t = int64_extremes()
  assert(tostring(t) == "tensor([ 9223372036854775807, -9223372036854775808])", tostring(t))
  local u = fp.tensor({ 1 << 53 }, "int") + 1
  assert(tostring(u) == "tensor([9007199254740993])", tostring(u))
end)

test("print of an empty tensor with a huge dim allocates nothing per row", function()
  assert(tostring(fp.zeros(1 << 40, 0)) == "tensor([], shape=[1099511627776, 0])")
  assert(tostring(fp.zeros(0, 1 << 40)) == "tensor([], shape=[0, 1099511627776])")
  assert(tostring(fp.zeros(3, 0)) == "tensor([], shape=[3, 0])")
end)

test("print of a huge broadcast view reads only the shown elements", function()
  local v = fp.ones(1):expand(1 << 40)
  assert(tostring(v) == "tensor([1., 1., 1., ..., 1., 1., 1.], shape=[1099511627776])", tostring(v))
end)

test("print of a tensor whose small dims multiply past the shown limit", function()
  local v = fp.ones(1):expand(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)
  assert(tostring(v):find("^tensor%(%.%.%., shape=%[2, 2"), tostring(v))
end)

test("slice with a huge step keeps one element", function()
  local t = fp.arange(6):view(2, 3)
  local s = t[{ { 0, 3, math.maxinteger } }]
  assert(tostring(s.shape[1]) == "1" and s[{ 0, 2 }] == 2)
  local u = fp.arange(10)[{ { 1, nil, math.maxinteger } }]
  assert(u:numel() == 1 and u[0] == 1)
  assert(fp.arange(10)[{ { math.mininteger, math.maxinteger, 1 << 62 } }]:numel() == 1)
end)

test("isatty of numbers that are no file descriptor", function()
  assert(fp.isatty(2 ^ 40) == false)
  assert(fp.isatty(math.maxinteger) == false)
  assert(fp.isatty(-1) == false)
end)

bad("tolist of an empty tensor with a huge leading dim", function() return fp.zeros(1 << 40, 0):tolist() end,
  "tolist: a tensor of shape [1099511627776, 0] makes too many tables")

local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3 } }, "int")
bad("run_with_cache pos_slice = math.maxinteger", function()
  return m:run_with_cache(toks, { pos_slice = math.maxinteger })
end, "run_with_cache: pos_slice 9223372036854775807 is out of range")
bad("t:show() of a huge broadcast view is refused before copying it into Lua tables", function()
  return fp.ones(1):expand(1 << 40):show()
end, "plot.term: a tensor of shape [1099511627776] has 1099511627776 cells, more than a terminal shows")

test("scatter_ of a huge float into an int tensor clamps instead of trapping", function()
  local t = fp.zeros(3, "int")
  t:scatter_(0, fp.tensor({ 0 }, "int"), fp.tensor({ 1e30 }))
  assert(t[0] == math.maxinteger, tostring(t[0]))
  local u = fp.zeros(2, "int")
  u:scatter_(0, fp.tensor({ 1 }, "int"), int64_extremes()[{ { 1, 2 } }])
  assert(u[1] == math.mininteger)
end)

bad("cat of empty tensors whose joined dim overflows", function()
  return fp.cat({ fp.zeros(1 << 62, 0), fp.zeros(1 << 62, 0) })
end, "cat: the size of dim 0 overflows")
bad("cat of three empty tensors whose joined dim overflows", function()
  return fp.cat({ fp.zeros(0, 1 << 62), fp.zeros(0, 1 << 62), fp.zeros(0, 1 << 62) }, 1)
end, "cat: the size of dim 1 overflows")

test("topk and sort of an empty tensor with a huge dim return at once", function()
  local v, i = fp.zeros(1 << 40, 0):topk(0)
  assert(tostring(v.shape[1]) == tostring(1 << 40) and v:numel() == 0 and i:numel() == 0)
  local s = fp.zeros(1 << 40, 0):sort(-1)
  assert(s:numel() == 0)
end)

-- tostring(t): PyTorch-style formatting (common number format, aligned nesting, "..." past
-- 1000 elements), shapes for non-1-D tensors, int/bool without decimals.
local fp = require "fp"

local function is(t, want)
  local got = tostring(t)
  if got ~= want then error("tostring:\n  got:      " .. got .. "\n  expected: " .. want, 2) end
end

test("1-D float, int and bool tensors", function()
  is(fp.tensor({ 1.5, 2.25 }), "tensor([1.5000, 2.2500])")
  is(fp.tensor({ 1, 2, 3 }), "tensor([1., 2., 3.])")
  is(fp.tensor({ 1, 2, 3 }, "int"), "tensor([1, 2, 3])")
  is(fp.tensor({ 1, -20, 300 }, "int"), "tensor([  1, -20, 300])")
  is(fp.tensor({ true, false }), "tensor([true, false])")
  is(fp.tensor({ -1.25, 100 }), "tensor([ -1.2500, 100.0000])")
end)

test("0-d tensors", function()
  is(fp.tensor(2.5), "tensor(2.5000)")
  is(fp.tensor(3), "tensor(3.)")
  is(fp.tensor(5, "int"), "tensor(5)")
  is(fp.tensor(true), "tensor(true)")
end)

test("2-D and 3-D tensors align rows and show the shape", function()
  is(fp.tensor({ { 1.5, -2 }, { 3, 4 } }), "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.0000]], shape=[2, 2])")
  is(fp.arange(6):view(2, 3), "tensor([[0, 1, 2],\n        [3, 4, 5]], shape=[2, 3])")
  is(fp.arange(8):view(2, 2, 2),
    "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], shape=[2, 2, 2])")
  is(fp.tensor({ { { 1 } } }), "tensor([[[1.]]], shape=[1, 1, 1])")
  -- views print in their logical order
  is(fp.arange(6):view(2, 3):T(), "tensor([[0, 3],\n        [1, 4],\n        [2, 5]], shape=[3, 2])")
end)

test("scientific notation for wide ranges; nan and inf", function()
  is(fp.tensor({ 0.001, 1000 }), "tensor([1.0000e-03, 1.0000e+03])")
  is(fp.tensor({ 1e-6, 1 }), "tensor([1.0000e-06, 1.0000e+00])")
  is(fp.tensor({ 1e10, 1 }), "tensor([1.0000e+10, 1.0000e+00])")
  is(fp.tensor({ 100000, 1 }), "tensor([100000.,      1.])")
  is(fp.tensor({ 1 / 0, -1 / 0, 1.5 }), "tensor([   inf,   -inf, 1.5000])")
  assert(tostring(fp.tensor({ 0 / 0 })):find("nan", 1, true), "nan prints as nan")
end)

test("empty tensors", function()
  is(fp.zeros(0), "tensor([], shape=[0])")
  is(fp.tensor({}), "tensor([], shape=[0])")
  is(fp.zeros(0, 3), "tensor([], shape=[0, 3])")
end)

test("summarization past 1000 elements", function()
  is(fp.arange(2000), "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000])")
  is(fp.arange(1001), "tensor([   0,    1,    2, ...,  998,  999, 1000], shape=[1001])")
  is(fp.arange(1000), tostring(fp.arange(1000)))   -- 1000 elements print in full
  assert(not tostring(fp.arange(1000)):find("...", 1, true), "1000 elements are not summarized")
  local big = tostring(fp.zeros(2, 2000))
  assert(big == "tensor([[0., 0., 0., ..., 0., 0., 0.],\n        [0., 0., 0., ..., 0., 0., 0.]], shape=[2, 2000])", big)
  local rows = tostring(fp.arange(3000):view(1000, 3))
  assert(rows:find("[   0,    1,    2],", 1, true) and rows:find("...,", 1, true)
    and rows:find("[2997, 2998, 2999]], shape=[1000, 3]", 1, true), rows)
end)

test("print works and tostring is stable across calls", function()
  local t = fp.tensor({ { 0.12345, -1.5, 2.71828 }, { -0.333, 9.87654, 1 }, { 3.14159, -2.5, 0.5 } })
  assert(tostring(t) == tostring(t), "stable")
  assert(tostring(t):sub(1, 8) == "tensor([", "prefix")
  -- the printed values round-trip to 4 decimals
  local list = t:tolist()
  local s = tostring(t)
  for _, row in ipairs(list) do
    for _, v in ipairs(row) do
      assert(s:find(string.format("%.4f", v), 1, true), string.format("%.4f missing in %s", v, s))
    end
  end
end)

test("tostring of a freed tensor and of a huge broadcast view does not fail", function()
  local t = fp.ones(3)
  t:free()
  is(t, "tensor(<freed>)")
  local huge = fp.zeros(1):expand(1 << 62)
  local s = tostring(huge)
  assert(s:find("shape=[4611686018427387904]", 1, true), s)
end)

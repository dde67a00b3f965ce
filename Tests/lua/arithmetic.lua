-- Elementwise arithmetic with broadcasting and scalars on either side, int/float promotion,
-- comparisons returning masks, logical ops, where/masked_fill/clamp, and unary math functions
-- checked against Lua's math library.
local fp = require "fp"

-- shared assertions from fp.testing (fp test provides them)
local eq, same_list, shape_of = assert_equal, assert_equal, shape_string

-- |got - want| <= atol + rtol |want| for every element of a flat list
local function close_each(got, want, rtol, atol, what)
  for i = 1, #want do
    local g, w = got[i], want[i]
    local ok = (g == w) or (g ~= g and w ~= w) or math.abs(g - w) <= atol + rtol * math.abs(w)
    if not ok then
      error(string.format("%s: element %d is %.9g, expected %.9g", what or "values", i, g, w), 2)
    end
  end
end

-- erf by its Maclaurin series (accurate to ~1e-12 for |x| <= 4)
local function erf(x)
  local sum, term, n = x, x, 0
  repeat
    n = n + 1
    term = -term * x * x / n
    local add = term / (2 * n + 1)
    sum = sum + add
  until math.abs(add) < 1e-17 or n > 200
  return 2 / math.sqrt(math.pi) * sum
end

-- 37 points in [-4, 4]: more than two SIMD widths plus a tail
local xs = {}
for i = 0, 36 do xs[#xs + 1] = -4 + 8 * i / 36 end
local function f32(v) return fp.tensor({ v }):tolist()[1] end   -- round to float32

test("+ - * / with broadcasting match explicit loops", function()
  fp.seed(11)
  local a, b = fp.randn(3, 1, 4), fp.randn(2, 1)
  local al, bl = a:tolist(), b:tolist()
  local ops = {
    { "+", function(x, y) return x + y end, a + b },
    { "-", function(x, y) return x - y end, a - b },
    { "*", function(x, y) return x * y end, a * b },
    { "/", function(x, y) return x / y end, a / b },
  }
  for _, op in ipairs(ops) do
    local r = op[3]
    eq(shape_of(r), "[3, 2, 4]", op[1] .. " shape")
    local rl = r:tolist()
    for i = 1, 3 do for j = 1, 2 do for k = 1, 4 do
      local want = op[2](al[i][1][k], bl[j][1])
      assert_close(rl[i][j][k], want, 1e-5 * math.max(1, math.abs(want)), op[1])
    end end end
  end
end)

test("scalars on either side; unary minus; methods add/sub/mul/div", function()
  local t = fp.tensor({ 1, 2, 4 })
  same_list((t + 1):tolist(), { 2, 3, 5 })
  same_list((1 + t):tolist(), { 2, 3, 5 })
  same_list((t - 1):tolist(), { 0, 1, 3 })
  same_list((10 - t):tolist(), { 9, 8, 6 })
  same_list((t * 3):tolist(), { 3, 6, 12 })
  same_list((3 * t):tolist(), { 3, 6, 12 })
  same_list((t / 2):tolist(), { 0.5, 1, 2 })
  same_list((8 / t):tolist(), { 8, 4, 2 })
  same_list((-t):tolist(), { -1, -2, -4 })
  same_list(t:add(1):tolist(), { 2, 3, 5 })
  same_list(t:sub(t):tolist(), { 0, 0, 0 })
  same_list(t:mul(fp.tensor({ 2 })):tolist(), { 2, 4, 8 })
  same_list(t:div(4):tolist(), { 0.25, 0.5, 1 })
  -- results are new tensors; the operands are unchanged
  same_list(t:tolist(), { 1, 2, 4 })
end)

test("^ and pow: tensor ^ number, number ^ tensor, tensor ^ tensor", function()
  local t = fp.tensor({ 1, 2, 3, 4 })
  same_list((t ^ 2):tolist(), { 1, 4, 9, 16 })
  same_list((2 ^ t):tolist(), { 2, 4, 8, 16 })
  same_list((t ^ t):tolist(), { 1, 4, 27, 256 })
  close_each((t ^ 0.5):tolist(), { 1, math.sqrt(2), math.sqrt(3), 2 }, 1e-6, 0, "sqrt by ^")
  same_list(t:pow(3):tolist(), { 1, 8, 27, 64 })
  close_each((t ^ -1):tolist(), { 1, 0.5, 1 / 3, 0.25 }, 1e-6, 0, "^ -1")
  -- ^ on ints gives float, as Lua's ^ does
  eq((fp.tensor({ 2 }, "int") ^ 2).dtype, "float32", "int ^ int dtype")
end)

test("// and % follow Lua's floor semantics (sign of the divisor)", function()
  local vals = { -7, -3, -1, 0, 2, 5, 7 }
  local a = fp.tensor(vals, "int")
  for _, d in ipairs({ 3, -3 }) do
    local q, r = (a // d):tolist(), (a % d):tolist()
    for i, v in ipairs(vals) do
      eq(q[i], v // d, string.format("%d // %d", v, d))
      eq(r[i], v % d, string.format("%d %% %d", v, d))
    end
  end
  eq((a // 3).dtype, "int64", "int // int is int")
  local f = fp.tensor({ -7.5, -1.25, 2.5, 7.75 })
  local fq, fr = (f // 2):tolist(), (f % 2):tolist()
  for i, v in ipairs({ -7.5, -1.25, 2.5, 7.75 }) do
    eq(fq[i], v // 2, "float //")
    eq(fr[i], v % 2, "float %")
  end
  close_each(fp.tensor({ -7.5, 7.5 }):fmod(2):tolist(), { math.fmod(-7.5, 2), math.fmod(7.5, 2) }, 0, 0, "fmod")
end)

test("int/float promotion", function()
  local i = fp.tensor({ 1, 2, 3 }, "int")
  eq((i + 1).dtype, "int64", "int + integer")
  eq((i * 2).dtype, "int64", "int * integer")
  eq((i + 0.5).dtype, "float32", "int + float number")
  same_list((i + 0.5):tolist(), { 1.5, 2.5, 3.5 })
  eq((i / 2).dtype, "float32", "int / int is true division")
  same_list((i / 2):tolist(), { 0.5, 1, 1.5 })
  eq((i + fp.tensor({ 1, 1, 1 })).dtype, "float32", "int + float tensor")
  local b = fp.tensor({ true, false })
  eq((b + 1).dtype, "int64", "bool + integer")
  same_list((b + 1):tolist(), { 2, 1 })
  eq((b * 1.5).dtype, "float32", "bool * float")
  eq((-i).dtype, "int64", "unary minus keeps int")
  same_list((-i):tolist(), { -1, -2, -3 })
  -- int arithmetic is exact beyond float32 precision
  local big = fp.tensor({ 16777217 }, "int")
  eq((big + 1)[0], 16777218, "exact int64 add")
end)

test("comparisons eq/ne/lt/le/gt/ge return bool masks and broadcast", function()
  local a = fp.tensor({ 1, 2, 3, 4 })
  same_list(a:eq(2):tolist(), { false, true, false, false })
  same_list(a:ne(2):tolist(), { true, false, true, true })
  same_list(a:lt(3):tolist(), { true, true, false, false })
  same_list(a:le(3):tolist(), { true, true, true, false })
  same_list(a:gt(3):tolist(), { false, false, false, true })
  same_list(a:ge(3):tolist(), { false, false, true, true })
  eq(a:eq(2).dtype, "bool", "mask dtype")
  same_list(a:lt(fp.tensor({ 4, 3, 2, 1 })):tolist(), { true, true, false, false })
  local m = fp.tensor({ { 1 }, { 3 } }):gt(fp.tensor({ 0, 2, 4 }))
  same_list(m:tolist(), { { true, false, false }, { true, true, false } })
  -- int vs float compares by value
  same_list(fp.tensor({ 1, 2 }, "int"):eq(fp.tensor({ 1, 2.5 })):tolist(), { true, false })
  -- NaN is not equal to itself
  local n = fp.tensor({ 0 / 0, 1 })
  same_list(n:eq(n):tolist(), { false, true })
  same_list(n:isnan():tolist(), { true, false })
  -- the mask sums as a count
  eq(fp.randn(100):gt(1e9):sum(), 0, "count of an all-false mask")
  eq(a:gt(0):sum(), 4, "count of an all-true mask")
end)

test("logical_and / or / xor / not", function()
  local p = fp.tensor({ true, true, false, false })
  local q = fp.tensor({ true, false, true, false })
  same_list(p:logical_and(q):tolist(), { true, false, false, false })
  same_list(p:logical_or(q):tolist(), { true, true, true, false })
  same_list(p:logical_xor(q):tolist(), { false, true, true, false })
  same_list(p:logical_not():tolist(), { false, false, true, true })
  same_list(fp.tensor({ 0, 2 }):logical_not():tolist(), { true, false })
end)

test("where / masked_fill / clamp / maximum / minimum", function()
  local c = fp.tensor({ true, false, true })
  same_list(fp.where(c, fp.tensor({ 1, 2, 3 }), fp.tensor({ -1, -2, -3 })):tolist(), { 1, -2, 3 })
  same_list(fp.where(c, 1.5, 0):tolist(), { 1.5, 0, 1.5 })
  local w = fp.where(fp.tensor({ { true }, { false } }), fp.tensor({ 1, 2 }), 0)
  same_list(w:tolist(), { { 1, 2 }, { 0, 0 } })
  -- method form: x:where(cond, other)
  same_list(fp.tensor({ 5, 6, 7 }):where(c, 0):tolist(), { 5, 0, 7 })
  local t = fp.tensor({ { 1, 2 }, { 3, 4 } })
  same_list(t:masked_fill(t:gt(2), -1):tolist(), { { 1, 2 }, { -1, -1 } })
  same_list(t:tolist(), { { 1, 2 }, { 3, 4 } })   -- masked_fill is out of place
  same_list(t:masked_fill(fp.tensor({ true, false }), 0):tolist(), { { 0, 2 }, { 0, 4 } })
  same_list(fp.tensor({ -2, 0.5, 3 }):clamp(-1, 1):tolist(), { -1, 0.5, 1 })
  same_list(fp.tensor({ -2, 0.5, 3 }):clamp(0):tolist(), { 0, 0.5, 3 })
  same_list(fp.tensor({ -2, 0.5, 3 }):clamp(nil, 0):tolist(), { -2, 0, 0 })
  same_list(fp.tensor({ 1, 5 }):maximum(fp.tensor({ 3, 2 })):tolist(), { 3, 5 })
  same_list(fp.tensor({ 1, 5 }):minimum(fp.tensor({ 3, 2 })):tolist(), { 1, 2 })
  same_list(fp.tensor({ 1, 5 }):max(fp.tensor({ 3, 2 })):tolist(), { 3, 5 })
end)

test("exp / log / sqrt / tanh / sigmoid against math", function()
  local t = fp.tensor(xs)
  local e, th, sg = {}, {}, {}
  for i, x in ipairs(xs) do
    x = f32(x)
    e[i] = math.exp(x)
    th[i] = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
    sg[i] = 1 / (1 + math.exp(-x))
  end
  close_each(t:exp():tolist(), e, 2e-6, 0, "exp")
  close_each(t:tanh():tolist(), th, 2e-6, 1e-7, "tanh")
  close_each(t:sigmoid():tolist(), sg, 2e-6, 1e-7, "sigmoid")
  local pos, lg, sq = {}, {}, {}
  for i = 1, 37 do pos[i] = i * 0.37; lg[i] = math.log(f32(pos[i])); sq[i] = math.sqrt(f32(pos[i])) end
  close_each(fp.tensor(pos):log():tolist(), lg, 1e-6, 1e-7, "log")
  close_each(fp.tensor(pos):sqrt():tolist(), sq, 1e-6, 0, "sqrt")
  close_each(fp.tensor(pos):rsqrt():tolist(), (function() local r = {} for i, v in ipairs(sq) do r[i] = 1 / v end return r end)(), 1e-6, 0, "rsqrt")
  -- special values
  local s = fp.tensor({ 0, -1, 1 / 0 })
  same_list(s:sqrt():isnan():tolist(), { false, true, false })
  eq(fp.tensor({ 0 }):log()[0], -math.huge, "log(0)")
  eq(fp.tensor({ 1000 }):exp()[0], math.huge, "exp overflow")
  eq(fp.tensor({ -1000 }):exp()[0], 0, "exp underflow")
end)

test("gelu (exact erf and \"tanh\"), silu, relu against formulas", function()
  local t = fp.tensor(xs)
  local ge, gt, si, re = {}, {}, {}, {}
  for i, x in ipairs(xs) do
    x = f32(x)
    ge[i] = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    local u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ^ 3)
    gt[i] = 0.5 * x * (1 + (math.exp(2 * u) - 1) / (math.exp(2 * u) + 1))
    si[i] = x / (1 + math.exp(-x))
    re[i] = math.max(x, 0)
  end
  close_each(t:gelu():tolist(), ge, 1e-5, 1e-6, "gelu (erf)")
  close_each(t:gelu("none"):tolist(), ge, 1e-5, 1e-6, "gelu(\"none\")")
  close_each(t:gelu("tanh"):tolist(), gt, 1e-5, 1e-6, "gelu(\"tanh\")")
  close_each(t:gelu_new():tolist(), gt, 1e-5, 1e-6, "gelu_new")
  close_each(t:silu():tolist(), si, 1e-5, 1e-6, "silu")
  close_each(t:relu():tolist(), re, 0, 0, "relu")
  -- the two GELUs differ (by up to ~1e-3 here), so the test would notice a swap
  local d = (t:gelu() - t:gelu("tanh")):abs():max()
  assert(d > 1e-5, "gelu and gelu(\"tanh\") should differ, max diff " .. d)
  eq(fp.tensor({ -3, 4 }, "int"):relu().dtype, "int64", "relu keeps int")
end)

test("abs / sign / floor / ceil / round / square / reciprocal / sin / cos / log1p / expm1 / erf", function()
  local v = { -2.5, -1.5, -0.5, 0, 0.5, 1.5, 2.5, 3.75 }
  local t = fp.tensor(v)
  local ab, sg, fl, ce, sq = {}, {}, {}, {}, {}
  for i, x in ipairs(v) do
    ab[i] = math.abs(x); sg[i] = x > 0 and 1 or (x < 0 and -1 or 0)
    fl[i] = math.floor(x); ce[i] = math.ceil(x); sq[i] = x * x
  end
  close_each(t:abs():tolist(), ab, 0, 0, "abs")
  close_each(t:sign():tolist(), sg, 0, 0, "sign")
  close_each(t:floor():tolist(), fl, 0, 0, "floor")
  close_each(t:ceil():tolist(), ce, 0, 0, "ceil")
  close_each(t:square():tolist(), sq, 1e-6, 0, "square")
  -- round half to even, as torch.round
  same_list(t:round():tolist(), { -2, -2, -0.0, 0, 0, 2, 2, 4 })
  same_list(fp.tensor({ -3, 4 }, "int"):abs():tolist(), { 3, 4 })
  local sn, cs, l1, em, ef, rc = {}, {}, {}, {}, {}, {}
  for i, x in ipairs(xs) do
    x = f32(x)
    sn[i] = math.sin(x); cs[i] = math.cos(x); ef[i] = erf(x)
    l1[i] = math.log(1 + math.abs(x)); em[i] = math.exp(x) - 1
    rc[i] = 1 / (x + 10)
  end
  local t2 = fp.tensor(xs)
  close_each(t2:sin():tolist(), sn, 1e-6, 1e-7, "sin")
  close_each(t2:cos():tolist(), cs, 1e-6, 1e-7, "cos")
  close_each(t2:erf():tolist(), ef, 1e-6, 1e-7, "erf")
  close_each(t2:abs():log1p():tolist(), l1, 1e-6, 1e-7, "log1p")
  close_each(t2:expm1():tolist(), em, 1e-6, 1e-7, "expm1")
  close_each((t2 + 10):reciprocal():tolist(), rc, 1e-6, 0, "reciprocal")
end)

test("elementwise ops on non-contiguous and broadcast views", function()
  local m = fp.arange(12):view(3, 4):float()
  local t = m:T()                      -- [4, 3] strided
  local r = (t * 2 + t:exp() * 0):tolist()
  local ml = m:tolist()
  for i = 1, 4 do for j = 1, 3 do eq(r[i][j], 2 * ml[j][i], "strided * 2") end end
  local e = fp.tensor({ 1, 2, 3 }):expand(4, 3)
  local s = (t + e):tolist()
  for i = 1, 4 do for j = 1, 3 do eq(s[i][j], ml[j][i] + j, "strided + expanded") end end
  -- column slice (stride 4) through a unary op
  same_list(m[{ {}, 1 }]:neg():tolist(), { -1, -5, -9 })
end)

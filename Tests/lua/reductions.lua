-- Reductions with dim/keepdim (sum, mean, prod, max/min with indices, argmax/argmin, norm,
-- var/std, any/all), softmax/log_softmax, topk/sort, gather/scatter, cat/stack, checked
-- against plain Lua loops over tolist() values.
local fp = require "fp"

-- shared assertions from fp.testing (fp test provides them)
local eq, same_list, shape_of = assert_equal, assert_equal, shape_string

fp.seed(1234)
local X = fp.randn(3, 4, 5)
local XL = X:tolist()

-- reduce XL ([3][4][5]) over one 0-based dim with f(list) -> number
local function reduce_dim(dim, f)
  local out = {}
  if dim == 0 then
    for j = 1, 4 do out[j] = {} for k = 1, 5 do out[j][k] = f({ XL[1][j][k], XL[2][j][k], XL[3][j][k] }) end end
  elseif dim == 1 then
    for i = 1, 3 do out[i] = {} for k = 1, 5 do
      local l = {} for j = 1, 4 do l[j] = XL[i][j][k] end
      out[i][k] = f(l)
    end end
  else
    for i = 1, 3 do out[i] = {} for j = 1, 4 do out[i][j] = f(XL[i][j]) end end
  end
  return out
end
local function lsum(l) local s = 0 for _, v in ipairs(l) do s = s + v end return s end
local function lmean(l) return lsum(l) / #l end
local function lmax(l) local m, mi = l[1], 0 for i, v in ipairs(l) do if v > m then m, mi = v, i - 1 end end return m, mi end
local function lmin(l) local m, mi = l[1], 0 for i, v in ipairs(l) do if v < m then m, mi = v, i - 1 end end return m, mi end
local function lvar(l, corr)
  local m = lmean(l) local s = 0
  for _, v in ipairs(l) do s = s + (v - m) ^ 2 end
  return s / (#l - corr)
end
local function all_values()
  local l = {}
  for i = 1, 3 do for j = 1, 4 do for k = 1, 5 do l[#l + 1] = XL[i][j][k] end end end
  return l
end

test("full reductions give Lua numbers", function()
  local all = all_values()
  local s = X:sum()
  eq(type(s), "number", "sum() type")
  assert_close(s, lsum(all), 1e-4)
  assert_close(X:mean(), lmean(all), 1e-5)
  eq(X:max(), (lmax(all)), "max()")
  eq(X:min(), (lmin(all)), "min()")
  local _, imax = lmax(all)
  eq(X:argmax(), imax, "argmax() over the flattened tensor")
  local _, imin = lmin(all)
  eq(X:argmin(), imin, "argmin()")
  eq(fp.tensor({ { 1, 2 }, { 3, 4 } }):prod(), 24, "prod()")
  eq(fp.tensor({ 1, 2, 3 }, "int"):sum(), 6, "int sum")
  eq(math.type(fp.tensor({ 1, 2, 3 }, "int"):sum()), "integer", "int sum is an integer")
  eq(math.type(fp.tensor({ 1, 2, 3 }, "int"):max()), "integer", "int max is an integer")
  -- "if x:sum() > 0" works as a Lua comparison
  if not (fp.ones(3):sum() > 0) then error("sum() > 0 should be true") end
end)

test("sum / mean over each dim, with and without keepdim", function()
  for dim = 0, 2 do
    local want_s, want_m = reduce_dim(dim, lsum), reduce_dim(dim, lmean)
    assert_close(X:sum(dim), want_s, 1e-5, "sum(" .. dim .. ")")
    assert_close(X:mean(dim), want_m, 1e-5, "mean(" .. dim .. ")")
    local k = X:sum(dim, true)
    local shape = { 3, 4, 5 }
    shape[dim + 1] = 1
    eq(shape_of(k), "[" .. table.concat(shape, ", ") .. "]", "keepdim shape")
    assert_close(k:squeeze(dim), want_s, 1e-5, "keepdim values")
  end
  assert_close(X:sum(-1), reduce_dim(2, lsum), 1e-5, "sum(-1)")
  eq(shape_of(X:sum(1, { keepdim = true })), "[3, 1, 5]", "keepdim option table")
  -- several dims at once
  local s01 = X:sum({ 0, 1 })
  eq(shape_of(s01), "[5]", "sum({0, 1}) shape")
  for k = 1, 5 do
    local s = 0
    for i = 1, 3 do for j = 1, 4 do s = s + XL[i][j][k] end end
    assert_close(s01[k - 1], s, 1e-5)
  end
  eq(shape_of(X:mean({ 0, 2 }, true)), "[1, 4, 1]", "mean({0, 2}, true) shape")
  eq(shape_of(X:sum({ keepdim = true })), "[1, 1, 1]", "sum({keepdim = true})")
end)

test("max / min over a dim return values and int indices", function()
  for dim = 0, 2 do
    local v, i = X:max(dim)
    eq(i.dtype, "int64", "indices dtype")
    local wv = reduce_dim(dim, function(l) return (lmax(l)) end)
    local wi = reduce_dim(dim, function(l) local _, j = lmax(l) return j end)
    same_list(v:tolist(), wv)
    same_list(i:tolist(), wi)
    local mv, mi = X:min(dim, true)
    local wmv = reduce_dim(dim, function(l) return (lmin(l)) end)
    local wmi = reduce_dim(dim, function(l) local _, j = lmin(l) return j end)
    same_list(mv:squeeze(dim):tolist(), wmv)
    same_list(mi:squeeze(dim):tolist(), wmi)
    same_list(X:argmax(dim):tolist(), wi)
    same_list(X:argmin(dim):tolist(), wmi)
  end
  -- ties go to the first index, as torch
  local _, ti = fp.tensor({ 3, 7, 7, 1 }):max(0)
  eq(ti:item(), 1, "first max on ties")
  eq(shape_of(X:argmax(1, true)), "[3, 1, 5]", "argmax keepdim")
  same_list(fp.tensor({ { 1, 9 }, { 8, 2 } }):amax(1):tolist(), { 9, 8 })
  same_list(fp.tensor({ { 1, 9 }, { 8, 2 } }):amin(0):tolist(), { 1, 2 })
end)

test("any / all / prod over dims", function()
  local b = fp.tensor({ { true, false }, { true, true } })
  eq(b:any(), true, "any()")
  eq(b:all(), false, "all()")
  same_list(b:all(1):tolist(), { false, true })
  same_list(b:any(0):tolist(), { true, true })
  same_list(fp.tensor({ { 1, 2 }, { 3, 4 } }):prod(0):tolist(), { 3, 8 })
  eq(fp.tensor({ 0, 0 }):any(), false, "any of zeros")
end)

test("var / std with Bessel's correction and correction = 0", function()
  local all = all_values()
  assert_close(X:var(), lvar(all, 1), 1e-5)
  assert_close(X:std(), math.sqrt(lvar(all, 1)), 1e-5)
  assert_close(X:var({ correction = 0 }), lvar(all, 0), 1e-5)
  assert_close(X:std({ correction = 0 }), math.sqrt(lvar(all, 0)), 1e-5)
  for dim = 0, 2 do
    assert_close(X:var(dim), reduce_dim(dim, function(l) return lvar(l, 1) end), 1e-5, "var(" .. dim .. ")")
    assert_close(X:std(dim), reduce_dim(dim, function(l) return math.sqrt(lvar(l, 1)) end), 1e-5, "std(" .. dim .. ")")
    assert_close(X:var(dim, { correction = 0 }), reduce_dim(dim, function(l) return lvar(l, 0) end), 1e-5, "var(dim, correction 0)")
  end
  assert_close(fp.tensor({ 1, 2, 3, 4 }):var(), 5 / 3, 1e-6)
  assert_close(fp.tensor({ 1, 2, 3, 4 }):var({ correction = 0 }), 1.25, 1e-6)
  eq(shape_of(X:var(1, true)), "[3, 1, 5]", "var keepdim")
end)

test("norm: 2, 1, inf, p, over dims", function()
  local v = fp.tensor({ 3, -4 })
  eq(v:norm(), 5, "2-norm")
  eq(v:norm(1), 7, "1-norm")
  eq(v:norm("inf"), 4, "inf-norm")
  eq(v:norm("-inf"), 3, "-inf-norm")
  assert_close(v:norm(3), (27 + 64) ^ (1 / 3), 1e-5)
  local all = all_values()
  local s = 0 for _, x in ipairs(all) do s = s + x * x end
  assert_close(X:norm(), math.sqrt(s), 1e-4)
  assert_close(X:norm("fro"), math.sqrt(s), 1e-4)
  assert_close(X:norm(2, 2), reduce_dim(2, function(l) local a = 0 for _, x in ipairs(l) do a = a + x * x end return math.sqrt(a) end), 1e-5)
  assert_close(fp.linalg.norm(v), 5, 1e-6)
  eq(shape_of(X:norm(2, 0, true)), "[1, 4, 5]", "norm keepdim")
end)

test("softmax / log_softmax against math.exp along each dim", function()
  for dim = 0, 2 do
    local sm, lsm = X:softmax(dim), X:log_softmax(dim)
    local size = ({ 3, 4, 5 })[dim + 1]
    assert_close(sm:sum(dim), fp.ones(sm:sum(dim).shape), 1e-5, "softmax sums to 1")
    local sl, ll = sm:tolist(), lsm:tolist()
    for i = 1, 3 do for j = 1, 4 do for k = 1, 5 do
      local idx = { i, j, k }
      local den = 0
      for r = 1, size do
        local id2 = { i, j, k }
        id2[dim + 1] = r
        den = den + math.exp(XL[id2[1]][id2[2]][id2[3]])
      end
      local x = XL[idx[1]][idx[2]][idx[3]]
      assert_close(sl[i][j][k], math.exp(x) / den, 1e-6, "softmax")
      assert_close(ll[i][j][k], x - math.log(den), 1e-5, "log_softmax")
    end end end
  end
  -- default dim is the last; large logits do not overflow (max is subtracted)
  assert_close(X:softmax(), X:softmax(-1), 0)
  local big = fp.tensor({ 1000, 1001, 1002 }):softmax()
  local d = 1 + math.exp(-1) + math.exp(-2)
  assert_close(big, { math.exp(-2) / d, math.exp(-1) / d, 1 / d }, 1e-6)
  -- fully masked rows give NaN, as torch
  local masked = fp.tensor({ -math.huge, -math.huge }):softmax()
  eq(masked:isnan():all(), true, "softmax of all -inf is NaN")
end)

test("cosine_similarity against loops", function()
  local a, b = fp.randn(4, 6), fp.randn(4, 6)
  local al, bl = a:tolist(), b:tolist()
  local want = {}
  for i = 1, 4 do
    local d, na, nb = 0, 0, 0
    for j = 1, 6 do d = d + al[i][j] * bl[i][j]; na = na + al[i][j] ^ 2; nb = nb + bl[i][j] ^ 2 end
    want[i] = d / math.sqrt(na * nb)
  end
  assert_close(fp.cosine_similarity(a, b), want, 1e-5)
  assert_close(fp.cosine_similarity(a, a, 1), fp.ones(4), 1e-5)
end)

test("topk and sort along dims, descending and ascending", function()
  local t = fp.tensor({ { 1, 5, 2, 8 }, { 7, 0, 3, 3 } })
  local v, i = t:topk(2)
  same_list(v:tolist(), { { 8, 5 }, { 7, 3 } })
  same_list(i:tolist(), { { 3, 1 }, { 0, 2 } })
  local v0, i0 = t:topk(1, 0)
  same_list(v0:tolist(), { { 7, 5, 3, 8 } })
  same_list(i0:tolist(), { { 1, 0, 1, 0 } })
  local vs, is = t:topk(2, { largest = false })
  same_list(vs:tolist(), { { 1, 2 }, { 0, 3 } })
  same_list(is:tolist(), { { 0, 2 }, { 1, 2 } })
  local sv, si = t:sort()
  same_list(sv:tolist(), { { 1, 2, 5, 8 }, { 0, 3, 3, 7 } })
  same_list(si:tolist(), { { 0, 2, 1, 3 }, { 1, 2, 3, 0 } })   -- stable on ties
  local dv = t:sort(1, true)
  same_list(dv:tolist(), { { 8, 5, 2, 1 }, { 7, 3, 3, 0 } })
  local cv, ci = t:sort({ dim = 0, descending = true })
  same_list(cv:tolist(), { { 7, 5, 3, 8 }, { 1, 0, 2, 3 } })
  same_list(ci:tolist(), { { 1, 0, 1, 0 }, { 0, 1, 0, 1 } })
  same_list(fp.tensor({ 3, 1, 2 }):argsort():tolist(), { 1, 2, 0 })
  -- random data: sorted values are a permutation in order, topk = head of the sort
  local r = fp.randn(200)
  local s, ix = r:sort(-1, true)
  local rl, sl, il = r:tolist(), s:tolist(), ix:tolist()
  for k = 1, 200 do
    eq(sl[k], rl[il[k] + 1], "sorted value at its index")
    if k > 1 then assert(sl[k] <= sl[k - 1], "descending order") end
  end
  local tv = r:topk(5):tolist()
  for k = 1, 5 do eq(tv[k], sl[k], "topk head") end
  -- int tensors sort too
  same_list(fp.tensor({ 3, -1, 2 }, "int"):sort():tolist(), { -1, 2, 3 })
end)

test("gather / scatter / scatter_add / index_select against loops", function()
  local src = fp.arange(12):view(3, 4):float()
  local idx = fp.tensor({ { 3, 0 }, { 1, 1 }, { 2, 3 } }, "int")
  local g = src:gather(1, idx)
  local sl, il, gl = src:tolist(), idx:tolist(), g:tolist()
  for i = 1, 3 do for j = 1, 2 do eq(gl[i][j], sl[i][il[i][j] + 1], "gather dim 1") end end
  local g0 = src:gather(0, fp.tensor({ { 2, 0, 1, 2 } }, "int"))
  same_list(g0:tolist(), { { 8, 1, 6, 11 } })
  -- scatter writes src values to positions given by index (out of place)
  local z = fp.zeros(3, 4)
  local s = z:scatter(1, idx, fp.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }))
  same_list(s:tolist(), { { 2, 0, 0, 1 }, { 0, 4, 0, 0 }, { 0, 0, 5, 6 } })
  eq(z:sum(), 0, "scatter is out of place")
  local s2 = fp.zeros(3, 3):scatter(0, fp.tensor({ { 0, 1, 2 } }, "int"), 5)
  same_list(s2:tolist(), { { 5, 0, 0 }, { 0, 5, 0 }, { 0, 0, 5 } })
  local acc = fp.zeros(3):scatter_add(0, fp.tensor({ 0, 0, 2, 0 }, "int"), fp.tensor({ 1, 2, 3, 4 }))
  same_list(acc:tolist(), { 7, 0, 3 })
  local inplace = fp.zeros(2)
  inplace:scatter_(0, fp.tensor({ 1 }, "int"), fp.tensor({ 9 }))
  same_list(inplace:tolist(), { 0, 9 })
  same_list(src:index_select(0, fp.tensor({ 2, 0 }, "int")):tolist(), { { 8, 9, 10, 11 }, { 0, 1, 2, 3 } })
  -- gather is the inverse of a permutation scatter
  local perm = fp.randperm(10)
  local vals = fp.randn(10)
  local scattered = fp.zeros(10):scatter(0, perm, vals)
  assert_close(scattered:gather(0, perm), vals, 0)
end)

test("cat and stack along dims, with promotion", function()
  local a, b = fp.tensor({ { 1, 2 }, { 3, 4 } }), fp.tensor({ { 5, 6 } })
  same_list(fp.cat({ a, b }):tolist(), { { 1, 2 }, { 3, 4 }, { 5, 6 } })
  same_list(fp.cat({ a, a }, 1):tolist(), { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } })
  same_list(fp.cat({ a, a }, -1):tolist(), { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } })
  same_list(fp.stack({ a, a }):tolist(), { { { 1, 2 }, { 3, 4 } }, { { 1, 2 }, { 3, 4 } } })
  local s1 = fp.stack({ fp.tensor({ 1, 2 }), fp.tensor({ 3, 4 }) }, 1)
  same_list(s1:tolist(), { { 1, 3 }, { 2, 4 } })
  eq(shape_of(fp.stack({ a, a, a }, -1)), "[2, 2, 3]", "stack(-1) shape")
  local mixed = fp.cat({ fp.tensor({ 1 }, "int"), fp.tensor({ 2.5 }) })
  eq(mixed.dtype, "float32", "int + float cat is float")
  same_list(mixed:tolist(), { 1, 2.5 })
  eq(fp.cat({ fp.tensor({ 1 }, "int"), fp.tensor({ 2 }, "int") }).dtype, "int64", "int cat stays int")
  -- cat copies: editing the result leaves the inputs alone
  local c = fp.cat({ a, b })
  c[{ 0, 0 }] = 100
  eq(a[{ 0, 0 }], 1, "cat copies")
  -- cat of views (transposes) reads through the strides
  same_list(fp.cat({ a:T(), a:T() }, 0):tolist(), { { 1, 3 }, { 2, 4 }, { 1, 3 }, { 2, 4 } })
end)

-- fp.linalg (qr, svd, pinv, solve, eigh) checked by reconstruction and defining identities,
-- and the seeded random generators (reproducibility, ranges, distributions).
local fp = require "fp"

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

local function shape_of(t) return "[" .. table.concat(t.shape, ", ") .. "]" end

local function diag(v)   -- 1-D tensor -> diagonal matrix
  local n = v.shape[1]
  local m = fp.zeros(n, n)
  for i = 0, n - 1 do m[{ i, i }] = v[i] end
  return m
end

test("qr: Q R reconstructs A, Q has orthonormal columns, R is upper triangular", function()
  fp.seed(3)
  for _, s in ipairs({ { 5, 3 }, { 3, 5 }, { 4, 4 } }) do
    local A = fp.randn(s[1], s[2])
    local Q, R = fp.linalg.qr(A)
    local k = math.min(s[1], s[2])
    eq(shape_of(Q), string.format("[%d, %d]", s[1], k), "Q shape")
    eq(shape_of(R), string.format("[%d, %d]", k, s[2]), "R shape")
    assert_close(Q:matmul(R), A, 1e-5, "QR = A")
    assert_close(Q:T():matmul(Q), fp.eye(k), 1e-5, "Q^T Q = I")
    local Rl = R:tolist()
    for i = 1, k do for j = 1, i - 1 do eq(Rl[i][j], 0, "R below the diagonal") end end
  end
  local A = fp.randn(5, 3)
  local Q, R = fp.linalg.qr(A, "complete")
  eq(shape_of(Q), "[5, 5]", "complete Q shape")
  eq(shape_of(R), "[5, 3]", "complete R shape")
  assert_close(Q:matmul(R), A, 1e-5, "complete QR = A")
  assert_close(Q:matmul(Q:T()), fp.eye(5), 1e-5, "complete Q is orthogonal")
end)

test("svd: U diag(S) Vh = A, S descending and non-negative", function()
  fp.seed(4)
  local A = fp.randn(6, 4)
  local U, S, Vh = fp.linalg.svd(A)
  eq(shape_of(U), "[6, 4]", "U shape")
  eq(shape_of(S), "[4]", "S shape")
  eq(shape_of(Vh), "[4, 4]", "Vh shape")
  assert_close(U:matmul(diag(S)):matmul(Vh), A, 1e-5, "reconstruction")
  assert_close(U:T():matmul(U), fp.eye(4), 1e-5, "U orthonormal")
  assert_close(Vh:matmul(Vh:T()), fp.eye(4), 1e-5, "Vh orthonormal")
  local sl = S:tolist()
  for i = 1, 4 do
    assert(sl[i] >= 0, "singular values are non-negative")
    if i > 1 then assert(sl[i] <= sl[i - 1], "singular values descend") end
  end
  -- singular values are the square roots of the eigenvalues of A^T A
  local w = fp.linalg.eigh(A:T():matmul(A))
  local wl = w:tolist()
  for i = 1, 4 do assert_close(sl[i], math.sqrt(wl[5 - i]), 1e-4) end
  -- the 2-norm of A is its largest singular value (checked by power iteration)
  local v = fp.ones(4)
  for _ = 1, 200 do v = A:T():matmul(A:matmul(v)); v = v / v:norm() end
  assert_close(A:matmul(v):norm(), sl[1], 1e-4)
  local Uf, _, Vf = fp.linalg.svd(A, true)
  eq(shape_of(Uf), "[6, 6]", "full U")
  eq(shape_of(Vf), "[4, 4]", "full Vh")
  assert_close(Uf:matmul(Uf:T()), fp.eye(6), 1e-5, "full U orthogonal")
end)

test("pinv satisfies the four Penrose conditions", function()
  fp.seed(5)
  for _, s in ipairs({ { 5, 3 }, { 3, 5 } }) do
    local A = fp.randn(s[1], s[2])
    local P = fp.linalg.pinv(A)
    eq(shape_of(P), string.format("[%d, %d]", s[2], s[1]), "pinv shape")
    assert_close(A:matmul(P):matmul(A), A, 1e-4, "A P A = A")
    assert_close(P:matmul(A):matmul(P), P, 1e-4, "P A P = P")
    local AP, PA = A:matmul(P), P:matmul(A)
    assert_close(AP:T(), AP, 1e-5, "(A P)^T = A P")
    assert_close(PA:T(), PA, 1e-5, "(P A)^T = P A")
  end
  -- a rank-1 matrix: pinv(u v^T) = v u^T / (|u|^2 |v|^2)
  local u, v = fp.tensor({ 1, 2, 2 }), fp.tensor({ 3, 4 })
  assert_close(fp.linalg.pinv(fp.outer(u, v)), fp.outer(v, u) / (9 * 25), 1e-6)
  -- for an invertible matrix pinv is the inverse
  local M = fp.tensor({ { 2, 1 }, { 1, 3 } })
  assert_close(fp.linalg.pinv(M), { { 0.6, -0.2 }, { -0.2, 0.4 } }, 1e-6)
end)

test("solve: A x = b for vector and matrix right-hand sides", function()
  fp.seed(6)
  local A = fp.randn(5, 5) + fp.eye(5) * 5
  local b = fp.randn(5)
  local x = fp.linalg.solve(A, b)
  eq(shape_of(x), "[5]", "x shape")
  assert_close(A:matmul(x), b, 1e-5, "A x = b")
  local B = fp.randn(5, 3)
  local X = fp.linalg.solve(A, B)
  eq(shape_of(X), "[5, 3]", "X shape")
  assert_close(A:matmul(X), B, 1e-5, "A X = B")
  assert_close(fp.linalg.solve(fp.tensor({ { 2, 0 }, { 0, 4 } }), fp.tensor({ 2, 8 })), { 1, 2 }, 1e-6)
  -- a non-contiguous A (transposed) is read through its strides
  local At = A:T()
  assert_close(At:matmul(fp.linalg.solve(At, b)), b, 1e-5, "transposed A")
end)

test("eigh: A V = V diag(w), w ascending, V orthonormal", function()
  fp.seed(7)
  local R = fp.randn(5, 5)
  local S = R + R:T()
  local w, V = fp.linalg.eigh(S)
  eq(shape_of(w), "[5]", "eigenvalues shape")
  eq(shape_of(V), "[5, 5]", "eigenvectors shape")
  assert_close(S:matmul(V), V:matmul(diag(w)), 1e-4, "A V = V diag(w)")
  assert_close(V:T():matmul(V), fp.eye(5), 1e-5, "V orthonormal")
  local wl = w:tolist()
  for i = 2, 5 do assert(wl[i] >= wl[i - 1], "eigenvalues ascend") end
  -- trace = sum of eigenvalues
  local tr = 0
  for i = 0, 4 do tr = tr + S[{ i, i }] end
  assert_close(w:sum(), tr, 1e-4)
  local w2 = fp.linalg.eigh(fp.tensor({ { 2, 1 }, { 1, 2 } }))
  assert_close(w2, { 1, 3 }, 1e-6)
end)

test("fp.seed makes every generator reproducible", function()
  fp.seed(123)
  local a1, u1, i1, p1 = fp.randn(3, 4), fp.rand(5), fp.randint(10, { 6 }), fp.randperm(8)
  local m1 = fp.multinomial(fp.tensor({ 0.2, 0.3, 0.5 }), 4, true)
  fp.seed(123)
  local a2, u2, i2, p2 = fp.randn(3, 4), fp.rand(5), fp.randint(10, { 6 }), fp.randperm(8)
  local m2 = fp.multinomial(fp.tensor({ 0.2, 0.3, 0.5 }), 4, true)
  assert_close(a1, a2, 0, "randn")
  assert_close(u1, u2, 0, "rand")
  assert_close(i1, i2, 0, "randint")
  assert_close(p1, p2, 0, "randperm")
  assert_close(m1, m2, 0, "multinomial")
  fp.seed(124)
  local a3 = fp.randn(3, 4)
  assert((a1 - a3):abs():max() > 0, "another seed gives other numbers")
  -- the stream continues: two draws after one seed differ
  fp.seed(1)
  local x, y = fp.randn(10), fp.randn(10)
  assert((x - y):abs():max() > 0, "consecutive draws differ")
end)

test("randn / rand distributions, shapes and dtypes", function()
  fp.seed(99)
  local n = 200000
  local r = fp.randn(n)
  eq(r.dtype, "float32", "randn dtype")
  local mean, std = r:mean(), r:std()
  assert(math.abs(mean) < 0.01, "randn mean " .. mean)
  assert(math.abs(std - 1) < 0.01, "randn std " .. std)
  -- about 68.27% within one standard deviation
  local inside = r:abs():lt(1):sum() / n
  assert(math.abs(inside - 0.6827) < 0.01, "fraction within 1 sigma " .. inside)
  local u = fp.rand(n)
  assert(u:min() >= 0 and u:max() < 1, "rand in [0, 1)")
  assert(math.abs(u:mean() - 0.5) < 0.01, "rand mean " .. u:mean())
  assert(math.abs(u:var() - 1 / 12) < 0.005, "rand variance " .. u:var())
  eq(shape_of(fp.randn(2, 3)), "[2, 3]", "varargs shape")
  eq(shape_of(fp.randn({ 4, 1 })), "[4, 1]", "table shape")
  eq(shape_of(fp.randn_like(fp.zeros(3, 2))), "[3, 2]", "randn_like")
end)

test("randint / randperm / multinomial ranges", function()
  fp.seed(8)
  local r = fp.randint(3, 7, { 1000 })
  eq(r.dtype, "int64", "randint dtype")
  eq(r:min(), 3, "randint low is reached")
  eq(r:max(), 6, "randint high is exclusive")
  local r0 = fp.randint(5, { 2, 3 })
  eq(shape_of(r0), "[2, 3]", "randint(high, shape)")
  assert(r0:min() >= 0 and r0:max() < 5, "randint(high) range")
  local p = fp.randperm(50)
  local sorted = p:sort():tolist()
  for i = 1, 50 do eq(sorted[i], i - 1, "randperm is a permutation") end
  local probs = fp.tensor({ 0, 1, 0, 3 })
  local m = fp.multinomial(probs, 2000, true)
  eq(m:eq(0):sum() + m:eq(2):sum(), 0, "zero-probability categories are never drawn")
  local frac3 = m:eq(3):sum() / 2000
  assert(math.abs(frac3 - 0.75) < 0.05, "category 3 frequency " .. frac3)
  local wo = fp.multinomial(fp.ones(10), 10)
  local ws = wo:sort():tolist()
  for i = 1, 10 do eq(ws[i], i - 1, "without replacement draws distinct categories") end
  local rows = fp.multinomial(fp.tensor({ { 1, 0 }, { 0, 1 } }), 3, { replacement = true })
  assert_close(rows, { { 0, 0, 0 }, { 1, 1, 1 } }, 0, "2-D probs")
end)

-- matmul / bmm / outer / einsum against explicit Lua loops over tolist() values:
-- 2-D, batched, broadcast batch dims, 1-D cases, transposed and sliced views.
local fp = require "fp"

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

local function shape_of(t) return "[" .. table.concat(t.shape, ", ") .. "]" end

-- C = A B for Lua matrices (lists of rows)
local function mm(A, B)
  local C = {}
  for i = 1, #A do
    C[i] = {}
    for j = 1, #B[1] do
      local s = 0
      for k = 1, #B do s = s + A[i][k] * B[k][j] end
      C[i][j] = s
    end
  end
  return C
end

fp.seed(42)

test("2-D matmul equals the triple loop", function()
  for _, dims in ipairs({ { 3, 4, 5 }, { 1, 7, 1 }, { 17, 33, 9 }, { 64, 65, 66 } }) do
    local m, k, n = dims[1], dims[2], dims[3]
    local a, b = fp.randn(m, k), fp.randn(k, n)
    local c = a:matmul(b)
    eq(shape_of(c), string.format("[%d, %d]", m, n), "shape")
    assert_close(c, mm(a:tolist(), b:tolist()), 1e-4, string.format("%dx%dx%d", m, k, n))
  end
  -- fp.matmul is the same
  local a, b = fp.randn(2, 3), fp.randn(3, 2)
  assert_close(fp.matmul(a, b), a:matmul(b), 0)
end)

test("matmul of transposed, sliced and expanded views", function()
  local a, b = fp.randn(6, 4), fp.randn(5, 6)
  local at, bt = a:T(), b:T()                       -- [4, 6], [6, 5] strided
  assert_close(at:matmul(bt), mm(at:tolist(), bt:tolist()), 1e-4, "both transposed")
  local s = fp.randn(8, 10)[{ { 1, 7, 2 }, { 2, 8 } }]   -- [3, 6] with row stride 20
  assert_close(s:matmul(bt), mm(s:tolist(), bt:tolist()), 1e-4, "strided rows")
  local col = fp.randn(6, 10)[{ {}, { 0, 10, 3 } }]        -- [6, 4] column stride 3
  assert_close(a:T():matmul(col), mm(a:T():tolist(), col:tolist()), 1e-4, "column stride 3")
  local e = fp.randn(1, 6):expand(3, 6)                   -- stride 0 rows
  assert_close(e:matmul(bt), mm(e:tolist(), bt:tolist()), 1e-4, "expanded operand")
  local i = fp.tensor({ { 1, 2 }, { 3, 4 } }, "int")
  assert_close(i:matmul(i), { { 7, 10 }, { 15, 22 } }, 0, "int operands")
end)

test("1-D cases: dot, vector-matrix, matrix-vector", function()
  local u, v = fp.randn(7), fp.randn(7)
  local d = u:matmul(v)
  local ul, vl = u:tolist(), v:tolist()
  local want = 0
  for i = 1, 7 do want = want + ul[i] * vl[i] end
  eq(#d.shape, 0, "dot is 0-d")
  assert_close(d:item(), want, 1e-5)
  local M = fp.randn(7, 3)
  local vm = u:matmul(M)
  eq(shape_of(vm), "[3]", "vector @ matrix shape")
  assert_close(vm, mm({ ul }, M:tolist())[1], 1e-5)
  local N = fp.randn(4, 7)
  local mv = N:matmul(v)
  eq(shape_of(mv), "[4]", "matrix @ vector shape")
  local col = {}
  for i, x in ipairs(vl) do col[i] = { x } end
  local r = mm(N:tolist(), col)
  for i = 1, 4 do assert_close(mv[i - 1], r[i][1], 1e-5) end
  -- 1-D with a batched matrix
  local B = fp.randn(2, 7, 3)
  local vb = u:matmul(B)
  eq(shape_of(vb), "[2, 3]", "vector @ batch shape")
  for b = 0, 1 do assert_close(vb[b], u:matmul(B[b]), 1e-5) end
  local bv = fp.randn(2, 4, 7):matmul(v)
  eq(shape_of(bv), "[2, 4]", "batch @ vector shape")
end)

test("batched matmul and bmm equal per-batch loops", function()
  local a, b = fp.randn(3, 4, 5), fp.randn(3, 5, 2)
  local c = a:bmm(b)
  eq(shape_of(c), "[3, 4, 2]", "bmm shape")
  local al, bl, cl = a:tolist(), b:tolist(), c:tolist()
  for i = 1, 3 do assert_close(cl[i], mm(al[i], bl[i]), 1e-4, "bmm batch " .. i) end
  assert_close(a:matmul(b), c, 0)
  -- batched operand with transposed inner matrices
  local bt = fp.randn(3, 2, 5):transpose(1, 2)
  local c2 = a:matmul(bt)
  local btl = bt:tolist()
  for i = 1, 3 do assert_close(c2[i - 1], mm(al[i], btl[i]), 1e-4, "transposed batch " .. i) end
end)

test("batch dims broadcast", function()
  local a = fp.randn(2, 1, 3, 4)
  local b = fp.randn(5, 4, 2)
  local c = a:matmul(b)
  eq(shape_of(c), "[2, 5, 3, 2]", "broadcast batch shape")
  local al, bl, cl = a:tolist(), b:tolist(), c:tolist()
  for i = 1, 2 do for j = 1, 5 do
    assert_close(cl[i][j], mm(al[i][1], bl[j]), 1e-4, "batch " .. i .. "," .. j)
  end end
  -- a batched left operand with a plain matrix folds into one product
  local x, w = fp.randn(4, 3, 6), fp.randn(6, 2)
  local y = x:matmul(w)
  local xl, wl = x:tolist(), w:tolist()
  for i = 1, 4 do assert_close(y[i - 1], mm(xl[i], wl), 1e-4) end
  -- a non-contiguous batched left operand too
  local xp = fp.randn(3, 4, 6):transpose(0, 1)   -- [4, 3, 6]
  local yp = xp:matmul(w)
  local xpl = xp:tolist()
  for i = 1, 4 do assert_close(yp[i - 1], mm(xpl[i], wl), 1e-4) end
end)

test("empty inner dimension gives zeros; empty outer gives empty", function()
  local c = fp.zeros(3, 0):matmul(fp.zeros(0, 2))
  eq(shape_of(c), "[3, 2]", "shape")
  eq(c:abs():sum(), 0, "zeros")
  eq(fp.zeros(0, 4):matmul(fp.randn(4, 2)):numel(), 0, "empty rows")
end)

test("outer product", function()
  local a, b = fp.tensor({ 1, 2, 3 }), fp.tensor({ 4, 5 })
  local o = fp.outer(a, b)
  eq(shape_of(o), "[3, 2]", "shape")
  assert_close(o, { { 4, 5 }, { 8, 10 }, { 12, 15 } }, 0)
  assert_close(a:outer(b), o, 0)
end)

test("einsum \"bpd,d->bp\" and the named form agree with loops", function()
  local x, w = fp.randn(2, 3, 4), fp.randn(4)
  local r1 = fp.einsum("bpd,d->bp", x, w)
  local r2 = fp.einsum("batch pos d, d -> batch pos", x, w)
  eq(shape_of(r1), "[2, 3]", "shape")
  local xl, wl = x:tolist(), w:tolist()
  local want = {}
  for b = 1, 2 do
    want[b] = {}
    for p = 1, 3 do
      local s = 0
      for d = 1, 4 do s = s + xl[b][p][d] * wl[d] end
      want[b][p] = s
    end
  end
  assert_close(r1, want, 1e-5)
  assert_close(r2, want, 1e-5)
  assert_close(fp.einsum("bpd,d->bp", { x, w }), want, 1e-5, "operands as a table")
end)

test("einsum: matrix product, batched product, transpose, trace, diagonal, sums", function()
  local a, b = fp.randn(3, 4), fp.randn(4, 5)
  assert_close(fp.einsum("ij,jk->ik", a, b), mm(a:tolist(), b:tolist()), 1e-4)
  assert_close(fp.einsum("ij,jk", a, b), mm(a:tolist(), b:tolist()), 1e-4, "implicit output")
  local A, B = fp.randn(2, 3, 4), fp.randn(2, 4, 5)
  assert_close(fp.einsum("bij,bjk->bik", A, B), A:bmm(B), 1e-5)
  assert_close(fp.einsum("ij->ji", a), a:T(), 0)
  local sq = fp.randn(4, 4)
  local sl = sq:tolist()
  local tr = 0
  for i = 1, 4 do tr = tr + sl[i][i] end
  assert_close(fp.einsum("ii->", sq):item(), tr, 1e-5)
  assert_close(fp.einsum("ii->i", sq), { sl[1][1], sl[2][2], sl[3][3], sl[4][4] }, 0)
  assert_close(fp.einsum("ij->", a):item(), a:sum(), 1e-5)
  assert_close(fp.einsum("ij->j", a), a:sum(0), 1e-5)
  local u, v = fp.randn(3), fp.randn(5)
  assert_close(fp.einsum("i,j->ij", u, v), fp.outer(u, v), 1e-6)
  assert_close(fp.einsum("i,i->", u, u):item(), (u * u):sum(), 1e-5)
end)

test("einsum: attention-style contraction with named axes", function()
  -- q [batch, qpos, head, d], k [batch, kpos, head, d] -> scores [batch, head, qpos, kpos]
  local q, k = fp.randn(2, 3, 2, 4), fp.randn(2, 5, 2, 4)
  local s = fp.einsum("batch qpos head d, batch kpos head d -> batch head qpos kpos", q, k)
  eq(shape_of(s), "[2, 2, 3, 5]", "shape")
  local ql, kl, sl = q:tolist(), k:tolist(), s:tolist()
  for b = 1, 2 do for h = 1, 2 do for i = 1, 3 do for j = 1, 5 do
    local acc = 0
    for d = 1, 4 do acc = acc + ql[b][i][h][d] * kl[b][j][h][d] end
    assert_close(sl[b][h][i][j], acc, 1e-5)
  end end end end
  -- three operands: x W_in W_out
  local x, w1, w2 = fp.randn(3, 4), fp.randn(4, 6), fp.randn(6, 2)
  assert_close(fp.einsum("pd,dm,mo->po", x, w1, w2), x:matmul(w1):matmul(w2), 1e-4)
end)

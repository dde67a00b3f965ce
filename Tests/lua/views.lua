-- Views share storage: transpose/permute/view/reshape/expand/unsqueeze/squeeze/narrow/select/
-- slices alias the parent; writes through one are visible in the others. Copies do not alias.
local fp = require "fp"

-- shared assertions from fp.testing (fp test provides them)
local eq, same_list, shape_of = assert_equal, assert_equal, shape_string

test("writes through a slice view are visible in the parent and in other views", function()
  local t = fp.zeros(3, 5)
  local v = t[{ {}, { 2, 4 } }]
  local row = t[1]
  v[{ 0 }] = 9
  same_list(t[0]:tolist(), { 0, 0, 9, 9, 0 })
  t[{ 1 }] = 7
  same_list(v[1]:tolist(), { 7, 7 })
  row[{ 3 }] = -3
  eq(v[{ 1, 1 }], -3, "row write seen in the slice view")
  eq(t[{ 1, 3 }], -3, "row write seen in the parent")
end)

test("transpose / T / .T alias and swap indices", function()
  local m = fp.arange(6):view(2, 3)
  local tt = m:transpose(0, 1)
  eq(shape_of(tt), "[3, 2]", "shape")
  for i = 0, 1 do for j = 0, 2 do eq(tt[{ j, i }], m[{ i, j }], "transpose element") end end
  eq(tt:is_contiguous(), false, "transpose is not contiguous")
  tt[{ 2, 0 }] = 100
  eq(m[{ 0, 2 }], 100, "write through transpose")
  same_list(m:T():tolist(), { { 0, 3 }, { 1, 4 }, { 100, 5 } })
  same_list(m:transpose(-1, -2):tolist(), tt:tolist())
  -- T of a 3-D tensor swaps the last two dims (as .mT)
  eq(shape_of(fp.zeros(2, 3, 4):T()), "[2, 4, 3]", "T of 3-D")
end)

test("permute reorders dims as a view", function()
  local x = fp.arange(24):view(2, 3, 4)
  local p = x:permute(2, 0, 1)
  eq(shape_of(p), "[4, 2, 3]", "permute shape")
  for i = 0, 1 do for j = 0, 2 do for k = 0, 3 do
    eq(p[{ k, i, j }], x[{ i, j, k }], "permute element")
  end end end
  p[{ 3, 1, 2 }] = -1
  eq(x[{ 1, 2, 3 }], -1, "write through permute")
  eq(shape_of(x:permute({ 1, 0, 2 })), "[3, 2, 4]", "table argument")
  eq(shape_of(x:permute(-1, 0, 1)), "[4, 2, 3]", "negative dims")
end)

test("view and reshape: views alias, reshape of non-contiguous copies", function()
  local x = fp.arange(6):view(2, 3)
  local y = x:view(3, 2)
  y[{ 0, 0 }] = 100
  eq(x[{ 0, 0 }], 100, "write through view")
  eq(shape_of(x:view(-1)), "[6]", "view(-1)")
  eq(shape_of(x:view({ 3, -1 })), "[3, 2]", "view with a table and -1")
  local r = x:reshape(6)
  r[{ 5 }] = 55
  eq(x[{ 1, 2 }], 55, "reshape of a contiguous tensor is a view")
  local c = x:T():reshape(6)
  same_list(c:tolist(), { 100, 3, 1, 4, 2, 55 })
  c[{ 0 }] = -5
  eq(x[{ 0, 0 }], 100, "reshape of a non-contiguous tensor copies")
  -- a view that only splits a contiguous dim of a permuted tensor works; merging
  -- non-adjacent memory does not (as in torch), and reshape then copies
  local z = fp.arange(24):view(2, 3, 4):permute(1, 0, 2)   -- [3, 2, 4], strides [4, 12, 1]
  local zs = z:view(3, 2, 2, 2)
  eq(zs[{ 1, 1, 1, 0 }], z[{ 1, 1, 2 }], "split view element")
  zs[{ 2, 0, 0, 1 }] = -7
  eq(z[{ 2, 0, 1 }], -7, "write through split view of a permuted tensor")
  expect_error(function() return z:view(3, 8) end, "use reshape")
  same_list(z:reshape(3, 8)[1]:tolist(), { 4, 5, 6, 7, 16, 17, 18, 19 })
  eq(shape_of(x:flatten()), "[6]", "flatten")
  eq(shape_of(fp.zeros(2, 3, 4):flatten(1)), "[2, 12]", "flatten(1)")
end)

test("expand broadcasts with stride 0 and aliases", function()
  local base = fp.tensor({ 1, 2, 3 })
  local e = base:expand(2, 3)
  same_list(e:tolist(), { { 1, 2, 3 }, { 1, 2, 3 } })
  eq(e:sum(), 12, "sum of expanded")
  base[{ 1 }] = 20
  same_list(e[1]:tolist(), { 1, 20, 3 })
  local col = fp.tensor({ { 1 }, { 2 } })
  same_list(col:expand(-1, 3):tolist(), { { 1, 1, 1 }, { 2, 2, 2 } })
  eq(shape_of(col:expand_as(fp.zeros(2, 4))), "[2, 4]", "expand_as")
  eq(shape_of(fp.tensor(5):expand(2, 2)), "[2, 2]", "0-d expands")
  -- writing into a clone of an expanded view is independent
  local c = e:clone()
  c[{ 0, 0 }] = 0
  eq(e[{ 1, 0 }], 1, "clone does not alias")
end)

test("unsqueeze / squeeze", function()
  local x = fp.arange(6):view(2, 3)
  eq(shape_of(x:unsqueeze(0)), "[1, 2, 3]", "unsqueeze(0)")
  eq(shape_of(x:unsqueeze(1)), "[2, 1, 3]", "unsqueeze(1)")
  eq(shape_of(x:unsqueeze(-1)), "[2, 3, 1]", "unsqueeze(-1)")
  local u = x:unsqueeze(1)
  u[{ 1, 0, 2 }] = 50
  eq(x[{ 1, 2 }], 50, "write through unsqueeze")
  local s = fp.zeros(1, 3, 1, 2)
  eq(shape_of(s:squeeze()), "[3, 2]", "squeeze all")
  eq(shape_of(s:squeeze(0)), "[3, 1, 2]", "squeeze(0)")
  eq(shape_of(s:squeeze(-2)), "[1, 3, 2]", "squeeze(-2)")
  eq(shape_of(s:squeeze(1)), "[1, 3, 1, 2]", "squeeze of a dim that is not 1 is a no-op (torch)")
end)

test("narrow / select alias", function()
  local x = fp.arange(12):view(3, 4)
  local n = x:narrow(1, 1, 2)
  same_list(n:tolist(), { { 1, 2 }, { 5, 6 }, { 9, 10 } })
  n[{ 2, 1 }] = -10
  eq(x[{ 2, 2 }], -10, "write through narrow")
  same_list(x:narrow(0, -1, 1):tolist(), { { 8, 9, -10, 11 } })
  local s = x:select(1, -1)
  same_list(s:tolist(), { 3, 7, 11 })
  s[{ 0 }] = 33
  eq(x[{ 0, 3 }], 33, "write through select")
  eq(x:narrow(0, 1, 0):numel(), 0, "zero-length narrow")
end)

test("clone and contiguous", function()
  local x = fp.arange(6):view(2, 3)
  local c = x:clone()
  c[{ 0, 0 }] = 99
  eq(x[{ 0, 0 }], 0, "clone is a copy")
  local t = x:T()
  local tc = t:contiguous()
  eq(tc:is_contiguous(), true, "contiguous() is contiguous")
  same_list(tc:tolist(), t:tolist())
  eq(x:contiguous():is_contiguous(), true, "contiguous() of contiguous")
  -- contiguous of a contiguous tensor returns the same storage (a write aliases)
  local same = x:contiguous()
  same[{ 1, 1 }] = 44
  eq(x[{ 1, 1 }], 44, "contiguous() of a contiguous tensor aliases")
end)

test("fill_, zero_, copy_ and masked_fill_ work in place on views", function()
  local x = fp.zeros(3, 3)
  x[{ {}, 1 }]:fill_(2)
  same_list(x:tolist(), { { 0, 2, 0 }, { 0, 2, 0 }, { 0, 2, 0 } })
  x:T()[0]:copy_(fp.tensor({ 5, 6, 7 }))
  same_list(x[{ {}, 0 }]:tolist(), { 5, 6, 7 })
  x[1]:zero_()
  same_list(x[1]:tolist(), { 0, 0, 0 })
  x:masked_fill_(x:eq(2), -1)
  same_list(x:tolist(), { { 5, -1, 0 }, { 0, 0, 0 }, { 7, -1, 0 } })
  local r = x:fill_(3)
  r[{ 0, 0 }] = 8
  eq(x[{ 0, 0 }], 8, "in-place methods return the same tensor")
end)

test("views of views compose offsets and strides", function()
  local x = fp.arange(60):view(3, 4, 5)
  local v = x:permute(2, 0, 1)[{ { 1, 4 }, -1 }]:transpose(0, 1)   -- [4, 3]
  eq(shape_of(v), "[4, 3]", "shape")
  for j = 0, 3 do for k = 0, 2 do
    eq(v[{ j, k }], x[{ 2, j, k + 1 }], "composed view element")
  end end
  v[{ 3, 2 }] = 0
  eq(x[{ 2, 3, 3 }], 0, "write through composed view")
end)

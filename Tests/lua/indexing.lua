-- Indexing: 0-based and negative indices, slices {}, {a,b}, {a}, {a,b,step}, "...", fp.newaxis,
-- integer index tensors (index_select semantics), boolean masks, full index -> Lua number,
-- and assignment through index expressions.
local fp = require "fp"

-- shared assertions from fp.testing (fp test provides them)
local eq, same_list, shape_of = assert_equal, assert_equal, shape_string

-- x[i][j][k] = 100 i + 10 j + k, shape [2, 3, 4] (int64)
local function cube()
  local rows = {}
  for i = 0, 1 do
    local plane = {}
    for j = 0, 2 do
      local r = {}
      for k = 0, 3 do r[#r + 1] = 100 * i + 10 * j + k end
      plane[#plane + 1] = r
    end
    rows[#rows + 1] = plane
  end
  return fp.tensor(rows, "int")
end

test("full index is a Lua number; 0-based; negatives count from the end", function()
  local x = cube()
  eq(x[{ 0, 0, 0 }], 0, "x[0,0,0]")
  eq(x[{ 1, 2, 3 }], 123, "x[1,2,3]")
  eq(x[{ -1, -1, -1 }], 123, "x[-1,-1,-1]")
  eq(x[{ -2, 1, -4 }], 10, "x[-2,1,-4]")
  eq(type(x[{ 1, 0, 2 }]), "number", "type of a full index")
  local f = fp.tensor({ { 1.5, 2.5 }, { 3.5, 4.5 } })
  eq(f[{ 1, 0 }], 3.5, "float full index")
  eq(f[{ 0, 1 }] + f[{ 1, 1 }], 7, "numbers add as numbers")
  eq(fp.tensor({ true, false })[1], false, "bool full index gives a boolean")
end)

test("an integer index drops the dim; t[i] is t[{i}]", function()
  local x = cube()
  local r = x[1]
  eq(shape_of(r), "[3, 4]", "x[1] shape")
  same_list(r[0]:tolist(), { 100, 101, 102, 103 })
  same_list(x[{ 0, 2 }]:tolist(), { 20, 21, 22, 23 })
  same_list(x[-1][-1]:tolist(), { 120, 121, 122, 123 })
end)

test("{} is the whole dim; {a, b} half-open; {a} to the end", function()
  local x = cube()
  same_list(x[{ {}, 1, 2 }]:tolist(), { 12, 112 })
  same_list(x[{ 0, {}, 3 }]:tolist(), { 3, 13, 23 })
  same_list(x[{ 0, 0, { 1, 3 } }]:tolist(), { 1, 2 })
  same_list(x[{ 1, 1, { 2 } }]:tolist(), { 112, 113 })
  same_list(x[{ 0, { -2 }, 0 }]:tolist(), { 10, 20 })
  same_list(x[{ 0, 0, { -3, -1 } }]:tolist(), { 1, 2 })
  eq(shape_of(x[{ {}, { 0, 2 }, { 1, 3 } }]), "[2, 2, 2]", "shape of two ranges")
  -- out-of-range bounds clamp, as Python slices do
  same_list(x[{ 0, 0, { 2, 100 } }]:tolist(), { 2, 3 })
  eq(x[{ 0, 0, { 3, 1 } }]:numel(), 0, "empty range")
  same_list(x[{ 0, 0, { nil, 2 } }]:tolist(), { 0, 1 })
end)

test("{a, b, step} strides", function()
  local x = fp.arange(10)
  same_list(x[{ { 0, 10, 3 } }]:tolist(), { 0, 3, 6, 9 })
  same_list(x[{ { 1, 8, 2 } }]:tolist(), { 1, 3, 5, 7 })
  same_list(x[{ { 5, nil, 2 } }]:tolist(), { 5, 7, 9 })
  same_list(x[{ { nil, nil, 4 } }]:tolist(), { 0, 4, 8 })
  local c = cube()
  same_list(c[{ 1, { 0, 3, 2 }, { 1, 4, 2 } }]:tolist(), { { 101, 103 }, { 121, 123 } })
end)

test("\"...\" stands for the remaining dims", function()
  local x = cube()
  same_list(x[{ "...", 1 }]:tolist(), { { 1, 11, 21 }, { 101, 111, 121 } })
  same_list(x[{ 1, "...", 2 }]:tolist(), { 102, 112, 122 })
  eq(shape_of(x[{ "..." }]), "[2, 3, 4]", "only an ellipsis")
  -- with an ellipsis the result stays a 0-d tensor, as x[1, 2, ..., 3] in PyTorch and numpy
  local z = x[{ 1, 2, "...", 3 }]
  eq(fp.is_tensor(z), true, "ellipsis + integers gives a tensor")
  eq(#z.shape, 0, "0-d")
  eq(z:item(), 123, "value")
end)

test("fp.newaxis inserts a size-1 dim", function()
  local x = fp.arange(3)
  eq(shape_of(x[{ fp.newaxis }]), "[1, 3]", "leading newaxis")
  eq(shape_of(x[{ {}, fp.newaxis }]), "[3, 1]", "trailing newaxis")
  eq(shape_of(cube()[{ "...", fp.newaxis }]), "[2, 3, 4, 1]", "after an ellipsis")
  eq(shape_of(cube()[{ 0, fp.newaxis, {}, 1 }]), "[1, 3]", "mixed")
  -- broadcasting a column against a row through newaxis views: outer sum
  local s = x[{ {}, fp.newaxis }] + x[{ fp.newaxis, {} }]
  for i = 0, 2 do for j = 0, 2 do eq(s[{ i, j }], i + j, "outer sum") end end
end)

test("integer index tensors select rows (index_select semantics)", function()
  local x = cube()
  local idx = fp.tensor({ 3, 0, 0 }, "int")
  local r = x[{ 0, {}, idx }]
  eq(shape_of(r), "[3, 3]", "shape")
  same_list(r:tolist(), { { 3, 0, 0 }, { 13, 10, 10 }, { 23, 20, 20 } })
  -- negative entries count from the end
  same_list(x[{ 1, fp.tensor({ -1, 0 }, "int"), 0 }]:tolist(), { 120, 100 })
  -- a 2-D index tensor puts its shape in the indexed dim's place
  local r2 = fp.arange(5)[{ fp.tensor({ { 0, 1 }, { 4, 3 } }, "int") }]
  eq(shape_of(r2), "[2, 2]", "2-D index shape")
  same_list(r2:tolist(), { { 0, 1 }, { 4, 3 } })
  -- equals index_select and an explicit loop
  local m = fp.randn(4, 5)
  local ix = fp.tensor({ 4, 1, 1, 2 }, "int")
  assert_close(m[{ {}, ix }], m:index_select(1, ix), 0)
  local ml, got = m:tolist(), m[{ {}, ix }]:tolist()
  for i = 1, 4 do
    for j, c in ipairs({ 4, 1, 1, 2 }) do eq(got[i][j], ml[i][c + 1], "loop check") end
  end
  -- an index tensor result is a copy, not a view
  local v = x[{ 0, 0, fp.tensor({ 0 }, "int") }]
  v[{ 0 }] = -1
  eq(x[{ 0, 0, 0 }], 0, "index tensor result does not alias")
end)

test("boolean masks select elements", function()
  local t = fp.tensor({ { 1, -2, 3 }, { -4, 5, -6 } })
  local pos = t[t:gt(0)]
  same_list(pos:tolist(), { 1, 3, 5 })
  -- a mask on one dim selects rows/columns
  same_list(t[{ fp.tensor({ false, true }) }]:tolist(), { { -4, 5, -6 } })
  same_list(t[{ {}, fp.tensor({ true, false, true }) }]:tolist(), { { 1, 3 }, { -4, -6 } })
  eq(t[t:gt(100)]:numel(), 0, "all-false mask gives an empty tensor")
  -- loop check on random data
  local r = fp.randn(50)
  local sel = r[r:lt(0)]:tolist()
  local want = {}
  for _, v in ipairs(r:tolist()) do if v < 0 then want[#want + 1] = v end end
  same_list(sel, want)
end)

test("assignment through an index writes into the tensor", function()
  local t = fp.zeros(3, 5)
  t[{ {}, { 2, 4 } }] = fp.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
  same_list(t:tolist(), { { 0, 0, 1, 2, 0 }, { 0, 0, 3, 4, 0 }, { 0, 0, 5, 6, 0 } })
  t[{ {}, { 2, 4 } }] = 9
  eq(t:sum(), 54, "number assigned to a range")
  t[{ 1 }] = 7
  same_list(t[1]:tolist(), { 7, 7, 7, 7, 7 })
  t[{ 0, -1 }] = -1
  eq(t[{ 0, 4 }], -1, "full-index assignment")
  -- broadcasting of the value: a row into every row
  t[{ {}, { 0, 2 } }] = fp.tensor({ 10, 20 })
  same_list(t[{ {}, 1 }]:tolist(), { 20, 20, 20 })
  -- int tensors take whole floats; a fraction is an error, not a truncation (issue 11: exact
  -- values or an error; an explicit cast t:int() still truncates as torch's .long())
  local i = fp.zeros(3, "int")
  i[{ 0 }] = 2.0
  eq(i[0], 2, "float into int")
  expect_error(function() i[{ 1 }] = 2.7 end, "index assignment: value 2.7 cannot be stored in an int64 tensor (not an integer)")
end)

test("assignment with index tensors and masks", function()
  local t = fp.zeros(2, 5)
  t[{ {}, fp.tensor({ 0, 4 }, "int") }] = 42
  same_list(t:tolist(), { { 42, 0, 0, 0, 42 }, { 42, 0, 0, 0, 42 } })
  t[t:eq(42)] = 1
  eq(t:sum(), 4, "mask assignment of a number")
  local y = fp.arange(6):view(2, 3)
  y[{ fp.tensor({ 1, 0 }, "int") }] = fp.tensor({ { 7, 7, 7 }, { 8, 8, 8 } }, "int")
  same_list(y:tolist(), { { 8, 8, 8 }, { 7, 7, 7 } })
  local x = fp.arange(6):view(2, 3)
  x[{ {}, fp.tensor({ true, false, true }) }] = fp.tensor({ { 10, 20 }, { 30, 40 } }, "int")
  same_list(x:tolist(), { { 10, 1, 20 }, { 30, 4, 40 } })
  -- a full-shape mask with a tensor of values fills in row-major order
  local c = fp.zeros(2, 2)
  c[fp.tensor({ { true, false }, { true, true } })] = fp.tensor({ 1, 2, 3 })
  same_list(c:tolist(), { { 1, 0 }, { 2, 3 } })
end)

test("mask assignment into a non-contiguous view reaches the base tensor", function()
  local base = fp.zeros(3, 4)
  local t = base:T()                       -- [4, 3], not contiguous
  local mask = fp.tensor({ { true, false, false }, { false, true, false }, { false, false, true }, { true, true, true } })
  t[mask] = fp.tensor({ 1, 2, 3, 4, 5, 6 })
  same_list(base:tolist(), { { 1, 0, 0, 4 }, { 0, 2, 0, 5 }, { 0, 0, 3, 6 } })
  same_list(t[mask]:tolist(), { 1, 2, 3, 4, 5, 6 })
end)

test("overlapping self-assignment behaves as if the source were copied first", function()
  local t = fp.arange(5)
  t[{ { 1 } }] = t[{ { 0, 4 } }]
  same_list(t:tolist(), { 0, 0, 1, 2, 3 })
end)

-- Creation: fp.tensor from nested tables (float/int/bool), zeros/ones/full/arange/linspace/eye,
-- dtypes, shape/#/dim/numel and tolist round trips.
local fp = require "fp"

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

local function same_list(a, b, path)
  path = path or "list"
  if type(b) == "table" then
    if type(a) ~= "table" then error(path .. ": expected a table, got " .. tostring(a), 2) end
    if #a ~= #b then error(string.format("%s: length %d, expected %d", path, #a, #b), 2) end
    for i = 1, #b do same_list(a[i], b[i], path .. "[" .. i .. "]") end
  elseif a ~= b then
    error(string.format("%s: expected %s, got %s", path, tostring(b), tostring(a)), 2)
  end
end

local function shape_of(t) return "[" .. table.concat(t.shape, ", ") .. "]" end

test("fp.tensor from a nested table is float32 with the nesting as shape", function()
  local t = fp.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
  eq(t.dtype, "float32", "dtype")
  eq(shape_of(t), "[2, 3]", "shape")
  eq(t:dim(), 2, "dim()")
  eq(t.ndim, 2, "ndim")
  eq(t:numel(), 6, "numel()")
  eq(#t, 2, "#t")
  same_list(t:tolist(), { { 1, 2, 3 }, { 4, 5, 6 } })
  eq(math.type(t:tolist()[1][1]), "float", "tolist element of a float tensor")
end)

test("fp.tensor with \"int\" gives int64 and Lua integers", function()
  local t = fp.tensor({ { 1, -2 }, { 3, 40000000000 } }, "int")
  eq(t.dtype, "int64", "dtype")
  eq(t[{ 1, 1 }], 40000000000, "large int64 element")
  eq(math.type(t[{ 0, 1 }]), "integer", "full index of an int tensor")
  same_list(t:tolist(), { { 1, -2 }, { 3, 40000000000 } })
  eq(fp.tensor({ 1, 2 }, "int64").dtype, "int64", "\"int64\" alias")
  eq(fp.tensor({ 1, 2 }, "long").dtype, "int64", "\"long\" alias")
  eq(fp.tensor({ 2.0, 3.0 }, "int")[1], 3, "integral floats are accepted as ints")
end)

test("fp.tensor of booleans is a bool tensor", function()
  local t = fp.tensor({ true, false, true })
  eq(t.dtype, "bool", "dtype")
  same_list(t:tolist(), { true, false, true })
  eq(t[1], false, "element")
  local b = fp.tensor({ 0, 2, 0 }, "bool")
  same_list(b:tolist(), { false, true, false })
  -- a mix of numbers and booleans is numeric
  local m = fp.tensor({ true, 2 })
  eq(m.dtype, "float32", "mixed dtype")
  same_list(m:tolist(), { 1, 2 })
end)

test("fp.tensor of a number is 0-d; of a tensor is a copy", function()
  local s = fp.tensor(3.5)
  eq(#s.shape, 0, "rank")
  eq(s:item(), 3.5, "item")
  eq(s:tolist(), 3.5, "tolist of a 0-d tensor is a number")
  eq(fp.tensor(7, "int"):item(), 7, "0-d int")
  eq(fp.tensor(true).dtype, "bool", "0-d bool")
  local a = fp.tensor({ 1, 2, 3 })
  local b = fp.tensor(a)
  b[{ 0 }] = 100
  eq(a[0], 1, "fp.tensor(t) copies (original unchanged)")
  eq(fp.tensor(a, "int").dtype, "int64", "fp.tensor(t, dtype) converts")
end)

test("3-D nesting and empty tables", function()
  local t = fp.tensor({ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } })
  eq(shape_of(t), "[2, 2, 2]", "shape")
  eq(t[{ 1, 0, 1 }], 6, "element [1, 0, 1]")
  eq(t:sum(), 36, "sum")
  local e = fp.tensor({})
  eq(shape_of(e), "[0]", "empty shape")
  eq(e:numel(), 0, "empty numel")
end)

test("zeros / ones / full with varargs, tables and dtypes", function()
  local z = fp.zeros(2, 3)
  eq(shape_of(z), "[2, 3]", "zeros shape")
  eq(z:sum(), 0, "zeros sum")
  eq(z.dtype, "float32", "zeros dtype")
  local o = fp.ones({ 4 }, "int")
  eq(o.dtype, "int64", "ones int dtype")
  same_list(o:tolist(), { 1, 1, 1, 1 })
  local b = fp.ones(2, "bool")
  same_list(b:tolist(), { true, true })
  local f = fp.full({ 2, 2 }, 7)
  same_list(f:tolist(), { { 7, 7 }, { 7, 7 } })
  eq(f.dtype, "float32", "full dtype")
  local fi = fp.full({ 3 }, 5, "int")
  eq(fi.dtype, "int64", "full int dtype")
  eq(fi:sum(), 15, "full int sum")
  eq(fp.full({ 2 }, true).dtype, "bool", "full of a boolean")
  eq(#fp.zeros().shape, 0, "zeros() is 0-d")
  eq(shape_of(fp.zeros(0, 3)), "[0, 3]", "zero-size dim")
end)

test("zeros_like / ones_like keep shape and dtype", function()
  local a = fp.tensor({ { 1, 2 } }, "int")
  local z, o = fp.zeros_like(a), fp.ones_like(a)
  eq(shape_of(z), "[1, 2]", "zeros_like shape")
  eq(z.dtype, "int64", "zeros_like dtype")
  same_list(o:tolist(), { { 1, 1 } })
end)

test("arange: ints give int64, floats give float32, like torch", function()
  local a = fp.arange(5)
  eq(a.dtype, "int64", "arange(n) dtype")
  same_list(a:tolist(), { 0, 1, 2, 3, 4 })
  same_list(fp.arange(2, 7, 2):tolist(), { 2, 4, 6 })
  same_list(fp.arange(5, 0, -2):tolist(), { 5, 3, 1 })
  local f = fp.arange(1, 2, 0.25)
  eq(f.dtype, "float32", "float step dtype")
  same_list(f:tolist(), { 1, 1.25, 1.5, 1.75 })
  eq(fp.arange(0):numel(), 0, "arange(0) is empty")
  eq(fp.arange(3, 1):numel(), 0, "empty when stop < start")
  -- n = ceil((stop - start) / step), as torch.arange
  eq(fp.arange(0, 1, 0.1):numel(), 10, "arange(0, 1, 0.1) count")
  eq(fp.arange(0, 1.05, 0.1):numel(), 11, "arange(0, 1.05, 0.1) count")
  assert_close(fp.arange(0, 1, 0.1)[9], 0.9, 1e-6)
end)

test("linspace includes both ends", function()
  local l = fp.linspace(0, 1, 5)
  assert_close(l, { 0, 0.25, 0.5, 0.75, 1 })
  eq(l.dtype, "float32", "dtype")
  same_list(fp.linspace(3, 3, 1):tolist(), { 3 })
  eq(fp.linspace(0, 1, 0):numel(), 0, "zero steps")
  local k = fp.linspace(-2, 2, 9):tolist()
  for i = 1, 9 do assert_close(k[i], -2 + (i - 1) * 0.5, 1e-6) end
end)

test("eye: square and rectangular", function()
  local e = fp.eye(3)
  for i = 0, 2 do
    for j = 0, 2 do eq(e[{ i, j }], i == j and 1 or 0, "eye(3)[" .. i .. "," .. j .. "]") end
  end
  local r = fp.eye(2, 3)
  eq(shape_of(r), "[2, 3]", "eye(2, 3) shape")
  same_list(r:tolist(), { { 1, 0, 0 }, { 0, 1, 0 } })
  eq(fp.eye(0):numel(), 0, "eye(0)")
end)

test("dtype conversion: float/int/bool/to", function()
  local t = fp.tensor({ -1.7, 0, 2.9 })
  same_list(t:int():tolist(), { -1, 0, 2 })          -- truncation toward zero, like torch
  same_list(t:bool():tolist(), { true, false, true })
  same_list(fp.tensor({ true, false }):float():tolist(), { 1, 0 })
  eq(t:to("int64").dtype, "int64", "to(\"int64\")")
  eq(t:to("float").dtype, "float32", "to(\"float\")")
  eq(t:type(), "float32", "type()")
  eq(fp.tensor({ 1 }, "int"):long().dtype, "int64", "long()")
end)

test("tolist round trip preserves values and nesting", function()
  local src = { { { 1.5, -2 }, { 0.25, 8 } }, { { 3, 4 }, { 5, 6.75 } } }
  local t = fp.tensor(src)
  same_list(t:tolist(), src)
  same_list(fp.tensor(t:tolist()):tolist(), src)
  local it = { { 1, 2 }, { 3, 4 } }
  same_list(fp.tensor(fp.tensor(it, "int"):tolist(), "int"):tolist(), it)
  -- tolist of a non-contiguous view follows the view's logical order
  same_list(fp.tensor(it):T():tolist(), { { 1, 3 }, { 2, 4 } })
end)

test("t.shape is a fresh 1-based Lua table; size(d) accepts negative dims", function()
  local t = fp.zeros(2, 3, 4)
  local s = t.shape
  eq(#s, 3, "#shape")
  eq(s[1], 2, "shape[1]"); eq(s[3], 4, "shape[3]")
  s[1] = 99
  eq(t.shape[1], 2, "editing the shape table does not change the tensor")
  eq(t:size(-1), 4, "size(-1)")
  eq(t:size(0), 2, "size(0)")
  eq(#t:size(), 3, "size()")
  eq(fp.is_tensor(t), true, "is_tensor")
  eq(fp.is_tensor({}), false, "is_tensor of a table")
end)

test("fp.item accepts numbers and one-element tensors", function()
  eq(fp.item(3), 3, "number")
  eq(fp.item(fp.tensor({ { 2.5 } })), 2.5, "1x1 tensor")
  eq(fp.tensor({ 4 }, "int"):item(), 4, "item of int")
  eq(math.type(fp.tensor({ 4 }, "int"):item()), "integer", "item of int is an integer")
end)

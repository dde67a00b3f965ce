-- Integer tensors hold exact values or refuse them (issue 11, class 8): Lua integers stay
-- exact beyond 2^53, a float becomes an int64 element only when it is a whole number, and
-- NaN or infinities are errors rather than a silent 0. Expected values are written out by hand.
local big = (1 << 53) + 1              -- not representable as a double

test("Lua integers beyond 2^53 stay exact in fp.tensor, tolist and printing", function()
  local t = fp.tensor({ big, -big, math.maxinteger, math.mininteger }, "int")
  local l = t:tolist()
  assert(l[1] == big and l[2] == -big and l[3] == math.maxinteger and l[4] == math.mininteger, tostring(l[1]))
  assert(math.type(l[1]) == "integer")
  assert(t[{ 0 }] == big, "element read")
  assert(tostring(t):find("9007199254740993", 1, true), tostring(t))
  assert(tostring(t):find("-9223372036854775808", 1, true), tostring(t))
  assert(fp.tensor({ { big } }, "int"):tolist()[1][1] == big)
end)

test("fp.arange with Lua integers is exact; float steps finer than float32 are errors", function()
  local r = fp.arange(big, big + 3)
  local l = r:tolist()
  assert(#l == 3 and l[1] == big and l[2] == big + 1 and l[3] == big + 2, tostring(r))
  l = fp.arange(math.maxinteger - 2, math.maxinteger):tolist()
  assert(#l == 2 and l[2] == math.maxinteger - 1)
  l = fp.arange(10, 0, -3):tolist()
  assert(#l == 4 and l[1] == 10 and l[4] == 1)
  assert(fp.arange(5, 5):numel() == 0 and fp.arange(5, 0):numel() == 0)
  -- 2^53 is a float in Lua: 2^53 + 1 already rounded, and float32 cannot tell the elements apart
  expect_error(function() return fp.arange(2 ^ 53 + 1, 2 ^ 53 + 2) end,
    "arange: step 1.0 is finer than float32 can tell apart near")
  expect_error(function() return fp.arange(0.0, 2 ^ 25) end, "arange: step 1.0 is finer than float32")
  expect_error(function() return fp.arange(math.mininteger, math.maxinteger) end, "arange: too many elements")
  assert_close(fp.arange(0, 1, 0.25), fp.tensor({ 0, 0.25, 0.5, 0.75 }), 0)
end)

test("NaN, infinities and fractions are not stored into int tensors", function()
  expect_error(function() return fp.full({ 1 }, 0 / 0, "int") end, "full: value")
  expect_error(function() return fp.full({ 1 }, 0 / 0, "int") end, "cannot be stored in an int64 tensor (not a finite number)")
  expect_error(function() return fp.full({ 2 }, 1.5, "int") end, "full: value 1.5 cannot be stored in an int64 tensor (not an integer)")
  expect_error(function() return fp.full({ 2 }, 1e19, "int") end, "(out of the int64 range)")
  expect_error(function() return fp.tensor({ 1.5 }, "int") end, "tensor: element [1] is 1.5, not an integer (dtype int64)")
  expect_error(function() return fp.tensor({ { 1, 0 / 0 } }, "int") end, "tensor: element [1][2] is")
  expect_error(function() return fp.tensor(2.5, "int") end, "value 2.5 cannot be stored in an int64 tensor")
  local t = fp.zeros(3, "int")
  expect_error(function() t[{ 0 }] = 0 / 0 end, "index assignment: value")
  expect_error(function() t[{ 0 }] = 1.5 end, "index assignment: value 1.5 cannot be stored in an int64 tensor (not an integer)")
  expect_error(function() t:fill_(math.huge) end, "fill_: value inf cannot be stored in an int64 tensor")
  expect_error(function() t:masked_fill(t:eq(0), 0 / 0) end, "masked_fill: value")
  expect_error(function() t:masked_fill_(t:eq(0), 2.5) end, "masked_fill_: value 2.5 cannot be stored")
  expect_error(function() return fp.tensor({ 1, 0 / 0 }):int() end, "int: cannot convert")
  expect_error(function() return fp.tensor({ math.huge }):to("int") end, "cannot convert inf to int64")
  -- whole floats are fine, and a cast truncates toward zero as torch's .long() does
  t[{ 1 }] = 7.0
  t:fill_(2.0)
  assert(fp.full({ 1 }, 3.0, "int"):tolist()[1] == 3)
  assert(fp.tensor({ 2.0, -4.0 }, "int"):tolist()[2] == -4)
  local c = fp.tensor({ 1.7, -1.7 }):int():tolist()
  assert(c[1] == 1 and c[2] == -1)
end)

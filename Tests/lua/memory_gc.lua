-- Memory: tensor bytes are visible to Lua's GC (loops stay bounded), t:free() and <close>
-- release at once, views keep their storage alive, and fp.memory() reports live bytes.
local fp = require "fp"

local MB = 1 << 20

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

test("fp.memory counts the bytes of each dtype", function()
  collectgarbage()
  local m0 = fp.memory()
  local f = fp.zeros(10, 10)
  eq(fp.memory() - m0, 400, "float32 100 elements")
  local i = fp.zeros(10, "int")
  eq(fp.memory() - m0, 480, "+ int64 10 elements")
  local b = fp.zeros(7, "bool")
  eq(fp.memory() - m0, 487, "+ bool 7 elements")
  -- views allocate nothing
  local v1, v2, v3 = f:T(), f[{ { 2, 5 } }], f:view(100):unsqueeze(0)
  eq(fp.memory() - m0, 487, "views allocate nothing")
  f, i, b, v1, v2, v3 = nil, nil, nil, nil, nil, nil
  collectgarbage()
  eq(fp.memory(), m0, "all released after collection")
end)

test("a loop making 1000 4 MB tensors stays bounded", function()
  collectgarbage()
  local m0 = fp.memory()
  local peak = 0
  for _ = 1, 1000 do
    local x = fp.randn(1000, 1000)
    local m = fp.memory()
    if m > peak then peak = m end
  end
  assert(peak - m0 < 1024 * MB, string.format("peak %.1f MB above the start", (peak - m0) / MB))
  -- the collector runs early, not just at the 1 GB bound
  assert(peak - m0 < 600 * MB, string.format("peak %.1f MB above the start", (peak - m0) / MB))
  collectgarbage()
  assert(fp.memory() - m0 <= 4 * MB, string.format("%.1f MB left after collectgarbage()", (fp.memory() - m0) / MB))
  eq(fp.memory(), m0, "nothing left after collectgarbage()")
end)

test("loops of arithmetic temporaries stay bounded", function()
  collectgarbage()
  local m0 = fp.memory()
  local x = fp.ones(512, 512)
  local peak = 0
  for _ = 1, 400 do
    local y = ((x * 2 + 1):exp() - x):softmax(-1)
    local m = fp.memory()
    if m > peak then peak = m end
  end
  assert(peak - m0 < 700 * MB, string.format("peak %.1f MB", (peak - m0) / MB))
  x = nil
  collectgarbage()
  eq(fp.memory(), m0, "released")
end)

test("t:free() releases the tensor's bytes at once", function()
  collectgarbage()
  local m0 = fp.memory()
  local t = fp.zeros(1000, 1000)
  eq(fp.memory() - m0, 4000000, "allocated")
  t:free()
  eq(fp.memory(), m0, "fp.memory drops by the tensor's bytes")
  eq(t.is_freed, true, "is_freed")
  -- freeing a view frees the shared storage (all views see it)
  local base = fp.zeros(256, 256)
  local view = base[{ { 0, 10 } }]
  eq(fp.memory() - m0, 262144, "allocated")
  view:free()
  eq(fp.memory(), m0, "freeing a view releases the storage")
  eq(base.is_freed, true, "the base sees the free")
  -- a clone is independent of the freed original
  local a = fp.ones(4)
  local c = a:clone()
  a:free()
  eq(c:sum(), 4, "clone survives")
end)

test("local x <close> releases at scope end", function()
  collectgarbage()
  local m0 = fp.memory()
  do
    local x <close> = fp.zeros(256, 1024)
    eq(fp.memory() - m0, 1048576, "inside the scope")
    x[{ 0, 0 }] = 1
    eq(x:sum(), 1, "usable inside the scope")
  end
  eq(fp.memory(), m0, "released at scope end, without a collection")
  -- nested scopes release in order
  do
    local a <close> = fp.zeros(1000)
    do
      local b <close> = fp.zeros(2000)
      eq(fp.memory() - m0, 12000, "both live")
    end
    eq(fp.memory() - m0, 4000, "inner released")
  end
  eq(fp.memory(), m0, "outer released")
end)

test("a view keeps its storage alive after the base is unreachable", function()
  collectgarbage()
  local m0 = fp.memory()
  local base = fp.arange(1000):float()
  local v = base[{ { 990 } }]
  base = nil
  collectgarbage()
  eq(fp.memory() - m0, 4000, "storage kept by the view")
  eq(v:sum(), 990 + 991 + 992 + 993 + 994 + 995 + 996 + 997 + 998 + 999, "view still reads the data")
  v = nil
  collectgarbage()
  eq(fp.memory(), m0, "released with the last view")
end)

test("memory is released when an error interrupts a computation", function()
  collectgarbage()
  local m0 = fp.memory()
  for _ = 1, 50 do
    pcall(function()
      local x = fp.ones(100, 100)
      return x:matmul(fp.ones(3, 3))
    end)
  end
  collectgarbage()
  eq(fp.memory(), m0, "no leak on the error path")
end)

-- fp's Lua test harness: `fp test [paths]` loads each file, which calls
--   test(name, fn)              a test case; it passes unless fn raises an error
--   expect_error(fn, pattern)   fn must raise an error whose message contains pattern
--                               (plain text first, then as a Lua pattern)
--   assert_close(a, b, tol)     numbers or tensors, max |a - b| <= tol (default 1e-5), same shape
--   skip(reason)                inside a test: count it as skipped, with the reason
--   assert_equal(got, want, what)  exact equality, tables compared element by element
--   shape_string(t)             "[2, 3]" for a tensor's shape
--   bad_input(name, fn, pattern)  a bad-input case: fn must raise an error containing pattern,
--                               and fp must still work afterwards
--   script_runner(path, args)   a function that runs an experiment script once (dofile with
--                               `arg` = args) and returns its result table, cached
-- and ends with the line "N passed, N failed, N skipped".
local fp = require "fp"

local M = {}
local SKIP = {}   -- marker table raised by skip()

local function fail(msg, level) error(msg, (level or 1) + 1) end

function M.skip(reason)
  error(setmetatable({ reason = tostring(reason or "skipped") }, SKIP), 2)
end

function M.expect_error(fn, pattern)
  if type(fn) ~= "function" then fail("expect_error: argument 1 must be a function", 2) end
  local ok, err = pcall(fn)
  if ok then fail("expected an error" .. (pattern and (" matching '" .. pattern .. "'") or "") .. ", but the call succeeded", 2) end
  local msg = tostring(err)
  if pattern and not msg:find(pattern, 1, true) then
    local pok, found = pcall(string.find, msg, pattern)
    if not (pok and found) then
      fail("error message does not match '" .. pattern .. "':\n    " .. msg, 2)
    end
  end
  return msg
end

-- A bad-input case (Tests/lua/bad_inputs): the error is asserted, then fp must still work.
function M.bad_input(name, fn, pattern)
  _G.test(name, function()
    M.expect_error(fn, pattern)
    assert(fp.ones(3):sum() == 3, "fp is not usable after the error")
  end)
end

-- Runs an experiment script once with `arg` set to args (the script returns its results
-- table); the returned function gives that table, running the script on the first call.
function M.script_runner(path, args)
  local results
  return function()
    if not results then
      local saved = arg
      local a = { [0] = path }
      for i, v in ipairs(args or {}) do a[i] = v end
      arg = a
      local ok, r = pcall(dofile, path)
      arg = saved
      if not ok then error(r, 0) end
      results = r
    end
    return results
  end
end

local function shape_str(t) return "[" .. table.concat(t.shape, ", ") .. "]" end
M.shape_string = shape_str

-- Exact equality; tables (nested lists) are compared element by element with their path.
function M.assert_equal(got, want, path)
  path = path or "value"
  if type(want) == "table" then
    if type(got) ~= "table" then fail(path .. ": expected a table, got " .. tostring(got), 2) end
    if #got ~= #want then fail(string.format("%s: length %d, expected %d", path, #got, #want), 2) end
    for i = 1, #want do M.assert_equal(got[i], want[i], path .. "[" .. i .. "]") end
  elseif got ~= want then
    fail(string.format("%s: expected %s, got %s", path, tostring(want), tostring(got)), 2)
  end
end

function M.assert_close(a, b, tol, what)
  tol = tol or 1e-5
  local label = what and (what .. ": ") or ""
  if type(a) == "number" and type(b) == "number" then
    local d = math.abs(a - b)
    if not (d <= tol) then fail(string.format("%s%.9g and %.9g differ by %.3g (tolerance %.3g)", label, a, b, d, tol), 2) end
    return
  end
  if type(a) == "table" then a = fp.tensor(a) end
  if type(b) == "table" then b = fp.tensor(b) end
  if type(a) == "number" then a = fp.full(b.shape, a) end
  if type(b) == "number" then b = fp.full(a.shape, b) end
  if not (fp.is_tensor(a) and fp.is_tensor(b)) then
    fail(label .. "assert_close: expected numbers, tables or tensors", 2)
  end
  if shape_str(a) ~= shape_str(b) then
    fail(label .. "shapes differ: " .. shape_str(a) .. " vs " .. shape_str(b), 2)
  end
  if a:numel() == 0 then return end
  -- NaN must sit in the same places; there the difference counts as 0.
  local an, bn = a:float():isnan(), b:float():isnan()
  if an:logical_xor(bn):any() then
    fail(label .. "NaN in different places", 2)
  end
  local diff = (a:float() - b:float()):abs():masked_fill(an, 0)
  local d = diff:max()
  if not (d <= tol) then
    local flat = diff:reshape(-1)
    local i = flat:argmax()
    fail(string.format("%smax abs difference %.3g > %.3g at flat index %d (%.9g vs %.9g)", label, d, tol, i,
      a:reshape(-1)[i], b:reshape(-1)[i]), 2)
  end
end

-- Runs the given files; prints one line per test and the summary. Returns the failure count.
function M.run_files(files)
  local passed, failed, skipped = 0, 0, 0
  local env_names = { "test", "expect_error", "assert_close", "skip", "assert_equal", "shape_string" }
  local saved = {}
  for _, n in ipairs(env_names) do saved[n] = rawget(_G, n) end
  _G.expect_error, _G.assert_close, _G.skip = M.expect_error, M.assert_close, M.skip
  _G.assert_equal, _G.shape_string = M.assert_equal, M.shape_string
  _G.bad_input, _G.script_runner = M.bad_input, M.script_runner
  for fi = 1, #files do
    local file = files[fi]
    _G.test = function(name, fn)
      local t0 = os.clock()
      local ok, err = xpcall(fn, function(e)
        if getmetatable(e) == SKIP then return e end
        return debug.traceback(tostring(e), 2)
      end)
      collectgarbage()
      if ok then
        passed = passed + 1
        print(string.format("  ok    %s (%.0f ms)", name, (os.clock() - t0) * 1000))
      elseif getmetatable(err) == SKIP then
        skipped = skipped + 1
        print("  skip  " .. name .. ": " .. err.reason)
      else
        failed = failed + 1
        print("  FAIL  " .. name .. "\n" .. tostring(err):gsub("\n", "\n        "))
      end
    end
    print(file)
    local chunk, lerr = loadfile(file, "t")
    if not chunk then
      failed = failed + 1
      print("  FAIL  (load) " .. lerr)
    else
      local ok, err = xpcall(chunk, debug.traceback)
      if not ok then
        failed = failed + 1
        print("  FAIL  (file) " .. tostring(err))
      end
    end
  end
  for _, n in ipairs(env_names) do _G[n] = saved[n] end
  print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
  return failed
end

return M

-- fp.shard: the assignment of items to shards (hand-computed cases and the greedy balance bound),
-- results by item, resume, the manifest check, and the merge of four shards against one run of
-- the same items, byte for byte. The shard a run is set by fp run --shard (Tests/cli/test_cluster.sh);
-- here the module's index and count are set directly to play each shard in one process.
local fp = require "fp"
local shard = require "fp.shard"
local json = require "fp.json"
shard.log = function() end   -- the progress lines would interleave with the test report

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  return dir
end

-- Runs `fn` as shard index of count (fp.shard's fields as fp run sets them).
local function as_shard(index, count, fn)
  local i, c = shard.index, shard.count
  shard.index, shard.count = index, count
  local ok, err = pcall(fn)
  shard.index, shard.count = i, c
  if not ok then error(err, 0) end
end

test("equal costs: item i goes to shard (i - 1) % N; one shard takes everything", function()
  local s = shard.assign({ 1, 1, 1, 1, 1, 1, 1 }, 3)
  assert_equal(table.concat(s, ","), "0,1,2,0,1,2,0")
  assert_equal(table.concat(shard.assign({ 3, 1, 2 }, 1), ","), "0,0,0")
  assert_equal(#shard.assign({}, 4), 0)
end)

test("costs: the longest first, each to the least loaded shard (hand-computed)", function()
  -- 5 -> s0; 4 -> s1; then 1s: s1 (4), s0 and s1 tie at 5 -> s0, then s1
  assert_equal(table.concat(shard.assign({ 5, 1, 1, 1, 4 }, 2), ","), "0,1,0,1,1")
  -- 7, 6, 5 one shard each; 2 -> s2 (at 5); 2 -> s1 (at 6); 1 -> s0 (s0 and s2 tie at 7: the lower)
  assert_equal(table.concat(shard.assign({ 2, 7, 2, 6, 5, 1 }, 3), ","), "2,0,1,1,2,0")
end)

test("random costs: every item exactly once, deterministic, loads within one item of each other", function()
  local rand = require("fp.datasets").rng(7)
  for trial = 1, 20 do
    local n, count = rand(60), rand(6)
    local costs, maxc = {}, 0
    for i = 1, n do costs[i] = rand(100) / 10; maxc = math.max(maxc, costs[i]) end
    local a, b = shard.assign(costs, count), shard.assign(costs, count)
    local load = {}
    for s = 0, count - 1 do load[s] = 0 end
    for i = 1, n do
      assert_equal(a[i], b[i])
      assert(a[i] >= 0 and a[i] < count, "shard out of range")
      load[a[i]] = load[a[i]] + costs[i]
    end
    local lo, hi = math.huge, -math.huge
    for s = 0, count - 1 do lo, hi = math.min(lo, load[s]), math.max(hi, load[s]) end
    -- greedy: the last item put on the fullest shard went to the least loaded one
    if n >= count then assert(hi - lo <= maxc + 1e-9, string.format("trial %d: loads %g..%g, largest item %g", trial, lo, hi, maxc)) end
  end
end)

test("fp.shard.items yields this shard's items in list order with their positions", function()
  local got = {}
  as_shard(1, 2, function()
    for x, i in shard.items({ "a", "b", "c", "d", "e" }, { cost = function(_, i) return ({ 5, 1, 1, 1, 4 })[i] end }) do
      got[#got + 1] = x .. i
    end
  end)
  assert_equal(table.concat(got, ","), "b2,d4,e5")
end)

test("options and arguments are checked", function()
  expect_error(function() shard.items({ 1 }, { costs = 1 }) end, "unknown option 'costs'")
  expect_error(function() shard.items({ 1, 2 }, { cost = { 1, -1 } }) end, "cost of item 2")
  expect_error(function() shard.items({ 1 }, { cost = function() return 0 / 0 end }) end, "finite number")
  expect_error(function() shard.assign({ 1 }, 0) end, "count must be an integer >= 1")
  expect_error(function() shard.open("x", { setting = {} }) end, "unknown option 'setting'")
  expect_error(function() shard.open("x", { settings = { f = print } }) end, "settings.f must be a string, number or boolean")
  local run = shard.open(tmpdir())
  expect_error(function() run:save("k", {}) end, "call run:items")
  expect_error(function() for _ in run:items({ 1, 2 }, { key = function() return "same" end }) do end end, "same key 'same'")
  expect_error(function() for _ in run:items({ 1 }, { key = function() return "../x" end }) do end end, "a file name")
end)

-- The experiment for the merge tests: item i's result is a few numbers, a string and a tensor
-- that depend only on the item.
local items = {}
for i = 1, 10 do items[i] = { n = i, cost = (i * 7) % 5 + 1 } end
local function result(it)
  return { square = it.n * it.n, third = it.n / 3, name = "item" .. it.n,
           effects = fp.arange(6):float():reshape(2, 3) * (it.n / 7), ids = fp.tensor({ it.n, -it.n }, "int") }
end
local key = function(it) return string.format("it-%03d", it.n) end
local cost = function(it) return it.cost end

-- One shard's run over `items`; returns what finish returned and the keys it computed.
local function run_shard(dir, index, count, settings, stop_after)
  local merged, done = nil, {}
  as_shard(index, count, function()
    local run = shard.open(dir, { settings = settings or { n = 10 } })
    for it, k in run:items(items, { key = key, cost = cost }) do
      if stop_after and #done == stop_after then return end   -- preempted
      run:save(k, result(it))
      done[#done + 1] = k
    end
    merged = run:finish()
  end)
  return merged, done
end

test("four shards merged = one run, byte for byte (results.json and results.npz)", function()
  local single, sharded = tmpdir(), tmpdir()
  local merged = run_shard(single, 0, 1)
  assert(merged and #merged.items == 10, "one run finishes with its merge")
  assert_equal(merged.items[3].key, "it-003")
  assert_equal(merged.items[3].result.square, 9)
  assert_close(merged.items[3].result.effects, fp.arange(6):float():reshape(2, 3) * (3 / 7), 0)
  local computed = 0
  for s = 0, 3 do
    local m, done = run_shard(sharded, s, 4)
    assert(m == nil, "a shard of several does not merge")
    computed = computed + #done
  end
  assert_equal(computed, 10)
  local out = shard.merge(sharded, { "shard-0-of-4", "shard-1-of-4", "shard-2-of-4", "shard-3-of-4" })
  assert(out, "merge")
  assert_equal(read(sharded .. "/results.json"), read(single .. "/results.json"))
  assert_equal(read(sharded .. "/results.npz"), read(single .. "/results.npz"))
  -- results.json is ordered by item, not by shard
  local j = json.decode(read(sharded .. "/results.json"))
  for i = 1, 10 do assert_equal(j.items[i].key, key(items[i])) end
end)

test("a preempted shard resumes without recomputing; merge lists what is missing first", function()
  local dir = tmpdir()
  for s = 0, 2 do run_shard(dir, s, 3) end
  -- shard 1 of 3 again in a fresh folder: stops after one item
  local dir2 = tmpdir()
  run_shard(dir2, 0, 3); run_shard(dir2, 2, 3)
  local _, first = run_shard(dir2, 1, 3, nil, 1)
  assert_equal(#first, 1)
  local before = read(dir2 .. "/shard-1-of-3/items/" .. first[1] .. ".json")
  local ok, msg = shard.merge(dir2, { "shard-0-of-3", "shard-1-of-3", "shard-2-of-3" })
  assert(ok == nil and msg:find("items are missing", 1, true), tostring(msg))
  assert(msg:find("fp run --shard 1/3", 1, true), msg)
  local _, rest = run_shard(dir2, 1, 3)
  for _, k in ipairs(rest) do assert(k ~= first[1], "recomputed " .. k) end
  local costs = {}
  for i, it in ipairs(items) do costs[i] = it.cost end
  local mine = 0
  for _, s in ipairs(shard.assign(costs, 3)) do if s == 1 then mine = mine + 1 end end
  assert_equal(#rest + 1, mine)
  assert_equal(read(dir2 .. "/shard-1-of-3/items/" .. first[1] .. ".json"), before)
  assert(shard.merge(dir2, { "shard-0-of-3", "shard-1-of-3", "shard-2-of-3" }))
  assert(shard.merge(dir, { "shard-0-of-3", "shard-1-of-3", "shard-2-of-3" }))
  assert_equal(read(dir2 .. "/results.json"), read(dir .. "/results.json"))
end)

test("shards of different runs are never mixed", function()
  local dir = tmpdir()
  run_shard(dir, 0, 2, { n = 10 })
  -- a rerun with other settings into the same folder is refused
  expect_error(function() run_shard(dir, 0, 2, { n = 11 }) end, "holds results of a different run %(setting n: 10 vs 11%)")
  -- shard 1 written by a run with other settings: merge refuses
  run_shard(dir, 1, 2, { n = 12 })
  local ok, msg = shard.merge(dir, { "shard-0-of-2", "shard-1-of-2" })
  assert(ok == nil and msg:find("shards of different runs", 1, true) and msg:find("setting n", 1, true), tostring(msg))
  -- `out` is where results go, not what they are
  local dir2 = tmpdir()
  run_shard(dir2, 0, 1, { n = 10, out = "a" })
  run_shard(dir2, 0, 1, { n = 10, out = "b" })
  -- the same run split two ways in one folder
  local dir3 = tmpdir()
  run_shard(dir3, 0, 1); run_shard(dir3, 0, 2); run_shard(dir3, 1, 2)
  local ok3, msg3 = shard.merge(dir3, { "shard-0-of-1", "shard-0-of-2", "shard-1-of-2" })
  assert(ok3 == nil and msg3:find("split the same run into 1 and 2 shards", 1, true), tostring(msg3))
  assert(shard.merge(dir3, { "shard-0-of-2", "shard-1-of-2" }))
  local ok2, msg2 = shard.merge(tmpdir(), {})
  assert(ok2 == nil and msg2:find("no shard folders", 1, true), tostring(msg2))
end)

test("NaN and infinities in saved tensors come back from the merge (JSON writes them as null)", function()
  local dir = tmpdir()
  local nan = 0 / 0
  local values = fp.tensor({ { 1.5, nan, math.huge }, { -math.huge, 0, nan } })
  local merged
  as_shard(0, 1, function()
    local run = shard.open(dir, { settings = { n = 1 } })
    for _, k in run:items({ "a", "b" }, { key = function(x) return x end }) do
      run:save(k, { effects = k == "a" and values or values * 2, ok = fp.tensor({ 1, 2 }) })
    end
    merged = run:finish()
  end)
  assert(merged, "merge")
  local e = merged.items[1].result.effects
  assert_equal(e.shape, { 2, 3 })
  local got = e:flatten():tolist()
  assert(got[2] ~= got[2] and got[6] ~= got[6], "NaN restored")
  assert_equal(got[3], math.huge); assert_equal(got[4], -math.huge)
  assert_equal(got[1], 1.5); assert_equal(got[5], 0)
  local npz = fp.load_tensors(dir .. "/results.npz")
  local all = npz.effects:flatten():tolist()
  assert_equal(#all, 12)
  assert(all[2] ~= all[2] and all[8] ~= all[8], "NaN in results.npz")
  assert_equal(all[9], math.huge); assert_equal(all[10], -math.huge); assert_equal(all[7], 3.0)
  assert_close(npz.ok, fp.tensor({ { 1, 2 }, { 1, 2 } }), 0)
end)

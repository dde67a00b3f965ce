-- fp.save of results as JSON: the Lua encoder (json._encode_lua, how fp.save wrote every number
-- before) against fp.save now (numbers written from Swift in one pass), in one run, on the same
-- results: a float32 tensor of 423,000 values (the size in issue 17), a float32 tensor with
-- special values, an int tensor and a Lua list of 10,000 doubles.
--   fp run scripts/bench/save.lua [OUT_DIR]
-- Prints one JSON line: seconds of each (median of 3), the speed-up, bytes, and whether both
-- files are byte-identical and decode to the same values.
local json = require "fp.json"
local files = require "fp.files"

local dir = arg[1] or os.tmpname() .. ".d"
os.execute("mkdir -p '" .. dir .. "'")
fp.seed(0)
local list = {}
for i = 1, 10000 do list[i] = math.sin(i) * 10 ^ (i % 9 - 4) end
local results = {
  model = "smollm2-135m",
  logits = fp.randn(423, 1000) * 3,                     -- 423,000 float32 values
  special = fp.tensor({ 0, -0.0, 1 / 0, 0 / 0, 1e-30, 3.4e38, 0.1, 1 / 3, 2 ^ -126, 2 ^ -140 }),
  ids = fp.randint(50000, { 100 }),
  curve = list,
}

local function median3(fn)
  local t = {}
  for i = 1, 3 do
    collectgarbage()
    local s = fp.time()
    fn()
    t[i] = fp.time() - s
  end
  table.sort(t)
  return t[2], t
end

local before_path, after_path = dir .. "/before.json", dir .. "/after.json"
local before_s, before_all = median3(function()
  files.write_atomic(before_path, json._encode_lua(results, { indent = "  " }) .. "\n", "bench")
end)
local after_s, after_all = median3(function() fp.save(after_path, results) end)

local function read(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local a, b = read(before_path), read(after_path)
local decoded = json.decode(b)
local same_values = #decoded.logits == 423 and #decoded.logits[1] == 1000
for i = 1, 423, 17 do
  for j = 1, 1000, 13 do
    if string.pack("<f", decoded.logits[i][j]) ~= string.pack("<f", results.logits[{ i - 1, j - 1 }]) then same_values = false end
  end
end
for i = 1, #list do if decoded.curve[i] ~= list[i] then same_values = false end end
print(json.encode({ bench = "save_json", values = 423000 + 10 + 100 + #list, bytes = #b,
  lua_encoder_s = before_s, lua_encoder_runs = before_all, fp_save_s = after_s, fp_save_runs = after_all,
  speedup = before_s / after_s, identical_bytes = a == b, round_trip = same_values }))
os.remove(before_path); os.remove(after_path)

-- A short, repeatable run of the Lua API fuzzer through the normal build (CI: Tests/cli/
-- test_api_fuzz.sh). Run it from a scratch folder: generated calls write files into the
-- current folder.
-- Usage: fp run smoke.lua FUZZ_DIR MODEL_DIR [seeds] [calls-per-seed] [trace-file] [groups]
local dir, model_path = arg[1], arg[2]
local seeds, calls = tonumber(arg[3] or "3"), tonumber(arg[4] or "100")
local trace_file = arg[5]
package.path = dir .. "/?.lua;" .. package.path
local fuzz = require "api_fuzz"
local groups = {}
for g in (arg[6] or table.concat(fuzz.groups, ",")):gmatch("[^,]+") do groups[#groups + 1] = g end
local trace
if trace_file then
  -- the last line names the call that was running if the process dies
  local f = assert(io.open(trace_file, "w"))
  trace = function(line) f:write(line, "\n"); f:flush() end
end
local sizes = fuzz.sizes({ model_path = model_path })
for _, g in ipairs(groups) do
  local total = 0
  for seed = 1, seeds do
    if trace then trace("-- group " .. g .. " seed " .. seed) end
    total = total + fuzz.run(g, fuzz.bytes_for_seed(seed, calls * 24), { max_calls = calls, trace = trace, model_path = model_path })
  end
  if trace then trace("-- sweep " .. g) end
  total = total + fuzz.sweep(g, { trace = trace, model_path = model_path })
  print(string.format("api fuzz %-7s %3d functions, %5d calls, no finding", g, sizes[g], total))
end

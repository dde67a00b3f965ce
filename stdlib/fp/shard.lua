-- fp.shard: one part of a job array (Slurm, Kubernetes Indexed Job, GNU parallel), results by
-- item that survive preemption, and the merge that joins the parts into what one run writes.
--
--   fp.shard.index, fp.shard.count        this process's shard (0-based) and the number of shards
--                                         (0 and 1 when not sharded); fp.shard.sharded
--   for item, i in fp.shard.items(list, { cost = fn }) do ... end
--                                         the items of this shard, in list order
--   local run = fp.shard.open(out, { settings = opts, model = opts.model })
--   for item, key in run:items(list, { key = fn, cost = fn }) do run:save(key, result) end
--   local merged = run:finish()           unsharded: writes out/results.json and returns it
--
-- `fp run --shard I/N` (or the scheduler's environment, read by fp in Swift) sets index and
-- count. Items are assigned by a greedy balance of their cost (the longest first, each to the
-- least loaded shard, ties to the lowest index): deterministic, and i % N when costs are equal.
-- run:items writes out/shard-I-of-N/manifest.json (what the run is: fp version, the script's
-- and the model's SHA-256, the settings, the item keys) and skips items whose result file
-- out/shard-I-of-N/items/KEY.json exists (a rerun after preemption). run:save writes that file
-- atomically. `fp merge out` (M.merge_command) joins the shards after checking that their
-- manifests agree; an unsharded run is shard 0 of 1 and finishes with the same merge, so the
-- two results are byte for byte the same when the items' results are.
local fp = require "fp"
local json = require "fp.json"
local files = require "fp.files"
local raise = require("fp.errors").raise

-- What fp run knows (Sources/fp/Shard.swift); defaults outside fp run (fp test, the REPL).
local host = package.loaded["fp.shard_host"] or { index = 0, count = 1, script = "?", arguments = {},
                                                  script_sha256 = "", fp_version = "?" }

local M = {
  index = host.index,
  count = host.count,
  sharded = host.source ~= nil,   -- "flag", "slurm" or "kubernetes" in M.source
  source = host.source,
}

-- Progress lines (stderr); replaceable, e.g. by tests.
function M.log(line) io.stderr:write(line, "\n") end

local function check_opts(opts, allowed, who)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise(who .. ": opts must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      raise(string.format("%s: unknown option '%s' (options: %s)", who, tostring(k), table.concat(names, ", ")))
    end
  end
  return opts
end

-- The cost of each item (opts.cost: a function(item, i) or a list of numbers; default 1).
local function costs_of(list, cost, who)
  local out = {}
  for i = 1, #list do
    local c = 1
    if type(cost) == "function" then c = cost(list[i], i)
    elseif type(cost) == "table" then c = cost[i]
    elseif cost ~= nil then raise(who .. ": opts.cost must be a function(item, i) or a list of numbers, got " .. type(cost)) end
    if type(c) ~= "number" or c ~= c or c < 0 or c == math.huge then
      raise(string.format("%s: the cost of item %d must be a finite number >= 0, got %s", who, i, tostring(c)))
    end
    out[i] = c
  end
  return out
end

-- assign(costs, count) -> list of shard indices (0-based), one per item: the longest item
-- first, each to the least loaded shard (ties: the lower shard index, then list order).
function M.assign(costs, count)
  if type(costs) ~= "table" then raise("fp.shard.assign: costs must be a list of numbers, got " .. type(costs)) end
  if math.type(count) ~= "integer" or count < 1 then raise("fp.shard.assign: count must be an integer >= 1, got " .. tostring(count)) end
  local order = {}
  for i = 1, #costs do order[i] = i end
  table.sort(order, function(a, b)
    if costs[a] ~= costs[b] then return costs[a] > costs[b] end
    return a < b
  end)
  local load, shard = {}, {}
  for s = 0, count - 1 do load[s] = 0 end
  for _, i in ipairs(order) do
    local best = 0
    for s = 1, count - 1 do if load[s] < load[best] then best = s end end
    shard[i] = best
    load[best] = load[best] + costs[i]
  end
  return shard
end

-- for item, i in fp.shard.items(list, { cost = fn }): this shard's items in list order.
function M.items(list, opts)
  opts = check_opts(opts, { cost = true }, "fp.shard.items")
  if type(list) ~= "table" then raise("fp.shard.items: list must be a table, got " .. type(list)) end
  local shard = M.assign(costs_of(list, opts.cost, "fp.shard.items"), M.count)
  local i = 0
  return function()
    repeat i = i + 1 until i > #list or shard[i] == M.index
    if i <= #list then return list[i], i end
  end
end

---------------------------------------------------------------------------------------------
-- Runs: results by item under out/shard-I-of-N/.

local Run = {}
Run.__index = Run

local function folder_name(index, count) return string.format("shard-%d-of-%d", index, count) end

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, v = pcall(json.decode, text)
  if not ok then error(string.format("fp.shard: %s is not valid JSON (%s)", path, v), 0) end
  return v
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Settings as JSON values (tensors and functions have no place in a manifest), without `out`:
-- where results go is not what they are.
local function plain_settings(settings)
  local out = {}
  for k, v in pairs(settings or {}) do
    if k ~= "out" then
      local t = type(v)
      if t ~= "string" and t ~= "number" and t ~= "boolean" then
        raise(string.format("fp.shard.open: settings.%s must be a string, number or boolean, got %s", tostring(k), t))
      end
      out[k] = v
    end
  end
  return setmetatable(out, json.object)
end

-- fp.shard.open(out, { settings = opts, model = name }): a run writing under out/.
function M.open(out, opts)
  opts = check_opts(opts, { settings = true, model = true }, "fp.shard.open")
  if type(out) ~= "string" or out == "" then raise("fp.shard.open: out must be a folder name, got " .. tostring(out)) end
  if opts.settings ~= nil and type(opts.settings) ~= "table" then raise("fp.shard.open: opts.settings must be a table") end
  local model_sha256
  if opts.model ~= nil then
    if type(opts.model) ~= "string" then raise("fp.shard.open: opts.model must be the model's name or path (a string)") end
    if not host.model_sha256 then raise("fp.shard.open: model hashing needs fp run") end
    local h, err = host.model_sha256(opts.model)
    if not h then raise("fp.shard.open: " .. tostring(err)) end
    model_sha256 = h
  end
  local run = setmetatable({
    out = out, index = M.index, count = M.count,
    folder = out .. "/" .. folder_name(M.index, M.count),
    identity = setmetatable({ fp_version = host.fp_version, script_sha256 = host.script_sha256,
                              model = opts.model, model_sha256 = model_sha256,
                              settings = plain_settings(opts.settings) }, json.object),
    done = 0, skipped = 0,
  }, Run)
  return run
end

local function check_key(key, i)
  if type(key) == "number" and math.type(key) == "integer" then key = tostring(key) end
  if type(key) ~= "string" or not key:match("^[%w][%w._-]*$") or #key > 200 then
    raise(string.format("fp.shard: the key of item %d must be letters, digits, '.', '_' or '-' (a file name), got %s", i, tostring(key)))
  end
  return key
end

-- The first field that differs between two manifests' run descriptions, or nil.
local function difference(a, b)
  for _, k in ipairs({ "fp_version", "script_sha256", "model", "model_sha256" }) do
    if a[k] ~= b[k] then return string.format("%s: %s vs %s", k, tostring(a[k]), tostring(b[k])) end
  end
  local sa, sb = a.settings or {}, b.settings or {}
  local keys = {}
  for k in pairs(sa) do keys[#keys + 1] = k end
  for k in pairs(sb) do if sa[k] == nil then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if sa[k] ~= sb[k] then return string.format("setting %s: %s vs %s", k, tostring(sa[k]), tostring(sb[k])) end
  end
  return nil
end

-- for item, key in run:items(list, { key = fn(item, i), cost = fn(item, i) }): this shard's
-- items not yet done. Writes (or checks) the shard's manifest first.
function Run:items(list, opts)
  opts = check_opts(opts, { key = true, cost = true }, "run:items")
  if type(list) ~= "table" then raise("run:items: list must be a table, got " .. type(list)) end
  if opts.key ~= nil and type(opts.key) ~= "function" then raise("run:items: opts.key must be a function(item, i)") end
  local keys, seen = {}, {}
  for i = 1, #list do
    local k = check_key(opts.key and opts.key(list[i], i) or tostring(i - 1), i)
    if seen[k] then raise(string.format("run:items: items %d and %d have the same key '%s'", seen[k], i, k)) end
    seen[k], keys[i] = i, k
  end
  local shard = M.assign(costs_of(list, opts.cost, "run:items"), self.count)
  local manifest = setmetatable({ run = self.identity, count = self.count, index = self.index, keys = keys, shards = shard,
                                  script = host.script, arguments = host.arguments }, json.object)
  local path = self.folder .. "/manifest.json"
  local old = read_json(path)
  if old then
    local why = difference(old.run or {}, self.identity)
    if not why and #(old.keys or {}) ~= #keys then why = string.format("%d items vs %d", #(old.keys or {}), #keys) end
    if not why then
      for i, k in ipairs(keys) do if old.keys[i] ~= k or old.shards[i] ~= shard[i] then why = "item " .. i .. " differs"; break end end
    end
    if why then
      error(string.format("fp.shard: %s holds results of a different run (%s); use another --out or remove that folder", self.folder, why), 0)
    end
  else
    files.write_atomic(path, json.encode(manifest, { indent = "  " }) .. "\n", "fp.shard")
  end
  self.keys, self.shard_of, self.key_index = keys, shard, seen
  local mine, todo = 0, {}
  for i = 1, #list do
    if shard[i] == self.index then
      mine = mine + 1
      if exists(self.folder .. "/items/" .. keys[i] .. ".json") then self.skipped = self.skipped + 1
      else todo[#todo + 1] = i end
    end
  end
  M.log(string.format("fp.shard: shard %d of %d: %d of %d items, %d already done",
    self.index, self.count, mine, #list, self.skipped))
  local n = 0
  return function()
    n = n + 1
    local i = todo[n]
    if i then return list[i], keys[i] end
  end
end

-- run:save(key, result): the item's result table, written atomically. Top-level tensors are
-- kept as tensors (results.npz when merged); everything else as JSON.
function Run:save(key, result)
  if not self.keys then raise("run:save: call run:items(list) first") end
  local i = self.key_index[key]
  if not i then raise("run:save: no item has the key " .. tostring(key)) end
  if self.shard_of[i] ~= self.index then raise(string.format("run:save: item %s belongs to shard %d, not %d", key, self.shard_of[i], self.index)) end
  if type(result) ~= "table" then raise("run:save: result must be a table, got " .. type(result)) end
  local tensors = setmetatable({}, json.object)
  for k, v in pairs(result) do
    if fp.is_tensor(v) then
      tensors[k] = { shape = v.shape, dtype = v.dtype }
      -- JSON has no NaN or infinity (json.encode writes null): their flat 0-based positions
      -- are kept beside the shape, so merge restores them (a 0/0 metric gives NaN legitimately)
      if v.dtype == "float32" and (v - v):isnan():any() then
        local flat, nonfinite = v:flatten():tolist(), {}
        for i, x in ipairs(flat) do
          if x ~= x then nonfinite[#nonfinite + 1] = { i - 1, "nan" }
          elseif x == math.huge or x == -math.huge then nonfinite[#nonfinite + 1] = { i - 1, x > 0 and "inf" or "-inf" } end
        end
        tensors[k].nonfinite = nonfinite
      end
    end
  end
  local record = setmetatable({ key = key, result = result, tensors = tensors }, json.object)
  local ok, text = pcall(json.encode, record)
  if not ok then raise("run:save: " .. tostring(text)) end
  files.write_atomic(self.folder .. "/items/" .. key .. ".json", text .. "\n", "run:save")
  self.done = self.done + 1
end

-- run:finish(): when this is the only shard, the merged results (out/results.json written);
-- otherwise nil, after saying how to merge.
function Run:finish()
  if self.count == 1 then
    local merged, err = M.merge(self.out, { folder_name(0, 1) })
    if not merged then error("fp.shard: " .. err, 0) end
    return merged
  end
  M.log(string.format("fp.shard: shard %d of %d finished (%d computed, %d were done); when all are, run: fp merge %s",
    self.index, self.count, self.done, self.skipped, self.out))
  return nil
end

---------------------------------------------------------------------------------------------
-- Merge

local function shell_quote(s)
  if s:match("^[%w%./_=:,+-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- A saved tensor whose NaN and infinities were written as null: its values from the nested
-- list, the non-finite ones put back at their flat positions.
local function restore_nonfinite(nested, shape, dtype, nonfinite)
  local flat = {}
  local function walk(v)
    if type(v) == "table" and v ~= json.null then for _, x in ipairs(v) do walk(x) end
    else flat[#flat + 1] = v == json.null and 0 or v end
  end
  walk(nested)
  local special = { nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge }
  for _, e in ipairs(nonfinite) do
    local i, what = e[1], e[2]
    if math.type(i) ~= "integer" or i < 0 or i >= #flat or not special[what] then
      raise("fp.shard.merge: a saved tensor's non-finite entry is malformed")
    end
    flat[i + 1] = special[what]
  end
  return fp.tensor(flat, dtype):reshape(shape)
end

-- merge(dir, folders) -> merged results (also written to dir/results.json and, when items have
-- tensors, dir/results.npz), or nil and a message (mismatched runs, missing items and the
-- commands that compute them).
function M.merge(dir, folders)
  local manifests, names = {}, {}
  for _, name in ipairs(folders) do
    local m = read_json(dir .. "/" .. name .. "/manifest.json")
    if m then manifests[#manifests + 1] = m; names[#names + 1] = name end
  end
  if #manifests == 0 then return nil, "no shard folders with a manifest.json in " .. dir end
  local first = manifests[1]
  for j = 2, #manifests do
    local m = manifests[j]
    local why = difference(first.run or {}, m.run or {})
    if not why and m.count ~= first.count then
      return nil, string.format("%s and %s split the same run into %d and %d shards; merge one split (move the other's folders away)",
        names[1], names[j], first.count, m.count)
    end
    if not why and #m.keys ~= #first.keys then why = string.format("%d items vs %d", #first.keys, #m.keys) end
    if not why then for i, k in ipairs(first.keys) do if m.keys[i] ~= k then why = "item " .. i .. " differs"; break end end end
    if why then
      return nil, string.format("%s and %s are shards of different runs (%s); merge refuses to mix them", names[1], names[j], why)
    end
  end
  local count, keys, shards = first.count, first.keys, first.shards
  local items, missing, tensor_fields = {}, {}, nil
  for i, key in ipairs(keys) do
    local rec = read_json(string.format("%s/%s/items/%s.json", dir, folder_name(shards[i], count), key))
    if not rec then
      missing[shards[i]] = missing[shards[i]] or {}
      table.insert(missing[shards[i]], key)
    else
      local result = rec.result
      local fields = {}
      for k, spec in pairs(rec.tensors or {}) do
        local shape = spec.shape
        local t
        if spec.nonfinite then
          t = restore_nonfinite(result[k], shape, spec.dtype, spec.nonfinite)
        else
          t = fp.tensor(result[k], spec.dtype)
          if #shape ~= 1 or shape[1] ~= 0 then t = t:reshape(shape) end
        end
        result[k] = t
        fields[#fields + 1] = k
      end
      table.sort(fields)
      local sig = table.concat(fields, ",")
      if tensor_fields == nil then tensor_fields = sig
      elseif tensor_fields ~= sig then tensor_fields = false end
      items[i] = setmetatable({ key = key, result = result }, json.object)
    end
  end
  if next(missing) then
    local lines, total, list = {}, 0, {}
    for s = 0, count - 1 do
      if missing[s] then
        total = total + #missing[s]
        list[#list + 1] = tostring(s)
        local shown = table.concat(missing[s], ", ", 1, math.min(#missing[s], 8)) .. (#missing[s] > 8 and ", ..." or "")
        local cmd = { "fp run --shard " .. s .. "/" .. count, shell_quote(first.script or "SCRIPT") }
        for _, a in ipairs(first.arguments or {}) do cmd[#cmd + 1] = shell_quote(a) end
        lines[#lines + 1] = string.format("  shard %d: %d items (%s)\n    %s", s, #missing[s], shown, table.concat(cmd, " "))
      end
    end
    return nil, string.format("%d of %d items are missing in %s; these commands compute them (they skip done items):\n%s\n  (Slurm: sbatch --array=%s with --shard-count %d in the batch script)",
      total, #keys, dir, table.concat(lines, "\n"), table.concat(list, ","), count)
  end
  local merged = setmetatable({ run = first.run, items = items }, json.object)
  files.write_atomic(dir .. "/results.json", json.encode(merged, { indent = "  " }) .. "\n", "fp merge")
  if tensor_fields and tensor_fields ~= "" then
    local stacked = {}
    for field in tensor_fields:gmatch("[^,]+") do
      local list = {}
      for i = 1, #items do list[i] = items[i].result[field] end
      local ok, t = pcall(fp.stack, list, 0)
      if not ok then return nil, string.format("the items' tensors '%s' differ in shape: %s", field, t) end
      stacked[field] = t
    end
    fp.save(dir .. "/results.npz", stacked)
  end
  return merged
end

-- fp merge DIR: prints what it wrote, or why it cannot; returns true when merged.
function M.merge_command(dir, folders)
  local ok, merged, err = pcall(M.merge, dir, folders)
  if not ok then err = merged; merged = nil end
  if not merged then
    io.stderr:write("fp merge: " .. tostring(err) .. "\n")
    return false
  end
  print(string.format("merged %d items from %d shard folders into %s/results.json", #merged.items, #folders, dir))
  return true
end

return M

-- Bad-input corpus: saving and loading tensors, atomic writes, JSON.
local fp = require "fp"
local json = require "fp.json"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local dir = os.getenv("TMPDIR") or "/tmp"
local base = dir .. "/fp_bad_io_" .. math.random(1, 1e9)
local function write(path, bytes) local f = assert(io.open(path, "wb")); f:write(bytes); f:close() end

bad("save: no path", function() return fp.save(nil, fp.ones(2)) end, "bad argument #1 to 'save' (string expected, got nil)")
bad("save: no tensor", function() return fp.save(base .. ".npy") end, "bad argument #2 to 'save' (tensor or table of named tensors expected, got nil)")
bad("save: unknown extension", function() return fp.save(base .. ".pt", fp.ones(2)) end, "fp.save: cannot save to '" .. base .. ".pt': unknown extension (expected .npy, .npz, .safetensors, .json or .csv)")
bad("save: table with a non-tensor", function() return fp.save(base .. ".npz", { a = fp.ones(2), b = 3 }) end, "entry 'b' must be a tensor, got number")
bad("save: empty table", function() return fp.save(base .. ".npz", {}) end, "no tensors to save")
bad("save: several tensors to .npy", function() return fp.save(base .. ".npy", { a = fp.ones(2), b = fp.ones(2) }) end, ".npy holds a single tensor")
bad("save: missing folder", function() return fp.save(dir .. "/no/such/folder/x.npy", fp.ones(2)) end, "save: cannot write")
bad("save: freed tensor", function() local t = fp.ones(2); t:free(); return fp.save(base .. ".npy", t) end, "freed")
bad("load_tensor: missing file", function() return fp.load_tensor(base .. "_missing.npy") end, "load_tensor: cannot read")
bad("load_tensor: truncated .npy", function()
  fp.save(base .. "_t.npy", fp.ones(100))
  local f = assert(io.open(base .. "_t.npy", "rb")); local b = f:read("a"); f:close()
  write(base .. "_t.npy", b:sub(1, 100))
  return fp.load_tensor(base .. "_t.npy")
end, "load_tensor")
bad("load_tensor: garbage .safetensors", function() write(base .. "_g.safetensors", "\255\255\255\255\255\255\255\127garbage"); return fp.load_tensor(base .. "_g.safetensors") end, "load_tensor")
bad("load_tensor: garbage .npz", function() write(base .. "_g.npz", "PK\3\4 not really a zip"); return fp.load_tensor(base .. "_g.npz") end, "load_tensor")
bad("load_tensor: several tensors", function() fp.save(base .. "_two.npz", { a = fp.ones(1), b = fp.ones(1) }); return fp.load_tensor(base .. "_two.npz") end, "holds 2 tensors (a, b); load them by name with load_tensors")
bad("load_tensors: number", function() return fp.load_tensors(3) end, "bad argument #1 to 'load_tensors' (string expected, got number)")
bad("write_file_atomic: non-string contents", function() return fp.write_file_atomic(base .. ".json", { 1 }) end, "bad argument #2 to 'write_file_atomic' (string expected, got table)")
bad("write_file_atomic: missing folder", function() return fp.write_file_atomic(dir .. "/no/such/x.json", "{}") end, "write_file_atomic: cannot write")
test("write_file_atomic: replaces the whole file and leaves no temporary behind", function()
  local p = base .. "_atomic.json"
  write(p, string.rep("old ", 1000))
  fp.write_file_atomic(p, "{\"new\": 1}")
  local f = assert(io.open(p, "rb")); assert(f:read("a") == "{\"new\": 1}"); f:close()
  -- a failing write (folder is a file) leaves the old contents
  expect_error(function() fp.write_file_atomic(p .. "/x", "y") end, "write_file_atomic: cannot write")
  f = assert(io.open(p, "rb")); assert(f:read("a") == "{\"new\": 1}"); f:close()
  os.remove(p)
end)
bad("json.decode: truncated", function() return json.decode("{\"a\": [1, 2") end, "json")
bad("json.decode: not a string", function() return json.decode(nil) end, "json")
bad("json.decode: trailing garbage", function() return json.decode("[1] x") end, "json")
bad("json.encode: function value", function() return json.encode({ f = print }) end, "json")
bad("json.encode: cycle", function() local t = {}; t.self = t; return json.encode(t) end, "json")
bad("json.decode: missing colon", function() return json.decode("{\"a\" 1}") end, "json")

-- clean up
for _, s in ipairs({ "_t.npy", "_g.safetensors", "_g.npz", "_two.npz", ".npy", ".npz" }) do os.remove(base .. s) end

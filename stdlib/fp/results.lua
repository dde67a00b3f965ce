-- fp.save for result tables: installed over the tensor-only fp.save by fp.extensions.
--   fp.save("out/results.json", {model = "smollm2-135m", clean_diff = 5.14, resid = resid})
--   fp.save("out/heads.csv", rows, {header = {"layer", "head", "effect"}})
-- .json goes through fp.json (tensors become nested lists, indented two spaces unless
-- opts.indent says otherwise), .csv through fp.csv, .svg/.html with a figure through the
-- figure's save; every other path (.npy, .npz, .safetensors) goes to the tensor writer as before.
local fp = require "fp"
local files = require "fp.files"

local tensor_save = fp.save

local function rethrow(err, path)
  error(string.format("fp.save('%s'): %s", path, (tostring(err):gsub("^[%w%.]+: ", ""))), 3)
end

function fp.save(path, value, opts)
  local ext = type(path) == "string" and files.extension(path)
  require("fp.errors").check_options("fp.save", opts, ext == "json" and { "indent" } or ext == "csv" and { "header" } or {})
  if ext == "json" then
    local json = require "fp.json"
    local indent = "  "
    if type(opts) == "table" and opts.indent ~= nil then indent = opts.indent or nil end
    local ok, text = pcall(json.encode, value, { indent = indent })
    if not ok then rethrow(text, path) end
    local wok, werr = pcall(files.write_atomic, path, text .. "\n", "fp.save")
    if not wok then error(werr, 2) end
    return
  elseif ext == "csv" then
    local csv = require "fp.csv"
    local ok, text = pcall(csv.encode, value, opts)
    if not ok then rethrow(text, path) end
    local wok, werr = pcall(files.write_atomic, path, text, "fp.save")
    if not wok then error(werr, 2) end
    return
  elseif (ext == "svg" or ext == "html" or ext == "htm") and type(value) == "table"
      and type(value.save) == "function" and type(value.svg) == "function" then
    value:save(path)
    return
  end
  if type(path) == "string" and ext ~= "npy" and ext ~= "npz" and ext ~= "safetensors" then
    error(string.format("fp.save: cannot save to '%s': unknown extension (expected .npy, .npz, .safetensors, .json or .csv%s)",
      path, (ext == "svg" or ext == "html") and "; .svg/.html take a figure" or ""), 2)
  end
  local ok, err = pcall(tensor_save, path, value)
  if not ok then error((tostring(err):gsub("^[^\n:]*:%d+: ", "")), 2) end
end

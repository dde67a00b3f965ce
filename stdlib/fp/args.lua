-- Command-line options for experiment scripts.
--
--   local opts = require("fp.args").parse(arg, {
--     model = "smollm2-135m", out = "out/ioi", quick = false,
--     n_prompts = { 8, "prompts to average over" },      -- a default with a help text
--   }, { description = "IOI activation patching" })
--
-- Accepts --name value, --name=value and, for booleans, --name (true) or --name=false; a dash
-- in a name counts as an underscore (--n-prompts). The type of each default decides how a value
-- is read (number, string, boolean). --help prints the usage and exits with status 0; an
-- unknown flag or a bad value is an error that names it. The `out` folder is created.
local fp = require "fp"
local M = {}

-- Default value and help text of one spec entry (a plain default or {default, "help"}).
local function entry(v)
  if type(v) == "table" then return v[1], v[2] end
  return v, nil
end

local standard_help = {
  model = "model name or path (fp.load_model)",
  out = "folder for figures and results.json (created)",
  quick = "a reduced run (fewer prompts and layers), for CI",
}

-- The usage text for a spec.
function M.usage(spec, about)
  about = require("fp.errors").check_options("fp.args", about, { "description", "script" })
  local script = about.script or (arg and arg[0]) or "script.lua"
  local lines = {}
  if about.description then lines[#lines + 1] = about.description; lines[#lines + 1] = "" end
  lines[#lines + 1] = "usage: fp run " .. script .. " [options]"
  lines[#lines + 1] = ""
  local names = {}
  for k in pairs(spec) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local default, help = entry(spec[k])
    help = help or standard_help[k] or ""
    local flag = "--" .. k:gsub("_", "-")
    if type(default) ~= "boolean" then flag = flag .. " " .. string.upper(type(default) == "number" and "n" or "value") end
    lines[#lines + 1] = string.format("  %-22s %s (default: %s)", flag, help, tostring(default))
  end
  lines[#lines + 1] = string.format("  %-22s %s", "--help", "print this and exit")
  return table.concat(lines, "\n")
end

local function convert(name, default, value)
  local kind = type(default)
  if kind == "number" then
    local n = tonumber(value)
    if not n then return nil, "--" .. name .. " expects a number, got '" .. tostring(value) .. "'" end
    if math.type(default) == "integer" then
      if math.type(n) ~= "integer" and n ~= math.floor(n) then
        return nil, "--" .. name .. " expects an integer, got '" .. value .. "'"
      end
      n = math.tointeger(n) or n
    end
    return n
  elseif kind == "boolean" then
    if value == true or value == "true" or value == "1" or value == "yes" then return true end
    if value == "false" or value == "0" or value == "no" then return false end
    return nil, "--" .. name .. " expects true or false, got '" .. tostring(value) .. "'"
  end
  return value
end

-- Parses without side effects: returns opts, or nil and "help", or nil and an error message.
function M.parse_list(argv, spec)
  local opts = {}
  for k, v in pairs(spec) do opts[k] = (entry(v)) end
  local i = 1
  local n = argv and #argv or 0
  while i <= n do
    local a = argv[i]
    if a == "--help" or a == "-h" then return nil, "help" end
    if type(a) ~= "string" or a:sub(1, 2) ~= "--" then
      return nil, "unexpected argument '" .. tostring(a) .. "' (options are --name value; --help lists them)"
    end
    local name, value = a:match("^%-%-([^=]+)=(.*)$")
    if not name then name = a:sub(3) end
    local key = name:gsub("-", "_")
    if spec[key] == nil then
      -- the nearest known flag, found as fp's options tables find theirs
      local known = {}
      for k in pairs(spec) do if type(k) == "string" then known[#known + 1] = k end end
      local near = (fp.options_error("", { [key] = true }, known) or ""):match("did you mean '([^']+)'")
      return nil, "unknown option --" .. name .. (near and " (did you mean --" .. near:gsub("_", "-") .. "?)" or "")
        .. " (--help lists the options)"
    end
    local default = entry(spec[key])
    if value == nil then
      if type(default) == "boolean" then
        value = true
      else
        i = i + 1
        value = argv[i]
        if value == nil then return nil, "--" .. name .. " needs a value" end
      end
    end
    local v, err = convert(name, default, value)
    if err then return nil, err end
    opts[key] = v
    i = i + 1
  end
  return opts
end

-- Parses `argv` (the script's `arg`), prints the usage and exits on --help, raises an error
-- for a bad option, and creates opts.out when the spec has `out`.
function M.parse(argv, spec, about)
  require("fp.errors").check_options("fp.args", about, { "description", "script" })
  local opts, err = M.parse_list(argv, spec)
  if not opts then
    if err == "help" then
      print(M.usage(spec, about))
      os.exit(0)
    end
    error("fp.args: " .. err, 2)
  end
  if type(opts.out) == "string" and opts.out ~= "" then M.mkdir(opts.out) end
  return opts
end

-- A layer option: an integer in 0..n_layers-1 (negative counts from the end), or "auto": the
-- layer at the same depth as `at` of `of` layers (the layer a script was tuned at, e.g. 4 of
-- SmolLM2's 30), so that a default suits a model of any depth. Raises an error naming `flag`.
function M.layer(value, n_layers, at, of, flag)
  if value == "auto" then
    return math.max(0, math.min(n_layers - 1, math.floor(at * n_layers / of + 0.5)))
  end
  local l = math.tointeger(tonumber(value))
  if l and l < 0 then l = l + n_layers end
  if not l or l < 0 or l >= n_layers then
    error(string.format("%s: '%s' is not a layer of this model (0..%d, or auto)", flag, tostring(value), n_layers - 1), 2)
  end
  return l
end

-- mkdir -p (fp.make_dirs: also inside the sandbox, where --allow-write permits it)
function M.mkdir(path)
  local ok, err = pcall(fp.make_dirs, path)
  if not ok then error("fp.args: cannot create the folder " .. path .. ": " .. tostring(err):gsub("^.-make_dirs: ", ""), 2) end
  return path
end

return M

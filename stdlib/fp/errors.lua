-- Errors raised by fp's stdlib modules point at the user's line that called into the stdlib
-- (the first Lua frame outside stdlib/fp/), whatever the depth of helpers and tail calls
-- in between: `require("fp.errors").raise("patching: ...")`.
local getinfo = debug and debug.getinfo   -- kept at load time: sandboxed scripts have no debug

local M = {}

local function in_stdlib(info)
  return info.what == "C" or info.source:find("/stdlib/fp/", 1, true) ~= nil
end

function M.raise(msg)
  local level = 2
  if getinfo then
    while true do
      local info = getinfo(level, "S")
      if not info or not in_stdlib(info) then break end
      level = level + 1
    end
  end
  error(msg, level)
end

-- Options tables are checked as fp's Swift functions check theirs: an unknown key is an
-- error naming the nearest known one ("plot.imshow: unknown option 'titel' (did you mean
-- 'title'?)"), so a typo never silently turns a setting off. Returns opts (or {} for nil).
function M.check_options(fname, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.raise(fname .. ": options table expected, got " .. type(opts)) end
  local msg = require("fp").options_error(fname, opts, known)
  if msg then M.raise(msg) end
  return opts
end

-- A numeric setting checked against its range; nil gives `default`.
--   check_number("Adam", "lr", opts.lr, 1e-3, { min = 0 })
--   range: min / max (inclusive), above / below (exclusive), integer = true
function M.check_number(fname, name, v, default, range)
  if v == nil then return default end
  range = range or {}
  local want = {}
  if range.min then want[#want + 1] = ">= " .. range.min end
  if range.above then want[#want + 1] = "> " .. range.above end
  if range.max then want[#want + 1] = "<= " .. range.max end
  if range.below then want[#want + 1] = "< " .. range.below end
  local ok = type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
    and (not range.integer or math.tointeger(v) ~= nil)
    and (not range.min or v >= range.min) and (not range.above or v > range.above)
    and (not range.max or v <= range.max) and (not range.below or v < range.below)
  if not ok then
    local got = type(v) == "number" and tostring(v) or type(v)
    local what = range.integer and "an integer" or "a finite number"
    if #want > 0 then what = what .. " " .. table.concat(want, " and ") end
    M.raise(fname .. ": " .. name .. " must be " .. what .. ", got " .. got)
  end
  return v
end

return M

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

return M

-- A progress bar on stderr for long loops, drawn only when stderr is a terminal (or when
-- `show` is true; false hides it). In Jupyter the kernel sets M.renderer (label, total) -> tick,
-- which draws an updating output in the cell instead:
--   local tick = require("fp.progress").bar("patching", total)
--   tick(n, note)   -- n more done (default 1); note (optional) is shown after the time
local fp = require "fp"

local M = {}

function M.bar(label, total, show)
  if M.renderer and show ~= false then return M.renderer(label, total) end
  if show == nil then show = fp.isatty(2) end
  if not show then return function() end end
  local done, t0, width = 0, fp.time(), 30
  return function(n, note)
    done = done + (n or 1)
    local filled = math.floor(math.min(done / total, 1) * width)
    io.stderr:write(string.format("\r%s [%s%s] %d/%d %.1fs%s", label, string.rep("#", filled),
      string.rep("-", width - filled), done, total, fp.time() - t0, note and ("  " .. note) or ""))
    if done >= total then io.stderr:write("\n") end
  end
end

return M

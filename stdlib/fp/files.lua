-- Writing result files (figures, JSON, CSV) so that a reader never sees half a file: the text
-- goes to a temporary file in the target's folder, which is then renamed over the target
-- (rename within one folder is atomic on POSIX). A missing parent folder is created.
local M = {}

local fp = require "fp"

-- The folder part of a path ("out/ioi.svg" -> "out"), nil for a bare file name.
local function parent(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == "" then return "/" end
  return dir
end

-- Creates dir and its parents (mkdir -p; the sandbox's write rules apply); errors name `who`.
function M.make_dirs(dir, who)
  local ok, err = pcall(fp.make_dirs, dir)
  if not ok then error(string.format("%s: %s", who, (tostring(err):gsub("^[^\n]*make_dirs: ", ""))), 0) end
end

-- write_atomic(path, text, who): writes text to a temporary file next to path and renames it
-- over path (fp.write_file_atomic), creating the parent folder first.
function M.write_atomic(path, text, who)
  who = who or "write"
  if type(path) ~= "string" or path == "" then
    error(who .. ": path must be a non-empty string, got " .. type(path), 0)
  end
  local dir = parent(path)
  if dir then M.make_dirs(dir, who) end
  local ok, err = pcall(fp.write_file_atomic, path, text)
  if not ok then
    error(string.format("%s: cannot write '%s': %s", who, path, (tostring(err):gsub("^[^\n]*write_file_atomic: ", ""))), 0)
  end
end

-- The lower-case extension of a path without the dot ("a/b.SVG" -> "svg"), or nil.
function M.extension(path)
  local ext = path:match("%.([^./]+)$")
  return ext and ext:lower()
end

return M

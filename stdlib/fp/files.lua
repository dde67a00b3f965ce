-- Writing result files (figures, JSON, CSV) so that a reader never sees half a file: the text
-- goes to a temporary file in the target's folder, which is then renamed over the target
-- (rename within one folder is atomic on POSIX). A missing parent folder is created.
local M = {}

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The folder part of a path ("out/ioi.svg" -> "out"), nil for a bare file name.
local function parent(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == "" then return "/" end
  return dir
end

local function is_dir(dir)
  local ok, _, code = os.rename(dir, dir)
  return ok or code == 13 -- EACCES still means it exists
end

-- Creates dir and its parents (mkdir -p); errors name `who`.
function M.make_dirs(dir, who)
  if is_dir(dir) then return end
  local ok = os.execute and os.execute("mkdir -p -- " .. shell_quote(dir) .. " 2>/dev/null")
  if not ok or not is_dir(dir) then
    error(string.format("%s: cannot create the folder '%s'", who, dir), 0)
  end
end

-- write_atomic(path, text, who): writes text to path via a temporary file and os.rename.
function M.write_atomic(path, text, who)
  who = who or "write"
  if type(path) ~= "string" or path == "" then
    error(who .. ": path must be a non-empty string, got " .. type(path), 0)
  end
  local dir = parent(path)
  if dir then M.make_dirs(dir, who) end
  local tmp = string.format("%s.tmp-%d-%d", path, os.time(), math.random(1, 1 << 30))
  local f, err = io.open(tmp, "wb")
  if not f then error(string.format("%s: cannot write '%s': %s", who, path, err), 0) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then
    os.remove(tmp)
    error(string.format("%s: cannot write '%s': %s", who, path, werr), 0)
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    error(string.format("%s: cannot write '%s': %s", who, path, rerr), 0)
  end
end

-- The lower-case extension of a path without the dot ("a/b.SVG" -> "svg"), or nil.
function M.extension(path)
  local ext = path:match("%.([^./]+)$")
  return ext and ext:lower()
end

return M

-- Text that must be valid UTF-8 (JSON strings, SVG text): every byte sequence that is not
-- UTF-8 becomes U+FFFD. Used by fp.json and fp.plot.
local M = {}

function M.valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = s:sub(i); break end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

return M

-- The bad-input corpus has at least 150 cases: counts the case calls in this folder's files.
test("bad-input corpus size", function()
  local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  local p = assert(io.popen("ls " .. here .. "*.lua"))
  local total, files = 0, 0
  for file in p:lines() do
    files = files + 1
    for line in io.lines(file) do
      if line:match("^bad%(") or line:match("^hcase%(") or line:match("^session%(") or line:match("^test%(") then total = total + 1 end
    end
  end
  p:close()
  print(string.format("  bad-input corpus: %d cases in %d files", total, files))
  assert(total >= 150, "only " .. total .. " cases")
end)

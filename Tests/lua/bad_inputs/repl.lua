-- Bad-input corpus, REPL: a bad call typed into `fp repl` prints an error and the session
-- goes on (the next line works); the REPL reads from a pipe here.
local fp = require "fp"

-- the fp running these tests: the shell that io.popen starts is its child
local exe = '"/proc/$PPID/exe"'
local function repl(lines)
  local input = os.tmpname()
  local f = assert(io.open(input, "w")); f:write(table.concat(lines, "\n"), "\n"); f:close()
  local p = assert(io.popen(exe .. " repl < " .. input .. " 2>&1"))
  local out = p:read("a")
  local ok, how, code = p:close()
  os.remove(input)
  return out, code
end

local function session(name, bad_line, pattern)
  test("repl: " .. name, function()
    local out, code = repl({ "x = 20", bad_line, "print('next', x + 22)" })
    assert(code == 0, "repl exited with " .. tostring(code) .. ":\n" .. out)
    assert(out:find(pattern, 1, true), "missing error '" .. pattern .. "' in:\n" .. out)
    assert(out:find("next\t42", 1, true), "the session did not go on:\n" .. out)
  end)
end

session("wrong type", "fp.zeros('x')", "bad argument #1 to 'zeros'")
session("shape mismatch", "fp.ones(2, 3):matmul(fp.ones(2, 3))", "matmul: shapes [2, 3] and [2, 3] cannot be multiplied")
session("syntax error", "local = = 3", "stdin:1: <name> expected near")
session("use after free", "t = fp.ones(2); t:free(); print(t:sum())", "tensor was freed")
session("error object not a string", "error({})", "error object is a table value")
session("huge allocation", "fp.zeros(1 << 40, 1 << 20)", "zeros: cannot allocate")

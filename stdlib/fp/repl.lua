-- What `fp repl` does with each chunk typed at the prompt (the rules are the Jupyter kernel's,
-- see fp.session): top-level locals persist, the last expression's values are shown (caches,
-- models and long tables as summaries; show_all(x) shows everything), `_` is the last value,
-- `?x` / `x?` / help(x) print the help registry's entry.
local session = require "fp.session"
local display = require "fp.display"
local help = require "fp.help"

local M = {}

-- The text the REPL prints for one value.
function M.format(v) return display.text(v) end

-- Prints the values of an expression, tab-separated, as print does.
function M.show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = type(v) == "string" and v or M.format(v)
  end
  print(table.concat(out, "\t"))
end

-- Defines the REPL's globals: help and show_all.
function M.install()
  rawset(_G, "help", help.help)
  rawset(_G, "show_all", display.show_all)
end

-- Runs one chunk typed at the prompt; errors propagate to the REPL, which prints them.
function M.run(chunk)
  local q = chunk:match("^%s*%?%s*([%w_%.:]+)%s*$") or chunk:match("^%s*([%w_%.:]+)%s*%?%s*$")
  if q then
    print(help.text(q))
    return
  end
  local f, err = session.compile(chunk, "=stdin")
  if not f then error(err, 0) end
  local vals = session.run(f)
  if vals.n > 0 then M.show(table.unpack(vals, 1, vals.n)) end
end

return M

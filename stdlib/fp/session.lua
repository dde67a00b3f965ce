-- One interactive session's cells, shared by `fp repl` and the Jupyter kernel:
--   * a top-level `local x = ...` (and `local function f`) becomes a session variable, so the
--     next cell sees it (pasting a script that writes `local model = ...` works line by line);
--     `local x <close>` stays local to its cell (it is closed when the cell ends);
--   * a cell whose last statement is an expression returns its values (shown by the caller);
--   * `_` is the first value of the last cell that returned one.
-- Rewriting keeps every line where it was, so error messages name the cell's own lines.
local M = {}

local function long_bracket_level(s, i)
  -- s:sub(i) starts with '['; returns the level of a long bracket [==[ or nil
  local eqs = s:match("^%[(=*)%[", i)
  return eqs and #eqs or nil
end

-- Tokens of a Lua chunk: { kind = "name"|"string"|"number"|"op", text, s, e, line }.
-- Comments and whitespace are skipped; an unfinished string or comment ends the list.
function M.tokens(src)
  local out, i, n, line = {}, 1, #src, 1
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then line = line + 1; i = i + 1
    elseif c:match("%s") then i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local lvl = src:sub(i + 2, i + 2) == "[" and long_bracket_level(src, i + 2)
      local stop
      if lvl then
        local _, e = src:find("]" .. string.rep("=", lvl) .. "]", i, true)
        stop = e or n
      else
        stop = (src:find("\n", i, true) or n + 1) - 1
      end
      for _ in src:sub(i, stop):gmatch("\n") do line = line + 1 end
      i = stop + 1
    elseif c:match("[%a_]") then
      local s, e = src:find("^[%w_]+", i)
      out[#out + 1] = { kind = "name", text = src:sub(s, e), s = s, e = e, line = line }
      i = e + 1
    elseif c:match("%d") or (c == "." and src:sub(i + 1, i + 1):match("%d")) then
      local s, e = src:find("^[%w%.]+", i)
      -- exponents with a sign: 1e-5, 0x1p+4
      while src:sub(e, e):match("[eEpP]") and src:sub(e + 1, e + 1):match("[%+%-]") do
        local _, e2 = src:find("^[%w%.]+", e + 2)
        e = e2 or e + 1
      end
      out[#out + 1] = { kind = "number", text = src:sub(s, e), s = s, e = e, line = line }
      i = e + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c or d == "\n" then break
        else j = j + 1 end
      end
      out[#out + 1] = { kind = "string", text = src:sub(i, math.min(j, n)), s = i, e = math.min(j, n), line = line,
                        open = j > n or src:sub(j, j) ~= c }
      i = j + 1
    elseif c == "[" and long_bracket_level(src, i) then
      local lvl = long_bracket_level(src, i)
      local _, e = src:find("]" .. string.rep("=", lvl) .. "]", i, true)
      out[#out + 1] = { kind = "string", text = src:sub(i, e or n), s = i, e = e or n, line = line, open = e == nil }
      for _ in src:sub(i, e or n):gmatch("\n") do line = line + 1 end
      i = (e or n) + 1
    else
      local op = src:match("^[=~<>]=", i) or src:match("^%.%.%.?", i) or src:match("^::", i) or src:match("^//", i)
        or src:match("^<<", i) or src:match("^>>", i) or c
      out[#out + 1] = { kind = "op", text = op, s = i, e = i + #op - 1, line = line }
      i = i + #op
    end
  end
  return out
end

local OPEN = { ["function"] = true, ["if"] = true, ["do"] = true, ["repeat"] = true }
local CLOSE = { ["end"] = true, ["until"] = true }
local BR_OPEN = { ["("] = true, ["{"] = true, ["["] = true }
local BR_CLOSE = { [")"] = true, ["}"] = true, ["]"] = true }

-- Annotates each token with `top`: true when it is outside every block and bracket.
local function mark_depth(toks)
  local depth = 0
  for _, t in ipairs(toks) do
    t.top = depth == 0
    if t.kind == "name" and OPEN[t.text] or t.kind == "op" and BR_OPEN[t.text] then depth = depth + 1
    elseif t.kind == "name" and CLOSE[t.text] or t.kind == "op" and BR_CLOSE[t.text] then depth = math.max(depth - 1, 0) end
  end
end

-- The chunk with its top-level `local` declarations turned into session (global) variables.
-- `local a, b = 1, 2` -> `a, b = 1, 2`; `local x` -> `x = nil`; `local function f` -> `function f`;
-- `<const>` is dropped; a declaration with a `<close>` variable is left as it is.
function M.rewrite_locals(src)
  local toks = M.tokens(src)
  mark_depth(toks)
  local edits = {}   -- { s, e, replacement } over the source, in order
  local k = 1
  while k <= #toks do
    local t = toks[k]
    if t.top and t.kind == "name" and t.text == "local" then
      local nxt = toks[k + 1]
      if nxt and nxt.kind == "name" and nxt.text == "function" then
        edits[#edits + 1] = { t.s, nxt.s - 1, "" }
        k = k + 2
      else
        -- name list with attributes: Name [<attr>] {, Name [<attr>]}
        local j, attribs, has_close, last = k + 1, {}, false, nil
        while toks[j] and toks[j].kind == "name" do
          last = toks[j]
          j = j + 1
          if toks[j] and toks[j].text == "<" and toks[j + 1] and toks[j + 2] and toks[j + 2].text == ">" then
            if toks[j + 1].text == "close" then has_close = true end
            attribs[#attribs + 1] = { toks[j].s, toks[j + 2].e, "" }
            last = toks[j + 2]
            j = j + 3
          end
          if toks[j] and toks[j].text == "," then j = j + 1 else break end
        end
        if last and not has_close then
          edits[#edits + 1] = { t.s, toks[k + 1].s - 1, "" }
          for _, a in ipairs(attribs) do edits[#edits + 1] = a end
          if not (toks[j] and toks[j].text == "=") then
            edits[#edits + 1] = { last.e + 1, last.e, " = nil" }
          end
        end
        k = j
      end
    else
      k = k + 1
    end
  end
  local parts, pos = {}, 1
  for _, ed in ipairs(edits) do
    parts[#parts + 1] = src:sub(pos, ed[1] - 1)
    parts[#parts + 1] = ed[3]
    pos = ed[2] + 1
  end
  parts[#parts + 1] = src:sub(pos)
  return table.concat(parts)
end

-- The final expression is returned through the chunk's first argument (pack, passed by
-- M.run) rather than by `return f(x)`, which would be a tail call: the cell's line would be
-- gone from the stack and errors raised by stdlib helpers could not name it.
local PACK = "local __fp_pack = ...; "
local function returning(head, expr) return PACK .. head .. "return __fp_pack(" .. expr .. "\n)" end

-- Compiles a cell: its statements, with the last statement returned when it is an expression.
-- `name` is the chunk name used in error messages ("=In[3]").
function M.compile(src, name)
  local code = M.rewrite_locals(src)
  local f = load(returning("", code), name, "t")
  if f then return f end
  -- The last statement as an expression: try each top-level line start from the end.
  local toks = M.tokens(code)
  mark_depth(toks)
  local starts = {}
  local prev_line = 0
  for _, t in ipairs(toks) do
    if t.line ~= prev_line then
      if t.top and t.line > 1 then starts[#starts + 1] = t end
      prev_line = t.line
    end
  end
  for i = #starts, 1, -1 do
    local t = starts[i]
    local head, tail = code:sub(1, t.s - 1), code:sub(t.s)
    if load("return " .. tail, name, "t") and load(head, name, "t") then
      local g = load(returning(head, tail), name, "t")
      if g then return g end
    end
  end
  return load(PACK .. code, name, "t")
end

-- True when `src` is an unfinished chunk (more lines would complete it).
function M.incomplete(src)
  local code = M.rewrite_locals(src)
  if load("return " .. code, "=cell") then return false end
  local _, err = load(code, "=cell")
  return err ~= nil and err:find("<eof>", 1, true) ~= nil
end

-- Runs a compiled cell; returns the packed values ({n = 0} for none) and sets `_`.
local PACKED = {}
local function pack(...) return { [PACKED] = true, n = select("#", ...), ... } end

function M.run(f)
  local vals = table.pack(f(pack))
  -- the cell's last expression, or what an explicit `return` at the end of the cell gave
  if vals.n == 1 and type(vals[1]) == "table" and vals[1][PACKED] then vals = vals[1]; vals[PACKED] = nil end
  if vals.n > 0 and vals[1] ~= nil then rawset(_G, "_", vals[1]) end
  return vals
end

return M

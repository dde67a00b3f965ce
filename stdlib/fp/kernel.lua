-- The Lua side of `fp kernel worker`, the process that fp's Jupyter kernel
-- (stdlib/fp/jupyter/fp_kernel.py) drives. Each request is one JSON line; replies are JSON
-- lines written with `send` (a C function the worker passes to start). The worker writes the
-- final {"type": "done"} itself, also when a request ends in an interrupt.
--   {"op": "execute", "code": "...", "count": 3}
--       -> {"type": "display", "data": {...}, "display_id": "p1", "update": false} (any number)
--       -> {"type": "result", "data": {...}} | {"type": "error", "ename", "evalue", "traceback"}
--   {"op": "complete", "code": "text before the cursor"} -> {"type": "reply", "start": 5, "matches": [...]}
--   {"op": "inspect", "code": "text before the cursor"}  -> {"type": "reply", "found": true, "text": "..."}
--   {"op": "is_complete", "code": "..."}                 -> {"type": "reply", "status": "complete"|"incomplete"|"invalid"}
local fp = require "fp"
local json = require "fp.json"
local session = require "fp.session"
local display = require "fp.display"
local help = require "fp.help"

local traceback = debug and debug.traceback or tostring   -- sandboxed sessions have no debug

local M = {}
local send

local function emit(msg) send(json.encode(msg)) end

local displays = 0
local function new_display_id()
  displays = displays + 1
  return "fp-" .. displays
end

-- Progress bars: one display per bar, updated in place at most every 0.25 s and at the end.
local function progress_renderer(label, total)
  local id, t0, last = new_display_id(), fp.time(), -1
  local done = 0
  local function draw(note)
    local frac = total > 0 and math.min(done / total, 1) or 1
    local text = string.format("%s %d/%d %.1fs%s", label, done, total, fp.time() - t0, note and ("  " .. note) or "")
    local html = string.format('<div class="fp-progress"><progress value="%d" max="%d" style="width:20em"></progress> %s</div>',
      done, total, (text:gsub("&", "&amp;"):gsub("<", "&lt;")))
    emit({ type = "display", data = { ["text/plain"] = text, ["text/html"] = html }, display_id = id, update = last >= 0 })
    last = fp.time()
    return frac
  end
  return function(n, note)
    done = done + (n or 1)
    if last < 0 or done >= total or fp.time() - last >= 0.25 then draw(note) end
  end
end

local function install()
  display.sink = function(bundle)
    emit({ type = "display", data = bundle, display_id = new_display_id(), update = false })
  end
  require("fp.progress").renderer = progress_renderer
  -- t:show() draws an inline heatmap instead of terminal colours.
  fp.Tensor.show = function(t, opts)
    if fp.is_tensor(t) and t:dim() == 1 then t = t:view(1, -1) end
    display.display(require("fp.plot").imshow(t, opts))
  end
  rawset(_G, "help", help.help)
  rawset(_G, "show_all", display.show_all)
end

function M.start(send_fn)
  send = send_fn
  install()
end

-- Keeps the traceback lines of the user's cells and of fp's stdlib, drops the kernel's own.
local function error_reply(err, name)
  local msg = tostring(err)
  local head, tb = msg:match("^(.-)\nstack traceback:\n(.*)$")
  head = head or msg
  -- the frames down to the cell's own (what the cell called, then the cell)
  local lines, last = {}, 0
  for l in (tb or ""):gmatch("[^\n]+") do
    lines[#lines + 1] = l
    if l:find(name .. ":", 1, true) then last = #lines end
  end
  for i = #lines, last + 1, -1 do lines[i] = nil end
  local ename = head:find("interrupted", 1, true) and "Interrupted" or "LuaError"
  local tr = { head }
  if #lines > 0 then tr[#tr + 1] = "stack traceback:"; for _, l in ipairs(lines) do tr[#tr + 1] = l end end
  emit({ type = "error", ename = ename, evalue = head, traceback = tr })
end

local function execute(req)
  local name = "=In[" .. tostring(req.count or "?") .. "]"
  local code = req.code or ""
  -- `?x` / `x?` ask for help, as in IPython
  local q = code:match("^%s*%?%s*([%w_%.:%[%]]+)%s*$") or code:match("^%s*([%w_%.:%[%]]+)%s*%?%s*$")
  if q then
    print(help.text(q))
    return
  end
  local f, err = session.compile(code, name)
  if not f then
    emit({ type = "error", ename = "SyntaxError", evalue = err, traceback = { err } })
    return
  end
  local ok, vals = xpcall(session.run, traceback, f)
  io.stdout:flush()
  if not ok then return error_reply(vals, name:sub(2)) end
  if vals.n > 0 then
    if vals.n == 1 then
      if vals[1] ~= nil then emit({ type = "result", data = display.bundle(vals[1]) }) end
    else
      local parts = {}
      for i = 1, vals.n do parts[i] = type(vals[i]) == "string" and vals[i] or display.text(vals[i]) end
      emit({ type = "result", data = { ["text/plain"] = table.concat(parts, "\t") } })
    end
  end
end

function M.handle(line)
  local req = json.decode(line)
  if req.op == "execute" then
    execute(req)
  elseif req.op == "complete" then
    local start, matches = require("fp.complete").complete(req.code or "")
    emit({ type = "reply", start = start, matches = matches })
  elseif req.op == "inspect" then
    -- the name at the cursor, else the function whose call the cursor is in
    local code = req.code or ""
    local name = help.name_at(code)
    local text = name and help.lookup(name)
    local call = code:match("([%a_][%w_%.:]*)%([^()]*$")
    if not text and call then text = help.lookup(call) end
    emit({ type = "reply", found = text ~= nil, text = text or "" })
  elseif req.op == "is_complete" then
    local code = req.code or ""
    local status = session.incomplete(code) and "incomplete" or session.compile(code, "=cell") and "complete" or "invalid"
    emit({ type = "reply", status = status })
  else
    emit({ type = "reply", error = "unknown op " .. tostring(req.op) })
  end
end

return M

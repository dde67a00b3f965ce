-- fp.plot: figures for experiment results, written as standalone SVG or as an HTML page with
-- hover values, plus a terminal heatmap for a look from the REPL.
--
--   local plot = require "fp.plot"
--   plot.imshow(resid, { x = labels, y = layer_names, title = "..." }):save("out/ioi.html")
--   plot.line({ {name = "clean", y = diffs} }, { xlabel = "layer" }):save("out/diffs.svg")
--   plot.term(resid, { x = labels })       -- also resid:show{ x = labels }
--
-- Every figure has fig:svg() (the SVG text), fig:html() and fig:save(path) (.svg or .html).
-- Layout and colours: see docs/lua-api.md, "Plots and results".
local fp = require "fp"
local color = require "fp.plot_color"
local S = require "fp.plot_svg"
local files = require "fp.files"
local json = require "fp.json"

local M = {}
M.maps = color.maps
M.nan_color = color.nan_color
M.palette = color.palette

local FS = 11          -- tick label font size
local TITLE_FS = 15
local AXIS_FS = 12
local ids = 0          -- unique ids for gradients when several SVGs share a page

---------------------------------------------------------------------------------------------
-- Figures

local Figure = {}
Figure.__index = Figure
M.Figure = Figure

local function figure(kind, svg, w, h, title, data)
  return setmetatable({ kind = kind, width = w, height = h, title = title, data = data, _svg = svg }, Figure)
end

M._figure = figure

-- The SVG text (figures that are HTML first, such as plot.attention, make a static picture
-- the first time it is asked for).
function Figure:svg()
  if not self._svg and self._make_svg then
    local f = self._make_svg()
    self._svg, self.width, self.height = f._svg, f.width, f.height
  end
  return self._svg
end

Figure.__tostring = function(self)
  local size = self.width and string.format(", %dx%d", math.floor(self.width), math.floor(self.height)) or ""
  return string.format("fp.plot figure (%s%s%s)", self.kind, size, self.title and (", \"" .. self.title .. "\"") or "")
end

-- The HTML page: the SVG, a tooltip that shows each element's <title> at once, and the
-- figure's data as JSON (so numbers can be copied from the page).
local HTML_SCRIPT = [[
(function () {
  var tip = document.getElementById("fp-tip"), last = null;
  document.querySelectorAll("svg title").forEach(function (t) {
    t.parentNode.setAttribute("data-tip", t.textContent); t.remove();
  });
  document.addEventListener("mousemove", function (e) {
    var el = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (last && last !== el) { last.classList.remove("fp-hl"); last = null; }
    if (!el) { tip.style.display = "none"; return; }
    el.classList.add("fp-hl"); last = el;
    tip.textContent = el.getAttribute("data-tip");
    tip.style.display = "block";
    var x = e.clientX + 14, y = e.clientY + 14, r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 4) x = e.clientX - r.width - 10;
    if (y + r.height > window.innerHeight - 4) y = e.clientY - r.height - 10;
    tip.style.left = x + "px"; tip.style.top = y + "px";
  });
})();
]]

-- An HTML page around SVG bodies (with optional headings) and their data.
local function page_html(title, parts, data)
  local body = {}
  for _, p in ipairs(parts) do
    if p.heading then body[#body + 1] = "<h2>" .. S.esc(p.heading) .. "</h2>\n" end
    body[#body + 1] = "<div class=\"fp-figure\">" .. p.svg .. "</div>\n"
  end
  local text = require("fp.plot_attention").script_json(data or {})
  return table.concat({
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
    "<title>", S.esc(title), "</title>\n<style>\n",
    "body { margin: 16px; background: #fff; font-family: ", S.font, "; }\n",
    "h1 { font-size: 20px; } h2 { font-size: 16px; margin: 24px 0 6px; }\n",
    "#fp-tip { position: fixed; display: none; pointer-events: none; background: rgba(255,255,255,0.96);",
    " border: 1px solid #888; border-radius: 3px; padding: 4px 7px; font-size: 12px; white-space: pre;",
    " box-shadow: 0 1px 4px rgba(0,0,0,0.25); }\n",
    ".fp-hl { stroke: #000; stroke-width: 1.5px; }\n</style>\n</head>\n<body>\n",
    table.concat(body), "<div id=\"fp-tip\"></div>\n",
    "<script type=\"application/json\" id=\"fp-data\">", text, "</script>\n",
    "<script>\n", HTML_SCRIPT, "</script>\n</body>\n</html>\n",
  })
end

function Figure:html()
  if self._html then return self._html end
  return page_html(self.title or ("fp " .. self.kind), { { svg = self:svg() } }, self.data)
end

-- fig:save(path): ".svg" writes the SVG, ".html"/".htm" the page. Missing parent folders are
-- created; the file is written atomically.
function Figure:save(path)
  if type(path) ~= "string" or path == "" then
    error("plot save: path must be a file name ending in .svg or .html, got " .. type(path), 2)
  end
  local ext = files.extension(path)
  local text
  if ext == "svg" then text = self:svg()
  elseif ext == "html" or ext == "htm" then text = self:html()
  else
    error(string.format("plot save: cannot save a figure as '%s' (expected a .svg or .html file name)", path), 2)
  end
  files.write_atomic(path, text, "plot save")
  return self
end

-- plot.page(figures, opts): several figures on one HTML page, each under its title (or
-- opts.headings[i]); opts.title names the page. page:save("out/report.html"), page:html().
local Page = {}
Page.__index = Page
M.Page = Page
Page.__tostring = function(self)
  return string.format("fp.plot page (%d figures%s)", #self.figures, self.title and (", \"" .. self.title .. "\"") or "")
end

function M.page(figs, opts)
  local who = "plot.page"
  opts = M._check_opts(opts, who, { "title", "headings" })   -- (defined below)
  if type(figs) ~= "table" or #figs == 0 then error(who .. ": expected a list of figures", 2) end
  for i, f in ipairs(figs) do
    if getmetatable(f) ~= Figure then error(string.format("%s: entry %d is not a figure (got %s)", who, i, type(f)), 2) end
  end
  return setmetatable({ figures = figs, title = opts.title, headings = opts.headings or {} }, Page)
end

function Page:html()
  local parts, data = {}, {}
  for i, f in ipairs(self.figures) do
    parts[i] = { heading = self.headings[i], svg = f:svg() }
    data[i] = f.data or json.empty_object()
  end
  local title = self.title or "fp figures"
  return (page_html(title, parts, data):gsub("<body>\n", "<body>\n<h1>" .. S.esc(title):gsub("%%", "%%%%") .. "</h1>\n", 1))
end

function Page:save(path)
  if type(path) ~= "string" or not ({ html = true, htm = true })[files.extension(path) or ""] then
    error(string.format("plot page save: expected a .html file name, got %s", type(path) == "string" and ("'" .. path .. "'") or type(path)), 2)
  end
  files.write_atomic(path, self:html(), "plot page save")
  return self
end

---------------------------------------------------------------------------------------------
-- Inputs

local function fail(who, msg) error(who .. ": " .. msg, 0) end

-- Nested Lua lists of numbers and their shape, from a tensor or a (rectangular) Lua list.
-- Booleans become 1 and 0.
local function array(v, who, what)
  if fp.is_tensor(v) then
    local shape = {}
    for i, n in ipairs(v.shape) do shape[i] = n end
    local list = v:tolist()
    local function fix(x)
      if type(x) == "boolean" then return x and 1 or 0 end
      if type(x) == "table" then for i, y in ipairs(x) do x[i] = fix(y) end end
      return x
    end
    return fix(list), shape
  end
  if type(v) ~= "table" then fail(who, string.format("%s must be a tensor or a list of numbers, got %s", what, type(v))) end
  local shape = {}
  local probe = v
  while type(probe) == "table" and not fp.is_tensor(probe) do
    shape[#shape + 1] = #probe
    probe = probe[1]
  end
  local function check(x, d, path)
    if d > #shape then
      if type(x) == "boolean" then return x and 1 or 0 end
      if type(x) ~= "number" then fail(who, string.format("%s%s must be a number, got %s", what, path, type(x))) end
      return x
    end
    if type(x) ~= "table" or fp.is_tensor(x) then fail(who, string.format("%s%s must be a list (the nesting is not rectangular)", what, path)) end
    if #x ~= shape[d] then fail(who, string.format("%s%s has %d entries, expected %d (rows must have equal length)", what, path, #x, shape[d])) end
    local out = {}
    for i = 1, #x do out[i] = check(x[i], d + 1, path .. "[" .. i .. "]") end
    return out
  end
  return check(v, 1, ""), shape
end

local function shape_str(shape) return "[" .. table.concat(shape, ", ") .. "]" end

-- A 1-D list of numbers from a tensor or a list.
local function vector(v, who, what)
  local list, shape = array(v, who, what)
  if #shape ~= 1 then fail(who, string.format("%s must be 1-D, got shape %s", what, shape_str(shape))) end
  return list
end

-- Labels as strings: opts[key] must have n entries; nil gives "0".."n-1".
local function labels_of(given, n, who, key, what)
  local out = {}
  if given == nil then
    for i = 1, n do out[i] = tostring(i - 1) end
    return out
  end
  if fp.is_tensor(given) then given = given:tolist() end
  if type(given) ~= "table" then fail(who, string.format("opts.%s must be a list of labels, got %s", key, type(given))) end
  if #given ~= n then
    fail(who, string.format("opts.%s has %d labels but %s has %d", key, #given, what, n))
  end
  for i = 1, n do
    local s = given[i]
    if type(s) == "number" then s = S.fmt(s) end
    if type(s) ~= "string" then fail(who, string.format("opts.%s[%d] must be a string or number, got %s", key, i, type(s))) end
    out[i] = s
  end
  return out
end

-- Sizes and counts must be positive numbers (a NaN or negative width makes a broken figure).
local SIZE_OPTS = { width = true, height = true, cell_width = true, cell_height = true,
                    max_cells = true, facet_cols = true, max_label = true }
local FINITE_OPTS = { zmin = true, zmax = true, ymin = true, ymax = true }

-- opts of the function `who`: a table whose keys are all in `known` (an unknown key names the
-- nearest known one), sizes positive and limits finite.
local function check_opts(opts, who, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(who, "opts must be a table, got " .. type(opts)) end
  local msg = require("fp").options_error(who, opts, known)
  if msg then error(msg, 0) end
  for k, v in pairs(opts) do
    if SIZE_OPTS[k] and not (type(v) == "number" and v > 0 and v < math.huge) then
      fail(who, string.format("opts.%s must be a positive number, got %s", k, tostring(v)))
    elseif FINITE_OPTS[k] and not (type(v) == "number" and v == v and v > -math.huge and v < math.huge) then
      fail(who, string.format("opts.%s must be a finite number, got %s", k, tostring(v)))
    end
  end
  return opts
end
M._check_opts = check_opts

local function clamp(x, lo, hi) return math.max(lo, math.min(hi, x)) end

local function svg_open(w, h)
  return string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="%d">\n<rect width="100%%" height="100%%" fill="#ffffff"/>\n',
    math.ceil(w), math.ceil(h), math.ceil(w), math.ceil(h), S.font, FS)
end

-- Titles: split at "\n" and wrapped at word boundaries to the figure's width (at least 400 px),
-- so a long title neither runs off the figure nor makes it needlessly wide. Bold glyphs are
-- wider than the width estimate's regular ones, hence the margin.
local TITLE_LINE = TITLE_FS + 4
local function title_width(s) return S.text_width(s, TITLE_FS) * 1.2 end

local function title_layout(title, content_width)
  if title == nil then return { lines = {}, height = 0, width = 0 } end
  local avail = math.max(content_width - 20, 400)
  local lines = {}
  for para in (tostring(title) .. "\n"):gmatch("(.-)\n") do
    local line = ""
    for word in para:gmatch("%S+") do
      local longer = line == "" and word or (line .. " " .. word)
      if line ~= "" and title_width(longer) > avail then lines[#lines + 1] = line; line = word
      else line = longer end
    end
    lines[#lines + 1] = line
  end
  local w = 0
  for _, l in ipairs(lines) do w = math.max(w, title_width(l)) end
  return { lines = lines, height = #lines * TITLE_LINE + 10, width = w }
end

-- The centre x of the title (moved right of cx when it would start left of the figure) and
-- the figure width that holds it.
local function title_place(tl, cx, width)
  if tl.width == 0 then return cx, width end
  cx = math.max(cx, tl.width / 2 + 10)
  return cx, math.max(width, cx + tl.width / 2 + 10)
end

local function title_svg(out, tl, x)
  for i, line in ipairs(tl.lines) do
    out[#out + 1] = S.text(x, 10 + TITLE_FS + (i - 1) * TITLE_LINE, line,
      string.format('class="title" text-anchor="middle" font-size="%d" font-weight="bold"', TITLE_FS))
  end
end

-- How category labels fit under slots of width `slot`: "h" (horizontal), 45 or 90 degrees,
-- every `step`-th label, and the height they need.
local function label_layout(labels, slot)
  local wmax = S.max_width(labels, FS)
  if wmax <= slot - 4 then return { mode = "h", step = 1, height = FS + 8, wmax = wmax } end
  if slot >= 16 then return { mode = 45, step = 1, height = wmax * 0.72 + FS + 6, wmax = wmax } end
  return { mode = 90, step = math.ceil((FS + 2) / slot), height = wmax + 10, wmax = wmax }
end

-- The labels below an axis, centred on x positions xs (one per label), top at y.
local function bottom_labels(out, labels, xs, y, lay)
  out[#out + 1] = '<g xml:space="preserve" fill="#222">'
  for i = 1, #labels, lay.step do
    local x = xs[i]
    if lay.mode == "h" then
      out[#out + 1] = S.text(x, y + FS + 2, labels[i], 'text-anchor="middle"')
    else
      out[#out + 1] = string.format('<text transform="translate(%.1f,%.1f) rotate(-%d)" text-anchor="end" dy="0.35em">%s</text>',
        x, y + 5, lay.mode, S.esc(labels[i]))
    end
  end
  out[#out + 1] = "</g>"
end

---------------------------------------------------------------------------------------------
-- Colour bar

local function colorbar(out, map, zmin, zmax, x, y, h, label)
  local colorize = color.colorizer(map, zmin, zmax)
  ids = ids + 1
  local id = "fp-cb-" .. ids
  local w = 14
  out[#out + 1] = string.format('<defs><linearGradient id="%s" x1="0" y1="0" x2="0" y2="1">', id)
  local samples = {}
  for k = 0, 64 do samples[#samples + 1] = zmax - (zmax - zmin) * k / 64 end
  if zmin < 0 and zmax > 0 then samples[#samples + 1] = 0 end
  table.sort(samples, function(a, b) return a > b end)
  for _, v in ipairs(samples) do
    out[#out + 1] = string.format('<stop offset="%.4f" stop-color="%s"/>', (zmax - v) / (zmax - zmin), colorize(v))
  end
  out[#out + 1] = "</linearGradient></defs>"
  out[#out + 1] = string.format('<rect class="colorbar" x="%.1f" y="%.1f" width="%d" height="%.1f" fill="url(#%s)" stroke="#888" stroke-width="0.6"/>',
    x, y, w, h, id)
  local ticks, step = S.ticks(zmin, zmax, math.max(2, math.min(6, math.floor(h / 40))))
  local tw = 0
  for _, v in ipairs(ticks) do
    local ty = y + (zmax - v) / (zmax - zmin) * h
    local s = S.fmt_tick(v, step)
    tw = math.max(tw, S.text_width(s, FS))
    out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444" stroke-width="0.8"/>', x + w, ty, x + w + 4, ty)
    out[#out + 1] = S.text(x + w + 7, ty, s, 'dy="0.35em" fill="#222"')
  end
  local right = x + w + 7 + tw
  if label then
    local lx = right + 8 + AXIS_FS / 2
    out[#out + 1] = string.format('<text transform="translate(%.1f,%.1f) rotate(90)" text-anchor="middle" dy="0.35em" font-size="%d">%s</text>',
      lx, y + h / 2, AXIS_FS, S.esc(label))
    right = lx + AXIS_FS
  end
  return right
end

-- Width a colour bar will need (bar, ticks and label), for layout before drawing it.
local function colorbar_width(zmin, zmax, h, label)
  local ticks, step = S.ticks(zmin, zmax, math.max(2, math.min(6, math.floor(h / 40))))
  local tw = 0
  for _, v in ipairs(ticks) do tw = math.max(tw, S.text_width(S.fmt_tick(v, step), FS)) end
  return 14 + 7 + tw + (label and (8 + AXIS_FS * 1.5) or 0)
end

---------------------------------------------------------------------------------------------
-- imshow

-- plot.imshow(t, opts): a heatmap of a 2-D tensor [rows, cols], or of a 3-D tensor
-- [facets, rows, cols] as panels side by side with one shared colour scale.
function M.imshow(t, opts)
  local who = "plot.imshow"
  opts = check_opts(opts, who, { "x", "y", "title", "xlabel", "ylabel", "colorbar_label", "cmap", "zmin", "zmax",
                                 "facets", "facet_cols", "cell_width", "cell_height", "aspect", "values",
                                 "max_cells", "max_label" })
  if t == nil then fail(who, "expected a 2-D tensor [rows, cols] or a 3-D tensor [facets, rows, cols], got nil") end
  local data, shape = array(t, who, "t")
  local facets
  if #shape == 2 then
    if opts.facets ~= nil then fail(who, "opts.facets needs a 3-D tensor [facets, rows, cols], got shape " .. shape_str(shape)) end
    facets = { data }
  elseif #shape == 3 then
    facets = data
  else
    fail(who, string.format("expected a 2-D tensor [rows, cols] or a 3-D tensor [facets, rows, cols], got a %d-D %s of shape %s",
      #shape, fp.is_tensor(t) and "tensor" or "list", shape_str(shape)))
  end
  local F, R, C = #facets, shape[#shape - 1], shape[#shape]
  if F == 0 or R == 0 or C == 0 then fail(who, "cannot draw an empty tensor of shape " .. shape_str(shape)) end
  local max_cells = opts.max_cells or 250000
  if F * R * C > max_cells then
    fail(who, string.format("%d cells are too many for a readable figure (max_cells = %d): slice or average the tensor first, or raise opts.max_cells",
      F * R * C, max_cells))
  end
  local max_label = opts.max_label or 20
  local xs_full = labels_of(opts.x, C, who, "x", "the tensor's last dim (columns)")
  local ys_full = labels_of(opts.y, R, who, "y", "the tensor's rows")
  local fs_full = #shape == 3 and labels_of(opts.facets, F, who, "facets", "the tensor's first dim (facets)") or nil
  local xl, yl = {}, {}
  for i, s in ipairs(xs_full) do xl[i] = S.clean_label(s, max_label) end
  for i, s in ipairs(ys_full) do yl[i] = S.clean_label(s, max_label) end

  local map = color.get(opts.cmap, who)
  local zmin, zmax = color.limits(map, facets, opts.zmin, opts.zmax, who)
  local colorize = color.colorizer(map, zmin, zmax)

  -- Sizes: cells shrink with more rows/cols; panels wrap after facet_cols.
  local ncols = math.min(opts.facet_cols or 4, F)   -- never an empty column of panels
  local nrows = math.ceil(F / ncols)
  local cw = opts.cell_width or clamp(math.floor(math.min(680, 960 / ncols) / C), 6, 56)
  local ch = opts.cell_height or clamp(math.floor(math.min(520, 720 / nrows) / R), 6, 40)
  -- narrow columns: widen to one text line per column when the figure stays under ~1000 px,
  -- so that every (rotated) column label can be shown
  if not opts.cell_width and cw < FS + 3 and C * (FS + 3) * ncols <= 1000 then cw = FS + 3 end
  if opts.aspect == "equal" then cw = math.min(cw, ch); ch = cw end
  local pw, ph = C * cw, R * ch

  local xlay = label_layout(xl, cw)
  local ystep = math.ceil((FS + 1) / ch)
  local ylw = 0
  for i = 1, R, ystep do ylw = math.max(ylw, S.text_width(yl[i], FS)) end

  local fh = fs_full and 20 or 0
  local hgap, vgap = 16, 12
  local left = 10 + (opts.ylabel and (AXIS_FS + 10) or 0) + ylw + 8
  if xlay.mode == 45 then left = math.max(left, xlay.wmax * 0.72 - cw / 2 + 10) end
  local gw = ncols * pw + (ncols - 1) * hgap
  local row_h = fh + ph + xlay.height
  local gh = nrows * row_h + (nrows - 1) * vgap
  local cbh = math.max(ph, 120)
  local cbx = left + gw + 22
  local width = cbx + colorbar_width(zmin, zmax, cbh, opts.colorbar_label) + 12
  local tl = title_layout(opts.title, width)
  local top = 10 + tl.height
  local height = math.max(top + gh + (opts.xlabel and (AXIS_FS + 12) or 0) + 10, top + fh + cbh + 12)
  local tx
  tx, width = title_place(tl, left + gw / 2, width)

  -- opts.values: numbers in the cells (see S.value_format)
  local value_text, value_chars
  if opts.values then value_text, value_chars = S.value_format(facets, zmin, zmax, opts.values) end

  local out = { svg_open(width, height) }
  title_svg(out, tl, tx)
  -- tooltip lines, escaped once: "<ylabel>: <row label>\n<xlabel>: <col label>\nvalue: v"
  local row_tips, col_tips = {}, {}
  for i = 1, R do row_tips[i] = S.esc((opts.ylabel or "row") .. ": " .. S.clean_label(ys_full[i])) end
  for j = 1, C do col_tips[j] = S.esc("\n" .. (opts.xlabel or "col") .. ": " .. S.clean_label(xs_full[j])) end
  for f = 1, F do
    local px = left + ((f - 1) % ncols) * (pw + hgap)
    local py = top + ((f - 1) // ncols) * (row_h + vgap) + fh
    if fs_full then
      out[#out + 1] = S.text(px + pw / 2, py - 6, S.clean_label(fs_full[f], 40), string.format('text-anchor="middle" font-size="%d" font-weight="bold" xml:space="preserve"', AXIS_FS))
    end
    out[#out + 1] = string.format('<g class="panel" shape-rendering="crispEdges">')
    local rows = facets[f]
    local facet_tip = fs_full and S.esc(S.clean_label(fs_full[f]) .. "\n") or ""
    for i = 1, R do
      local row = rows[i]
      local row_tip = facet_tip .. row_tips[i]
      for j = 1, C do
        local v = row[j]
        out[#out + 1] = string.format('<rect class="cell" x="%.1f" y="%.1f" width="%d" height="%d" fill="%s"><title>%s%s\nvalue: %s</title></rect>',
          px + (j - 1) * cw, py + (i - 1) * ch, cw, ch, colorize(v), row_tip, col_tips[j], S.fmt(v))
      end
    end
    out[#out + 1] = "</g>"
    out[#out + 1] = string.format('<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="#888" stroke-width="0.6"/>', px, py, pw, ph)
    if value_text then
      local size = math.min(FS, ch - 3, (cw - 3) / (0.6 * value_chars))
      if size >= 6 then -- smaller text is unreadable: leave the values to the tooltips
        out[#out + 1] = string.format('<g text-anchor="middle" font-size="%.1f" pointer-events="none">', size)
        for i = 1, R do
          for j = 1, C do
            local v = rows[i][j]
            local fill = color.luminance(colorize(v)) < 0.5 and "#ffffff" or "#111111"
            out[#out + 1] = S.text(px + (j - 0.5) * cw, py + (i - 0.5) * ch, value_text(v), string.format('dy="0.35em" fill="%s"', fill))
          end
        end
        out[#out + 1] = "</g>"
      end
    end
    -- column labels under every panel, row labels left of the first panel of each row
    local xs = {}
    for j = 1, C do xs[j] = px + (j - 0.5) * cw end
    bottom_labels(out, xl, xs, py + ph, xlay)
    if (f - 1) % ncols == 0 then
      out[#out + 1] = '<g xml:space="preserve" text-anchor="end" fill="#222">'
      for i = 1, R, ystep do
        out[#out + 1] = S.text(px - 5, py + (i - 0.5) * ch, yl[i], 'dy="0.35em"')
      end
      out[#out + 1] = "</g>"
    end
  end
  if opts.xlabel then
    out[#out + 1] = S.text(left + gw / 2, top + gh + AXIS_FS + 4, opts.xlabel, string.format('text-anchor="middle" font-size="%d"', AXIS_FS))
  end
  if opts.ylabel then
    out[#out + 1] = string.format('<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle" dy="0.35em" font-size="%d">%s</text>',
      10 + AXIS_FS / 2, (top + fh + top + gh - xlay.height) / 2, AXIS_FS, S.esc(opts.ylabel))
  end
  colorbar(out, map, zmin, zmax, cbx, top + fh, cbh, opts.colorbar_label)
  out[#out + 1] = "</svg>"
  local data = { kind = "imshow", x = xs_full, y = ys_full, facets = fs_full, z = #shape == 2 and facets[1] or facets,
                 zmin = zmin, zmax = zmax, cmap = opts.cmap or "RdBu", title = opts.title }
  return figure("imshow", table.concat(out, "\n"), width, height, opts.title, data)
end

---------------------------------------------------------------------------------------------
-- Axes for line, scatter and bar charts

-- A linear scale: ticks over [lo, hi] widened to the outer ticks, and a map to pixels.
-- exact = {lo, hi}: exactly that range (plotly's range_x / range_y), ticks inside it.
local function scale(lo, hi, a, b, n, pad, exact)
  if exact then
    lo, hi = exact[1], exact[2]
    local ticks, step = S.ticks(lo, hi, n)
    return { lo = lo, hi = hi, ticks = ticks, step = step, px = function(v) return a + (v - lo) / (hi - lo) * (b - a) end }
  end
  if lo == nil then lo, hi = 0, 1 end
  if lo == hi then lo, hi = lo - 1, hi + 1 end
  if pad then local d = (hi - lo) * pad; lo, hi = lo - d, hi + d end
  local ticks, step = S.ticks(lo, hi, n)
  -- data well past the outer tick: extend the axis to the next tick so that its end is labelled
  if hi - ticks[#ticks] > 0.25 * step then ticks[#ticks + 1] = ticks[#ticks] + step; hi = ticks[#ticks] end
  if ticks[1] - lo > 0.25 * step then table.insert(ticks, 1, ticks[1] - step); lo = ticks[1] end
  lo = math.min(lo, ticks[1]); hi = math.max(hi, ticks[#ticks])
  return {
    lo = lo, hi = hi, ticks = ticks, step = step,
    px = function(v) return a + (v - lo) / (hi - lo) * (b - a) end,
  }
end

local function legend_width(names)
  if #names == 0 then return 0 end
  return S.max_width(names, FS) + 34
end

local function legend(out, entries, x, y)
  for k, e in ipairs(entries) do
    local ly = y + (k - 1) * (FS + 7)
    if e.kind == "line" then
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>', x, ly, x + 18, ly, e.color)
    else
      out[#out + 1] = string.format('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>', x + 9, ly, e.color)
    end
    out[#out + 1] = S.text(x + 24, ly, e.name, 'dy="0.35em" xml:space="preserve"')
  end
end

-- Frame of an x/y chart: grid, axes, tick labels, titles. spec fields: xcat (labels) or
-- xscale numbers {lo, hi}, ylo/yhi, title, xlabel, ylabel, legend names. Returns out (the SVG
-- parts so far), px(x or category index), py(y), plot box and total size.
-- A clipPath of the plot box (series drawn inside it, so data outside an explicit range does
-- not spill over the axes); returns the attribute for a <g>.
local function clip_path(out, x, y, w, h)
  ids = ids + 1
  local id = "fp-clip-" .. ids
  out[#out + 1] = string.format('<defs><clipPath id="%s"><rect x="%.1f" y="%.1f" width="%d" height="%d"/></clipPath></defs>', id, x, y, w, h)
  return string.format(' clip-path="url(#%s)"', id)
end

local function frame(spec)
  local W, H = spec.width or 640, spec.height or 360
  local out = {}
  local yscale_tmp = scale(spec.ylo, spec.yhi, 0, 1, 6, spec.ypad, spec.yrange)
  local ytw = 0
  for _, v in ipairs(yscale_tmp.ticks) do ytw = math.max(ytw, S.text_width(S.fmt_tick(v, yscale_tmp.step), FS)) end
  local left = 10 + (spec.ylabel and (AXIS_FS + 10) or 0) + ytw + 8
  local xlay, xl
  if spec.xcat then
    xl = {}
    for i, s in ipairs(spec.xcat) do xl[i] = S.clean_label(s, spec.max_label or 20) end
    xlay = label_layout(xl, W / #xl)
    if xlay.mode == 45 then left = math.max(left, xlay.wmax * 0.72 - W / #xl / 2 + 10) end
  else
    xlay = { mode = "h", step = 1, height = FS + 8 }
  end
  local lw = legend_width(spec.legend or {})
  local width = left + W + (lw > 0 and (16 + lw) or 0) + (spec.colorbar_width or 0) + 14
  local tl = title_layout(spec.title, width)
  local top = 10 + tl.height
  local height = top + H + xlay.height + (spec.xlabel and (AXIS_FS + 12) or 0) + 10
  local tx
  tx, width = title_place(tl, left + W / 2, width)
  local ys = scale(spec.ylo, spec.yhi, top + H, top, 6, spec.ypad, spec.yrange)
  local px
  if spec.xcat then
    local n = #spec.xcat
    px = function(i) return left + (i - 0.5) * W / n end
  else
    local xs = scale(spec.xlo, spec.xhi, left, left + W, 7, spec.xpad, spec.xrange)
    px = xs.px
    spec.xs = xs
  end
  out[#out + 1] = svg_open(width, height)
  title_svg(out, tl, tx)
  -- grid and y ticks
  out[#out + 1] = '<g stroke="#e3e3e3" stroke-width="1">'
  for _, v in ipairs(ys.ticks) do
    out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>', left, ys.px(v), left + W, ys.px(v))
  end
  if spec.xs then
    for _, v in ipairs(spec.xs.ticks) do
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>', px(v), top, px(v), top + H)
    end
  end
  out[#out + 1] = "</g>"
  if ys.lo < 0 and ys.hi > 0 then
    out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-width="1"/>', left, ys.px(0), left + W, ys.px(0))
  end
  if spec.xs and spec.xs.lo < 0 and spec.xs.hi > 0 then
    out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-width="1"/>', px(0), top, px(0), top + H)
  end
  out[#out + 1] = string.format('<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="#888" stroke-width="0.8"/>', left, top, W, H)
  out[#out + 1] = '<g text-anchor="end" fill="#222">'
  for _, v in ipairs(ys.ticks) do
    out[#out + 1] = S.text(left - 5, ys.px(v), S.fmt_tick(v, ys.step), 'dy="0.35em"')
  end
  out[#out + 1] = "</g>"
  if spec.xcat then
    local xs = {}
    for i = 1, #xl do xs[i] = px(i) end
    bottom_labels(out, xl, xs, top + H, xlay)
  else
    out[#out + 1] = '<g text-anchor="middle" fill="#222">'
    for _, v in ipairs(spec.xs.ticks) do
      out[#out + 1] = S.text(px(v), top + H + FS + 3, S.fmt_tick(v, spec.xs.step))
    end
    out[#out + 1] = "</g>"
  end
  if spec.xlabel then
    out[#out + 1] = S.text(left + W / 2, top + H + xlay.height + AXIS_FS + 2, spec.xlabel, string.format('text-anchor="middle" font-size="%d"', AXIS_FS))
  end
  if spec.ylabel then
    out[#out + 1] = string.format('<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle" dy="0.35em" font-size="%d">%s</text>',
      10 + AXIS_FS / 2, top + H / 2, AXIS_FS, S.esc(spec.ylabel))
  end
  return { out = out, px = px, py = ys.px, left = left, top = top, W = W, H = H, width = width, height = height,
           legend_x = left + W + 16 + (spec.colorbar_width or 0), legend_y = top + 8,
           clip = clip_path(out, left, top, W, H) }
end

local function series_list(series, who)
  if type(series) ~= "table" then fail(who, "expected a list of series {name = ..., y = ...}, got " .. type(series)) end
  if series.y ~= nil or fp.is_tensor(series) then series = { series } end -- one series given bare
  if #series == 0 then fail(who, "expected at least one series") end
  return series
end

-- Series k as a table with only the `known` keys (a typo such as `lables` is an error).
local function check_series(s, k, who, known, form)
  if type(s) ~= "table" or fp.is_tensor(s) then fail(who, string.format("series %d must be a table %s", k, form)) end
  local msg = fp.options_error(string.format("%s: series %d", who, k), s, known)
  if msg then error(msg, 0) end
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- opts[key] = {lo, hi}: finite numbers with lo < hi (an explicit axis range).
local function range_opt(opts, key, who)
  local r = opts[key]
  if r == nil then return nil end
  if fp.is_tensor(r) then r = r:tolist() end
  if type(r) ~= "table" or #r ~= 2 or type(r[1]) ~= "number" or type(r[2]) ~= "number" or not finite(r[1]) or not finite(r[2]) then
    fail(who, string.format("opts.%s must be {lo, hi} with two finite numbers", key))
  end
  if not (r[1] < r[2]) then fail(who, string.format("opts.%s = {%s, %s}: lo must be smaller than hi", key, S.fmt(r[1]), S.fmt(r[2]))) end
  return { r[1], r[2] }
end

local function inside(r, v) return r == nil or (v >= r[1] and v <= r[2]) end

---------------------------------------------------------------------------------------------
-- line

-- plot.line(series, opts): series = { {name = "clean", y = tensor_or_list, x = optional numbers,
-- labels = optional hover labels}, ... }. opts.x: labels for the points (a categorical x axis
-- shared by all series).
local LINE_SERIES = { "name", "y", "x", "labels", "color" }

function M.line(series, opts)
  local who = "plot.line"
  opts = check_opts(opts, who, { "x", "title", "xlabel", "ylabel", "ymin", "ymax", "xrange", "yrange", "width", "height", "max_label" })
  series = series_list(series, who)
  local xrange, yrange = range_opt(opts, "xrange", who), range_opt(opts, "yrange", who)
  if yrange and (opts.ymin or opts.ymax) then fail(who, "give either opts.yrange or opts.ymin/ymax, not both") end
  local all, names, numeric_x = {}, {}, false
  local ylo, yhi, xlo, xhi
  local n = 0
  for k, s in ipairs(series) do
    check_series(s, k, who, LINE_SERIES, "{name = ..., y = ...}")
    if s.y == nil then fail(who, string.format("series %d has no y values", k)) end
    local y = vector(s.y, who, string.format("series %d y", k))
    local x
    if s.x ~= nil then
      x = vector(s.x, who, string.format("series %d x", k))
      if #x ~= #y then fail(who, string.format("series %d has %d x values and %d y values", k, #x, #y)) end
      numeric_x = true
    end
    local labels
    if s.labels ~= nil then labels = labels_of(s.labels, #y, who, "labels", string.format("series %d", k)) end
    if s.color ~= nil and type(s.color) ~= "string" then fail(who, string.format("series %d: color must be a colour such as \"#1f77b4\"", k)) end
    n = math.max(n, #y)
    local lo, hi = color.finite_range(y)
    if lo then ylo = math.min(ylo or lo, lo); yhi = math.max(yhi or hi, hi) end
    if x then
      local a, b = color.finite_range(x)
      if a then xlo = math.min(xlo or a, a); xhi = math.max(xhi or b, b) end
    end
    all[k] = { name = s.name and tostring(s.name) or ("series " .. k), y = y, x = x, labels = labels,
               color = s.color or color.palette[(k - 1) % #color.palette + 1] }
    names[k] = S.clean_label(all[k].name, 30)
  end
  if numeric_x and opts.x then fail(who, "give either opts.x labels or numeric x values per series, not both (hover labels: series.labels)") end
  if xrange and not numeric_x then fail(who, "opts.xrange needs numeric x values (series.x)") end
  for k, s in ipairs(all) do
    if not numeric_x and not s.x and #s.y ~= n then
      fail(who, string.format("series %d has %d values but another has %d (give x values or pad with NaN)", k, #s.y, n))
    end
  end
  local xcat
  if not numeric_x then xcat = labels_of(opts.x, n, who, "x", "the series") end
  local show_legend = #all > 1 or series[1].name ~= nil
  local fr = frame({ title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel, xcat = xcat, xlo = xlo, xhi = xhi,
                     ylo = opts.ymin or ylo, yhi = opts.ymax or yhi, ypad = 0.04, width = opts.width, height = opts.height,
                     xrange = xrange, yrange = yrange, legend = show_legend and names or nil, max_label = opts.max_label })
  local out = fr.out
  out[#out + 1] = "<g" .. fr.clip .. ">"
  for k, s in ipairs(all) do
    local pts, seg = {}, {}
    local function flush() if #seg > 1 then pts[#pts + 1] = "M" .. table.concat(seg, "L") end; seg = {} end
    for i, v in ipairs(s.y) do
      if finite(v) and (not s.x or finite(s.x[i])) then
        local x = s.x and fr.px(s.x[i]) or fr.px(i)
        seg[#seg + 1] = string.format("%.1f,%.1f", x, fr.py(v))
      else flush() end
    end
    flush()
    out[#out + 1] = string.format('<path class="series" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>', table.concat(pts, " "), s.color)
    local r = #s.y <= 60 and 3 or 2
    local opacity = #s.y <= 60 and 1 or 0
    out[#out + 1] = string.format('<g fill="%s" fill-opacity="%d">', s.color, opacity)
    for i, v in ipairs(s.y) do
      if finite(v) and (not s.x or finite(s.x[i])) and inside(yrange, v) and (not s.x or inside(xrange, s.x[i])) then
        local xv = s.x and S.fmt(s.x[i]) or S.clean_label(xcat[i])
        local tip = string.format("%s%s\n%s: %s\n%s: %s", S.clean_label(s.name), s.labels and ("\n" .. S.clean_label(s.labels[i])) or "",
          opts.xlabel or "x", xv, opts.ylabel or "y", S.fmt(v))
        out[#out + 1] = string.format('<circle class="point" cx="%.1f" cy="%.1f" r="%d"><title>%s</title></circle>',
          s.x and fr.px(s.x[i]) or fr.px(i), fr.py(v), r, S.esc(tip))
      end
    end
    out[#out + 1] = "</g>"
  end
  out[#out + 1] = "</g>"
  if show_legend then
    local entries = {}
    for k, s in ipairs(all) do entries[k] = { kind = "line", color = s.color, name = names[k] } end
    legend(out, entries, fr.legend_x, fr.legend_y)
  end
  out[#out + 1] = "</svg>"
  local data = { kind = "line", x = xcat, series = {} }
  for k, s in ipairs(all) do data.series[k] = { name = s.name, x = s.x, y = s.y, labels = s.labels } end
  return figure("line", table.concat(out, "\n"), fr.width, fr.height, opts.title, data)
end

---------------------------------------------------------------------------------------------
-- scatter

-- plot.scatter(series, opts): series = { {name = ..., x = ..., y = ..., labels = {...},
-- color = "#rrggbb" or one number per point}, ... }. labels name the points in the tooltips;
-- opts.annotate = true also writes them next to the points. Numbers as color colour the points
-- on opts.cmap with a colour bar (plotly's color=values).
local SCATTER_SERIES = { "name", "x", "y", "labels", "color" }

function M.scatter(series, opts)
  local who = "plot.scatter"
  opts = check_opts(opts, who, { "title", "xlabel", "ylabel", "width", "height", "diagonal", "annotate", "xrange", "yrange",
                                 "cmap", "zmin", "zmax", "colorbar_label" })
  series = series_list(series, who)
  local xrange, yrange = range_opt(opts, "xrange", who), range_opt(opts, "yrange", who)
  local all, names = {}, {}
  local xlo, xhi, ylo, yhi
  local by_value = {}   -- the colour values of every series coloured by value, for the limits
  for k, s in ipairs(series) do
    check_series(s, k, who, SCATTER_SERIES, "{name = ..., x = ..., y = ...}")
    if s.x == nil or s.y == nil then fail(who, string.format("series %d needs x and y values", k)) end
    local x = vector(s.x, who, string.format("series %d x", k))
    local y = vector(s.y, who, string.format("series %d y", k))
    if #x ~= #y then fail(who, string.format("series %d has %d x values and %d y values", k, #x, #y)) end
    local labels
    if s.labels ~= nil then labels = labels_of(s.labels, #x, who, "labels", string.format("series %d", k)) end
    local cvals
    if s.color ~= nil and type(s.color) ~= "string" then
      cvals = vector(s.color, who, string.format("series %d color", k))
      if #cvals ~= #x then fail(who, string.format("series %d has %d color values and %d points", k, #cvals, #x)) end
      by_value[#by_value + 1] = cvals
    end
    local a, b = color.finite_range(x)
    if a then xlo = math.min(xlo or a, a); xhi = math.max(xhi or b, b) end
    a, b = color.finite_range(y)
    if a then ylo = math.min(ylo or a, a); yhi = math.max(yhi or b, b) end
    all[k] = { name = s.name and tostring(s.name) or ("series " .. k), x = x, y = y, labels = labels, cvals = cvals,
               color = type(s.color) == "string" and s.color or color.palette[(k - 1) % #color.palette + 1] }
    names[k] = S.clean_label(all[k].name, 30)
  end
  if #by_value == 0 and (opts.cmap or opts.zmin or opts.zmax or opts.colorbar_label) then
    fail(who, "opts.cmap, zmin, zmax and colorbar_label need a series coloured by value (color = one number per point)")
  end
  local map, zmin, zmax, colorize, cbw
  local H = opts.height or 420
  if #by_value > 0 then
    map = color.get(opts.cmap or "viridis", who)
    zmin, zmax = color.limits(map, by_value, opts.zmin, opts.zmax, who)
    colorize = color.colorizer(map, zmin, zmax)
    cbw = colorbar_width(zmin, zmax, H, opts.colorbar_label) + 16
  end
  local show_legend = #all > 1 or series[1].name ~= nil
  local fr = frame({ title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel, xlo = xlo, xhi = xhi, ylo = ylo, yhi = yhi,
                     xpad = 0.04, ypad = 0.04, width = opts.width, height = H, legend = show_legend and names or nil,
                     xrange = xrange, yrange = yrange, colorbar_width = cbw })
  local out = fr.out
  out[#out + 1] = "<g" .. fr.clip .. ">"
  if opts.diagonal then -- the y = x line, for clean-vs-patched comparisons
    local lo, hi = math.max(xlo or 0, ylo or 0), math.min(xhi or 1, yhi or 1)
    if xrange or yrange then   -- across the visible box (the clip path cuts it)
      lo = math.min(xrange and xrange[1] or lo, yrange and yrange[1] or lo)
      hi = math.max(xrange and xrange[2] or hi, yrange and yrange[2] or hi)
    end
    if lo < hi then
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>', fr.px(lo), fr.py(lo), fr.px(hi), fr.py(hi))
    end
  end
  local shown = {}
  for k, s in ipairs(all) do
    shown[k] = {}
    out[#out + 1] = string.format('<g fill="%s" fill-opacity="0.8">', s.cvals and color.nan_color or s.color)
    for i = 1, #s.x do
      if finite(s.x[i]) and finite(s.y[i]) and inside(xrange, s.x[i]) and inside(yrange, s.y[i]) then
        shown[k][#shown[k] + 1] = i
        local tip = string.format("%s%s\n%s: %s\n%s: %s%s", S.clean_label(s.name), s.labels and ("\n" .. S.clean_label(s.labels[i])) or "",
          opts.xlabel or "x", S.fmt(s.x[i]), opts.ylabel or "y", S.fmt(s.y[i]),
          s.cvals and ("\n" .. (opts.colorbar_label or "color") .. ": " .. S.fmt(s.cvals[i])) or "")
        local fill = s.cvals and string.format(' fill="%s"', colorize(s.cvals[i])) or ""
        out[#out + 1] = string.format('<circle class="point" cx="%.1f" cy="%.1f" r="4"%s><title>%s</title></circle>',
          fr.px(s.x[i]), fr.py(s.y[i]), fill, S.esc(tip))
      end
    end
    out[#out + 1] = "</g>"
  end
  out[#out + 1] = "</g>"
  if opts.annotate then   -- outside the clip path, so labels near the edge stay whole
    for k, s in ipairs(all) do
      if s.labels then
        out[#out + 1] = '<g font-size="10" fill="#333" xml:space="preserve">'
        for _, i in ipairs(shown[k]) do
          out[#out + 1] = S.text(fr.px(s.x[i]) + 6, fr.py(s.y[i]) - 5, S.clean_label(s.labels[i], 20))
        end
        out[#out + 1] = "</g>"
      end
    end
  end
  if cbw then colorbar(out, map, zmin, zmax, fr.left + fr.W + 16, fr.top, fr.H, opts.colorbar_label) end
  if show_legend then
    local entries = {}
    for k, s in ipairs(all) do entries[k] = { kind = "point", color = s.cvals and "#555555" or s.color, name = names[k] } end
    legend(out, entries, fr.legend_x, fr.legend_y)
  end
  out[#out + 1] = "</svg>"
  local data = { kind = "scatter", series = {}, zmin = zmin, zmax = zmax, cmap = map and (opts.cmap or "viridis") or nil }
  for k, s in ipairs(all) do data.series[k] = { name = s.name, x = s.x, y = s.y, labels = s.labels, color = s.cvals } end
  return figure("scatter", table.concat(out, "\n"), fr.width, fr.height, opts.title, data)
end

---------------------------------------------------------------------------------------------
-- bar

local POS_COLOR, NEG_COLOR = "#2166ac", "#b2182b" -- the ends of RdBu: positive blue, negative red

-- plot.bar({labels = {...}, values = tensor_or_list}, opts): one bar per label from 0 (negative
-- values go the other way). opts.horizontal: bars left to right with the labels on the left
-- (default: horizontal when a label is longer than 8 characters or there are more than 20 bars).
function M.bar(spec, opts)
  local who = "plot.bar"
  opts = check_opts(opts, who, { "horizontal", "color", "value_label", "title", "xlabel", "ylabel", "width", "height", "max_label" })
  if type(spec) ~= "table" or fp.is_tensor(spec) then fail(who, "expected {labels = {...}, values = tensor_or_list}, got " .. (fp.is_tensor(spec) and "a tensor" or type(spec))) end
  local msg = fp.options_error(who .. ": the bars", spec, { "labels", "values" })
  if msg then error(msg, 0) end
  if spec.values == nil then fail(who, "expected {labels = {...}, values = tensor_or_list}: values missing") end
  local values = vector(spec.values, who, "values")
  if #values == 0 then fail(who, "values is empty") end
  local labels = labels_of(spec.labels, #values, who, "labels", "values")
  local lo, hi = color.finite_range(values)
  lo, hi = math.min(lo or 0, 0), math.max(hi or 0, 0)
  local horizontal = opts.horizontal
  if horizontal == nil then
    horizontal = #values > 20
    for _, s in ipairs(labels) do if utf8.len(s) and utf8.len(s) > 8 then horizontal = true end end
  end
  local function bar_color(v) return opts.color or (v < 0 and NEG_COLOR or POS_COLOR) end
  local function tip(i) return string.format("%s\n%s: %s", S.clean_label(labels[i]), opts.value_label or "value", S.fmt(values[i])) end
  local fig_w, fig_h, out
  if not horizontal then
    local fr = frame({ title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel, xcat = labels, ylo = lo, yhi = hi,
                       ypad = 0.03, width = opts.width or math.max(240, math.min(720, #values * 44)), height = opts.height, max_label = opts.max_label })
    out = fr.out
    local slot = fr.W / #values
    local bw = math.max(1, slot * 0.7)
    for i, v in ipairs(values) do
      if finite(v) then
        local y0, y1 = fr.py(0), fr.py(v)
        out[#out + 1] = string.format('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>',
          fr.px(i) - bw / 2, math.min(y0, y1), bw, math.abs(y1 - y0), bar_color(v), S.esc(tip(i)))
      end
    end
    fig_w, fig_h = fr.width, fr.height
  else
    -- horizontal: categories top to bottom, value axis along x
    local ll = {}
    for i, s in ipairs(labels) do ll[i] = S.clean_label(s, opts.max_label or 32) end
    local lw = S.max_width(ll, FS)
    local slot = clamp(math.floor(420 / #values), 12, 28)
    local W, H = opts.width or 520, #values * slot
    local left = 10 + (opts.ylabel and (AXIS_FS + 10) or 0) + lw + 8
    local xs = scale(lo, hi, left, left + W, 6, 0.03)
    local width = left + W + 24
    local tl = title_layout(opts.title, width)
    local top = 10 + tl.height
    local height = top + H + FS + 10 + (opts.xlabel and (AXIS_FS + 12) or 0) + 10
    local tx
    tx, width = title_place(tl, left + W / 2, width)
    out = { svg_open(width, height) }
    title_svg(out, tl, tx)
    out[#out + 1] = '<g stroke="#e3e3e3" stroke-width="1">'
    for _, v in ipairs(xs.ticks) do
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>', xs.px(v), top, xs.px(v), top + H)
    end
    out[#out + 1] = "</g>"
    out[#out + 1] = string.format('<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="#888" stroke-width="0.8"/>', left, top, W, H)
    local bh = slot * 0.72
    for i, v in ipairs(values) do
      local cy = top + (i - 0.5) * slot
      if finite(v) then
        local x0, x1 = xs.px(0), xs.px(v)
        out[#out + 1] = string.format('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>',
          math.min(x0, x1), cy - bh / 2, math.abs(x1 - x0), bh, bar_color(v), S.esc(tip(i)))
      end
    end
    if xs.lo < 0 and xs.hi > 0 then
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666" stroke-width="1"/>', xs.px(0), top, xs.px(0), top + H)
    end
    out[#out + 1] = '<g text-anchor="end" fill="#222" xml:space="preserve">'
    for i = 1, #ll do out[#out + 1] = S.text(left - 5, top + (i - 0.5) * slot, ll[i], 'dy="0.35em"') end
    out[#out + 1] = "</g>"
    out[#out + 1] = '<g text-anchor="middle" fill="#222">'
    for _, v in ipairs(xs.ticks) do out[#out + 1] = S.text(xs.px(v), top + H + FS + 3, S.fmt_tick(v, xs.step)) end
    out[#out + 1] = "</g>"
    if opts.xlabel then
      out[#out + 1] = S.text(left + W / 2, top + H + FS + 10 + AXIS_FS, opts.xlabel, string.format('text-anchor="middle" font-size="%d"', AXIS_FS))
    end
    if opts.ylabel then
      out[#out + 1] = string.format('<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle" dy="0.35em" font-size="%d">%s</text>',
        10 + AXIS_FS / 2, top + H / 2, AXIS_FS, S.esc(opts.ylabel))
    end
    fig_w, fig_h = width, height
  end
  out[#out + 1] = "</svg>"
  return figure("bar", table.concat(out, "\n"), fig_w, fig_h, opts.title, { kind = "bar", labels = labels, values = values })
end

---------------------------------------------------------------------------------------------
-- terminal

-- plot.term(t, opts): prints a heatmap of a 2-D tensor with 256-colour escapes (see fp.plot_term)
-- when stdout is a terminal (fp.use_color: not with NO_COLOR set); into a pipe or a file it
-- prints the numbers without escape codes. opts.color = true/false overrides.
function M.term(t, opts)
  local o = opts
  if opts == nil or type(opts) == "table" and opts.color == nil then   -- a copy: the caller's table stays as it was
    o = { color = fp.use_color(1) }
    for k, v in pairs(opts or {}) do o[k] = v end
  end
  io.write(require("fp.plot_term").render(t, o, "plot.term"))
  io.flush()
end

-- plot.term_string(t, opts): the same text, returned instead of printed (with colours unless
-- opts.color = false).
function M.term_string(t, opts)
  return require("fp.plot_term").render(t, opts, "plot.term_string")
end

-- plot.attention(pattern, tokens, opts): an interactive attention-pattern viewer (HTML; see
-- fp.plot_attention).
function M.attention(pattern, tokens, opts) return require("fp.plot_attention").figure(pattern, tokens, opts) end

-- shared with fp.plot_term
M._array = array
M._labels_of = labels_of
M._shape_str = shape_str

return M

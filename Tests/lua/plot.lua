-- fp.plot: the structure of the SVG (cells, colours, labels, facets, colour bar), the HTML page's
-- hover data, the terminal heatmap, saving, and errors for wrong inputs. Expected colours are
-- worked out by hand from the RdBu stops (ColorBrewer, white centre).
local fp = require "fp"
local plot = require "fp.plot"
local json = require "fp.json"

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

local function cell_fills(svg)
  local out = {}
  for fill in svg:gmatch('<rect class="cell"[^>]- fill="(#%x+)"') do out[#out + 1] = fill end
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

test("imshow: one cell per element, row-major", function()
  local svg = plot.imshow(fp.zeros(30, 16)):svg()
  assert_equal(count(svg, '<rect class="cell"'), 480)
  assert(svg:find("^<svg xmlns=\"http://www.w3.org/2000/svg\""), "a standalone SVG")
  assert(svg:find("</svg>$"))
end)

test("imshow colours: 0 is white, +max is the blue end, -max the red end, NaN grey", function()
  local t = fp.tensor({ { 0, 2, -2 }, { -1, 0 / 0, 1 } })
  local fills = cell_fills(plot.imshow(t):svg())
  assert_equal(#fills, 6)
  assert_equal(fills[1], "#ffffff")
  assert_equal(fills[2], "#053061")                -- RdBu's last stop
  assert_equal(fills[3], "#67001f")                -- RdBu's first stop
  -- -1 of +-2 is position 0.25: halfway between stops 3 (#d6604d) and 4 (#f4a582)
  assert_equal(fills[4], "#e58368")
  assert_equal(fills[5], "#bdbdbd")
  assert_equal(fills[5], plot.nan_color)
  -- +1 is position 0.75: halfway between stops 8 (#92c5de) and 9 (#4393c3)
  assert_equal(fills[6], "#6bacd1")
end)

test("imshow limits: symmetric by default, zmin/zmax clamp, 0 stays white when asymmetric", function()
  local fills = cell_fills(plot.imshow(fp.tensor({ { 0, 0.5, 4 } }), { zmin = -1, zmax = 1 }):svg())
  assert_equal(fills[1], "#ffffff")
  assert_equal(fills[2], "#6bacd1")                -- 0.5 of 1 is position 0.75, as +1 of +-2 above
  assert_equal(fills[3], "#053061")                -- clamped to the end
  fills = cell_fills(plot.imshow(fp.tensor({ { 0, 1, -3 } }), { zmin = -3, zmax = 1 }):svg())
  assert_equal(fills, { "#ffffff", "#053061", "#67001f" })
  -- a sequential map runs from the data's min to max
  fills = cell_fills(plot.imshow(fp.tensor({ { 0, 0.5, 1 } }), { cmap = "Blues" }):svg())
  assert_equal(fills[1], "#ffffff")
  assert_equal(fills[3], "#08306b")
  -- a constant image does not divide by zero
  assert_equal(cell_fills(plot.imshow(fp.zeros(2, 2)):svg()), { "#ffffff", "#ffffff", "#ffffff", "#ffffff" })
end)

test("imshow: labels present, escaped, control characters visible, long ones cut", function()
  local long = string.rep("abcdefghij", 5)
  local svg = plot.imshow(fp.ones(2, 3), { x = { "<b>", "a&b", long }, y = { ' "q"', "\n" },
                                           title = "T <1>", xlabel = "pos & tok", ylabel = "layer" }):svg()
  assert(svg:find("&lt;b&gt;", 1, true), "x label escaped")
  assert(svg:find("a&amp;b", 1, true))
  assert(not svg:find("<b>", 1, true), "no raw markup from labels")
  assert(svg:find("&quot;q&quot;", 1, true))
  assert(svg:find(">\\n<", 1, true), "a newline token shows as \\n")
  assert(svg:find("T &lt;1&gt;", 1, true))
  assert(svg:find("pos &amp; tok", 1, true))
  assert(svg:find(string.sub(long, 1, 19) .. "\u{2026}", 1, true), "long label cut to 20 characters with an ellipsis")
  assert(svg:find("rotate(-45)", 1, true), "labels wider than a cell are rotated")
  -- the full label is still in the tooltip
  assert(svg:find(long, 1, true))
  -- bytes XML cannot hold never reach the file, whatever the strings
  svg = plot.imshow(fp.ones(1, 2), { x = { "\1a", "b\xff" }, title = "t\0\2\xff", xlabel = "\xc3", colorbar_label = "\27[1m" }):svg()
  assert(utf8.len(svg), "valid UTF-8")
  assert(not svg:find("[%z\1-\8\11\12\14-\31]"), "no control characters")
  assert(svg:find(">\\x01a<", 1, true) and svg:find("b\u{FFFD}", 1, true))
  for _, fig in ipairs({ plot.line({ { name = "\xff", y = { 1 } } }, { title = "\xfe", x = { "\xc3" } }),
                         plot.bar({ labels = { "\xff", "\1" }, values = { 1, 2 } }, { title = "\xfe" }),
                         plot.bar({ labels = { "\xff long label here", "\1" }, values = { 1, 2 } }),
                         plot.scatter({ { name = "\xff", x = { 1 }, y = { 1 }, labels = { "\2" } } }, { annotate = true }) }) do
    assert(utf8.len(fig:svg()) and not fig:svg():find("[%z\1-\8\11\12\14-\31]"), fig.kind)
  end
end)

test("imshow: every text and cell stays inside the SVG", function()
  local labels = {}
  for i = 1, 16 do labels[i] = " token_number_" .. i end
  for _, t in ipairs({ fp.randn(30, 16), fp.randn(30, 9), fp.randn(3, 30, 16), fp.randn(100, 60), fp.randn(2, 2) }) do
    local opts = { title = "a title that is long enough to matter for a small figure", ylabel = "layer", xlabel = "pos", colorbar_label = "logit diff" }
    if t.shape[#t.shape] == 16 then opts.x = labels end
    if t:dim() == 3 then opts.facets = { "one", "two", "three" } end
    local fig = plot.imshow(t, opts)
    local svg = fig:svg()
    local w = tonumber(svg:match('width="(%d+)"'))
    local h = tonumber(svg:match('height="(%d+)"'))
    for x in svg:gmatch('<text x="([%d.-]+)"') do
      assert(tonumber(x) >= 0 and tonumber(x) <= w, "text at x=" .. x .. " outside width " .. w)
    end
    for x, y in svg:gmatch('translate%(([%d.-]+),([%d.-]+)%)') do
      assert(tonumber(x) >= 0 and tonumber(x) <= w and tonumber(y) >= 0 and tonumber(y) <= h, "rotated text outside the figure")
    end
    for x, y in svg:gmatch('<rect class="cell" x="([%d.]+)" y="([%d.]+)"') do
      assert(tonumber(x) < w and tonumber(y) < h, "cell outside the figure")
    end
  end
end)

test("imshow: many rows show every k-th row label so they do not overlap", function()
  local svg = plot.imshow(fp.randn(100, 4)):svg()
  local shown = count(svg, '<text x="[%d.]+" y="[%d.]+" dy="0.35em">%d+</text>')
  assert(shown < 100 and shown >= 20, "row labels shown: " .. shown)
  svg = plot.imshow(fp.randn(30, 9)):svg()
  assert_equal(count(svg, '<text x="[%d.]+" y="[%d.]+" dy="0.35em">%d+</text>'), 30)
end)

test("imshow facets: one panel and one title per facet, one shared colour bar", function()
  local t = fp.stack({ fp.ones(4, 5), fp.zeros(4, 5), -fp.ones(4, 5) }, 0)
  local svg = plot.imshow(t, { facets = { "letter 1", "letter 2", "letter 3" } }):svg()
  assert_equal(count(svg, '<g class="panel"'), 3)
  assert_equal(count(svg, '<rect class="cell"'), 60)
  assert_equal(count(svg, 'class="colorbar"'), 1)
  for k = 1, 3 do assert(svg:find(">letter " .. k .. "<", 1, true)) end
  local fills = cell_fills(svg)
  assert_equal(fills[1], "#053061")
  assert_equal(fills[21], "#ffffff")
  assert_equal(fills[41], "#67001f")
  -- wrapping: facet_cols = 2 puts the third panel on a second row
  local ys = {}
  svg = plot.imshow(t, { facet_cols = 2 }):svg()
  for y in svg:gmatch('<rect class="cell" x="[%d.]+" y="([%d.]+)"') do ys[#ys + 1] = tonumber(y) end
  assert(ys[41] > ys[20], "third panel below the first row")
end)

test("HTML page: the SVG, tooltips with row/col labels and value, and the data as JSON", function()
  local fig = plot.imshow(fp.tensor({ { 0.25, -1 } }), { x = { "A", " Mary" }, y = { "L3" }, xlabel = "pos", ylabel = "layer" })
  local html = fig:html()
  assert(html:find("<!DOCTYPE html>", 1, true))
  assert(html:find(fig:svg(), 1, true), "the SVG is embedded")
  assert(html:find("<title>layer: L3\npos:  Mary\nvalue: -1</title>", 1, true), "tooltip text")
  assert(html:find("data-tip", 1, true), "the script that shows tooltips")
  local data = html:match('<script type="application/json" id="fp%-data">(.-)</script>')
  local d = json.decode(data)
  assert_equal(d.z, { { 0.25, -1.0 } })
  assert_equal(d.x, { "A", " Mary" })
  assert_equal(d.y, { "L3" })
  -- a label that contains "</script>" cannot end the data block early
  html = plot.imshow(fp.ones(1, 1), { x = { "</script>" } }):html()
  assert_equal(count(html, "</script>"), 2)
end)

test("save: .svg and .html by extension, folders created, other extensions refused", function()
  local dir = os.tmpname()
  os.remove(dir)
  local fig = plot.imshow(fp.eye(3), { title = "eye" })
  fig:save(dir .. "/a/b.svg")
  assert_equal(read(dir .. "/a/b.svg"), fig:svg())
  fig:save(dir .. "/a/b.HTML")
  assert_equal(read(dir .. "/a/b.HTML"), fig:html())
  fp.save(dir .. "/a/c.svg", fig)                           -- fp.save passes figures on
  assert_equal(read(dir .. "/a/c.svg"), fig:svg())
  expect_error(function() fig:save(dir .. "/a/b.png") end, "expected a .svg or .html file name")
  expect_error(function() fig:save(42) end, "path must be a file name")
  expect_error(function() fig:save("/proc/no/such/x.svg") end, "plot save: cannot")
  for _, f in ipairs({ "b.svg", "b.HTML", "c.svg" }) do os.remove(dir .. "/a/" .. f) end
  os.remove(dir .. "/a"); os.remove(dir)
end)

test("imshow errors name the argument and what was expected", function()
  expect_error(function() plot.imshow(fp.ones(5)) end, "expected a 2-D tensor [rows, cols] or a 3-D tensor [facets, rows, cols], got a 1-D tensor of shape [5]")
  expect_error(function() plot.imshow(fp.ones(2, 2, 2, 2)) end, "got a 4-D tensor")
  expect_error(function() plot.imshow(fp.ones(2, 3), { x = { "a", "b" } }) end, "opts.x has 2 labels but the tensor's last dim (columns) has 3")
  expect_error(function() plot.imshow(fp.ones(2, 3), { y = { "a" } }) end, "opts.y has 1 labels but the tensor's rows has 2")
  expect_error(function() plot.imshow(fp.ones(2, 2, 3), { facets = { "a" } }) end, "opts.facets has 1 labels")
  expect_error(function() plot.imshow(fp.ones(2, 3), { facets = { "a" } }) end, "opts.facets needs a 3-D tensor")
  expect_error(function() plot.imshow(fp.ones(2, 3), { cmap = "jet" }) end, "unknown cmap 'jet'")
  expect_error(function() plot.imshow(fp.ones(2, 3), { zmin = 1, zmax = 0 }) end, "zmin (1) must not be larger than zmax (0)")
  expect_error(function() plot.imshow({ { 1, 2 }, { 3 } }) end, "t[2] has 1 entries, expected 2")
  expect_error(function() plot.imshow({ { 1, "x" } }) end, "t[1][2] must be a number, got string")
  expect_error(function() plot.imshow(fp.ones(0, 3)) end, "empty tensor")
  expect_error(function() plot.imshow(nil) end, "got nil")
  expect_error(function() plot.imshow(fp.ones(2, 2), 5) end, "opts must be a table")
  expect_error(function() plot.imshow(fp.ones(3, 4), { max_cells = 10 }) end, "12 cells are too many for a readable figure (max_cells = 10)")
  -- Lua lists work like tensors
  assert_equal(#cell_fills(plot.imshow({ { 1, 2 }, { 3, 4 } }):svg()), 4)
end)

test("line: a path per series, a point with a tooltip per value, NaN breaks the line", function()
  local fig = plot.line({ { name = "clean", y = fp.tensor({ 1, 2, 0 / 0, 4, 5 }) }, { name = "corrupt", y = { 0, 1, 2, 3, 4 } } },
    { x = { "a", "b", "c", "d", "e" }, title = "diffs", xlabel = "pos", ylabel = "logit diff" })
  local svg = fig:svg()
  assert_equal(count(svg, '<path class="series"'), 2)
  assert_equal(count(svg, '<circle class="point"'), 9)
  local first = svg:match('<path class="series" d="([^"]*)"')
  assert_equal(count(first, "M"), 2)                          -- split at the NaN
  assert(svg:find("<title>clean\npos: d\nlogit diff: 4</title>", 1, true))
  assert(svg:find(">corrupt<", 1, true), "legend")
  -- numeric x per series
  svg = plot.line({ { y = { 1, 2 }, x = { 10, 20 } } }):svg()
  assert_equal(count(svg, '<circle class="point"'), 2)
  expect_error(function() plot.line({ { y = { 1, 2 } }, { y = { 1 } } }) end, "series 2 has 1 values but another has 2")
  expect_error(function() plot.line({ { y = { 1, 2 }, x = { 1 } } }) end, "series 1 has 1 x values and 2 y values")
  expect_error(function() plot.line({ { y = { 1, 2 } } }, { x = { "a" } }) end, "opts.x has 1 labels")
  expect_error(function() plot.line({ { name = "a" } }) end, "series 1 has no y values")
  expect_error(function() plot.line({}) end, "at least one series")
  expect_error(function() plot.line({ { y = fp.ones(2, 2) } }) end, "series 1 y must be 1-D, got shape [2, 2]")
end)

test("scatter: a point per pair with its label in the tooltip", function()
  local svg = plot.scatter({ { name = "heads", x = { 1, 2, 3 }, y = fp.tensor({ 3, 2, 1 }), labels = { "L0H0", "L0H1", "L<1>" } } },
    { xlabel = "clean", ylabel = "patched", annotate = true }):svg()
  assert_equal(count(svg, '<circle class="point"'), 3)
  assert(svg:find("<title>heads\nL0H1\nclean: 2\npatched: 2</title>", 1, true))
  assert(svg:find("L&lt;1&gt;", 1, true))
  expect_error(function() plot.scatter({ { x = { 1 }, y = { 1, 2 } } }) end, "series 1 has 1 x values and 2 y values")
  expect_error(function() plot.scatter({ { x = { 1 } } }) end, "needs x and y")
  expect_error(function() plot.scatter({ { x = { 1 }, y = { 1 }, labels = { "a", "b" } } }) end, "opts.labels has 2 labels")
end)

test("bar: one bar per value, blue up, red down, horizontal for long labels", function()
  local svg = plot.bar({ labels = { "L23H3", "L20H1", "L25H0" }, values = fp.tensor({ 0.4, -0.2, 0.1 }) }):svg()
  local fills = {}
  for f in svg:gmatch('<rect class="bar"[^>]- fill="(#%x+)"') do fills[#fills + 1] = f end
  assert_equal(fills, { "#2166ac", "#b2182b", "#2166ac" })
  assert(not svg:find("rotate(-90)\" text-anchor=\"end\"", 1, true))
  -- bars of a vertical chart start at the zero line: the negative bar's top is the positive bars' bottom
  local ys, hs = {}, {}
  for y, h in svg:gmatch('<rect class="bar" x="[%d.]+" y="([%d.]+)" width="[%d.]+" height="([%d.]+)"') do ys[#ys + 1] = tonumber(y); hs[#hs + 1] = tonumber(h) end
  assert_close(ys[1] + hs[1], ys[2], 0.11)
  assert_close(hs[1] / hs[2], 2, 0.01)
  local long = plot.bar({ labels = { "a rather long label", "b" }, values = { 1, 2 } })
  assert(long:svg():find('text-anchor="end" fill="#222" xml:space="preserve"', 1, true), "labels left of horizontal bars")
  expect_error(function() plot.bar({ labels = { "a" }, values = { 1, 2 } }) end, "opts.labels has 1 labels but values has 2")
  expect_error(function() plot.bar(fp.ones(3)) end, "expected {labels = {...}, values = tensor_or_list}, got a tensor")
  expect_error(function() plot.bar({ labels = {} }) end, "values missing")
end)

test("term colours: an xterm palette colour maps to its own index", function()
  local T = require "fp.plot_term"
  local cases = { ["#000000"] = 16, ["#5f0000"] = 52, ["#005f87"] = 24, ["#d7afff"] = 183, ["#ffffff"] = 231,
                  ["#eeeeee"] = 255, ["#080808"] = 232, ["#bcbcbc"] = 250, ["#87d7ff"] = 117 }
  for hex, n in pairs(cases) do assert_equal(T.xterm(hex), n, hex) end
  assert_equal(T.xterm("#bdbdbd"), 250)          -- one step off a palette grey
end)

test("term: 256-colour cells, labels, legend; t:show prints the same", function()
  local t = fp.tensor({ { 0, 1 }, { -1, 0 / 0 } })
  local s = plot.term_string(t, { x = { "ab", "cd" }, y = { "first", "second" }, title = "resid" })
  assert(s:find("\27[48;5;231m", 1, true), "white (xterm 231) for 0")
  assert(s:find("\27[48;5;24m", 1, true), "dark blue (xterm 24, #005f87) for +1, RdBu's #053061")
  assert(s:find("\27[48;5;52m", 1, true), "dark red (xterm 52) for -1")
  assert(s:find("\27[48;5;250m", 1, true), "grey (xterm 250) for NaN")
  assert(s:find("first", 1, true) and s:find("second", 1, true))
  assert(s:find(" ab ", 1, true), "column labels that fit are printed above the cells")
  assert(s:find("-1 ", 1, true) and s:find(" 1  (0 = white", 1, true), "legend with the limits")
  assert(s:find("resid", 1, true))
  -- each row: 2 cells + reset
  local rows = 0
  for line in s:gmatch("[^\n]+") do
    if line:find("first") or line:find("second") then
      rows = rows + 1
      assert_equal(count(line, "\27%[48;5;%d+m"), 2)
    end
  end
  assert_equal(rows, 2)
  -- labels wider than a cell: indices above, a key below
  s = plot.term_string(fp.ones(1, 3), { x = { "After", " John", "\n" } })
  assert(s:find('columns: 0 "After"  1 " John"  2 "\\n"', 1, true), s)
  -- values = true prints numbers in the cells
  s = plot.term_string(fp.tensor({ { 0.5, -2 } }), { values = true })
  assert(s:find("0.5", 1, true) and s:find("-2", 1, true))
  -- t:show writes the same text (coloured only on a terminal: Tests/lua/plot_options.lua)
  local written = {}
  local write = io.write
  io.write = function(...) for _, x in ipairs({ ... }) do written[#written + 1] = x end end
  local ok, err = pcall(function() t:show({ x = { "ab", "cd" }, y = { "first", "second" }, title = "resid" }) end)
  io.write = write
  assert(ok, err)
  assert_equal(table.concat(written), plot.term_string(t, { x = { "ab", "cd" }, y = { "first", "second" }, title = "resid", color = fp.use_color(1) }))
  expect_error(function() plot.term(fp.ones(2, 2, 2, 2)) end, "plot.term: expected a 1-D, 2-D or 3-D tensor")
  expect_error(function() plot.term(fp.ones(2, 2), { x = { "a" } }) end, "plot.term: opts.x has 1 labels")
end)

test("page: several figures on one HTML page with their data", function()
  local a = plot.imshow(fp.eye(2), { title = "first" })
  local b = plot.bar({ labels = { "x", "y" }, values = { 1, -1 } }, { title = "second" })
  local page = plot.page({ a, b }, { title = "IOI <report>", headings = { "resid", "heads" } })
  local html = page:html()
  assert_equal(count(html, "<svg "), 2)
  assert(html:find(a:svg(), 1, true) and html:find(b:svg(), 1, true))
  assert(html:find("<h1>IOI &lt;report&gt;</h1>", 1, true))
  assert(html:find("<h2>heads</h2>", 1, true))
  local d = json.decode(html:match('<script type="application/json" id="fp%-data">(.-)</script>'))
  assert_equal(d[1].kind, "imshow")
  assert_equal(d[2].values, { 1, -1 })
  expect_error(function() plot.page({ a, 5 }) end, "entry 2 is not a figure")
  expect_error(function() plot.page({}) end, "expected a list of figures")
  expect_error(function() page:save("/tmp/x.svg") end, "expected a .html file name")
  local base = os.tmpname()
  os.remove(base)
  page:save(base .. ".html")
  assert_equal(read(base .. ".html"), html)
  os.remove(base .. ".html")
end)

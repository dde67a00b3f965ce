-- fp.plot gaps found while porting TransformerLens notebooks (issue 17): long titles, facet
-- grids with fewer panels than columns, scatter axis ranges and colour by value, line charts
-- with numeric x and hover labels, unknown options and series keys, and terminal colours only
-- where they belong.
local fp = require "fp"
local plot = require "fp.plot"

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

local function size(svg)
  return tonumber(svg:match('width="(%d+)"')), tonumber(svg:match('height="(%d+)"'))
end

-- The title lines of an SVG: text and centre x.
local function titles(svg)
  local out = {}
  for x, text in svg:gmatch('<text x="([%d.-]+)" y="[%d.-]+" class="title"[^>]*>(.-)</text>') do
    out[#out + 1] = { x = tonumber(x), text = text }
  end
  return out
end

-- Rendered width in pixels at 15 px of DejaVu Sans Bold, from the font's advance widths (em):
-- an estimate independent of fp.plot's own.
local ADV = { [" "] = 0.348, a = 0.675, b = 0.716, c = 0.593, d = 0.716, e = 0.678, f = 0.435, g = 0.716, h = 0.712,
  i = 0.343, k = 0.665, l = 0.343, m = 1.042, n = 0.712, o = 0.687, p = 0.716, r = 0.493, s = 0.595, t = 0.478, u = 0.712,
  v = 0.652, w = 0.924, y = 0.652, A = 0.774, D = 0.830, E = 0.683, F = 0.683, H = 0.838, I = 0.372, L = 0.637, M = 0.995,
  O = 0.850, P = 0.733, R = 0.770, S = 0.720, T = 0.682, ["("] = 0.457, [")"] = 0.457, [","] = 0.380, ["-"] = 0.415 }
local function bold_width(s)
  local w = 0
  for c in s:gmatch(".") do w = w + (ADV[c] or (c:match("%d") and 0.696) or 0.8) end
  return w * 15
end

local LONG = "Logit Difference From Each Head After Patching The Residual Stream At Every Layer And Position (IOI, 8 Prompts, SmolLM2-135M)"

test("titles: a long title wraps inside the figure instead of running off it", function()
  local figs = {
    plot.imshow(fp.randn(4, 5), { title = LONG }),
    plot.imshow(fp.randn(2, 3, 4), { title = LONG }),
    plot.line({ { name = "a", y = { 1, 2, 3 } } }, { title = LONG }),
    plot.scatter({ { x = { 1, 2 }, y = { 2, 1 } } }, { title = LONG }),
    plot.bar({ labels = { "a", "b" }, values = { 1, -1 } }, { title = LONG }),
    plot.bar({ labels = { "a long label here", "b" }, values = { 1, -1 } }, { title = LONG }),
  }
  for _, fig in ipairs(figs) do
    local svg = fig:svg()
    local w = size(svg)
    local lines = titles(svg)
    assert(#lines >= 2, fig.kind .. ": the title wraps (" .. #lines .. " line)")
    local words = {}
    for _, l in ipairs(lines) do
      local half = bold_width(l.text) / 2
      assert(l.x - half >= 0 and l.x + half <= w, string.format("%s: title line '%s' at %.0f overflows width %d", fig.kind, l.text, l.x, w))
      for word in l.text:gmatch("%S+") do words[#words + 1] = word end
    end
    assert_equal(table.concat(words, " "), LONG, "every word of the title is kept, in order")
    assert(w <= 760, fig.kind .. ": a long title does not make the figure wide: " .. w)
  end
  -- "\n" starts a new line; a short title stays one line at the old height
  local svg = plot.line({ { y = { 1, 2 } } }, { title = "first\nsecond" }):svg()
  assert_equal(#titles(svg), 2)
  local one = plot.line({ { y = { 1, 2 } } }, { title = "short" }):svg()
  assert_equal(#titles(one), 1)
  local _, h1 = size(one)
  local _, h2 = size(svg)
  assert_equal(h2 - h1, 19, "each extra title line adds one line height")
  -- one word wider than the wrap width widens the figure so it fits
  local word = string.rep("ab", 40)
  svg = plot.imshow(fp.ones(2, 2), { title = word }):svg()
  local w = size(svg)
  assert(w >= bold_width(word) + 10, "widened for a single long word: " .. w)
end)

test("facets: fewer panels than facet_cols leaves no empty column", function()
  local t = fp.randn(2, 3, 4)
  local two = plot.imshow(t, { facets = { "a", "b" }, facet_cols = 4 }):svg()
  local exact = plot.imshow(t, { facets = { "a", "b" }, facet_cols = 2 }):svg()
  local w4, w2 = size(two), size(exact)
  assert_equal(w4, w2, "facet_cols = 4 with 2 panels is as wide as 2 columns")
  assert_equal(count(two, '<g class="panel"'), 2)
  local function no_ids(svg) return (svg:gsub("fp%-cb%-%d+", "ID")) end
  assert_equal(no_ids(two), no_ids(exact), "the same figure")
  -- 3 panels in 2 columns: 2 rows, the second with one panel
  local three = plot.imshow(fp.randn(3, 3, 4), { facet_cols = 2 }):svg()
  local ys = {}
  for y in three:gmatch('<rect x="[%d.]+" y="([%d.]+)" width="%d+" height="%d+" fill="none" stroke="#888" stroke%-width="0.6"/>') do ys[#ys + 1] = y end
  assert_equal(#ys, 3)
  assert(ys[1] == ys[2] and ys[3] ~= ys[1], "panels 1 and 2 share a row, panel 3 starts the next")
end)

-- centre x and y of every point
local function points(svg)
  local out = {}
  for x, y in svg:gmatch('<circle class="point" cx="([%d.-]+)" cy="([%d.-]+)"') do out[#out + 1] = { tonumber(x), tonumber(y) } end
  return out
end

test("scatter: xrange/yrange fix the axes; points outside are not drawn", function()
  local fig = plot.scatter({ { x = { 0, 5, 10, 20 }, y = { 0, 5, 10, -3 } } }, { xrange = { 0, 10 }, yrange = { 0, 10 } })
  local svg = fig:svg()
  local pts = points(svg)
  assert_equal(#pts, 3, "the point at x = 20 is outside the range")
  -- (0, 0) at the bottom-left corner of the plot box and (10, 10) at the top-right
  local bx, by, bw, bh = svg:match('<rect x="([%d.]+)" y="([%d.]+)" width="(%d+)" height="(%d+)" fill="none" stroke="#888" stroke%-width="0.8"/>')
  bx, by, bw, bh = tonumber(bx), tonumber(by), tonumber(bw), tonumber(bh)
  assert(math.abs(pts[1][1] - bx) < 0.1 and math.abs(pts[1][2] - (by + bh)) < 0.1, "(0, 0) at the corner")
  assert(math.abs(pts[2][1] - (bx + bw / 2)) < 0.1 and math.abs(pts[2][2] - (by + bh / 2)) < 0.1, "(5, 5) in the middle")
  assert(math.abs(pts[3][1] - (bx + bw)) < 0.1 and math.abs(pts[3][2] - by) < 0.1, "(10, 10) at the top right")
  -- tick labels stay inside the range
  for v in svg:gmatch('<text x="[%d.]+" y="[%d.]+">([%d.-]+)</text>') do
    assert(tonumber(v) >= 0 and tonumber(v) <= 10, "x tick " .. v)
  end
  assert(svg:find('clip-path="url(#fp-clip-', 1, true), "series drawn inside a clip path")
  expect_error(function() plot.scatter({ { x = { 1 }, y = { 1 } } }, { xrange = { 1 } }) end, "opts.xrange must be {lo, hi}")
  expect_error(function() plot.scatter({ { x = { 1 }, y = { 1 } } }, { yrange = { 2, 1 } }) end, "lo must be smaller than hi")
  expect_error(function() plot.scatter({ { x = { 1 }, y = { 1 } } }, { xrange = { 0, 0 / 0 } }) end, "two finite numbers")
end)

test("scatter: colour by value with a colour bar (plotly's color=values)", function()
  local fig = plot.scatter({ { name = "heads", x = { 0, 1, 2 }, y = { 0, 1, 2 }, color = fp.tensor({ 0, 0.5, 1 }) } },
    { cmap = "viridis", colorbar_label = "layer" })
  local svg = fig:svg()
  local fills = {}
  for f in svg:gmatch('<circle class="point" cx="[%d.]+" cy="[%d.]+" r="4" fill="(#%x+)"') do fills[#fills + 1] = f end
  local map = plot.maps.viridis.stops
  assert_equal(fills, { map[1], require("fp.plot_color").hex(require("fp.plot_color").rgb_at(plot.maps.viridis, 0.5)), map[#map] })
  assert_equal(count(svg, 'class="colorbar"'), 1)
  assert(svg:find(">layer</text>", 1, true), "colour bar label")
  assert(svg:find("layer: 0.5", 1, true), "the value is in the tooltip")
  assert_equal(fig.data.series[1].color, { 0, 0.5, 1 })
  -- the colour bar does not overlap the legend
  local cbx = tonumber(svg:match('<rect class="colorbar" x="([%d.]+)"'))
  local lx = tonumber(svg:match('<circle cx="([%d.]+)" cy="[%d.]+" r="4" fill="#555555"/>'))
  assert(lx > cbx + 30, "legend right of the colour bar")
  -- limits: zmin/zmax clamp; a diverging map centres 0
  svg = plot.scatter({ { x = { 0, 1 }, y = { 0, 1 }, color = { -2, 1 } } }, { cmap = "RdBu" }):svg()
  assert(svg:find('fill="#67001f"', 1, true), "-2 is the low end of symmetric limits")
  expect_error(function() plot.scatter({ { x = { 0 }, y = { 0 }, color = { 1, 2 } } }) end, "series 1 has 2 color values and 1 points")
  expect_error(function() plot.scatter({ { x = { 0 }, y = { 0 } } }, { cmap = "viridis" }) end, "need a series coloured by value")
end)

test("line: numeric x with hover labels per point", function()
  local fig = plot.line({ { name = "diff", x = { 0, 0.5, 2 }, y = { 1, 2, 3 }, labels = { "BOS", " John", " Mary" } } },
    { xlabel = "t", ylabel = "logit diff" })
  local svg = fig:svg()
  assert(svg:find("<title>diff\n John\nt: 0.5\nlogit diff: 2</title>", 1, true), "the label and the numeric x in the tooltip")
  local pts = points(svg)
  assert(pts[3][1] - pts[2][1] > 2 * (pts[2][1] - pts[1][1]), "x is numeric: 0.5 -> 2 is three times 0 -> 0.5")
  assert_equal(fig.data.series[1].labels, { "BOS", " John", " Mary" })
  -- line takes xrange/yrange as well
  svg = plot.line({ { x = { 0, 5, 10 }, y = { 0, 5, 10 } } }, { xrange = { 0, 5 }, yrange = { 0, 5 } }):svg()
  assert_equal(#points(svg), 2)
  expect_error(function() plot.line({ { y = { 1, 2 }, labels = { "a" } } }) end, "opts.labels has 1 labels but series 1 has 2")
  expect_error(function() plot.line({ { y = { 1, 2 } } }, { xrange = { 0, 1 } }) end, "opts.xrange needs numeric x values")
  expect_error(function() plot.line({ { y = { 1, 2 } } }, { yrange = { 0, 1 }, ymin = 0 }) end, "either opts.yrange or opts.ymin/ymax")
end)

test("every plotting function rejects unknown options and unknown series keys", function()
  local cases = {
    { function() plot.imshow(fp.ones(2, 2), { titel = "x" }) end, "plot.imshow: unknown option 'titel'" },
    { function() plot.line({ { y = { 1 } } }, { xlabels = "x" }) end, "plot.line: unknown option 'xlabels'" },
    { function() plot.line({ { y = { 1 } } }, { annotate = true }) end, "plot.line: unknown option 'annotate'" },
    { function() plot.scatter({ { x = { 1 }, y = { 1 } } }, { horizontal = true }) end, "plot.scatter: unknown option 'horizontal'" },
    { function() plot.bar({ labels = { "a" }, values = { 1 } }, { colour = "red" }) end, "plot.bar: unknown option 'colour'" },
    { function() plot.term_string(fp.ones(2, 2), { cmapp = "RdBu" }) end, "plot.term_string: unknown option 'cmapp'" },
    { function() plot.term(fp.ones(2, 2), { cmapp = "RdBu" }) end, "plot.term: unknown option 'cmapp'" },
    { function() plot.page({ plot.imshow(fp.ones(1, 1)) }, { heading = "x" }) end, "plot.page: unknown option 'heading'" },
    { function() plot.attention(fp.ones(1, 2, 2), { "a", "b" }, { token = {} }) end, "plot.attention: unknown option 'token'" },
    { function() plot.line({ { y = { 1 }, lables = { "a" } } }) end, "plot.line: series 1: unknown option 'lables'" },
    { function() plot.scatter({ { x = { 1 }, y = { 1 }, colour = "#000000" } }) end, "plot.scatter: series 1: unknown option 'colour'" },
    { function() fp.ones(2, 2):show({ title = 1, valuez = true }) end, "plot.term: unknown option 'valuez'" },
    { function() plot.term_string(fp.ones(2, 2), { color = "yes" }) end, "opts.color must be true or false" },
  }
  for _, c in ipairs(cases) do expect_error(c[1], c[2]) end
end)

test("term: escape codes only with colour; plot.term decides by fp.use_color(1)", function()
  local t = fp.tensor({ { 0.5, -2 }, { 1, 0 / 0 } })
  local plain = plot.term_string(t, { color = false, x = { "a", "b" }, title = "resid" })
  assert(not plain:find("\27", 1, true), "no escape character at all")
  assert(plain:find("0.50", 1, true) and plain:find("-2.00", 1, true) and plain:find("NaN", 1, true), "the numbers instead of colours: " .. plain)
  assert(plain:find("resid", 1, true))
  assert(plot.term_string(t):find("\27[48;5;", 1, true), "term_string colours by default")
  -- plot.term and t:show: colours exactly when fp.use_color(1) says so (tests run into a pipe)
  local written = {}
  local write = io.write
  io.write = function(...) for _, x in ipairs({ ... }) do written[#written + 1] = x end end
  local opts = { x = { "a", "b" } }
  local ok, err = pcall(function() t:show(opts); plot.term(t) end)
  io.write = write
  assert(ok, err)
  local text = table.concat(written)
  assert_equal(text:find("\27", 1, true) ~= nil, fp.use_color(1))
  assert(opts.color == nil and #opts.x == 2, "the caller's options are not changed")
  assert_equal(type(fp.use_color(1)), "boolean")
  assert_equal(fp.use_color(99), false, "a closed descriptor is no terminal")
end)

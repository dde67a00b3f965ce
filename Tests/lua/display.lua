-- fp.display: what the REPL prints and what Jupyter shows for a value.
local display = require "fp.display"
local plot = require "fp.plot"

test("figures are HTML with their hover titles and SVG", function()
  local fig = plot.imshow(fp.tensor({ { 1, 2 }, { 3, 4 } }), { title = "t" })
  local b = display.bundle(fig)
  assert(b["text/html"]:find("<svg", 1, true) and b["text/html"]:find("<title>", 1, true))
  assert(b["image/svg+xml"]:sub(1, 4) == "<svg")
  assert(b["text/plain"]:find("fp.plot figure", 1, true))
end)

test("small tensors get a table, large ones only text", function()
  local b = display.bundle(fp.tensor({ { 1, 2.5 }, { 3, 4 } }))
  assert(b["text/html"]:find("<td style=\"text-align:right\">2.5</td>", 1, true), b["text/html"])
  assert(b["text/html"]:find("float32 [2, 2]", 1, true))
  assert(display.bundle(fp.zeros(100, 100))["text/html"] == nil)
end)

test("a cache is one line; long tables are cut and show_all shows everything", function()
  local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
  local _, cache = m:run_with_cache(fp.tensor({ { 1, 2, 3 } }, "int"))
  local s = display.text(cache)
  assert(not s:find("\n"), s)
  assert(s:find("ActivationCache with " .. #cache:keys() .. " keys (blocks.0 .. blocks.1", 1, true), s)
  local all = display.all_text(cache)
  local lines = select(2, all:gsub("\n", "")) + 1
  assert_equal(lines, #cache:keys())
  assert(all:find("blocks.0.hook_resid_pre = Tensor(float32, shape [1, 3, ", 1, true), all)
  local long = {}
  for i = 1, 30 do long[i] = i end
  assert(display.text(long):find("... (30 entries; show_all(x) shows all)", 1, true))
  assert(display.text(m):find("^Model%("))
end)

test("a page of figures is its figures' SVGs with headings", function()
  local plot = require "fp.plot"
  local f = plot.imshow(fp.tensor({ { 1, 2 } }))
  local b = display.bundle(plot.page({ f, f }, { headings = { "first", "second" } }))
  assert(b["text/html"]:find("<h3>second</h3>", 1, true), b["text/html"])
  local _, n = b["text/html"]:gsub("<svg", "")
  assert_equal(n, 2)
end)

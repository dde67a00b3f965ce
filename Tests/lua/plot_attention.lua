-- plot.attention: the viewer's page is self-contained (no network), carries the pattern and the
-- tokens as data the script reads, and keeps attacker-controlled token text as text.
local fp = require "fp"
local plot = require "fp.plot"
local json = require "fp.json"

local function count(s, pattern, plain)
  local n, i = 0, 1
  while true do
    local a, b = s:find(pattern, i, plain)
    if not a then return n end
    n, i = n + 1, b + 1
  end
end

-- The JSON data block of a page (the one script element with an id ending in "-data").
local function page_data(html)
  local text = html:match('<script type="application/json" id="fp%-attn%-[%w%-]+%-data">(.-)</script>')
  assert(text, "a JSON data block")
  return json.decode(text), text
end

-- A causal pattern: row q is softmax over keys 0..q.
local function causal(h, n)
  fp.seed(h * 7 + n)
  local future = {}
  for q = 1, n do
    future[q] = {}
    for k = 1, n do future[q][k] = k > q and -1e9 or 0 end
  end
  return (fp.randn(h, n, n) + fp.tensor(future)):softmax(-1)
end

test("attention: the page holds each head's pattern (4 decimals) and the tokens", function()
  local p = causal(3, 5)
  local toks = { "<bos>", "When", " John", " and", " Mary" }
  local fig = plot.attention(p, toks, { layer = 2 })
  assert_equal(tostring(fig), 'fp.plot figure (attention, "Attention patterns, layer 2")')
  local html = fig:html()
  local d = page_data(html)
  assert_equal(d.tokens, toks)
  assert_equal(d.heads, { "L2H0", "L2H1", "L2H2" })
  for h = 0, 2 do
    for q = 0, 4 do
      for k = 0, 4 do
        local want = p[{ h, q, k }]
        assert(math.abs(d.pattern[h + 1][q + 1][k + 1] - want) <= 0.5e-4 + 1e-7, "pattern value")
      end
    end
    assert_equal(d.max[h + 1], p[h]:max())
  end
  -- a 2-D pattern is one head; opts.heads names the heads
  d = page_data(plot.attention(p[0], toks):html())
  assert_equal(d.heads, { "head 0" })
  d = page_data(plot.attention(p, toks, { heads = { "a", "b", "c" } }):html())
  assert_equal(d.heads, { "a", "b", "c" })
end)

test("attention: self-contained HTML, no network", function()
  local html = plot.attention(causal(2, 4), { "a", "b", "c", "d" }):html()
  assert(html:find("^<!DOCTYPE html>"), "a whole page")
  for _, bad in ipairs({ "src=", "href=", "@import", "url(", "fetch(", "XMLHttpRequest", "//cdn", "https://" }) do
    assert(not html:find(bad, 1, true), "no external resource: " .. bad)
  end
  -- the only URL is the SVG namespace name the script uses with createElementNS (never fetched)
  local urls = 0
  for u in html:gmatch("http://[%w%./]+") do assert_equal(u, "http://www.w3.org/2000/svg"); urls = urls + 1 end
  assert_equal(urls, 1)
  assert_equal(count(html, "<script", true), 2, "the data block and the viewer's script")
  assert(html:find("textContent", 1, true) and not html:find("innerHTML", 1, true), "text goes in as text, never as markup")
end)

test("attention: token text stays text (<script>, </script>, <!--, quotes, control characters)", function()
  local toks = { "<script>alert(1)</script>", "</script><script>alert(2)</script>", "<!--<script>", "\"'&amp;\n\0" }
  local fig = plot.attention(causal(1, 4), toks, { title = "<b>IOI</b> & </script>" })
  local html = fig:html()
  assert_equal(count(html, "<script", true), 2, "no script element from the tokens or the title")
  assert_equal(count(html, "</script>", true), 2)
  assert(not html:find("<!--", 1, true), "no comment opener in the page")
  assert(not html:find("alert(1)</", 1, true))
  assert(html:find("<h3>&lt;b&gt;IOI&lt;/b&gt; &amp; &lt;/script&gt;</h3>", 1, true), "the title is escaped")
  local d = page_data(html)
  assert_equal(d.tokens, { "<script>alert(1)</script>", "</script><script>alert(2)</script>", "<!--<script>", "\"'&amp;\\n\\x00" },
    "the tokens read back exactly (control characters shown as escapes)")
  -- the interactive fragment for Jupyter carries the same escaping
  local frag = require("fp.display").bundle(fig)["text/html"]
  assert_equal(count(frag, "<script", true), 2)
  assert(frag == fig._fragment and html:find(frag, 1, true), "the page is the fragment in a document")
end)

test("attention: static SVG of every head, saving, errors", function()
  local fig = plot.attention(causal(2, 3), { "a", "b", "c" }, { layer = 0 })
  local svg = fig:svg()
  assert(svg:find("^<svg "), "an SVG")
  assert_equal(count(svg, '<rect class="cell"', true), 18, "2 heads x 3 x 3 cells")
  assert(svg:find(">L0H1</text>", 1, true), "one panel per head")
  local dir = os.tmpname()
  os.remove(dir)
  fig:save(dir .. "/attn.html")
  local f = assert(io.open(dir .. "/attn.html"))
  assert_equal(f:read("a"), fig:html())
  f:close()
  fig:save(dir .. "/attn.svg")
  os.remove(dir .. "/attn.html"); os.remove(dir .. "/attn.svg"); os.remove(dir)
  expect_error(function() plot.attention(fp.ones(2, 3, 4), { "a", "b", "c" }) end, "must be square over the tokens")
  expect_error(function() plot.attention(fp.ones(1, 2, 3, 3), { "a", "b", "c" }) end, "pick one prompt, pattern[0]")
  expect_error(function() plot.attention(fp.ones(2, 3, 3), { "a", "b" }) end, "opts.tokens has 2 labels but the pattern has 3")
  expect_error(function() plot.attention({ { 1 } }, { "a" }) end, "pattern must be a tensor")
  expect_error(function() plot.attention(fp.ones(1, 3, 3), { "a", "b", "c" }, { max_tokens = 2 }) end, "more than max_tokens (2)")
  expect_error(function() plot.attention(fp.ones(1, 3, 3), { "a", "b", "c" }, { layer = 1.5 }) end, "opts.layer must be an integer")
end)

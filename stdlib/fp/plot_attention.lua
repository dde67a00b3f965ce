-- plot.attention: an attention-pattern viewer in the spirit of circuitsvis's attention_patterns,
-- as one self-contained HTML figure (no network: the script and styles are inline).
--
--   local cache = select(2, model:run_with_cache(tokens))
--   plot.attention(cache["blocks.3.attn.hook_pattern"][0], model:to_str_tokens(tokens), { layer = 3 })
--     :save("out/attn_L3.html")
--
-- The page shows one head's pattern as a heatmap (destination rows, source columns) and the
-- tokens as text: hovering a token colours the others by how much it attends to them (or, in
-- the other mode, by how much they attend to it); a click keeps the choice; buttons pick the
-- head. fig:svg() is a static picture of every head (plot.imshow facets) for files and reports.
--
-- Tokens are text from anywhere (a web page, a dataset): they reach the page only as JSON data
-- with '<', '>' and '&' escaped as \u003c..., and the script puts them in the document with
-- textContent, never as markup, so a token "<script>..." shows as those characters.
local fp = require "fp"
local S = require "fp.plot_svg"
local json = require "fp.json"

local M = {}

local MAX_TOKENS = 1024
local MAX_VALUES = 2000000   -- heads x q x k in the page's data (about 7 bytes each)
local ids = 0

-- Inline style and script; the figure's root element is found by its id.
local STYLE = [[
.fp-attn { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; font-size: 13px; color: #222; }
.fp-attn h3 { font-size: 15px; margin: 4px 0 8px; }
.fp-attn .heads button { margin: 0 4px 4px 0; padding: 2px 8px; border: 1px solid #999; border-radius: 3px;
  background: #f4f4f4; cursor: pointer; font-size: 12px; }
.fp-attn .heads button.on { background: #2166ac; border-color: #2166ac; color: #fff; }
.fp-attn .modes { margin: 4px 0 8px; }
.fp-attn .tokens { line-height: 1.9; margin: 6px 0 10px; max-width: 1000px; }
.fp-attn .tok { padding: 1px 2px; margin-right: 1px; border: 1px solid #ddd; border-radius: 2px; cursor: pointer;
  white-space: pre; font-family: DejaVu Sans Mono, Menlo, monospace; }
.fp-attn .tok.sel { outline: 2px solid #d62728; }
.fp-attn .info { min-height: 1.4em; margin: 4px 0; font-size: 12px; color: #444; white-space: pre; }
.fp-attn svg text { font-size: 10px; fill: #333; }
]]

local SCRIPT = [[
(function () {
  var root = document.getElementById(ROOT_ID);
  var d = JSON.parse(document.getElementById(ROOT_ID + "-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var n = d.tokens.length, head = 0, mode = "from", locked = -1;
  var headsEl = root.querySelector(".heads"), toksEl = root.querySelector(".tokens"),
      info = root.querySelector(".info"), mapEl = root.querySelector(".map");
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function blue(v) { // white -> #08306b
    v = Math.max(0, Math.min(1, v));
    return "rgb(" + Math.round(255 - 247 * v) + "," + Math.round(255 - 207 * v) + "," + Math.round(255 - 148 * v) + ")";
  }
  function fmt(v) { return v.toFixed(3); }
  // head buttons
  var buttons = d.heads.map(function (name, h) {
    var b = el("button", null, name);
    b.type = "button";
    b.addEventListener("click", function () { head = h; draw(); });
    headsEl.appendChild(b);
    return b;
  });
  root.querySelectorAll("input[type=radio]").forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) { mode = r.value; shade(locked); } });
  });
  // tokens as text
  var spans = d.tokens.map(function (t, i) {
    var s = el("span", "tok", t);
    s.addEventListener("mouseenter", function () { if (locked < 0) shade(i); });
    s.addEventListener("mouseleave", function () { if (locked < 0) shade(-1); });
    s.addEventListener("click", function () { locked = locked === i ? -1 : i; shade(locked < 0 ? i : locked); });
    toksEl.appendChild(s);
    return s;
  });
  // value of the selected head: attention from destination q to source k
  function a(q, k) { return d.pattern[head][q][k]; }
  function shade(i) {
    spans.forEach(function (s, j) {
      var v = i < 0 ? 0 : (mode === "from" ? a(i, j) : a(j, i));
      s.style.background = blue(v);
      s.style.color = v > 0.55 ? "#fff" : "#222";
      s.classList.toggle("sel", j === i);
      s.title = i < 0 ? "" : (mode === "from" ? "attention from the selected token: " : "attention to the selected token: ") + fmt(v);
    });
    if (i < 0) { info.textContent = "hover a token: " + (mode === "from" ? "what it attends to" : "what attends to it") + " (click keeps it)"; }
    else {
      var best = -1, bv = -1;
      for (var j = 0; j < n; j++) { var v = mode === "from" ? a(i, j) : a(j, i); if (v > bv) { bv = v; best = j; } }
      info.textContent = d.heads[head] + ", token " + i + " " + JSON.stringify(d.tokens[i]) +
        (mode === "from" ? ": attends most to token " : ": attended to most by token ") + best + " " + JSON.stringify(d.tokens[best]) + " (" + fmt(bv) + ")";
    }
    highlight(i);
  }
  // the heatmap of the selected head: rows = destination, columns = source
  var cell = Math.max(4, Math.min(22, Math.floor(560 / Math.max(n, 1)))), lab = 0;
  d.tokens.forEach(function (t) { lab = Math.max(lab, Math.min(t.length, 16)); });
  var off = 12 + lab * 6.2, svg = document.createElementNS(NS, "svg"), rects = [], marks = [];
  svg.setAttribute("width", off + n * cell + 8); svg.setAttribute("height", off + n * cell + 8);
  mapEl.appendChild(svg);
  function short(t) { return t.length > 16 ? t.slice(0, 15) + "\u2026" : t; }
  for (var q = 0; q < n; q++) {
    rects.push([]);
    if (cell >= 9) {
      var ty = document.createElementNS(NS, "text");
      ty.setAttribute("x", off - 4); ty.setAttribute("y", off + q * cell + cell / 2 + 3); ty.setAttribute("text-anchor", "end");
      ty.textContent = short(d.tokens[q]); svg.appendChild(ty);
      var tx = document.createElementNS(NS, "text");
      tx.setAttribute("transform", "translate(" + (off + q * cell + cell / 2 + 3) + "," + (off - 4) + ") rotate(-90)");
      tx.textContent = short(d.tokens[q]); svg.appendChild(tx);
    }
    for (var k = 0; k < n; k++) {
      var r = document.createElementNS(NS, "rect");
      r.setAttribute("x", off + k * cell); r.setAttribute("y", off + q * cell);
      r.setAttribute("width", cell); r.setAttribute("height", cell);
      (function (q, k) {
        r.addEventListener("mouseenter", function () {
          info.textContent = d.heads[head] + ": token " + q + " " + JSON.stringify(d.tokens[q]) + " -> token " + k + " " +
            JSON.stringify(d.tokens[k]) + ": " + fmt(a(q, k));
        });
      })(q, k);
      svg.appendChild(r); rects[q].push(r);
    }
  }
  ["row", "col"].forEach(function () {
    var m = document.createElementNS(NS, "rect");
    m.setAttribute("fill", "none"); m.setAttribute("stroke", "#d62728"); m.setAttribute("stroke-width", "1.5");
    m.style.display = "none"; svg.appendChild(m); marks.push(m);
  });
  function highlight(i) {
    var m = marks[0];
    if (i < 0) { m.style.display = "none"; return; }
    m.style.display = "";
    if (mode === "from") { m.setAttribute("x", off); m.setAttribute("y", off + i * cell); m.setAttribute("width", n * cell); m.setAttribute("height", cell); }
    else { m.setAttribute("x", off + i * cell); m.setAttribute("y", off); m.setAttribute("width", cell); m.setAttribute("height", n * cell); }
  }
  function draw() {
    buttons.forEach(function (b, h) { b.classList.toggle("on", h === head); });
    for (var q = 0; q < n; q++) for (var k = 0; k < n; k++) rects[q][k].setAttribute("fill", blue(a(q, k) / (d.max[head] || 1)));
    shade(locked);
  }
  draw();
})();
]]

-- Escapes JSON for an inline <script> element: '<', '>' and '&' only occur inside JSON strings,
-- where \u003c reads back as '<', so no "</script>" or "<!--" can end or bend the element.
function M.script_json(v)
  return (json.encode(v):gsub("[<>&]", { ["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026" }))
end

-- plot.attention(pattern, tokens, opts): pattern [heads, q, k] (or [q, k], one head) with
-- q == k == #tokens. opts: title, layer (names the heads "L<layer>H<h>"), heads (names, one per
-- head), and max_tokens.
function M.figure(pattern, tokens, opts)
  local plot = require "fp.plot"
  local who = "plot.attention"
  opts = plot._check_opts(opts, who, { "title", "layer", "heads", "max_tokens" })
  if not fp.is_tensor(pattern) then
    error(string.format("%s: pattern must be a tensor [heads, q, k] (e.g. cache[\"blocks.0.attn.hook_pattern\"][0]), got %s", who, type(pattern)), 0)
  end
  if pattern:dim() == 2 then pattern = pattern:unsqueeze(0) end
  if pattern:dim() ~= 3 then
    error(string.format("%s: pattern must be [heads, q, k] or [q, k], got shape %s%s", who, plot._shape_str(pattern.shape),
      pattern:dim() == 4 and " (a [batch, heads, q, k] pattern: pick one prompt, pattern[0])" or ""), 0)
  end
  local H, Q, K = pattern.shape[1], pattern.shape[2], pattern.shape[3]
  if Q ~= K then error(string.format("%s: pattern must be square over the tokens (q == k), got %d x %d", who, Q, K), 0) end
  if H == 0 or Q == 0 then error(string.format("%s: cannot show an empty pattern of shape %s", who, plot._shape_str(pattern.shape)), 0) end
  local max_tokens = opts.max_tokens or MAX_TOKENS
  if Q > max_tokens then
    error(string.format("%s: %d tokens are more than max_tokens (%d): slice the pattern and tokens, or raise opts.max_tokens", who, Q, max_tokens), 0)
  end
  if H * Q * K > MAX_VALUES then
    error(string.format("%s: %d heads x %d x %d values are too many for one page (at most %d): show fewer heads", who, H, Q, K, MAX_VALUES), 0)
  end
  if opts.layer ~= nil and math.type(opts.layer) ~= "integer" then error(who .. ": opts.layer must be an integer", 0) end
  local toks = plot._labels_of(tokens, Q, who, "tokens", "the pattern")
  for i, t in ipairs(toks) do toks[i] = S.clean_label(t) end   -- control characters visible ("\n")
  local heads
  if opts.heads ~= nil then
    heads = plot._labels_of(opts.heads, H, who, "heads", "the pattern's first dim (heads)")
  else
    heads = {}
    for h = 1, H do heads[h] = opts.layer and string.format("L%dH%d", opts.layer, h - 1) or ("head " .. (h - 1)) end
  end
  local p = pattern:float():contiguous()
  -- 4 decimals are plenty for a colour and a hover value and keep the page small
  local rounded = (p * 10000 + 0.5) // 1 / 10000
  local max = {}
  for h = 1, H do max[h] = p[h - 1]:max() end
  ids = ids + 1
  -- unique on a notebook page that keeps outputs of earlier kernel runs
  local root = string.format("fp-attn-%d-%08x", ids, math.random(0, 0x7fffffff))
  local data = { tokens = toks, heads = heads, pattern = rounded, max = max }
  local title = opts.title or (opts.layer and ("Attention patterns, layer " .. opts.layer) or "Attention patterns")
  local fragment = table.concat({
    "<style>", STYLE, "</style>\n",
    '<div class="fp-attn" id="', root, '">\n',
    "<h3>", S.esc(title), "</h3>\n",
    '<div class="heads"></div>\n',
    '<div class="modes"><label><input type="radio" name="', root, '-mode" value="from" checked> what a token attends to</label> ',
    '<label><input type="radio" name="', root, '-mode" value="to"> what attends to a token</label></div>\n',
    '<div class="tokens"></div>\n<div class="info"></div>\n<div class="map"></div>\n</div>\n',
    '<script type="application/json" id="', root, '-data">', M.script_json(data), "</script>\n",
    "<script>\n", (SCRIPT:gsub("ROOT_ID", '"' .. root .. '"')), "</script>\n",
  })
  local page = table.concat({
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>', S.esc(title), "</title>\n",
    "<style>body { margin: 16px; background: #fff; }</style>\n</head>\n<body>\n", fragment, "</body>\n</html>\n",
  })
  local fig = plot._figure("attention", nil, nil, nil, title, data)
  fig._html = page
  fig._fragment = fragment
  -- the static picture, made when asked for (fig:svg(), a .svg file, a report page)
  fig._make_svg = function()
    return plot.imshow(p, { facets = heads, x = toks, y = toks, cmap = "Blues", zmin = 0, zmax = 1, title = title,
      xlabel = "source token", ylabel = "destination token", max_cells = MAX_VALUES + 1 })
  end
  return fig
end

return M

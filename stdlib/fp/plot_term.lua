-- Terminal heatmaps for fp.plot.term and t:show(): each cell is a few spaces with a 256-colour
-- background (xterm's 6x6x6 cube and grey ramp), with row labels, column labels (or indices
-- and a key when the labels are wider than a cell) and a legend of the colour scale.
local color = require "fp.plot_color"
local S = require "fp.plot_svg"

local M = {}

local LEVELS = { 0, 95, 135, 175, 215, 255 } -- the cube's channel values
local MAX_CELLS = 1000000

-- CIELAB of an sRGB colour (D65), for picking the palette entry a person sees as closest.
local function lab(r, g, b)
  local function lin(c)
    c = c / 255
    return c <= 0.04045 and c / 12.92 or ((c + 0.055) / 1.055) ^ 2.4
  end
  r, g, b = lin(r), lin(g), lin(b)
  local x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
  local y = 0.2126 * r + 0.7152 * g + 0.0722 * b
  local z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
  local function f(t) return t > 0.008856 and t ^ (1 / 3) or 7.787 * t + 16 / 116 end
  local fx, fy, fz = f(x), f(y), f(z)
  return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)
end

-- xterm colours 16..255 (the 6x6x6 cube, then 24 greys) with their Lab values.
local palette = {}
for n = 16, 255 do
  local r, g, b
  if n >= 232 then
    r = 8 + 10 * (n - 232); g, b = r, r
  else
    local k = n - 16
    r, g, b = LEVELS[k // 36 + 1], LEVELS[(k // 6) % 6 + 1], LEVELS[k % 6 + 1]
  end
  local L, A, B = lab(r, g, b)
  palette[#palette + 1] = { n = n, L = L, a = A, b = B }
end

local cache = {}

-- The xterm-256 colour index that looks closest to "#rrggbb" (smallest CIELAB distance).
function M.xterm(hex)
  if cache[hex] then return cache[hex] end
  local L, A, B = lab(color.rgb(hex))
  local best, bn = math.huge, 16
  for _, p in ipairs(palette) do
    local d = (p.L - L) ^ 2 + (p.a - A) ^ 2 + (p.b - B) ^ 2
    if d < best then best, bn = d, p.n end
  end
  cache[hex] = bn
  return bn
end

local RESET = "\27[0m"
local function bg(hex) return "\27[48;5;" .. M.xterm(hex) .. "m" end
local function fg_for(hex) return color.luminance(hex) < 0.5 and "\27[38;5;231m" or "\27[38;5;16m" end

local function pad_left(s, n) return string.rep(" ", n - utf8.len(s)) .. s end
local function pad_right(s, n) return s .. string.rep(" ", n - utf8.len(s)) end

-- render(t, opts) -> text. opts as for plot.imshow (x, y, facets, title, zmin, zmax, cmap) plus
-- values (print numbers in the cells), cell_width, max_label (row label characters), color
-- (false: no escape codes at all; the numbers are printed instead of colours).
function M.render(t, opts, who)
  local plot = require "fp.plot"
  who = who or "plot.term"
  opts = plot._check_opts(opts, who, { "x", "y", "facets", "title", "zmin", "zmax", "cmap", "values",
                                       "cell_width", "max_label", "color" })
  if opts.color ~= nil and type(opts.color) ~= "boolean" then
    error(string.format("%s: opts.color must be true or false, got %s", who, type(opts.color)), 0)
  end
  local use_color = opts.color ~= false
  local bg, fg_for, RESET, BOLD = bg, fg_for, RESET, "\27[1m"
  if not use_color then
    bg = function() return "" end
    fg_for = bg
    RESET, BOLD = "", ""
  end
  if t == nil then error(who .. ": expected a 2-D tensor [rows, cols] or a 3-D tensor [facets, rows, cols], got nil", 0) end
  -- a terminal shows a few thousand cells: refuse before copying a huge tensor into Lua tables
  if require("fp").is_tensor(t) and t:numel() > MAX_CELLS then
    error(string.format("%s: a tensor of shape %s has %d cells, more than a terminal shows (%d); slice it first",
      who, plot._shape_str(t.shape), t:numel(), MAX_CELLS), 0)
  end
  local data, shape = plot._array(t, who, "t")
  local facets
  if #shape == 2 then facets = { data }
  elseif #shape == 3 then facets = data
  elseif #shape == 1 then facets = { { data } } -- a vector shows as one row
  else
    error(string.format("%s: expected a 1-D, 2-D or 3-D tensor, got shape %s", who, plot._shape_str(shape)), 0)
  end
  local F, R, C = #facets, #facets[1], #facets[1][1]
  if F == 0 or R == 0 or C == 0 then error(who .. ": cannot draw an empty tensor of shape " .. plot._shape_str(shape), 0) end
  local xs = plot._labels_of(opts.x, C, who, "x", "the tensor's last dim (columns)")
  local ys = plot._labels_of(opts.y, R, who, "y", "the tensor's rows")
  local fl = #shape == 3 and plot._labels_of(opts.facets, F, who, "facets", "the tensor's first dim (facets)") or nil
  local map = color.get(opts.cmap, who)
  local zmin, zmax = color.limits(map, facets, opts.zmin, opts.zmax, who)
  local colorize = color.colorizer(map, zmin, zmax)

  local value_text, value_chars
  if opts.values or not use_color then value_text, value_chars = S.value_format(facets, zmin, zmax, opts.values) end
  local cw = opts.cell_width or (value_text and value_chars + 2 or (C <= 40 and 3 or 2))
  local max_label = opts.max_label or 14
  local yl, lw = {}, 0
  for i, s in ipairs(ys) do yl[i] = S.clean_label(s, max_label); lw = math.max(lw, utf8.len(yl[i])) end
  local xl, fits = {}, true
  for j, s in ipairs(xs) do
    xl[j] = S.clean_label(s, 24)
    if utf8.len(xl[j]) > cw - 1 then fits = false end
  end

  local out = {}
  if opts.title then out[#out + 1] = BOLD .. S.clean_label(opts.title) .. RESET end
  -- column header: the labels when they fit in a cell, else indices where there is room
  local head, used = {}, 0
  for j = 1, C do
    local s = fits and xl[j] or tostring(j - 1)
    local at = (j - 1) * cw
    if value_text then at = at + math.max(0, cw - 1 - utf8.len(s)) end -- over right-aligned numbers
    if at >= used then
      head[#head + 1] = string.rep(" ", at - used) .. s
      used = at + utf8.len(s) + 1
      head[#head + 1] = " "
    end
  end
  local header = string.rep(" ", lw + 1) .. table.concat(head)
  for f = 1, F do
    if fl then out[#out + 1] = BOLD .. S.clean_label(fl[f]) .. RESET end
    out[#out + 1] = header
    for i = 1, R do
      local line = { pad_left(yl[i], lw), " " }
      for j = 1, C do
        local v = facets[f][i][j]
        local c = colorize(v)
        local text = string.rep(" ", cw)
        if value_text then
          text = fg_for(c) .. pad_left(value_text(v), cw - 1) .. " "
        end
        line[#line + 1] = bg(c) .. text
      end
      line[#line + 1] = RESET
      out[#out + 1] = table.concat(line)
    end
  end
  -- legend: the colour scale from zmin to zmax (none without colours)
  local strip = {}
  if not use_color then strip = nil end
  if strip then
    for k = 0, 16 do strip[#strip + 1] = bg(colorize(zmin + (zmax - zmin) * k / 16)) .. "  " end
    local note = map.diverging and "  (0 = white" or "  ("
    note = note .. (map.diverging and ", " or "") .. "NaN = " .. bg(color.nan_color) .. "  " .. RESET .. ")"
    out[#out + 1] = string.format("%s %s %s %s", string.rep(" ", lw), S.fmt(zmin), table.concat(strip) .. RESET, S.fmt(zmax)) .. note
  end
  if not fits then
    local keys, width, line = {}, 0, {}
    for j = 1, C do
      local item = string.format('%d "%s"', j - 1, xl[j])
      if width + #item > 96 and #line > 0 then keys[#keys + 1] = table.concat(line, "  "); line, width = {}, 0 end
      line[#line + 1] = item
      width = width + #item + 2
    end
    keys[#keys + 1] = table.concat(line, "  ")
    out[#out + 1] = "columns: " .. table.concat(keys, "\n         ")
  end
  return table.concat(out, "\n") .. "\n"
end

return M

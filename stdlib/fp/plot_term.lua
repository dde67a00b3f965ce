-- Terminal heatmaps for fp.plot.term and t:show(): each cell is a few spaces with a 256-colour
-- background (xterm's 6x6x6 cube and grey ramp), with row labels, column labels (or indices
-- and a key when the labels are wider than a cell) and a legend of the colour scale.
local color = require "fp.plot_color"
local S = require "fp.plot_svg"

local M = {}

local LEVELS = { 0, 95, 135, 175, 215, 255 } -- the cube's channel values

local function nearest_level(v)
  local best, bi = math.huge, 0
  for i, l in ipairs(LEVELS) do
    local d = math.abs(v - l)
    if d < best then best, bi = d, i - 1 end
  end
  return bi
end

-- The xterm-256 colour index closest to "#rrggbb".
function M.xterm(hex)
  local r, g, b = color.rgb(hex)
  local ri, gi, bi = nearest_level(r), nearest_level(g), nearest_level(b)
  local cube = 16 + 36 * ri + 6 * gi + bi
  local dc = (r - LEVELS[ri + 1]) ^ 2 + (g - LEVELS[gi + 1]) ^ 2 + (b - LEVELS[bi + 1]) ^ 2
  local k = math.max(0, math.min(23, math.floor(((r + g + b) / 3 - 8) / 10 + 0.5)))
  local grey = 8 + 10 * k
  local dg = (r - grey) ^ 2 + (g - grey) ^ 2 + (b - grey) ^ 2
  if dg < dc then return 232 + k end
  return cube
end

local RESET = "\27[0m"
local function bg(hex) return "\27[48;5;" .. M.xterm(hex) .. "m" end
local function fg_for(hex) return color.luminance(hex) < 0.5 and "\27[38;5;231m" or "\27[38;5;16m" end

local function pad_left(s, n) return string.rep(" ", n - utf8.len(s)) .. s end
local function pad_right(s, n) return s .. string.rep(" ", n - utf8.len(s)) end

-- render(t, opts) -> text. opts as for plot.imshow (x, y, facets, title, zmin, zmax, cmap) plus
-- values (print numbers in the cells), cell_width, max_label (row label characters).
function M.render(t, opts)
  local plot = require "fp.plot"
  local who = "plot.term"
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error(who .. ": opts must be a table, got " .. type(opts), 0) end
  if t == nil then error(who .. ": expected a 2-D tensor [rows, cols] or a 3-D tensor [facets, rows, cols], got nil", 0) end
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

  local cw = opts.cell_width or (opts.values and 7 or (C <= 40 and 3 or 2))
  local max_label = opts.max_label or 14
  local yl, lw = {}, 0
  for i, s in ipairs(ys) do yl[i] = S.clean_label(s, max_label); lw = math.max(lw, utf8.len(yl[i])) end
  local xl, fits = {}, true
  for j, s in ipairs(xs) do
    xl[j] = S.clean_label(s, 24)
    if utf8.len(xl[j]) > cw - 1 then fits = false end
  end

  local out = {}
  if opts.title then out[#out + 1] = "\27[1m" .. S.clean_label(opts.title) .. RESET end
  -- column header: the labels when they fit in a cell, else indices where there is room
  local head, used = {}, 0
  for j = 1, C do
    local s = fits and xl[j] or tostring(j - 1)
    local at = (j - 1) * cw
    if at >= used then
      head[#head + 1] = string.rep(" ", at - used) .. s
      used = at + utf8.len(s) + 1
      head[#head + 1] = " "
    end
  end
  local header = string.rep(" ", lw + 1) .. table.concat(head)
  for f = 1, F do
    if fl then out[#out + 1] = "\27[1m" .. S.clean_label(fl[f]) .. RESET end
    out[#out + 1] = header
    for i = 1, R do
      local line = { pad_left(yl[i], lw), " " }
      for j = 1, C do
        local v = facets[f][i][j]
        local c = colorize(v)
        local text = string.rep(" ", cw)
        if opts.values then
          local s = S.fmt(v)
          if utf8.len(s) > cw - 1 then s = string.format("%.1e", v) end
          text = fg_for(c) .. pad_left(s, cw - 1) .. " "
        end
        line[#line + 1] = bg(c) .. text
      end
      line[#line + 1] = RESET
      out[#out + 1] = table.concat(line)
    end
  end
  -- legend: the colour scale from zmin to zmax
  local strip = {}
  for k = 0, 16 do strip[#strip + 1] = bg(colorize(zmin + (zmax - zmin) * k / 16)) .. "  " end
  local note = map.diverging and "  (0 = white" or "  ("
  note = note .. (map.diverging and ", " or "") .. "NaN = " .. bg(color.nan_color) .. "  " .. RESET .. ")"
  out[#out + 1] = string.format("%s %s %s %s", string.rep(" ", lw), S.fmt(zmin), table.concat(strip) .. RESET, S.fmt(zmax)) .. note
  if not fits then
    local keys, width, line = {}, 0, {}
    for j = 1, C do
      local item = string.format("%d %q", j - 1, xl[j]):gsub("\\\n", "\\n")
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

-- Colour scales for fp.plot: named maps as lists of stops, and a norm that turns a value into a
-- position 0..1 on the map. Diverging maps put 0 at the middle stop (white) even when the limits
-- are not symmetric: each side of 0 is scaled on its own, so 0 is always white.
local M = {}

-- Stops are evenly spaced from the low end (index 1) to the high end. The diverging maps follow
-- ColorBrewer's RdBu with a pure white centre: negative values red, positive blue (the
-- orientation of plotly's and matplotlib's "RdBu", which TransformerLens's imshow uses).
M.maps = {
  RdBu = { diverging = true, stops = { "#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#ffffff",
                                       "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061" } },
  Blues = { stops = { "#ffffff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b" } },
  Reds = { stops = { "#ffffff", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d" } },
  viridis = { stops = { "#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725" } },
}
do -- RdBu_r: the same map reversed (positive red)
  local s, r = M.maps.RdBu.stops, {}
  for i = #s, 1, -1 do r[#r + 1] = s[i] end
  M.maps.RdBu_r = { diverging = true, stops = r }
end

M.nan_color = "#bdbdbd"

local function rgb(hex)
  return tonumber(hex:sub(2, 3), 16), tonumber(hex:sub(4, 5), 16), tonumber(hex:sub(6, 7), 16)
end

function M.hex(r, g, b)
  local function c(x) return math.max(0, math.min(255, math.floor(x + 0.5))) end
  return string.format("#%02x%02x%02x", c(r), c(g), c(b))
end

-- The map called name, or an error that lists the known names.
function M.get(name, who)
  local map = M.maps[name or "RdBu"]
  if not map then
    local names = {}
    for k in pairs(M.maps) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("%s: unknown cmap '%s' (expected one of %s)", who, tostring(name), table.concat(names, ", ")), 0)
  end
  return map
end

-- r, g, b (0..255) at position t in [0, 1] (clamped), interpolated linearly between stops.
function M.rgb_at(map, t)
  local s = map.stops
  t = math.max(0, math.min(1, t))
  local x = t * (#s - 1)
  local i = math.floor(x)
  if i >= #s - 1 then return rgb(s[#s]) end
  local f = x - i
  local r1, g1, b1 = rgb(s[i + 1])
  if f == 0 then return r1, g1, b1 end
  local r2, g2, b2 = rgb(s[i + 2])
  return r1 + (r2 - r1) * f, g1 + (g2 - g1) * f, b1 + (b2 - b1) * f
end

-- The finite min and max of a list of rows (or of facets of rows); nil when nothing is finite.
function M.finite_range(values)
  local lo, hi
  local function visit(v)
    if type(v) == "table" then
      for _, x in ipairs(v) do visit(x) end
    elseif v == v and v ~= math.huge and v ~= -math.huge then
      if not lo or v < lo then lo = v end
      if not hi or v > hi then hi = v end
    end
  end
  visit(values)
  return lo, hi
end

-- Limits for a map: diverging maps default to symmetric limits +-max|value|; sequential maps
-- to the data range. Explicit zmin/zmax win; with a diverging map one of them sets both.
function M.limits(map, values, zmin, zmax, who)
  local lo, hi = M.finite_range(values)
  lo, hi = lo or 0, hi or 0
  if map.diverging then
    if zmin == nil and zmax == nil then
      local m = math.max(math.abs(lo), math.abs(hi))
      zmin, zmax = -m, m
    elseif zmin == nil then zmin = -math.abs(zmax)
    elseif zmax == nil then zmax = math.abs(zmin) end
  else
    zmin = zmin == nil and lo or zmin
    zmax = zmax == nil and hi or zmax
  end
  if type(zmin) ~= "number" or type(zmax) ~= "number" then
    error(who .. ": zmin and zmax must be numbers", 0)
  end
  if zmin > zmax then error(string.format("%s: zmin (%g) must not be larger than zmax (%g)", who, zmin, zmax), 0) end
  if zmin == zmax then -- a constant image: widen so the norm is defined
    if map.diverging then local m = math.abs(zmax) > 0 and math.abs(zmax) or 1; zmin, zmax = -m, m
    else zmin, zmax = zmin - 0.5, zmax + 0.5 end
  end
  return zmin, zmax
end

-- A function value -> position in [0, 1] (nil for NaN).
function M.norm(map, zmin, zmax)
  if map.diverging and zmin < 0 and zmax > 0 then
    return function(v)
      if v ~= v then return nil end
      if v >= 0 then return 0.5 + 0.5 * math.min(v / zmax, 1) end
      return 0.5 - 0.5 * math.min(v / zmin, 1)
    end
  end
  return function(v)
    if v ~= v then return nil end
    return math.max(0, math.min(1, (v - zmin) / (zmax - zmin)))
  end
end

-- A function value -> "#rrggbb" for map and limits; NaN gives M.nan_color.
function M.colorizer(map, zmin, zmax)
  local norm = M.norm(map, zmin, zmax)
  return function(v)
    local t = norm(v)
    if not t then return M.nan_color end
    return M.hex(M.rgb_at(map, t))
  end
end

-- Relative luminance 0..1 of "#rrggbb" (to pick black or white text over a cell).
function M.luminance(hex)
  local r, g, b = rgb(hex)
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
end

M.rgb = rgb

-- Series colours for line, scatter and bar charts (matplotlib's tab10).
M.palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" }

return M

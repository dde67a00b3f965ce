-- einops in Lua: fp.rearrange(t, pattern, axes), fp.reduce(t, pattern, reduction, axes) and
-- fp.repeat_(t, pattern, axes) (`repeat` is a Lua keyword) with einops's pattern language:
-- named axes, "(h d)" compositions and decompositions with sizes in `axes` ({h = 12}), "1",
-- anonymous sizes ("b -> b 3" in repeat_), "..." for the dims no name covers. The pattern is
-- parsed here, once per pattern; the data moves through one reshape, one reduction, one permute,
-- one expand and one reshape of tensor methods (views where possible; Swift does the numbers),
-- so autograd sees ordinary taped operations. Errors use einops's wording.
local fp = require "fp"
local raise = require("fp.errors").raise

local M = {}

local ELLIPSIS = "\226\128\166"   -- "…", the placeholder for "..." inside parsed patterns

local reductions = { sum = "sum", mean = "mean", max = "amax", min = "amin", prod = "prod", any = "any", all = "all" }
local reduction_names = "min, max, sum, mean, prod, any, all"

local function is_axis_name(s)
  return s:match("^[%a_][%w_]*$") ~= nil and s:sub(1, 1) ~= "_" and s:sub(-1) ~= "_"
end

-- One side of a pattern: composition = list of groups (a group is a list of axis keys, or
-- ELLIPSIS alone); anonymous axes get unique keys "#n" with their size in `anon`.
local anon_count = 0
local function parse_side(fname, expr, anon)
  local side = { composition = {}, identifiers = {}, has_ellipsis = false, ellipsis_parenthesized = false }
  if expr:find(".", 1, true) then
    local _, dots = expr:gsub("%.", "")
    local _, ells = expr:gsub("%.%.%.", "")
    if ells ~= 1 or dots ~= 3 then
      raise(fname .. ": expression may contain dots only inside ellipsis (...); only one ellipsis for tensor")
    end
    expr = expr:gsub("%.%.%.", ELLIPSIS)
    side.has_ellipsis = true
  end
  local group = nil
  local function add(name)
    if name == ELLIPSIS then
      if group then group[#group + 1] = ELLIPSIS; side.ellipsis_parenthesized = true
      else side.composition[#side.composition + 1] = ELLIPSIS end
      side.identifiers[ELLIPSIS] = true
      return
    end
    if side.identifiers[name] then raise(fname .. ': indexing expression contains duplicate dimension "' .. name .. '"') end
    if name:match("^%d+$") then
      local n = tonumber(name)
      if n == 1 then
        if not group then side.composition[#side.composition + 1] = {} end
        return
      end
      if n < 1 then raise(fname .. ": anonymous axis should have positive length, not " .. name) end
      anon_count = anon_count + 1
      local key = "#" .. anon_count
      anon[key] = n
      side.identifiers[key] = true
      side.has_anonymous = true
      if group then group[#group + 1] = key else side.composition[#side.composition + 1] = { key } end
      return
    end
    if not is_axis_name(name) then
      raise(fname .. ": invalid axis identifier: " .. name .. " (axis names are identifiers that do not start or end with an underscore)")
    end
    side.identifiers[name] = true
    if group then group[#group + 1] = name else side.composition[#side.composition + 1] = { name } end
  end
  local i, n = 1, #expr
  while i <= n do
    local c = expr:sub(i, i)
    if expr:sub(i, i + #ELLIPSIS - 1) == ELLIPSIS then
      add(ELLIPSIS); i = i + #ELLIPSIS
    elseif c == " " then
      i = i + 1
    elseif c == "(" then
      if group then raise(fname .. ": axis composition is one-level (brackets inside brackets not allowed)") end
      group = {}; i = i + 1
    elseif c == ")" then
      if not group then raise(fname .. ": brackets are not balanced") end
      side.composition[#side.composition + 1] = group
      group = nil; i = i + 1
    elseif c:match("[%w_]") then
      local j = i
      while j <= n and expr:sub(j, j):match("[%w_]") do j = j + 1 end
      add(expr:sub(i, j - 1)); i = j
    else
      raise(fname .. ": unknown character '" .. c .. "'")
    end
  end
  if group then raise(fname .. ': imbalanced parentheses in expression: "' .. expr .. '"') end
  return side
end

local function keys_of(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k:sub(1, 1) == "#" and "anonymous axis" or k end
  table.sort(l)
  return "{" .. table.concat(l, ", ") .. "}"
end

-- Parsed patterns, per operation and pattern (parsing is done once).
local cache = {}

local function parse(fname, pattern, op)
  local key = op .. "\0" .. pattern
  local hit = cache[key]
  if hit then return hit end
  local l, r = pattern:match("^(.-)%->(.*)$")
  if not l or r:find("->", 1, true) then raise(fname .. ": pattern must have one '->', got \"" .. pattern .. "\"") end
  local anon = {}
  local left, right = parse_side(fname, l, anon), parse_side(fname, r, anon)
  if not left.has_ellipsis and right.has_ellipsis then
    raise(fname .. ": ellipsis found in right side, but not left side of a pattern " .. pattern)
  end
  if left.has_ellipsis and left.ellipsis_parenthesized then
    raise(fname .. ": ellipsis inside parenthesis in the left side is not allowed: " .. pattern)
  end
  local only_left, only_right = {}, {}
  for k in pairs(left.identifiers) do if not right.identifiers[k] then only_left[k] = true end end
  for k in pairs(right.identifiers) do if not left.identifiers[k] then only_right[k] = true end end
  if op == "rearrange" then
    if left.has_anonymous or right.has_anonymous then
      raise(fname .. ": non-unitary anonymous axes are not supported in rearrange (exception is length 1)")
    end
    local diff = {}
    for k in pairs(only_left) do diff[k] = true end
    for k in pairs(only_right) do diff[k] = true end
    if next(diff) then raise(fname .. ": identifiers only on one side of expression (should be on both): " .. keys_of(diff)) end
  elseif op == "repeat" then
    if next(only_left) then raise(fname .. ": unexpected identifiers on the left side of repeat: " .. keys_of(only_left)) end
  else
    if next(only_right) then raise(fname .. ": unexpected identifiers on the right side of reduce " .. op .. ": " .. keys_of(only_right)) end
  end
  hit = { left = left, right = right, anon = anon, new_axes = only_right }
  cache[key] = hit
  return hit
end

-- Replaces the ellipsis group(s) of a composition by n axes "…0".."…n-1".
local function expand_ellipsis(composition, n)
  local out = {}
  for _, g in ipairs(composition) do
    if g == ELLIPSIS then
      for i = 0, n - 1 do out[#out + 1] = { ELLIPSIS .. i } end
    else
      local ng = {}
      for _, a in ipairs(g) do
        if a == ELLIPSIS then for i = 0, n - 1 do ng[#ng + 1] = ELLIPSIS .. i end else ng[#ng + 1] = a end
      end
      out[#out + 1] = ng
    end
  end
  return out
end

local function transform(fname, t, pattern, op, axes)
  if type(t) == "table" and not fp.is_tensor(t) then
    if #t == 0 then raise(fname .. ": expected a tensor or a non-empty list of tensors") end
    t = fp.stack(t, 0)   -- einops stacks a list of tensors along a new first axis
  end
  if not fp.is_tensor(t) then raise(fname .. ": expected a tensor, got " .. type(t)) end
  if type(pattern) ~= "string" then raise(fname .. ": pattern must be a string, got " .. type(pattern)) end
  if axes ~= nil and type(axes) ~= "table" then raise(fname .. ": axis sizes must be a table such as {h = 12}, got " .. type(axes)) end
  axes = axes or {}
  local recipe = parse(fname, pattern, op)
  local left, right = recipe.left, recipe.right
  local shape, ndim = t.shape, t:dim()

  local lcomp, rcomp = left.composition, right.composition
  if left.has_ellipsis then
    local others = #lcomp - 1
    if ndim < others then raise(fname .. ": wrong shape: expected >=" .. others .. " dims. Received " .. ndim .. "-dim tensor.") end
    lcomp = expand_ellipsis(lcomp, ndim - others)
    rcomp = expand_ellipsis(rcomp, ndim - others)
  elseif ndim ~= #lcomp then
    raise(fname .. ": wrong shape: expected " .. #lcomp .. " dims. Received " .. ndim .. "-dim tensor.")
  end

  -- axis lengths: anonymous sizes, the sizes given in `axes`, then inferred from the shape
  local length = {}
  for k, v in pairs(recipe.anon) do length[k] = v end
  local in_pattern = {}
  for _, comp in ipairs({ lcomp, rcomp }) do for _, g in ipairs(comp) do for _, a in ipairs(g) do in_pattern[a] = true end end end
  for name, v in pairs(axes) do
    if type(name) ~= "string" or not is_axis_name(name) then raise(fname .. ": invalid name for an axis: " .. tostring(name)) end
    if not in_pattern[name] then raise(fname .. ": axis " .. name .. " is not used in transform") end
    if math.type(v) ~= "integer" or v < 1 then raise(fname .. ": size of axis " .. name .. " must be a positive integer, got " .. tostring(v)) end
    length[name] = v
  end
  local left_axes, init_shape, need_reshape = {}, {}, false
  for i, g in ipairs(lcomp) do
    local known, unknown = 1, nil
    for _, a in ipairs(g) do
      if length[a] then known = known * length[a]
      elseif unknown then raise(fname .. ": could not infer sizes for {" .. unknown .. ", " .. a .. "}")
      else unknown = a end
    end
    local dim_len = shape[i]
    if unknown then
      if dim_len % known ~= 0 then raise(fname .. ": shape mismatch, can't divide axis of length " .. dim_len .. " in chunks of " .. known) end
      length[unknown] = dim_len // known
    elseif dim_len ~= known then
      raise(fname .. ": shape mismatch, " .. dim_len .. " != " .. known)
    end
    if #g ~= 1 then need_reshape = true end
    for _, a in ipairs(g) do left_axes[#left_axes + 1] = a; init_shape[#init_shape + 1] = length[a] end
  end
  for a in pairs(recipe.new_axes) do
    if not length[a] then raise(fname .. ": specify sizes for new axes in repeat: {" .. a .. "}") end
  end

  local x = t
  if need_reshape then x = x:reshape(init_shape) end
  -- reduce the axes the right side drops (one call over all of them)
  local on_right = right.identifiers
  local kept, dropped = {}, {}
  for i, a in ipairs(left_axes) do
    local keep = on_right[a] or (a:sub(1, #ELLIPSIS) == ELLIPSIS and right.has_ellipsis)
    if keep then kept[#kept + 1] = a else dropped[#dropped + 1] = i - 1 end
  end
  if #dropped > 0 then
    local method = reductions[op]
    -- reducing every axis gives a Lua number, as fp's full reductions do
    if #kept == 0 and #rcomp == 0 then return x[method](x) end
    x = x[method](x, dropped)
    if not fp.is_tensor(x) then x = fp.tensor(x) end
  end
  -- order the kept axes as the right side lists them
  local position = {}
  for i, a in ipairs(kept) do position[a] = i - 1 end
  local right_axes = {}
  for _, g in ipairs(rcomp) do for _, a in ipairs(g) do right_axes[#right_axes + 1] = a end end
  local perm, identity = {}, true
  for _, a in ipairs(right_axes) do
    if position[a] then perm[#perm + 1] = position[a]; if position[a] ~= #perm - 1 then identity = false end end
  end
  if not identity then x = x:permute(perm) end
  -- new axes (repeat): size 1 dims broadcast to their lengths
  if next(recipe.new_axes) then
    local ones, full = {}, {}
    for _, a in ipairs(right_axes) do
      ones[#ones + 1] = position[a] and length[a] or 1
      full[#full + 1] = length[a]
    end
    x = x:reshape(ones):expand(full)
  end
  local final = {}
  for _, g in ipairs(rcomp) do
    local n = 1
    for _, a in ipairs(g) do n = n * length[a] end
    final[#final + 1] = n
  end
  local same = #final == x:dim()
  if same then for i, s in ipairs(final) do if x.shape[i] ~= s then same = false end end end
  if not same then x = x:reshape(final) end
  return x
end

function M.rearrange(t, pattern, axes)
  return transform("rearrange", t, pattern, "rearrange", axes)
end

function M.reduce(t, pattern, reduction, axes)
  if type(reduction) ~= "string" or not reductions[reduction] then
    raise("reduce: unknown reduction " .. tostring(reduction) .. ". Expect one of " .. reduction_names .. ".")
  end
  return transform("reduce", t, pattern, reduction, axes)
end

function M.repeat_(t, pattern, axes)
  return transform("repeat_", t, pattern, "repeat", axes)
end

return M

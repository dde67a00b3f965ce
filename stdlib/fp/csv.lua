-- CSV for result tables (RFC 4180): csv.encode(rows, opts) -> text, csv.write(path, rows, opts).
--
-- rows is a list of lists ({ {"L23H3", 0.41}, ... }) or a list of tables keyed by column name
-- ({ {head = "L23H3", effect = 0.41}, ... }), or a 2-D tensor. opts.header = {"head", "effect"}
-- is written as the first line and, for keyed rows, picks and orders the columns; keyed rows
-- without a header use the sorted union of their keys. Fields that contain a comma, a quote,
-- CR or LF are quoted, with quotes doubled; lines end with CRLF as the RFC says. Numbers use
-- json.number_string (the shortest text that reads back exactly); NaN is written "NaN" and
-- infinities "inf"/"-inf" (what pandas and spreadsheets read); nil and json.null are empty.
local json = require "fp.json"
local files = require "fp.files"

local M = {}

local function is_tensor(v)
  local fp = package.loaded.fp
  return type(fp) == "table" and fp.is_tensor ~= nil and fp.is_tensor(v)
end

local function field(v, who, where)
  local t = type(v)
  if v == nil or v == json.null then return "" end
  if is_tensor(v) then
    if v:numel() ~= 1 then error(string.format("%s: %s is a tensor with %d elements (one value per field)", who, where, v:numel()), 0) end
    v = v:item(); t = type(v)
  end
  local s
  if t == "number" then
    if v ~= v then s = "NaN"
    elseif v == math.huge then s = "inf"
    elseif v == -math.huge then s = "-inf"
    else s = json.number_string(v) end
  elseif t == "boolean" then s = tostring(v)
  elseif t == "string" then s = v
  else
    error(string.format("%s: %s must be a number, string or boolean, got %s", who, where, t), 0)
  end
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function line(values, who, where)
  local out = {}
  for i, v in ipairs(values) do out[i] = field(v, who, where(i)) end
  return table.concat(out, ",")
end

local function is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- csv.encode(rows[, {header = {...}}]) -> text
function M.encode(rows, opts)
  local who = "csv.encode"
  opts = opts or {}
  if type(opts) ~= "table" then error(who .. ": opts must be a table, got " .. type(opts), 0) end
  local bad = require("fp").options_error(who, opts, { "header" })
  if bad then error(bad, 0) end
  if is_tensor(rows) then
    if rows:dim() ~= 2 then error(string.format("%s: a tensor must be 2-D [rows, cols], got %d-D", who, rows:dim()), 0) end
    rows = rows:tolist()
  end
  if type(rows) ~= "table" then error(who .. ": rows must be a list of rows, got " .. type(rows), 0) end
  local header = opts.header
  if header ~= nil and type(header) ~= "table" then error(who .. ": opts.header must be a list of column names", 0) end
  if not is_list(rows) then error(who .. ": rows must be a list of rows (keys 1..n)", 0) end
  local keyed, given = false, rows
  rows = {}
  for r, row in ipairs(given) do
    if is_tensor(row) then
      if row:dim() ~= 1 then error(string.format("%s: row %d is a %d-D tensor, expected 1-D", who, r, row:dim()), 0) end
      row = row:tolist()
    end
    if type(row) ~= "table" then error(string.format("%s: row %d must be a table, got %s", who, r, type(row)), 0) end
    rows[r] = row
    if not is_list(rows[r]) then keyed = true end
  end
  if keyed and header == nil then
    local seen, names = {}, {}
    for _, row in ipairs(rows) do
      for k in pairs(row) do
        if type(k) ~= "string" then error(who .. ": keyed rows need string keys (or give opts.header)", 0) end
        if not seen[k] then seen[k] = true; names[#names + 1] = k end
      end
    end
    table.sort(names)
    header = names
  end
  local out = {}
  if header then out[1] = line(header, who, function(i) return "header[" .. i .. "]" end) end
  local width = header and #header
  for r, row in ipairs(rows) do
    local values
    if keyed then
      values = {}
      for i, name in ipairs(header) do values[i] = row[name] end
      for k in pairs(row) do
        local known = false
        for _, name in ipairs(header) do if name == k then known = true; break end end
        if not known then error(string.format("%s: row %d has a column '%s' that is not in the header", who, r, tostring(k)), 0) end
      end
    else
      values = row
      if width and #row ~= width then
        error(string.format("%s: row %d has %d fields, expected %d", who, r, #row, width), 0)
      end
      width = width or #row
    end
    local n = keyed and #header or #values
    local cells = {}
    for i = 1, n do cells[i] = values[i] == nil and json.null or values[i] end
    out[#out + 1] = line(cells, who, function(i) return string.format("row %d, field %d", r, i) end)
  end
  if #out == 0 then return "" end
  return table.concat(out, "\r\n") .. "\r\n"
end

-- csv.write(path, rows[, {header = {...}}]): writes csv.encode's text atomically.
function M.write(path, rows, opts)
  if type(path) ~= "string" or path == "" then error("csv.write: path must be a file name, got " .. type(path), 2) end
  local ok, text = pcall(M.encode, rows, opts)
  if not ok then error((tostring(text):gsub("^csv%.encode", "csv.write")), 2) end
  files.write_atomic(path, text, "csv.write")
end

return M

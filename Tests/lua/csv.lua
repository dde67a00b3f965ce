-- fp.csv: RFC 4180 quoting, keyed rows with a header, tensors, numbers, errors, atomic writes,
-- and fp.save to .csv.
local fp = require "fp"
local csv = require "fp.csv"
local json = require "fp.json"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  return dir
end

test("lists of lists; CRLF line ends; fields quoted only when needed", function()
  assert_equal(csv.encode({ { "a", "b" }, { 1, 2.5 } }), "a,b\r\n1,2.5\r\n")
  -- RFC 4180: comma, quote, CR or LF inside a field -> quoted, quotes doubled
  assert_equal(csv.encode({ { "x,y", 'say "hi"', "line\nbreak", "cr\r", "plain space" } }),
    '"x,y","say ""hi""","line\nbreak","cr\r",plain space\r\n')
  assert_equal(csv.encode({ { '"' } }), '""""\r\n')
  assert_equal(csv.encode({}), "")
end)

test("header first; keyed rows follow the header's order; missing values are empty", function()
  local rows = { { layer = 23, head = 3, effect = 0.41 }, { layer = 20, head = 1 } }
  assert_equal(csv.encode(rows, { header = { "layer", "head", "effect" } }),
    "layer,head,effect\r\n23,3,0.41\r\n20,1,\r\n")
  -- without a header: the sorted union of the keys
  assert_equal(csv.encode(rows), "effect,head,layer\r\n0.41,3,23\r\n,1,20\r\n")
  assert_equal(csv.encode({ { "L23H3", 0.41 } }, { header = { "head", "effect" } }), "head,effect\r\nL23H3,0.41\r\n")
end)

test("numbers: shortest round-trip digits, integers, NaN and infinities; booleans; null", function()
  assert_equal(csv.encode({ { 0.1, 1 / 3, 3, 3.0, 0 / 0, math.huge, -math.huge, true, json.null } }),
    "0.1,0.3333333333333333,3,3.0,NaN,inf,-inf,true,\r\n")
end)

test("a 2-D tensor is a table of rows; one-element tensors are fields", function()
  assert_equal(csv.encode(fp.tensor({ { 1, 2 }, { 3, 4 } }, "int"), { header = { "a", "b" } }), "a,b\r\n1,2\r\n3,4\r\n")
  assert_equal(csv.encode({ { "sum", fp.tensor({ 2.5 }) } }), "sum,2.5\r\n")
  assert_equal(csv.encode({ fp.tensor({ 0.5, -1 }) }), "0.5,-1.0\r\n")
end)

test("UTF-8 labels are written as they are", function()
  assert_equal(csv.encode({ { " Zürich", "東京" } }), " Zürich,東京\r\n")
end)

test("errors name the row and field", function()
  expect_error(function() csv.encode({ { 1, 2 }, { 3 } }) end, "row 2 has 1 fields, expected 2")
  expect_error(function() csv.encode({ { 1, {} } }) end, "row 1, field 2 must be a number, string or boolean, got table")
  expect_error(function() csv.encode({ { a = 1, b = 2 } }, { header = { "a" } }) end, "row 1 has a column 'b' that is not in the header")
  expect_error(function() csv.encode({ 5 }) end, "row 1 must be a table, got number")
  expect_error(function() csv.encode(fp.ones(2, 2, 2)) end, "must be 2-D")
  expect_error(function() csv.encode({ { fp.ones(3) } }) end, "tensor with 3 elements")
  expect_error(function() csv.encode({ x = 1 }) end, "rows must be a list")
  expect_error(function() csv.write(nil, {}) end, "csv.write: path must be a file name")
  expect_error(function() csv.write("/tmp/a.csv", { { 1 }, { 1, 2 } }) end, "csv.write: row 2 has 2 fields")
end)

test("csv.write creates the folder, writes atomically, replaces an old file", function()
  local dir = tmpdir()
  local path = dir .. "/out/t.csv"
  csv.write(path, { { 1, "a" } }, { header = { "n", "s" } })
  assert_equal(read(path), "n,s\r\n1,a\r\n")
  csv.write(path, { { 2, "b" } })
  assert_equal(read(path), "2,b\r\n")
  local p = assert(io.popen("ls -a " .. dir .. "/out"))
  local names = p:read("a")
  p:close()
  assert_equal(names, ".\n..\nt.csv\n")                     -- no temporary file left behind
  -- a failed write leaves the old file untouched
  expect_error(function() csv.write(path, { { {} } }) end, "must be a number")
  assert_equal(read(path), "2,b\r\n")
  os.remove(path); os.remove(dir .. "/out"); os.remove(dir)
end)

test("fp.save writes .csv through fp.csv", function()
  local dir = tmpdir()
  local path = dir .. "/heads.csv"
  fp.save(path, { { layer = 23, head = 3, effect = fp.tensor({ 0.5 }) } }, { header = { "layer", "head", "effect" } })
  assert_equal(read(path), "layer,head,effect\r\n23,3,0.5\r\n")
  expect_error(function() fp.save(path, { { 1 }, { 1, 2 } }) end, "row 2 has 2 fields")
  os.remove(path); os.remove(dir)
end)

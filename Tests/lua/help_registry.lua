-- The help registry (fp.help_registry) covers every public function of fp and its stdlib;
-- help(x) finds entries from names, values and method calls.
local help = require "fp.help"
local registry = require "fp.help_registry"

test("every public function has an entry with a signature and a one-line doc", function()
  local missing = {}
  for _, name in ipairs(help.public_names()) do
    local e = registry[name]
    if not (e and type(e.sig) == "string" and e.sig ~= "" and type(e.doc) == "string" and e.doc ~= "") then
      missing[#missing + 1] = name
    end
  end
  assert(#help.public_names() > 250, "the live API has " .. #help.public_names() .. " functions")
  assert(#missing == 0, "no help entry (scripts/help-skeleton.py prints them): " .. table.concat(missing, ", "))
end)

test("names, values and methods resolve to entries", function()
  assert(help.lookup("fp.einsum"):find("torch.einsum", 1, true))
  local t = fp.ones(2)
  _G.t_help_probe = t
  assert_equal(help.resolve("t_help_probe:softmax"), "Tensor:softmax")
  _G.plot_help_probe = require "fp.plot"
  assert_equal(help.resolve("plot_help_probe.imshow"), "fp.plot.imshow")
  _G.t_help_probe, _G.plot_help_probe = nil, nil
  assert(help.text("fp.linal"):find("fp.linalg.svd", 1, true), "a prefix lists the names it starts")
  assert(help.text("no_such_thing"):find("nothing is documented", 1, true))
  assert_equal(help.name_at("x = fp.einsum("), "fp.einsum")
end)

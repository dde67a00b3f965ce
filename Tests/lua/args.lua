-- fp.args: the option parser of the experiment scripts.
local args = require "fp.args"

local spec = { model = "smollm2-135m", out = "out/x", quick = false, n_prompts = { 8, "prompts" }, scale = 3.0 }

test("defaults, --name value, --name=value, boolean flags, dashes as underscores", function()
  local o = assert(args.parse_list({}, spec))
  assert_equal(o.model, "smollm2-135m"); assert_equal(o.quick, false); assert_equal(o.n_prompts, 8)
  o = assert(args.parse_list({ "--model", "gpt2", "--quick", "--n-prompts=3", "--scale", "0.5", "--out=/tmp/o" }, spec))
  assert_equal(o.model, "gpt2"); assert_equal(o.quick, true); assert_equal(o.n_prompts, 3)
  assert_equal(math.type(o.n_prompts), "integer"); assert_equal(o.scale, 0.5); assert_equal(o.out, "/tmp/o")
  o = assert(args.parse_list({ "--quick=false", "--n_prompts", "12" }, spec))
  assert_equal(o.quick, false); assert_equal(o.n_prompts, 12)
  -- a value that starts with dashes after --name is taken as the value
  o = assert(args.parse_list({ "--model", "--odd" }, spec))
  assert_equal(o.model, "--odd")
end)

test("unknown flags, missing and bad values are errors that name them", function()
  local function err(list) local o, e = args.parse_list(list, spec); assert(o == nil); return e end
  assert(err({ "--modle", "x" }):find("unknown option --modle", 1, true))
  assert(err({ "--n-prompts" }):find("--n-prompts needs a value", 1, true))
  assert(err({ "--n-prompts", "many" }):find("expects a number, got 'many'", 1, true))
  assert(err({ "--n-prompts", "2.5" }):find("expects an integer", 1, true))
  assert(err({ "--quick=maybe" }):find("expects true or false", 1, true))
  assert(err({ "stray" }):find("unexpected argument 'stray'", 1, true))
  assert_equal(err({ "--help" }), "help")
  expect_error(function() args.parse({ "--bogus" }, spec) end, "fp.args: unknown option --bogus")
end)

test("usage lists every option with its default and help", function()
  local u = args.usage(spec, { description = "A test.", script = "x.lua" })
  for _, want in ipairs({ "A test.", "usage: fp run x.lua [options]", "--model VALUE", "(default: smollm2-135m)",
                          "--n-prompts N", "prompts (default: 8)", "--quick", "--help" }) do
    assert(u:find(want, 1, true), "usage lacks '" .. want .. "':\n" .. u)
  end
end)

test("parse creates the out folder; --help exits 0 with the usage, a bad flag exits 1", function()
  local dir = os.tmpname(); os.remove(dir)
  local o = args.parse({ "--out", dir .. "/a/b" }, spec)
  local f = io.open(o.out .. "/probe", "w"); assert(f, "out folder was not created"); f:close()
  os.remove(o.out .. "/probe")
  -- run a tiny script in a child fp (the same binary: the popen shell's parent) to see the exit status
  local script = dir .. "/s.lua"
  f = assert(io.open(script, "w"))
  f:write('local o = require("fp.args").parse(arg, { out = "", quick = false }, { description = "child" })\nprint("ran", o.quick)\n')
  f:close()
  local function run(flags)
    local p = io.popen("\"$(readlink /proc/$PPID/exe)\" run " .. script .. " " .. flags .. " 2>&1; echo \"rc=$?\"")
    local text = p:read("a"); p:close(); return text
  end
  local help = run("--help")
  assert(help:find("child", 1, true) and help:find("--quick", 1, true) and help:find("rc=0", 1, true), help)
  assert(not help:find("ran", 1, true), "the script went on after --help")
  local bad = run("--nope")
  assert(bad:find("unknown option --nope", 1, true) and bad:find("rc=1", 1, true), bad)
  assert(run("--quick"):find("ran\ttrue", 1, true))
  os.execute("rm -rf '" .. dir .. "'")
end)

test("args.layer: auto keeps the depth of the tuned layer; explicit layers are checked", function()
  local args = require "fp.args"
  assert_equal(args.layer("auto", 30, 4, 30, "x"), 4)
  assert_equal(args.layer("auto", 2, 4, 30, "x"), 0)
  assert_equal(args.layer("auto", 4, 15, 30, "x"), 2)
  assert_equal(args.layer("auto", 12, 15, 30, "x"), 6)
  assert_equal(args.layer(3, 4, 4, 30, "x"), 3)
  assert_equal(args.layer("-1", 4, 4, 30, "x"), 3)
  expect_error(function() args.layer(4, 2, 4, 30, "s.lua: --layer") end, "s.lua: --layer: '4' is not a layer of this model (0..1, or auto)")
  expect_error(function() args.layer("x", 2, 4, 30, "s.lua: --layer") end, "'x' is not a layer")
end)

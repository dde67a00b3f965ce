-- One forward pass, several executors: the block definition (Sources/FPModels/Forward/Block.swift)
-- lists the hook points (model:hook_points()), and at every one of them the fast executor, the
-- taped (autograd) executor and a plain hook loop must agree — the activation seen there, and the
-- logits after an edit there. The sweep engine (packed executor) is held to run_with_hooks at
-- every stage in patch_sweep.lua; here every patch entry it reports is checked the same way.
local dir = "Tests/fixtures/models/"
local toks = fp.tensor({ { 3, 17, 250, 9, 44, 101, 7 }, { 5, 17, 2, 9, 410, 101, 30 } }, "int")

-- A hook at hook_embed that adds a zero tensor requiring grad puts the whole pass on the tape.
local function taped_hooks(extra)
  local zero = fp.zeros(1):requires_grad()
  local hooks = { { "hook_embed", function(act) return act + zero end } }
  for _, h in ipairs(extra or {}) do hooks[#hooks + 1] = h end
  return hooks
end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny", "llama3-tiny" }) do
  local model = fp.load_model(dir .. name)
  local points = model:hook_points()

  test(name .. ": every hook point of the block definition shows the same activation on the fast and taped executors", function()
    local fast = {}
    local logits = model:run_with_hooks(toks, { fwd_hooks = (function()
      local hs = {}
      for _, n in ipairs(points) do hs[#hs + 1] = { n, function(act) fast[n] = act:clone() end } end
      return hs
    end)() })
    local taped = {}
    local hs = {}
    for _, n in ipairs(points) do hs[#hs + 1] = { n, function(act) taped[n] = act:detach():clone() end } end
    local tlogits = model:run_with_hooks(toks, { fwd_hooks = taped_hooks(hs) })
    assert(tlogits.needs_grad, "the pass ran on the tape")
    assert_close(tlogits:detach(), logits, 1e-4, "logits")
    for _, n in ipairs(points) do
      assert(fast[n] and taped[n], n .. " fired on both executors")
      assert(#fast[n].shape == #taped[n].shape, n .. ": rank")
      for i = 1, #fast[n].shape do assert(fast[n].shape[i] == taped[n].shape[i], n .. ": shape") end
      -- masked scores are -inf on both (compared as such, then as zeros)
      local a, b = taped[n], fast[n]
      if n:find("hook_attn_scores", 1, true) then
        assert(fp.item(a:eq(-math.huge):ne(b:eq(-math.huge)):sum()) == 0, n .. ": the same scores are masked")
        a, b = a:masked_fill(a:eq(-math.huge), 0), b:masked_fill(b:eq(-math.huge), 0)
      end
      assert_close(a, b, 1e-4, n)   -- GEMM shapes differ between executors: summation order
    end
  end)

  test(name .. ": an edit at any hook point gives the same logits on the fast and taped executors", function()
    for _, n in ipairs(points) do
      -- the taped executor shows the norm scale but does not divide by an edited one
      if not n:find("hook_scale", 1, true) then
        local edit = function(act) return act * 1.25 end
        local fast = model:run_with_hooks(toks, { fwd_hooks = { { n, edit } } })
        local taped = model:run_with_hooks(toks, { fwd_hooks = taped_hooks({ { n, edit } }) })
        assert_close(taped:detach(), fast, 1e-4, n)
      end
    end
  end)

  test(name .. ": every patch entry of the sweep engine equals run_with_hooks at that hook point", function()
    fp.seed(3)
    local _, cache = model:run_with_cache(toks)
    local s = model:patch_sweep(toks, { positions = { -1 } })
    local cases = {}
    for layer = 0, model.cfg.n_layers - 1 do
      for _, point in ipairs({ "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z" }) do
        local hook = point == "z" and ("blocks." .. layer .. ".attn.hook_z") or ("blocks." .. layer .. ".hook_" .. point)
        local patch = cache[hook]:clone()
        patch[{ {}, 4 }] = patch[{ {}, 4 }] + fp.randn(table.unpack(patch[{ {}, 4 }].shape)) * 0.3
        local at, stage, bases = s:entry(point, layer)
        local act = s:reference(at, stage)
        local row = patch[{ {}, 4 }]
        for _, b in ipairs(bases) do row = s:reference(b[1], b[2])[{ {}, 4 }] + row end
        act[{ {}, 4 }] = row
        cases[#cases + 1] = { hook = hook, patch = patch, id = s:add(at, stage, act) }
      end
    end
    local out = s:run()
    for _, c in ipairs(cases) do
      local want = model:run_with_hooks(toks, { positions = { -1 }, fwd_hooks = { { c.hook, function() return c.patch end } } })
      assert_close(out[{ c.id }], want, 1e-4, c.hook)
    end
  end)
end

-- scripts/sae_smollm2.lua in quick mode on SmolLM2 and the Python documentation corpus
-- (scripts/fetch-models.sh, scripts/fetch-corpus.sh): the saved dictionary reloads and gives
-- the script's evaluations again; the figures are in range; the files are written.
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required
local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/sae_smollm2.lua", { "--quick", "--out", out })

test("quick run: trains, saves in SAELens's format, evaluates, writes dashboards and a patching experiment", function()
  local r = run()
  assert(r.loss_last < r.loss_first, "training lowered the loss")
  assert_close(r.l0, 16, 1e-6)   -- TopK k = 16
  assert(r.ce_loss_zero_ablation > r.ce_loss_clean)
  local sae = fp.load_sae(out .. "/sae")
  assert(sae.hook_name == r.hook and sae.k == 16 and sae.d_sae == r.d_sae)
  -- the reloaded dictionary gives the same evaluation on the same held-out contexts
  local docs = fp.sae.read_corpus(nil, { min_chars = 200, max_documents = 20 })
  local all = fp.sae.pack_tokens(model, docs, 48, { max_contexts = 15 })
  local ev = fp.sae.evaluate(model, sae, all[{ { 12 } }], { skip_first_position = true })
  assert_close(ev.explained_variance, r.explained_variance, 1e-4)
  assert_close(ev.ce_loss_recovered, r.ce_loss_recovered, 1e-4)
  for _, j in ipairs(r.dashboards) do
    local f = io.open(string.format("%s/dashboards/feature_%d.html", out, j))
    assert(f, "dashboard of feature " .. j)
    assert(f:read("a"):find("top activating contexts", 1, true)); f:close()
  end
  assert(io.open(out .. "/density.html")):close()
  local e = r.experiment
  assert(e and e.feature and e.kl_ablation >= 0 and #e.top_logit_tokens == 5)
end)

test("corpus: documents from the Python documentation, packed into contexts that decode back to the text", function()
  local docs = fp.sae.read_corpus(nil, { max_documents = 3, min_chars = 200 })
  assert(#docs == 3 and #docs[1] >= 200)
  local ctx = fp.sae.pack_tokens(model, docs, 32, { max_contexts = 4 })
  assert(ctx.shape[1] == 4 and ctx.shape[2] == 32)
  -- the first context is the first 32 tokens of the first document (SmolLM2: no BOS)
  local want = model:to_tokens(docs[1], { prepend_bos = false })[{ {}, { 0, 32 } }]
  assert_close(ctx[{ { 0, 1 } }], want, 0)
  local acts = fp.sae.collect_activations(model, "blocks.2.hook_resid_post", ctx[{ { 0, 2 } }])
  assert(acts.shape[1] == 2 * 31 and acts.shape[2] == model.cfg.d_model)
end)

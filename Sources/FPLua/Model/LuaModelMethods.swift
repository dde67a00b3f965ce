import CLua
import FPModels
import FPTensor
import Foundation

/// Methods of fp.Model: tokenization, forward passes with hooks, caching and generation.
enum LuaModelMethods {
    static func tokenizer(_ b: ModelBox) throws -> Tokenizer {
        guard let t = b.model.tokenizer else {
            throw TensorError("model \(b.model.cfg.modelName) has no tokenizer (pass token ids, or load it with { tokenizer = PATH })")
        }
        return t
    }

    /// A string or a list of strings at index i.
    static func texts(_ l: Lua, _ i: Int32) throws -> (texts: [String], single: Bool)? {
        if l.type(i) == LUA_TSTRING { return ([try l.string(i)], true) }
        guard l.type(i) == LUA_TTABLE else { return nil }
        let n = Int(lua_rawlen(l.L, i))
        guard n > 0 else { throw l.argError(i, message: "empty list of prompts") }
        // one Lua string may be listed many times: the copies, token ids and mask that follow
        // (about 24 bytes per text byte) are the script's choice and must fit --max-memory
        var bytes = 0
        for k in 1...n {
            lua_rawgeti(l.L, i, lua_Integer(k))
            bytes = bytes &+ Int(clamping: lua_rawlen(l.L, -1)) &+ 2
            fp_pop(l.L, 1)
        }
        try Limits.check(Limits.bytes(bytes, 24))
        var out = [String]()
        for k in 1...n {
            lua_rawgeti(l.L, i, lua_Integer(k))
            defer { fp_pop(l.L, 1) }
            guard lua_type(l.L, -1) == LUA_TSTRING, let s = fp_tostring(l.L, -1) else {
                throw l.argError(i, message: "list of strings expected, element \(k) is \(l.typeName(-1))")
            }
            out.append(String(cString: s))
        }
        return (out, false)
    }

    /// The options each method knows (an unknown key is an error naming the nearest one).
    static let tokenOptionNames = ["prepend_bos", "padding_side"]
    static let forwardOptionNames = tokenOptionNames + ["attention_mask", "start_at_layer", "stop_at_layer",
                                                        "past", "past_length", "positions", "return_type"]

    /// prepend_bos from options (default: the model's), padding_side ("right" default).
    static func tokenOptions(_ l: Lua, _ b: ModelBox, _ opts: Int32) throws -> (bos: Bool, left: Bool) {
        let bos = try l.boolOption(opts, "prepend_bos", default: b.model.cfg.defaultPrependBOS)
        let side = try l.stringOption(opts, "padding_side") ?? "right"
        guard side == "left" || side == "right" else { throw LuaError("\(l.function): padding_side must be \"left\" or \"right\", got \"\(side)\"") }
        return (bos, side == "left")
    }

    /// Token ids and attention mask for a list of texts, padded to the longest.
    static func tokenize(_ b: ModelBox, _ texts: [String], bos: Bool, left: Bool) throws -> (Tensor, Tensor) {
        let tok = try tokenizer(b)
        var seqs = texts.map { tok.encode($0) }
        if bos {
            guard let bosId = tok.bosId else { throw LuaError("to_tokens: this tokenizer has no BOS token (use prepend_bos = false)") }
            seqs = seqs.map { [bosId] + $0 }
        }
        let P = seqs.map(\.count).max() ?? 0
        guard P > 0 else { throw LuaError("to_tokens: the prompt is empty (and prepend_bos is false)") }
        let pad = tok.padId ?? tok.eosId ?? 0
        var ids = [Int](), mask = [Int]()
        for s in seqs {
            let padding = [Int](repeating: pad, count: P - s.count), zeros = [Int](repeating: 0, count: P - s.count)
            let ones = [Int](repeating: 1, count: s.count)
            ids += left ? padding + s : s + padding
            mask += left ? zeros + ones : ones + zeros
        }
        return (try Tensor(ints: ids, shape: [seqs.count, P]), try Tensor(ints: mask, shape: [seqs.count, P]))
    }

    /// The model input at index i: token ids (tensor [B, P] or [P]), a string or a list of
    /// strings (tokenized with options at `opts`). Returns tokens and the mask from padding.
    static func input(_ l: Lua, _ b: ModelBox, _ i: Int32, _ opts: Int32) throws -> (tokens: Tensor, mask: Tensor?, texts: Bool) {
        if let t = LuaTensor.get(l.L, i) {
            guard t.dtype == .int64 else { throw l.argError(i, message: "token ids must be an int tensor, got \(t.dtype.rawValue); a float [batch, pos, d_model] input needs start_at_layer") }
            if t.rank == 1 { return (try t.unsqueeze(0), nil, false) }
            guard t.rank == 2 else { throw l.argError(i, message: "token ids must have shape [batch, pos] or [pos], got \(shapeString(t.shape))") }
            return (t, nil, false)
        }
        guard let (texts, single) = try texts(l, i) else { throw l.argError(i, "tokens tensor, string or list of strings expected") }
        let (bos, left) = try tokenOptions(l, b, opts)
        let (toks, mask) = try tokenize(b, texts, bos: bos, left: left)
        return (toks, single ? nil : mask, true)
    }

    /// Options shared by forward / run_with_hooks / run_with_cache.
    static func forwardOptions(_ l: Lua, _ b: ModelBox, _ opts: Int32, mask: Tensor?) throws -> Transformer.Options {
        var o = Transformer.Options()
        o.attentionMask = mask
        if let idx = l.option(opts, "attention_mask") {
            defer { fp_pop(l.L, 1) }
            guard let m = LuaTensor.get(l.L, idx) else { throw LuaError("\(l.function): attention_mask must be a tensor") }
            o.attentionMask = m
        }
        o.startAtLayer = try l.intOption(opts, "start_at_layer") ?? 0
        o.stopAtLayer = try l.intOption(opts, "stop_at_layer")
        if let idx = l.option(opts, "past") {
            defer { fp_pop(l.L, 1) }
            guard let kv = LuaKVCache.get(l.L, idx) else { throw LuaError("\(l.function): past must be a KV cache from model:kv_cache") }
            let n = try l.intOption(opts, "past_length") ?? kv.length
            o.prefix = (kv, n)
        }
        if let idx = l.option(opts, "positions") {
            defer { fp_pop(l.L, 1) }
            o.logitPositions = try Lua(l.L, function: l.function).intTable(idx)
        }
        return o
    }

    /// Runs the model on the input at index 2 with options at 3; pushes logits / loss per return_type.
    static func run(_ l: Lua, hooks: HookDispatcher?, backward: BackwardHookDispatcher? = nil) throws -> Int32 {
        let b = try LuaModel.box(l)
        let opts: Int32 = 3
        if !l.isNone(opts) && l.type(opts) != LUA_TTABLE { throw l.argError(opts, "options table expected") }
        var tokens: Tensor, mask: Tensor?
        if let resid = LuaTensor.get(l.L, 2), resid.dtype == .float32 {
            tokens = resid; mask = nil    // a residual stream, for start_at_layer
        } else {
            (tokens, mask, _) = try input(l, b, 2, opts)
        }
        let o = try forwardOptions(l, b, opts, mask: mask)
        let returnType = try l.stringOption(opts, "return_type") ?? "logits"
        guard ["logits", "loss", "both", "none"].contains(returnType) else {
            throw LuaError("\(l.function): return_type must be \"logits\", \"loss\", \"both\" or \"none\", got \"\(returnType)\"")
        }
        if returnType != "logits" && (o.stopAtLayer != nil || o.startAtLayer != 0 || o.logitPositions != nil) {
            throw LuaError("\(l.function): return_type \"\(returnType)\" needs full logits from tokens (no start/stop_at_layer or positions)")
        }
        // taped from the first point a grad-requiring tensor can enter (TapedForward.swift)
        let out = try b.model.forwardDifferentiable(tokens, options: o, hooks: hooks, backward: backward)
        if out.requiresGrad && (returnType == "loss" || returnType == "both") {
            let lossT = try LuaModelGrad.loss(out, tokens, mask: o.attentionMask)
            if returnType == "both" { l.push(out) }
            l.push(lossT); return returnType == "both" ? 2 : 1
        }
        switch returnType {
        case "loss": l.push(try loss(out, tokens, mask: o.attentionMask)); return 1
        case "both": l.push(out); l.push(try loss(out, tokens, mask: o.attentionMask)); return 2
        case "none": return 0
        default: l.push(out); return 1
        }
    }

    /// Mean next-token cross-entropy (positions whose target or input is padding are skipped).
    static func loss(_ logits: Tensor, _ tokens: Tensor, mask: Tensor?) throws -> Double {
        let B = logits.shape[0], P = logits.shape[1]
        guard P > 1 else { throw LuaError("loss: needs at least 2 positions") }
        let lp = try logits.slice(1, 0, P - 1).softmax(dim: -1, log: true)
        let target = try tokens.slice(1, 1, P).unsqueeze(2)
        let nll = try lp.gather(2, target).squeeze(2)   // [B, P-1]
        let vals = try nll.toDoubles()
        let m = try mask.map { try $0.toDoubles() }
        var sum = 0.0, n = 0
        for bb in 0..<B { for p in 0..<(P - 1) {
            if let m, m[bb * P + p] == 0 || m[bb * P + p + 1] == 0 { continue }
            sum -= vals[bb * (P - 1) + p]; n += 1
        } }
        return n > 0 ? sum / Double(n) : .nan
    }

    /// reset_hooks_end = false (TransformerLens): the call's hooks stay on the model afterwards,
    /// as hooks added with add_hook (removed by reset_hooks()).
    static func keepsHooks(_ l: Lua, _ b: ModelBox, _ opts: Int32) throws -> Bool {
        guard l.type(opts) == LUA_TTABLE else { return false }
        return !(try l.boolOption(opts, "reset_hooks_end", default: true))
    }

    /// The end of run_with_hooks / run_with_cache / hooks (also when it raised): the call's hooks
    /// stay as add_hook hooks (reset_hooks_end = false), or they go together with the hooks an
    /// earlier call at the same nesting depth kept (TransformerLens's reset at its context level).
    static func endOfCall(_ b: ModelBox, _ d: LuaHookDispatcher, keep: Bool, level: Int) {
        if keep { b.permanentHooks.adopt(d, level: level) } else { b.permanentHooks.removeLevel(level) }
        d.releaseAll()
    }

    /// An optional options argument: nil, absent or a table.
    static func optionsTable(_ l: Lua, _ i: Int32) throws {
        let t = l.type(i)
        guard t == LUA_TNONE || t == LUA_TNIL || t == LUA_TTABLE else { throw l.argError(i, "options table expected") }
    }

    /// A dispatcher for one run's fwd_hooks = { {name_or_filter, fn}, ... } at options index `opts`.
    static func runHooks(_ l: Lua, _ b: ModelBox, _ opts: Int32) throws -> LuaHookDispatcher {
        let d = LuaHookDispatcher(l.L)
        guard let idx = l.option(opts, "fwd_hooks") else { return d }
        defer { fp_pop(l.L, 1) }
        guard lua_type(l.L, idx) == LUA_TTABLE else { throw LuaError("\(l.function): fwd_hooks must be a list of {name, fn} pairs") }
        let n = Int(lua_rawlen(l.L, idx))
        for k in 0..<n {
            lua_rawgeti(l.L, idx, lua_Integer(k + 1))
            let pair = lua_gettop(l.L)
            guard lua_type(l.L, pair) == LUA_TTABLE else {
                fp_pop(l.L, 1)
                throw LuaError("\(l.function): fwd_hooks entry \(k + 1) must be a {name, fn} pair")
            }
            lua_rawgeti(l.L, pair, 1)
            lua_rawgeti(l.L, pair, 2)
            defer { lua_settop(l.L, pair - 1) }
            try d.add(l, nameIndex: pair + 1, fnIndex: pair + 2, knownPoints: b.hookPoints)
        }
        return d
    }

    /// names_filter: nil (all), a name, a list of names or a function(name) -> boolean.
    static func namesFilter(_ l: Lua, _ b: ModelBox, _ opts: Int32, owner: LuaHookDispatcher) throws -> (String) throws -> Bool {
        // without names_filter, or with a function, the cache leaves out the on-demand points
        // (hook_attn_in, hook_q_input, ...: TransformerLens's use_* flags); naming them asks for them
        guard let idx = l.option(opts, "names_filter") else { return { !Transformer.isOnDemandHookPoint($0) } }
        switch lua_type(l.L, idx) {
        case LUA_TSTRING:
            let name = String(cString: lua_tolstring(l.L, idx, nil))
            fp_pop(l.L, 1)
            try checkHookName(l, b, name)
            return { $0 == name }
        case LUA_TTABLE:
            // a list of names: anything else in it (numbers, keys) is a mistake, not "cache nothing"
            var names = Set<String>()
            defer { fp_pop(l.L, 1) }
            var keys = 0
            lua_pushnil(l.L)
            while lua_next(l.L, idx) != 0 { fp_pop(l.L, 1); keys += 1 }
            guard keys == Int(lua_rawlen(l.L, idx)) else {
                throw LuaError("\(l.function): names_filter must be a list of hook point names (it has keys besides 1..n)")
            }
            for k in 0..<Int(lua_rawlen(l.L, idx)) {
                lua_rawgeti(l.L, idx, lua_Integer(k + 1))
                defer { fp_pop(l.L, 1) }
                guard lua_type(l.L, -1) == LUA_TSTRING else {
                    throw LuaError("\(l.function): names_filter must be a list of hook point names, element \(k + 1) is a \(l.typeName(-1))")
                }
                names.insert(String(cString: lua_tolstring(l.L, -1, nil)))
            }
            for n in names.sorted() { try checkHookName(l, b, n) }
            return { names.contains($0) }
        case LUA_TFUNCTION:
            // Asked once per hook point up front, so an error in it is raised here (the
            // forward pass's wants() cannot throw and would drop it).
            let ref = luaL_ref(l.L, fp_registryindex())   // pops it
            defer { luaL_unref(l.L, fp_registryindex(), ref) }
            var names = Set<String>()
            for n in b.model.hookPointNames where try !Transformer.isOnDemandHookPoint(n) && LuaHookDispatcher.callPredicate(l.L, ref, n, what: "names_filter") { names.insert(n) }
            // a filter that keeps nothing is almost always a typo in it
            guard !names.isEmpty else {
                throw LuaError("\(l.function): names_filter: the function returned false for every hook point, so nothing would be cached (model:hook_points() lists them)")
            }
            return { names.contains($0) }
        default:
            fp_pop(l.L, 1)
            throw LuaError("\(l.function): names_filter must be a name, a list of names or a function(name)")
        }
    }

    /// "names_filter: no hook point named 'blocks.0.hook_resid_pr' (did you mean 'blocks.0.hook_resid_pre'?)"
    static func checkHookName(_ l: Lua, _ b: ModelBox, _ name: String) throws {
        guard !b.hookPoints.contains(name) else { return }
        throw LuaError("\(l.function): names_filter: \(HookNameSuggestions.message(name, in: b.model.hookPointNames))")
    }

    static var methods: [(String, LuaFunction)] {
        [
            ("forward", { l in
                let b = try LuaModel.box(l)
                try l.checkOptions(3, forwardOptionNames)
                return try run(l, hooks: b.activeHooks())
            }),
            ("run_with_hooks", { l in
                let b = try LuaModel.box(l)
                try l.checkOptions(3, forwardOptionNames + ["fwd_hooks", "bwd_hooks", "reset_hooks_end"])
                let keep = try keepsHooks(l, b, 3), level = b.scopedHooks.count + 1
                let d = try runHooks(l, b, 3)
                defer { endOfCall(b, d, keep: keep, level: level) }
                let bwd = try LuaBackwardHooks.parse(l, 3, knownPoints: b.hookPoints)
                if keep && bwd != nil {
                    throw LuaError("run_with_hooks: reset_hooks_end = false with bwd_hooks: fp's backward hooks belong to this run's graph (they fire at its backward); add them to each run that needs them")
                }
                return try run(l, hooks: b.activeHooks(d), backward: bwd)
            }),
            ("run_with_cache", { l in
                let b = try LuaModel.box(l)
                try l.checkOptions(3, forwardOptionNames + ["fwd_hooks", "names_filter", "pos_slice", "reset_hooks_end"])
                let keep = try keepsHooks(l, b, 3), level = b.scopedHooks.count + 1
                let d = try runHooks(l, b, 3)
                defer { endOfCall(b, d, keep: keep, level: level) }
                d.cacheFilter = try namesFilter(l, b, 3, owner: d)
                if let idx = l.option(3, "pos_slice") {
                    defer { fp_pop(l.L, 1) }
                    // an integer p keeps position p (as a dim of size 1); {a, b} keeps a..b-1; {a} a..end
                    if lua_type(l.L, idx) == LUA_TNUMBER {
                        let p = try Lua(l.L, function: "run_with_cache").int(idx)
                        let (next, o) = p.addingReportingOverflow(1)
                        guard !o else { throw LuaError("run_with_cache: pos_slice \(p) is out of range") }
                        d.cachePositions = (p, p == -1 ? nil : next)
                        d.cacheSinglePosition = true
                    } else if lua_type(l.L, idx) == LUA_TTABLE {
                        let r = try Lua(l.L, function: "run_with_cache").intTable(idx)
                        guard r.count == 1 || r.count == 2 else { throw LuaError("run_with_cache: pos_slice must be a position or a {start, stop} range") }
                        d.cachePositions = (r[0], r.count == 2 ? r[1] : nil)
                    } else {
                        throw LuaError("run_with_cache: pos_slice must be a position or a {start, stop} range")
                    }
                }
                // the cache says "filtered out by names_filter" for a valid name it lacks
                var filtered = false
                if l.option(3, "names_filter") != nil { filtered = true; fp_pop(l.L, 1) }
                let n = try run(l, hooks: b.activeHooks(d))
                // the cache: a name -> tensor table with the ActivationCache methods of fp.cache
                lua_getglobal(l.L, "require")
                lua_pushstring(l.L, "fp.cache")
                guard fp_pcall(l.L, 1, 1) == LUA_OK else {
                    let msg = fp_tostring(l.L, -1).map { String(cString: $0) } ?? "error"
                    throw LuaError("run_with_cache: cannot load fp.cache: \(msg)")
                }
                lua_getfield(l.L, -1, "wrap")
                lua_createtable(l.L, 0, Int32(d.cached.count))
                for (name, t) in d.cached {
                    l.push(t)
                    lua_setfield(l.L, -2, name)
                }
                lua_pushvalue(l.L, 1)
                lua_pushboolean(l.L, filtered ? 1 : 0)
                guard fp_pcall(l.L, 3, 1) == LUA_OK else {
                    let msg = fp_tostring(l.L, -1).map { String(cString: $0) } ?? "error"
                    throw LuaError("run_with_cache: \(msg)")
                }
                fp_remove(l.L, -2)
                return n + 1
            }),
            ("to_tokens", { l in
                let b = try LuaModel.box(l)
                try l.checkOptions(3, tokenOptionNames)
                guard let (texts, _) = try texts(l, 2) else { throw l.argError(2, "string or list of strings expected") }
                let (bos, left) = try tokenOptions(l, b, 3)
                let (t, m) = try tokenize(b, texts, bos: bos, left: left)
                l.push(t); l.push(m)
                return 2
            }),
            ("to_str_tokens", { l in
                let b = try LuaModel.box(l)
                try l.checkOptions(3, tokenOptionNames)
                let tok = try tokenizer(b)
                var ids: [Int]
                if let t = LuaTensor.get(l.L, 2) {
                    guard t.rank == 1 || (t.rank == 2 && t.shape[0] == 1) else {
                        throw l.argError(2, message: "a 1-D token tensor (or [1, pos]) expected, got \(shapeString(t.shape))")
                    }
                    ids = try t.toInts()
                } else {
                    let s = try l.string(2)
                    let (bos, _) = try tokenOptions(l, b, 3)
                    // a Lua string per token, at most one token per byte: checked before encoding
                    try Limits.checkLuaRoom(Limits.bytes(s.utf8.count + 1, 64))
                    ids = tok.encode(s)
                    if bos, let bosId = tok.bosId { ids.insert(bosId, at: 0) }
                }
                try Limits.checkLuaRoom(Limits.bytes(ids.count, 64))   // a Lua string per token (ids from a tensor)
                l.push(strings: ids.map { tok.tokenText($0) })
                return 1
            }),
            ("to_string", { l in
                let b = try LuaModel.box(l)
                let tok = try tokenizer(b)
                // ids outside the vocabulary (or fractional ones) are mistakes, not empty text
                let V = b.model.cfg.dVocab
                func ids(_ xs: [Int]) throws -> [Int] {
                    if let bad = xs.first(where: { $0 < 0 || $0 >= V }) { throw LuaError("to_string: token id \(bad) is out of range for a vocabulary of \(V)") }
                    return xs
                }
                if let t = LuaTensor.get(l.L, 2) {
                    guard t.dtype != .float32 else { throw l.argError(2, message: "token ids must be an int tensor, got float32") }
                    if t.rank == 2 {
                        let rows = try (0..<t.shape[0]).map { tok.decode(try ids(try t.select(0, $0).toInts())) }
                        try Limits.checkLuaRoom(rows.reduce(0) { $0 &+ $1.utf8.count &+ 64 })
                        l.push(strings: rows)
                    } else {
                        let text = tok.decode(try ids(try t.toInts()))
                        try Limits.checkLuaRoom(text.utf8.count)   // the text is sized by the script's ids
                        l.pushString(text)
                    }
                } else if l.type(2) == LUA_TTABLE {
                    l.pushString(tok.decode(try ids(try l.intTable(2))))
                } else if l.type(2) == LUA_TNUMBER {
                    l.pushString(tok.decode(try ids([try l.int(2)])))
                } else {
                    throw l.argError(2, "token tensor, list of ids or id expected")
                }
                return 1
            }),
            ("to_single_token", { l in
                let b = try LuaModel.box(l)
                let tok = try tokenizer(b)
                let s = try l.string(2)
                let ids = tok.encode(s)
                guard ids.count == 1 else {
                    throw LuaError("to_single_token: \"\(s)\" is \(ids.count) tokens (\(ids.map { "\"\(tok.tokenText($0))\"" }.joined(separator: ", "))), not one")
                }
                l.push(int: ids[0])
                return 1
            }),
            ("hook_points", { l in l.push(strings: try LuaModel.box(l).model.hookPointNames); return 1 }),
            ("add_hook", { l in
                // TransformerLens: stays on the model (every later run, also run_with_hooks) until
                // reset_hooks() or remove_hook(handle); { is_permanent = true } survives reset_hooks()
                let b = try LuaModel.box(l)
                try optionsTable(l, 4)
                try l.checkOptions(4, ["is_permanent"])
                let permanent = l.type(4) == LUA_TTABLE ? try l.boolOption(4, "is_permanent", default: false) : false
                l.push(int: try b.permanentHooks.add(l, nameIndex: 2, fnIndex: 3, knownPoints: b.hookPoints, permanent: permanent))
                return 1
            }),
            ("add_perma_hook", { l in
                let b = try LuaModel.box(l)
                guard l.type(4) == LUA_TNONE || l.type(4) == LUA_TNIL else { throw l.argError(4, "add_perma_hook takes (name, fn)") }
                l.push(int: try b.permanentHooks.add(l, nameIndex: 2, fnIndex: 3, knownPoints: b.hookPoints, permanent: true))
                return 1
            }),
            ("remove_hook", { l in
                let b = try LuaModel.box(l)
                let id = try l.int(2)
                guard b.permanentHooks.remove(id: id) else { throw LuaError("remove_hook: no hook with handle \(id) on this model") }
                return 0
            }),
            ("reset_hooks", { l in
                // TransformerLens's reset_hooks(including_permanent=False)
                let b = try LuaModel.box(l)
                try optionsTable(l, 2)
                try l.checkOptions(2, ["including_permanent"])
                let all = l.type(2) == LUA_TTABLE ? try l.boolOption(2, "including_permanent", default: false) : false
                b.permanentHooks.reset(includingPermanent: all)
                return 0
            }),
            ("hooks", { l in
                // model:hooks({ {name, fn}, ... }, function() ... end): the hooks apply to every run
                // inside the function and are removed when it returns or raises.
                let b = try LuaModel.box(l)
                guard l.type(2) == LUA_TTABLE else { throw l.argError(2, "list of {name, fn} pairs expected") }
                guard fp_isfunction(l.L, 3) != 0 else { throw l.argError(3, "function expected") }
                try optionsTable(l, 4)
                try l.checkOptions(4, ["reset_hooks_end"])
                let keep = try keepsHooks(l, b, 4)
                let d = LuaHookDispatcher(l.L)
                let n = Int(lua_rawlen(l.L, 2))
                for k in 0..<n {
                    lua_rawgeti(l.L, 2, lua_Integer(k + 1))
                    let pair = lua_gettop(l.L)
                    guard lua_type(l.L, pair) == LUA_TTABLE else { throw LuaError("hooks: entry \(k + 1) must be a {name, fn} pair") }
                    lua_rawgeti(l.L, pair, 1)
                    lua_rawgeti(l.L, pair, 2)
                    defer { lua_settop(l.L, pair - 1) }
                    try d.add(l, nameIndex: pair + 1, fnIndex: pair + 2, knownPoints: b.hookPoints)
                }
                let level = b.scopedHooks.count + 1
                b.scopedHooks.append(d)
                defer {
                    b.scopedHooks.removeAll { $0 === d }
                    endOfCall(b, d, keep: keep, level: level)
                }
                let base = lua_gettop(l.L)
                lua_pushvalue(l.L, 3)
                guard fp_pcall(l.L, 0, LUA_MULTRET) == LUA_OK else {
                    // re-raised as it is (its own file:line), after the hooks are removed
                    let msg = fp_tostring(l.L, -1).map { String(cString: $0) } ?? "error"
                    throw LuaReraise(msg)
                }
                return lua_gettop(l.L) - base
            }),
            ("snapshot", { l in
                let b = try LuaModel.box(l)
                b.snapshot = try b.model.weights.all.map { try $0.clone() }
                return 0
            }),
            ("restore", { l in
                let b = try LuaModel.box(l)
                guard let s = b.snapshot else { throw LuaError("restore: no snapshot taken (call model:snapshot() first)") }
                for (w, saved) in zip(b.model.weights.all, s) { try w.copyFrom(saved) }
                return 0
            }),
            ("generate", LuaGenerate.generate),
            ("kv_cache", LuaKVCache.make),
            ("patch_sweep", LuaPatchSweep.make),
        ]
    }
}

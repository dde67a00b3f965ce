import CLua
import FPModels
import FPTensor

/// Runs Lua hook functions at a model's hook points. Each entry matches a hook point by exact
/// name or by a Lua filter function(name) -> boolean, and calls fn(act, hook) where hook has
/// `name` and `layer`. Functions are held in the Lua registry while the dispatcher lives.
final class LuaHookDispatcher: HookDispatcher {
    enum Matcher { case name(String), filter(Int32) }
    /// permanent: kept by model:reset_hooks() (TransformerLens's is_permanent / add_perma_hook)
    /// level: the nesting depth of the run_with_hooks / run_with_cache / hooks call whose hooks
    /// were kept by reset_hooks_end = false (nil: add_hook); the next such call at that depth
    /// that resets removes them, as TransformerLens's context levels do.
    struct Entry { let matcher: Matcher; let fn: Int32; let id: Int; var permanent = false; var level: Int? = nil }

    /// The main thread's state (for the registry); hooks run on LuaThreads.running(or: L).
    let L: OpaquePointer
    private(set) var entries: [Entry] = []
    /// For run_with_cache: hook points whose activations are copied out, and the copies.
    var cacheFilter: ((String) throws -> Bool)?
    /// run_with_cache's pos_slice: positions kept (a half-open range; dim 1, or the query dim 2
    /// of attention scores and patterns).
    var cachePositions: (Int?, Int?)?
    /// pos_slice was one position (TransformerLens indexes with it: out of range is an error)
    var cacheSinglePosition = false
    private var nextID = 1
    var cached: [(String, Tensor)] = []
    private var wantsMemo: [String: Bool] = [:]
    /// Other registry references this run holds (a names_filter function).
    var ownedRefs: [Int32] = []

    init(_ L: OpaquePointer) { self.L = LuaThreads.main(L) }

    deinit { releaseAll() }

    private func release(_ e: Entry) {
        luaL_unref(L, fp_registryindex(), e.fn)
        if case .filter(let r) = e.matcher { luaL_unref(L, fp_registryindex(), r) }
    }

    /// Removes the hook with this handle; false if there is none.
    func remove(id: Int) -> Bool {
        guard let i = entries.firstIndex(where: { $0.id == id }) else { return false }
        release(entries[i])
        entries.remove(at: i)
        wantsMemo = [:]
        return true
    }

    /// model:reset_hooks(): removes the hooks that are not permanent (all of them with `includingPermanent`).
    func reset(includingPermanent: Bool) {
        let (gone, kept) = (entries.filter { includingPermanent || !$0.permanent }, entries.filter { !includingPermanent && $0.permanent })
        for e in gone { release(e) }
        entries = kept
        wantsMemo = [:]
    }

    /// Takes over every hook of `other` (a run's hooks kept by reset_hooks_end = false) as
    /// non-permanent hooks with fresh handles; `other` is left empty.
    func adopt(_ other: LuaHookDispatcher, level: Int) {
        for e in other.entries {
            entries.append(Entry(matcher: e.matcher, fn: e.fn, id: nextID, level: level))
            nextID += 1
        }
        other.entries = []
        other.wantsMemo = [:]
        wantsMemo = [:]
    }

    /// The end of a call at nesting depth `level` with reset_hooks_end: removes the hooks an
    /// earlier call at that depth kept.
    func removeLevel(_ level: Int) {
        let gone = entries.filter { !$0.permanent && $0.level == level }
        guard !gone.isEmpty else { return }
        for e in gone { release(e) }
        entries.removeAll { !$0.permanent && $0.level == level }
        wantsMemo = [:]
    }

    func releaseAll() {
        for e in entries { release(e) }
        for r in ownedRefs { luaL_unref(L, fp_registryindex(), r) }
        entries = []
        ownedRefs = []
        wantsMemo = [:]
    }

    /// Adds a hook: name (string) or filter function at `nameIndex`, function at `fnIndex`.
    @discardableResult
    func add(_ lua: Lua, nameIndex: Int32, fnIndex: Int32, knownPoints: Set<String>, permanent: Bool = false) throws -> Int {
        let L = lua.L   // the caller's stack, which may be a coroutine's
        guard fp_isfunction(L, fnIndex) != 0 else {
            throw LuaError("\(lua.function): a hook must be a function(act, hook), got \(lua.typeName(fnIndex))")
        }
        let matcher: Matcher
        if lua_type(L, nameIndex) == LUA_TSTRING {
            let name = try lua.string(nameIndex)
            guard knownPoints.contains(name) else {
                throw LuaError("\(lua.function): \(HookNameSuggestions.message(name, in: knownPoints.sorted())); model:hook_points() lists them")
            }
            matcher = .name(name)
        } else if fp_isfunction(L, nameIndex) != 0 {
            lua_pushvalue(L, nameIndex)
            matcher = .filter(luaL_ref(L, fp_registryindex()))
        } else {
            throw LuaError("\(lua.function): a hook point must be a name or a filter function(name), got \(lua.typeName(nameIndex))")
        }
        lua_pushvalue(L, fnIndex)
        let id = nextID
        nextID += 1
        entries.append(Entry(matcher: matcher, fn: luaL_ref(L, fp_registryindex()), id: id, permanent: permanent))
        wantsMemo = [:]
        return id
    }

    private func matches(_ m: Matcher, _ name: String) throws -> Bool {
        switch m {
        case .name(let n): return n == name
        case .filter(let ref):
            // on-demand points (hook_attn_in, hook_q_input, ...) are hooked by name only, as
            // TransformerLens's filters never reach them unless its use_* flags are set
            guard !Transformer.isOnDemandHookPoint(name) else { return false }
            return try LuaHookDispatcher.callPredicate(LuaThreads.running(or: L), ref, name, what: "hook filter")
        }
    }

    /// Calls the Lua function(name) -> boolean held at registry `ref`.
    /// Calls the Lua hook function at registry `ref` as fn(tensor, { name = name, layer = layer }),
    /// leaving `results` values on the stack; a Lua error becomes an error naming the hook
    /// (`kind` is "hook" or "backward hook").
    static func callHook(_ L: OpaquePointer, _ ref: Int32, _ t: Tensor, name: String, layer: Int?,
                         results: Int32, kind: String) throws {
        lua_rawgeti(L, fp_registryindex(), lua_Integer(ref))
        LuaTensor.push(L, t)
        lua_createtable(L, 0, 2)
        lua_pushstring(L, name); lua_setfield(L, -2, "name")
        if let layer { lua_pushinteger(L, lua_Integer(layer)); lua_setfield(L, -2, "layer") }
        guard fp_pcall(L, 2, results) == LUA_OK else {
            let msg = fp_tostring(L, -1).map { String(cString: $0) } ?? "(error object is not a string)"
            fp_pop(L, 1)
            throw TensorError("\(kind) '\(name)' raised an error: \(msg)")
        }
    }

    static func callPredicate(_ L: OpaquePointer, _ ref: Int32, _ name: String, what: String) throws -> Bool {
        lua_rawgeti(L, fp_registryindex(), lua_Integer(ref))
        lua_pushstring(L, name)
        guard fp_pcall(L, 1, 1) == LUA_OK else {
            let msg = fp_tostring(L, -1).map { String(cString: $0) } ?? "error"
            fp_pop(L, 1)
            throw TensorError("\(what) raised an error for '\(name)': \(msg)")
        }
        let r = lua_toboolean(L, -1) != 0
        fp_pop(L, 1)
        return r
    }

    func wants(_ name: String) -> Bool {
        if let w = wantsMemo[name] { return w }
        var w = false
        if let f = cacheFilter, (try? f(name)) == true { w = true }
        if !w { w = entries.contains { (try? matches($0.matcher, name)) == true } }
        wantsMemo[name] = w
        return w
    }

    func fire(_ name: String, layer: Int?, _ act: Tensor) throws -> Tensor? {
        let L = LuaThreads.running(or: self.L)
        var current: Tensor? = nil
        for e in entries where try matches(e.matcher, name) {
            try LuaHookDispatcher.callHook(L, e.fn, current ?? act, name: name, layer: layer, results: 1, kind: "hook")
            if let r = LuaTensor.get(L, -1) {
                guard r.shape == act.shape else {
                    fp_pop(L, 1)
                    throw TensorError("hook '\(name)' returned a tensor of shape \(shapeString(r.shape)), expected \(shapeString(act.shape))")
                }
                current = r
            } else if lua_type(L, -1) != LUA_TNIL {
                let t = String(cString: lua_typename(L, lua_type(L, -1)))
                fp_pop(L, 1)
                throw TensorError("hook '\(name)' returned a \(t); a hook returns nothing or a replacement tensor")
            }
            fp_pop(L, 1)
        }
        if let f = cacheFilter, try f(name) {
            var kept = current ?? act
            if let (a, b) = cachePositions, kept.rank >= 2 {
                let dim = name.hasSuffix("hook_pattern") || name.hasSuffix("hook_attn_scores") ? 2 : 1
                if cacheSinglePosition, let p = a, p >= kept.shape[dim] || p < -kept.shape[dim] {
                    throw TensorError("run_with_cache: pos_slice \(p) is out of range for \(kept.shape[dim]) positions")
                }
                kept = try kept.slice(dim, a, b)
            }
            cached.append((name, try kept.clone()))
        }
        return current
    }
}

import CLua
import FPModels
import FPTensor
import Foundation

/// A loaded model as Lua userdata: the Transformer plus the hooks added with add_hook /
/// add_perma_hook (`permanentHooks`: each entry says whether reset_hooks() keeps it) and snapshot.
final class ModelBox {
    let model: Transformer
    let permanentHooks: LuaHookDispatcher
    /// Hooks of enclosing model:hooks(list, fn) calls, innermost last.
    var scopedHooks: [LuaHookDispatcher] = []
    var snapshot: [Tensor]? = nil
    var nextHookHandle = 1
    lazy var hookPoints: Set<String> = Set(model.hookPointNames)

    /// `L` may be a coroutine's: the hooks keep the main thread's state (see LuaThreads).
    init(_ model: Transformer, _ L: OpaquePointer) {
        self.model = model
        permanentHooks = LuaHookDispatcher(L)
    }

    /// Every hook that applies to a run: permanent, scoped, then the run's own; nil when none.
    func activeHooks(_ run: LuaHookDispatcher? = nil) -> HookDispatcher? {
        let parts = ([permanentHooks] + scopedHooks + [run].compactMap { $0 }).filter { !$0.entries.isEmpty || $0.cacheFilter != nil }
        return parts.isEmpty ? nil : CombinedHooks(parts)
    }
}

/// Combines the permanent hooks and one run's hooks (permanent ones run first).
final class CombinedHooks: HookDispatcher {
    let parts: [LuaHookDispatcher]
    init(_ parts: [LuaHookDispatcher]) { self.parts = parts }
    func wants(_ name: String) -> Bool { parts.contains { $0.wants(name) } }
    func fire(_ name: String, layer: Int?, _ act: Tensor) throws -> Tensor? {
        var current: Tensor? = nil
        for p in parts where p.wants(name) {
            if let r = try p.fire(name, layer: layer, current ?? act) { current = r }
        }
        return current
    }
}

enum LuaModel {
    static let metatableName = "fp.Model"

    static func get(_ L: OpaquePointer, _ i: Int32) -> ModelBox? {
        guard let p = luaL_testudata(L, i, metatableName) else { return nil }
        guard let raw = p.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee else { return nil }
        return Unmanaged<ModelBox>.fromOpaque(raw).takeUnretainedValue()
    }

    static func box(_ l: Lua) throws -> ModelBox {
        guard let b = get(l.L, 1) else { throw l.argError(1, "model expected") }
        return b
    }

    static func push(_ L: OpaquePointer, _ box: ModelBox) {
        let p = fp_newuserdata(L, MemoryLayout<UnsafeRawPointer?>.size)
        p?.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee = UnsafeRawPointer(Unmanaged.passRetained(box).toOpaque())
        _ = fp_getmetatable_named(L, metatableName)
        lua_setmetatable(L, -2)
    }

    static func install(_ L: OpaquePointer) {
        guard luaL_newmetatable(L, metatableName) != 0 else { fp_pop(L, 1); return }
        let meta = lua_gettop(L)
        fp_newtable(L)
        let methods = lua_gettop(L)
        for (name, body) in LuaModelMethods.methods {
            LuaRegistry.push(L, id: LuaRegistry.register(name, method: true, body))
            lua_setfield(L, methods, name)
        }
        lua_pushvalue(L, methods)
        lua_setfield(L, meta, "__methods")
        fp_push_index_metamethod(L, methods, LuaRegistry.dispatch, lua_Integer(LuaRegistry.register("model", LuaModelFields.field)))
        lua_setfield(L, meta, "__index")
        let meta2: [(String, LuaFunction)] = [
            ("__gc", { l in
                if let p = luaL_testudata(l.L, 1, metatableName) {
                    let slot = p.assumingMemoryBound(to: UnsafeRawPointer?.self)
                    if let raw = slot.pointee {
                        let b = Unmanaged<ModelBox>.fromOpaque(raw)
                        b.takeUnretainedValue().permanentHooks.releaseAll()
                        b.release()
                        slot.pointee = nil
                    }
                }
                return 0
            }),
            ("__tostring", { l in
                let b = try box(l), c = b.model.cfg
                l.pushString("Model(\(c.modelName): \(c.architecture), \(c.nLayers) layers, d_model \(c.dModel), \(c.nHeads) heads, vocab \(c.dVocab))")
                return 1
            }),
        ]
        for (name, body) in meta2 {
            LuaRegistry.push(L, id: LuaRegistry.register(name, body))
            lua_setfield(L, meta, name)
        }
        lua_pushstring(L, "fp.Model")
        lua_setfield(L, meta, "__name")
        lua_settop(L, meta - 1)
    }

    /// fp.load_model(name_or_path, opts)
    static let load: LuaFunction = { l in
        let name = try l.string(1)
        var opts = ModelLoader.Options()
        var precision = MatmulPrecision.float32
        if l.type(2) == LUA_TTABLE {
            // a misspelled option must not load an unprocessed model silently
            try l.checkOptions(2, ["tokenizer", "fold_ln", "center_writing_weights", "center_unembed",
                                   "fold_value_biases", "refactor_factored_attn_matrices", "dtype"])
            opts.tokenizerPath = try l.stringOption(2, "tokenizer")
            // bf16: the weight products in bf16 with f32 accumulation; the weights stay f32
            if let d = try l.stringOption(2, "dtype") {
                guard let p = MatmulPrecision(rawValue: d == "float32" || d == "fp32" || d == "f32" ? "float32" : d) else {
                    throw LuaError("\(l.function): option 'dtype' must be \"float32\" or \"bf16\", got \"\(d)\"")
                }
                guard p == .float32 || bf16MatmulAvailable() else {
                    throw LuaError("\(l.function): dtype \"bf16\" needs oneDNN's AVX-512 kernels, which this CPU lacks")
                }
                precision = p
            }
            // TransformerLens's from_pretrained processing flags (default: no processing)
            opts.processing = ProcessingOptions(
                foldLN: try l.boolOption(2, "fold_ln", default: false),
                centerWritingWeights: try l.boolOption(2, "center_writing_weights", default: false),
                centerUnembed: try l.boolOption(2, "center_unembed", default: false),
                foldValueBiases: try l.boolOption(2, "fold_value_biases", default: false),
                refactorFactoredAttnMatrices: try l.boolOption(2, "refactor_factored_attn_matrices", default: false))
        } else if !l.isNone(2) {
            throw l.argError(2, "options table expected")
        }
        if SandboxPolicy.current != nil {
            try SandboxPolicy.checkRead(try ModelLoader.resolve(name), "load_model")
            if let t = opts.tokenizerPath { try SandboxPolicy.checkRead(t, "load_model") }
        }
        let model = try ModelLoader.load(name, options: opts)
        model.matmulPrecision = precision
        push(l.L, ModelBox(model, l.L))
        return 1
    }
}

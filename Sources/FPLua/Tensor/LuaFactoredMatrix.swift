import CLua
import FPModels
import FPTensor

/// TransformerLens's factored circuit matrices in Lua: `model.OV[L][H]` and `model.QK[L][H]`
/// (0-based layer and head, negative counts from the end; `#model.OV` is n_layers,
/// `#model.OV[L]` is n_heads) are fp.FactoredMatrix objects of one head:
///   fields  A, B (views of the live weights), AB, BA, T, U, S, Vh, ldim, mdim, rdim, shape
///   methods svd() -> U, S, V (AB = U diag(S) V^T, TL's convention), eigenvalues() -> re, im
///           (of BA), norm() (Frobenius, a number), make_even(), matmul(x), rmatmul(x)
enum LuaFactoredMatrix {
    static let matrixMeta = "fp.FactoredMatrix"
    static let headsMeta = "fp.FactoredMatrixHeads"

    enum Kind: String { case ov = "OV", qk = "QK" }

    /// One head's matrix, with a label for printing.
    final class Box {
        let fm: FactoredMatrix
        let label: String?
        init(_ fm: FactoredMatrix, _ label: String?) { self.fm = fm; self.label = label }
    }

    /// model.OV (layer nil) or model.OV[L]: resolves integer keys lazily.
    final class Heads {
        let model: Transformer
        let kind: Kind
        let layer: Int?
        init(_ model: Transformer, _ kind: Kind, _ layer: Int?) { self.model = model; self.kind = kind; self.layer = layer }
        var name: String { "model.\(kind.rawValue)" + (layer.map { "[\($0)]" } ?? "") }
    }

    // MARK: pushing and reading userdata

    static func pushObject(_ L: OpaquePointer, _ obj: AnyObject, _ meta: String, _ fill: (OpaquePointer) -> Void) {
        let p = fp_newuserdata(L, MemoryLayout<UnsafeRawPointer?>.size)
        p?.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee = UnsafeRawPointer(Unmanaged.passRetained(obj).toOpaque())
        if luaL_newmetatable(L, meta) != 0 { fill(L) }   // built once per Lua state
        lua_setmetatable(L, -2)
    }

    static func object<T: AnyObject>(_ L: OpaquePointer, _ i: Int32, _ meta: String, _: T.Type) -> T? {
        guard let p = luaL_testudata(L, i, meta) else { return nil }
        guard let raw = p.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as? T
    }

    static func release(_ L: OpaquePointer, _ meta: String) {
        guard let p = luaL_testudata(L, 1, meta) else { return }
        let slot = p.assumingMemoryBound(to: UnsafeRawPointer?.self)
        if let raw = slot.pointee {
            Unmanaged<AnyObject>.fromOpaque(raw).release()
            slot.pointee = nil
        }
    }

    static func push(_ l: Lua, _ fm: FactoredMatrix, label: String? = nil) {
        pushObject(l.L, Box(fm, label), matrixMeta, fillMatrixMeta)
    }

    /// model.OV / model.QK
    static func pushHeads(_ l: Lua, _ model: Transformer, _ kind: Kind) throws {
        pushObject(l.L, Heads(model, kind, nil), headsMeta, fillHeadsMeta)
    }

    static func box(_ l: Lua, _ i: Int32 = 1) throws -> Box {
        guard let b = object(l.L, i, matrixMeta, Box.self) else { throw l.argError(i, "FactoredMatrix expected") }
        return b
    }

    /// A FactoredMatrix or a tensor result.
    static func push(_ l: Lua, _ r: FactoredMatrix.Either) {
        switch r {
        case .tensor(let t): l.push(t)
        case .factored(let f): push(l, f)
        }
    }

    // MARK: model.OV[L][H]

    static func fillHeadsMeta(_ L: OpaquePointer) {
        let entries: [(String, Int)] = [("__index", headsIndexId), ("__len", headsLenId), ("__tostring", headsStringId), ("__gc", headsGcId)]
        for (k, id) in entries {
            LuaRegistry.push(L, id: id)
            lua_setfield(L, -2, k)
        }
        lua_pushstring(L, headsMeta)
        lua_setfield(L, -2, "__name")
    }

    static func heads(_ l: Lua) throws -> Heads {
        guard let h = object(l.L, 1, headsMeta, Heads.self) else { throw l.argError(1, "model.OV or model.QK expected") }
        return h
    }

    static let headsIndexId = LuaRegistry.register("FactoredMatrix", { l in
        let h = try heads(l)
        let c = h.model.cfg
        guard l.type(2) == LUA_TNUMBER else {
            let what = h.layer == nil ? "a layer number (0-based): \(h.name)[L][H]" : "a head number (0-based): \(h.name)[H]"
            throw LuaError("\(h.name): index with \(what), got \(l.typeName(2))")
        }
        let i = try l.int(2)
        if let layer = h.layer {
            let fm = try h.kind == .ov ? h.model.ov(layer: layer, head: i) : h.model.qk(layer: layer, head: i)
            push(l, fm, label: "\(h.kind.rawValue) L\(layer)H\(i < 0 ? i + c.nHeads : i)")
        } else {
            guard i >= -c.nLayers && i < c.nLayers else {
                throw LuaError("\(h.name)[\(i)]: no such layer (layers are 0-based, 0 to \(c.nLayers - 1))")
            }
            pushObject(l.L, Heads(h.model, h.kind, i < 0 ? i + c.nLayers : i), headsMeta, fillHeadsMeta)
        }
        return 1
    })

    static let headsLenId = LuaRegistry.register("FactoredMatrix", { l in
        let h = try heads(l)
        l.push(int: h.layer == nil ? h.model.cfg.nLayers : h.model.cfg.nHeads)
        return 1
    })

    static let headsStringId = LuaRegistry.register("FactoredMatrix", { l in
        let h = try heads(l), c = h.model.cfg
        l.pushString(h.layer == nil
            ? "\(h.name): \(c.nLayers) layers x \(c.nHeads) heads of FactoredMatrix [\(c.dModel), \(c.dModel)], index [L][H]"
            : "\(h.name): \(c.nHeads) heads of FactoredMatrix [\(c.dModel), \(c.dModel)], index [H]")
        return 1
    })

    static let headsGcId = LuaRegistry.register("FactoredMatrix", { l in release(l.L, headsMeta); return 0 })

    // MARK: fp.FactoredMatrix

    static func fillMatrixMeta(_ L: OpaquePointer) {
        let meta = lua_gettop(L)
        fp_newtable(L)
        let methods = lua_gettop(L)
        for (name, id) in methodIds {
            LuaRegistry.push(L, id: id)
            lua_setfield(L, methods, name)
        }
        lua_pushvalue(L, methods)
        lua_setfield(L, meta, "__methods")
        fp_push_index_metamethod(L, methods, LuaRegistry.dispatch, lua_Integer(fieldId))
        lua_setfield(L, meta, "__index")
        lua_settop(L, meta)
        for (k, id) in [("__tostring", stringId), ("__gc", gcId)] {
            LuaRegistry.push(L, id: id)
            lua_setfield(L, meta, k)
        }
        lua_pushstring(L, matrixMeta)
        lua_setfield(L, meta, "__name")
    }

    static let methodIds: [(String, Int)] = methods.map { ($0.0, LuaRegistry.register($0.0, method: true, $0.1)) }

    static let methods: [(String, LuaFunction)] = [
        ("svd", { l in
            let (u, s, v) = try box(l).fm.svd()
            l.push(u); l.push(s); l.push(v)
            return 3
        }),
        ("eigenvalues", { l in
            let (re, im) = try box(l).fm.eigenvalues()
            l.push(re); l.push(im)
            return 2
        }),
        ("norm", { l in l.push(try box(l).fm.norm()); return 1 }),
        ("make_even", { l in push(l, try box(l).fm.makeEven()); return 1 }),
        ("matmul", { l in
            let fm = try box(l).fm
            if let other = object(l.L, 2, matrixMeta, Box.self) { push(l, try fm.matmul(other.fm)); return 1 }
            guard let t = LuaTensor.get(l.L, 2) else { throw l.argError(2, "tensor or FactoredMatrix expected") }
            push(l, try fm.matmul(t.to(.float32)))
            return 1
        }),
        ("rmatmul", { l in
            let fm = try box(l).fm
            guard let t = LuaTensor.get(l.L, 2) else { throw l.argError(2, "tensor expected") }
            push(l, try fm.rmatmul(t.to(.float32)))
            return 1
        }),
    ]

    static let fieldId = LuaRegistry.register("FactoredMatrix", { l in
        let fm = try box(l).fm
        guard l.type(2) == LUA_TSTRING else {
            throw LuaError("FactoredMatrix: fields are named (A, B, AB, BA, T, U, S, Vh, ldim, mdim, rdim, shape), got a \(l.typeName(2)) key")
        }
        switch try l.string(2) {
        case "A": l.push(fm.a)
        case "B": l.push(fm.b)
        case "AB": l.push(try fm.product())
        case "BA": l.push(try fm.reverseProduct())
        case "T": push(l, try fm.transposed())
        case "U": l.push(try fm.svd().u)
        case "S": l.push(try fm.svd().s)
        case "Vh": l.push(try fm.svd().v)
        case "ldim": l.push(int: fm.ldim)
        case "mdim": l.push(int: fm.mdim)
        case "rdim": l.push(int: fm.rdim)
        case "shape": l.push(ints: [fm.ldim, fm.rdim])
        default: l.pushNil()
        }
        return 1
    })

    static let stringId = LuaRegistry.register("FactoredMatrix", { l in
        let b = try box(l)
        l.pushString("FactoredMatrix\(b.label.map { "(\($0))" } ?? ""): shape [\(b.fm.ldim), \(b.fm.rdim)], hidden dim \(b.fm.mdim)")
        return 1
    })

    static let gcId = LuaRegistry.register("FactoredMatrix", { l in release(l.L, matrixMeta); return 0 })
}

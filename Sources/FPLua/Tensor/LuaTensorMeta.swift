import CLua
import FPTensor

/// The tensor metatable: C `__index` (methods first, then fields and index tables),
/// `__newindex` (assignment through views), arithmetic, `__len`, `__tostring`, `__gc`, `__close`.
enum LuaTensorMeta {
    static func install(_ L: OpaquePointer) {
        guard luaL_newmetatable(L, LuaTensor.metatableName) != 0 else { fp_pop(L, 1); return }
        let meta = lua_gettop(L)

        // methods table, also reachable as fp.Tensor for completion and extension from Lua
        fp_newtable(L)
        let methods = lua_gettop(L)
        for (name, body) in LuaTensorMethods.methods + LuaNumericFunctions.methods + LuaAutograd.methods + LuaTensorOps.methods {
            LuaRegistry.push(L, id: LuaRegistry.register(name, method: true, LuaArity.checked(name, method: true, body)))
            lua_setfield(L, methods, name)
        }
        lua_pushvalue(L, methods)
        lua_setfield(L, meta, "__methods")
        fp_push_index_metamethod(L, methods, LuaRegistry.dispatch, lua_Integer(LuaRegistry.register("index", field)))
        lua_setfield(L, meta, "__index")

        let meta2: [(String, LuaFunction)] = [
            ("__newindex", newIndex),
            ("__add", arith(.add)), ("__sub", arith(.sub)), ("__mul", arith(.mul)),
            ("__div", arith(.div)), ("__pow", arith(.pow)), ("__mod", mod), ("__idiv", idiv),
            ("__unm", { l in l.push(try l.tensor(1).unary(.neg)); return 1 }),
            ("__len", { l in
                let t = try l.tensor(1)
                guard t.rank > 0 else { throw LuaError("len() of a 0-d tensor") }
                l.push(int: t.shape[0]); return 1
            }),
            ("__tostring", { l in l.pushString(try l.tensor(1).formatted()); return 1 }),
            ("__close", { l in try? l.tensor(1).storage.free(); return 0 }),
            ("__gc", { l in LuaTensor.release(l.L, 1); return 0 }),
        ]
        for (name, body) in meta2 {
            // Error messages name the operation as users write it: "add", "index assignment".
            let shown = name == "__newindex" ? "index assignment" : String(name.dropFirst(2))
            LuaRegistry.push(L, id: LuaRegistry.register(shown, body))
            lua_setfield(L, meta, name)
        }
        for (name, shown, body) in LuaAutograd.metamethods {
            LuaRegistry.push(L, id: LuaRegistry.register(shown, body))
            lua_setfield(L, meta, name)
        }
        lua_pushstring(L, "fp.Tensor")
        lua_setfield(L, meta, "__name")
        lua_settop(L, meta - 1)
    }

    static func arith(_ op: BinaryOp) -> LuaFunction {
        { l in l.push(try Tensor.binary(op, try l.tensorOrScalar(1), try l.tensorOrScalar(2))); return 1 }
    }

    /// Lua's % on tensors: the sign follows the divisor, as in Lua and Python.
    static let mod: LuaFunction = { l in
        l.push(try Tensor.binary(.remainder, try l.tensorOrScalar(1), try l.tensorOrScalar(2)))
        return 1
    }

    static let idiv: LuaFunction = { l in
        l.push(try Tensor.binary(.floordiv, try l.tensorOrScalar(1), try l.tensorOrScalar(2)))
        return 1
    }

    /// Fields and indexing: t.shape, t.dtype, t.ndim, t.T, t.grad, t[0], t[{...}].
    static let field: LuaFunction = { l in
        let t = try l.tensor(1)
        if l.type(2) == LUA_TSTRING {
            switch try l.string(2) {
            case "shape": l.push(ints: t.shape)
            case "dtype": l.pushString(t.dtype.rawValue)
            case "ndim": l.push(int: t.rank)
            case "grad": if let g = t.grad { l.push(g) } else { l.pushNil() }
            case "needs_grad", "requires_grad": l.push(bool: t.requiresGrad)   // requires_grad: the method wins
            case "is_freed": l.push(bool: !t.storage.isValid)
            default: l.pushNil()
            }
            return 1
        }
        let items = try LuaConvert.indexItems(l.L, 2)
        let r = try AG.index(t, items)
        // A full integer index gives a Lua number.
        let allInts = items.allSatisfy { if case .int = $0 { return true }; return false }
        if allInts && items.count == t.rank && !t.requiresGrad {
            try LuaTensorMethods.pushScalar(l, r)
        } else {
            l.push(r)
        }
        return 1
    }

    static let newIndex: LuaFunction = { l in
        let t = try l.tensor(1)
        if l.type(2) == LUA_TSTRING {
            let k = try l.string(2)
            if k == "grad" {   // t.grad = nil clears; t.grad = g sets
                if l.isNone(3) { t.grad = nil; return 0 }
                let g = try l.tensor(3)
                guard g.shape == t.shape else { throw LuaError("tensor field 'grad': shape \(shapeString(g.shape)) does not match the tensor's \(shapeString(t.shape))") }
                t.grad = g.detached(); return 0
            }
            throw LuaError("tensor field '\(k)' cannot be assigned (tensors have no user fields; index with a table: t[{...}] = v)")
        }
        let items = try LuaConvert.indexItems(l.L, 2)
        let value: Tensor
        if t.dtype == .int64 && l.type(3) == LUA_TNUMBER && lua_isinteger(l.L, 3) == 0 {
            // a Lua float into an int tensor: exact integers only (1.5 or NaN is a mistake)
            value = try Tensor(ints: [Int(try Int64.storing(fp_tonumber(l.L, 3)))], shape: [])
        } else {
            do { value = try l.tensorOrScalar(3) } catch { throw LuaError("tensor assignment: value must be a tensor or a number, got \(l.typeName(3))") }
        }
        try AG.indexAssign(t, items, value)
        return 0
    }
}

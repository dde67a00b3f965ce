import CLua

/// A Swift object held by a Lua userdata (one retained reference, released by __gc), for the
/// small handle types the bridge hands out (KV caches, patch sweeps).
enum LuaObjectBox {
    /// Pushes a new userdata holding `obj`, with the metatable registered under `metatable`.
    static func push<T: AnyObject>(_ L: OpaquePointer, _ obj: T, metatable: String) {
        let p = fp_newuserdata(L, MemoryLayout<UnsafeRawPointer?>.size)
        p?.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee = UnsafeRawPointer(Unmanaged.passRetained(obj).toOpaque())
        _ = fp_getmetatable_named(L, metatable)
        lua_setmetatable(L, -2)
    }

    /// The object at stack index i if it is a live userdata of that metatable.
    static func get<T: AnyObject>(_ L: OpaquePointer, _ i: Int32, metatable: String, as _: T.Type) -> T? {
        guard let p = luaL_testudata(L, i, metatable),
              let raw = p.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee else { return nil }
        return Unmanaged<T>.fromOpaque(raw).takeUnretainedValue()
    }

    /// A __gc that releases the object once.
    static func collector<T: AnyObject>(metatable: String, _: T.Type) -> LuaFunction {
        return { l in
            if let p = luaL_testudata(l.L, 1, metatable) {
                let slot = p.assumingMemoryBound(to: UnsafeRawPointer?.self)
                if let raw = slot.pointee { Unmanaged<T>.fromOpaque(raw).release(); slot.pointee = nil }
            }
            return 0
        }
    }
}

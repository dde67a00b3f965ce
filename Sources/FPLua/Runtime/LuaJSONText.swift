import CLua
import FPTensor

/// fp.json's fast paths (stdlib/fp/json.lua): tensors and lists of numbers written as JSON text
/// from Swift in one pass (JSONNumberText), byte for byte what the Lua encoder writes.
enum LuaJSONText {
    static var functions: [(String, LuaFunction)] {
        [
            // fp._json_tensor(t, indent or nil, depth) -> the text of t:tolist() at that depth
            ("_json_tensor", { l in
                let t = try l.tensor(1)
                let indent = l.type(2) == LUA_TSTRING ? Array(try l.string(2).utf8) : nil
                let depth = try l.optInt(3) ?? 0
                guard depth >= 0, depth < 1 << 16 else { throw LuaError("_json_tensor: depth out of range") }
                try Limits.checkLuaRoom(Limits.bytes(t.count, 24))
                push(l, try JSONNumberText.tensor(t, indent: indent, depth: depth))
                return 1
            }),
            // fp._json_numbers(list, n, sep, f32) -> "[a<sep>b...]" when list[1..n] are all
            // numbers (f32: floats are float32 values, written with float32's shortest digits),
            // else nil
            ("_json_numbers", { l in
                guard l.type(1) == LUA_TTABLE else { throw LuaError("_json_numbers: a table expected") }
                let n = try l.int(2)
                let sep = Array(try l.string(3).utf8)
                let f32 = lua_toboolean(l.L, 4) != 0
                guard n >= 0 else { throw LuaError("_json_numbers: n must not be negative") }
                try Limits.checkLuaRoom(Limits.bytes(n, 26))
                var out: [UInt8] = [UInt8(ascii: "[")]
                out.reserveCapacity(n * 12 + 2)
                for i in 0..<n {
                    guard lua_rawgeti(l.L, 1, lua_Integer(i + 1)) == LUA_TNUMBER else { lua_pushnil(l.L); return 1 }
                    if i > 0 { out.append(contentsOf: sep) }
                    if lua_isinteger(l.L, -1) != 0 {
                        JSONNumberText.append(Int64(lua_tointegerx(l.L, -1, nil)), to: &out)
                    } else {
                        let v = lua_tonumberx(l.L, -1, nil)
                        let ok = f32 ? JSONNumberText.append(Float(v), to: &out) : JSONNumberText.append(v, to: &out)
                        if !ok { out.append(contentsOf: "null".utf8) }
                    }
                    lua_settop(l.L, -2)
                }
                out.append(UInt8(ascii: "]"))
                push(l, out)
                return 1
            }),
        ]
    }

    private static func push(_ l: Lua, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(l.L, $0.baseAddress, $0.count) }
        }
    }
}

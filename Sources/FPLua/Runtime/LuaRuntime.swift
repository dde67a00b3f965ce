import CLua
import FPTensor

/// A Lua-callable Swift function: reads its arguments through `Lua`, pushes results and
/// returns their count, or throws. Thrown errors reach Lua through the C trampoline.
public typealias LuaFunction = (Lua) throws -> Int32

/// Registry of Swift functions exposed to Lua. Each Lua closure carries its index as an
/// upvalue; one C-compatible dispatcher looks the function up and converts errors.
public enum LuaRegistry {
    nonisolated(unsafe) static var functions: [(name: String, isMethod: Bool, body: LuaFunction)] = []

    /// Registers a function once and returns its id (functions are registered at start-up).
    /// Methods number their arguments after self, as Lua's own error messages do.
    public static func register(_ name: String, method: Bool = false, _ body: @escaping LuaFunction) -> Int {
        functions.append((name, method, body))
        return functions.count - 1
    }

    static let dispatch: @convention(c) (OpaquePointer?) -> Int32 = { state in
        guard let state else { return 0 }
        let id = Int(fp_swift_id(state))
        guard id >= 0 && id < LuaRegistry.functions.count else { return 0 }
        let entry = LuaRegistry.functions[id]
        let lua = Lua(state, function: entry.name, isMethod: entry.isMethod)
        // hooks and callbacks that this call runs are called on this thread (see LuaThreads)
        let outer = LuaThreads.calling
        LuaThreads.calling = state
        defer { LuaThreads.calling = outer }
        do {
            return try entry.body(lua)
        } catch let e as LuaReraise {
            lua.pushString(e.message)
            return FP_LUA_RERAISE
        } catch let e as LuaError {
            lua.pushString(e.message)
        } catch let e as TensorError {
            // Prefix the function name unless the message already names one ("matmul: ...").
            lua.pushString(LuaRegistry.hasFunctionPrefix(e.message) ? e.message : "\(entry.name): \(e.message)")
        } catch {
            lua.pushString("\(entry.name): \(error)")
        }
        return FP_LUA_ERROR
    }

    /// True for messages that start with a function name and a colon ("solve: ...",
    /// "index assignment: ...") or Lua's "bad argument" form.
    static func hasFunctionPrefix(_ m: String) -> Bool {
        if m.hasPrefix("bad argument") || m.hasPrefix("calling '") { return true }
        guard let colon = m.firstIndex(of: ":") else { return false }
        let head = m[..<colon]
        return !head.isEmpty && head.count <= 40 && head.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == " " }
    }

    /// Pushes the Lua function for a registered id.
    static func push(_ L: OpaquePointer, id: Int) {
        fp_pushswift_id(L, dispatch, lua_Integer(id))
    }
}

/// An error with a complete message, raised as a Lua error as it is.
public struct LuaError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An error from Lua code that Swift called (a user's function): raised again unchanged.
public struct LuaReraise: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Access to the Lua stack for one call of a Swift function.
public struct Lua {
    public let L: OpaquePointer
    public let function: String
    public let isMethod: Bool

    public init(_ L: OpaquePointer, function: String, isMethod: Bool = false) {
        self.L = L
        self.function = function
        self.isMethod = isMethod
    }

    public var top: Int32 { lua_gettop(L) }

    // MARK: argument errors, in luaL_argerror's words

    public func argError(_ i: Int32, _ expected: String) -> LuaError {
        argError(i, message: "\(expected), got \(typeName(i))")
    }

    public func argError(_ i: Int32, message: String) -> LuaError {
        if isMethod && i == 1 { return LuaError("calling '\(function)' on bad self (\(message))") }
        return LuaError("bad argument #\(isMethod ? i - 1 : i) to '\(function)' (\(message))")
    }

    public func typeName(_ i: Int32) -> String {
        if lua_type(L, i) == LUA_TNONE { return "no value" }
        if let t = LuaTensor.get(L, i) { return "tensor of shape \(shapeString(t.shape))" }
        if let n = luaL_typename_safe(i) { return n }
        return "?"
    }

    private func luaL_typename_safe(_ i: Int32) -> String? {
        guard let c = lua_typename(L, lua_type(L, i)) else { return nil }
        return String(cString: c)
    }

    public func isNone(_ i: Int32) -> Bool { fp_isnoneornil(L, i) != 0 }
    public func type(_ i: Int32) -> Int32 { lua_type(L, i) }

    // MARK: typed arguments

    public func number(_ i: Int32) throws -> Double {
        guard lua_type(L, i) == LUA_TNUMBER else { throw argError(i, "number expected") }
        return fp_tonumber(L, i)
    }

    public func optNumber(_ i: Int32) throws -> Double? { isNone(i) ? nil : try number(i) }
    /// Fills `t` with the number at i: a Lua integer exactly (int64 beyond 2^53), else as a Double.
    public func fill(_ t: Tensor, from i: Int32) throws {
        if lua_type(L, i) == LUA_TNUMBER && lua_isinteger(L, i) != 0 { try t.fill(int: Int64(fp_tointeger(L, i))) }
        else { try t.fill(try number(i)) }
    }

    /// An integer argument; floats with an integral value are accepted (3.0), others are errors.
    public func int(_ i: Int32) throws -> Int {
        guard lua_type(L, i) == LUA_TNUMBER else { throw argError(i, "integer expected") }
        if lua_isinteger(L, i) != 0 { return Int(fp_tointeger(L, i)) }
        let d = fp_tonumber(L, i)
        guard d == d.rounded(), Swift.abs(d) < 9e15 else { throw argError(i, message: "number has no integer representation: \(d)") }
        return Int(d)
    }

    public func optInt(_ i: Int32) throws -> Int? { isNone(i) ? nil : try int(i) }

    public func string(_ i: Int32) throws -> String {
        guard lua_type(L, i) == LUA_TSTRING else { throw argError(i, "string expected") }
        var len = 0
        guard let p = lua_tolstring(L, i, &len) else { throw argError(i, "string expected") }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    public func optString(_ i: Int32) throws -> String? { isNone(i) ? nil : try string(i) }

    public func bool(_ i: Int32) throws -> Bool {
        guard lua_type(L, i) == LUA_TBOOLEAN else { throw argError(i, "boolean expected") }
        return lua_toboolean(L, i) != 0
    }

    public func tensor(_ i: Int32) throws -> Tensor {
        guard let t = LuaTensor.get(L, i) else { throw argError(i, "tensor expected") }
        return t
    }

    /// A tensor, or a number/boolean as a 0-d tensor (int64 for Lua integers).
    public func tensorOrScalar(_ i: Int32) throws -> Tensor {
        if let t = LuaTensor.get(L, i) { return t }
        switch lua_type(L, i) {
        case LUA_TNUMBER:
            if lua_isinteger(L, i) != 0 { return try Tensor(ints: [Int(fp_tointeger(L, i))], shape: []) }
            return Tensor.scalar(Float(fp_tonumber(L, i)))
        case LUA_TBOOLEAN:
            return try Tensor(bools: [lua_toboolean(L, i) != 0], shape: [])
        case LUA_TTABLE:
            return try LuaConvert.tensorFromTable(L, i, dtype: nil, function: function)
        default:
            throw argError(i, "tensor or number expected")
        }
    }

    /// A list of integers given as varargs (`view(2, 3)`) or one table (`view({2, 3})`).
    public func intList(from i: Int32, name: String = "size") throws -> [Int] {
        if lua_type(L, i) == LUA_TTABLE {
            return try intTable(i)
        }
        var out = [Int]()
        var k = i
        while k <= top {
            if lua_type(L, k) == LUA_TTABLE && k == top { break }   // trailing options table
            out.append(try int(k))
            k += 1
        }
        return out
    }

    /// Integers from a Lua sequence at index i.
    public func intTable(_ i: Int32) throws -> [Int] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argError(i, "table of integers expected") }
        let n = Int(luaL_len_safe(i))
        var out = [Int]()
        out.reserveCapacity(n)
        for k in 1...Swift.max(n, 1) where k <= n {
            lua_rawgeti(L, i, lua_Integer(k))
            defer { fp_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TNUMBER else {
                throw argError(i, message: "table of integers expected, element \(k) is \(String(cString: lua_typename(L, lua_type(L, -1))))")
            }
            let d = fp_tonumber(L, -1)
            guard lua_isinteger(L, -1) != 0 || (d == d.rounded() && Swift.abs(d) < 9e15) else {
                throw argError(i, message: "table of integers expected, element \(k) is \(d)")
            }
            out.append(lua_isinteger(L, -1) != 0 ? Int(fp_tointeger(L, -1)) : Int(d))
        }
        return out
    }

    /// Raw length of a table (no __len metamethod: it could raise across Swift frames).
    public func luaL_len_safe(_ i: Int32) -> lua_Unsigned { lua_rawlen(L, i) }

    /// Field `key` of an options table at index i (nil when absent or i is not a table).
    public func option(_ i: Int32, _ key: String) -> Int32? {
        guard lua_type(L, i) == LUA_TTABLE else { return nil }
        let abs = lua_absindex(L, i)
        lua_pushstring(L, key)
        if lua_rawget(L, abs) == LUA_TNIL { fp_pop(L, 1); return nil }
        return lua_gettop(L)
    }

    public func boolOption(_ i: Int32, _ key: String, default d: Bool) throws -> Bool {
        guard let idx = option(i, key) else { return d }
        defer { fp_pop(L, 1) }
        guard lua_type(L, idx) == LUA_TBOOLEAN else { throw LuaError("\(function): option '\(key)' must be a boolean, got \(typeName(idx))") }
        return lua_toboolean(L, idx) != 0
    }

    /// An integer option (3.0 is accepted; 1.5, NaN and huge values are errors).
    public func intOption(_ i: Int32, _ key: String) throws -> Int? {
        guard let d = try numberOption(i, key) else { return nil }
        guard d == d.rounded(), Swift.abs(d) < 9e15 else { throw LuaError("\(function): option '\(key)' must be an integer, got \(d)") }
        return Int(d)
    }

    public func numberOption(_ i: Int32, _ key: String) throws -> Double? {
        guard let idx = option(i, key) else { return nil }
        defer { fp_pop(L, 1) }
        guard lua_type(L, idx) == LUA_TNUMBER else { throw LuaError("\(function): option '\(key)' must be a number, got \(typeName(idx))") }
        return fp_tonumber(L, idx)
    }

    public func stringOption(_ i: Int32, _ key: String) throws -> String? {
        guard let idx = option(i, key) else { return nil }
        defer { fp_pop(L, 1) }
        guard lua_type(L, idx) == LUA_TSTRING, let p = lua_tolstring(L, idx, nil) else {
            throw LuaError("\(function): option '\(key)' must be a string, got \(typeName(idx))")
        }
        return String(cString: p)
    }

    // MARK: results

    public func pushString(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }

    public func push(_ d: Double) { lua_pushnumber(L, d) }
    public func push(int v: Int) { lua_pushinteger(L, lua_Integer(v)) }
    public func push(bool b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
    public func pushNil() { lua_pushnil(L) }
    public func push(_ t: Tensor) { LuaTensor.push(L, t) }

    /// A list of ints as a 1-based Lua table.
    public func push(ints: [Int]) {
        lua_createtable(L, Int32(ints.count), 0)
        for (k, v) in ints.enumerated() {
            lua_pushinteger(L, lua_Integer(v))
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }

    public func push(strings: [String]) {
        lua_createtable(L, Int32(strings.count), 0)
        for (k, v) in strings.enumerated() {
            pushString(v)
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }
}

func shapeString(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

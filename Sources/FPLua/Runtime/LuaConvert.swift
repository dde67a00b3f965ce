import CLua
import FPTensor

/// Conversions between Lua values and tensors: nested tables, index expressions, tolist.
enum LuaConvert {
    /// fp.tensor({{1, 2}, {3, 4}}): shape from the nesting; numbers, booleans (or a mix for
    /// numbers); dtype from the argument, else bool for all-boolean tables, else float32.
    static func tensorFromTable(_ L: OpaquePointer, _ index: Int32, dtype: DType?, function: String) throws -> Tensor {
        let idx = lua_absindex(L, index)
        // Shape: follow first elements down.
        var shape = [Int]()
        let top = lua_gettop(L)
        guard lua_checkstack(L, 40) != 0 else { throw LuaError("\(function): Lua stack exhausted") }
        lua_pushvalue(L, idx)
        var depth = 0
        while lua_type(L, -1) == LUA_TTABLE && depth <= 32 {
            let n = Int(lua_rawlen(L, -1))
            shape.append(n)
            depth += 1
            if n == 0 { break }
            lua_rawgeti(L, -1, 1)
        }
        lua_settop(L, top)
        guard depth <= 32 else { throw LuaError("\(function): nested table is too deep") }
        try Tensor.checkShape(shape, function)
        // the nesting can repeat one table many times: the element count is the script's choice
        let count = shape.reduce(1) { Limits.bytes($0, $1) }
        return try Limits.withReserved(Limits.bytes(count, 8)) {
            try valuesFromTable(L, idx, shape: shape, count: count, dtype: dtype, function: function)
        }
    }

    private static func valuesFromTable(_ L: OpaquePointer, _ idx: Int32, shape: [Int], count: Int, dtype: DType?, function: String) throws -> Tensor {
        // int64 elements are read as Lua integers (exact beyond 2^53); floats must be whole numbers
        let exactInts = dtype == .int64
        var values = [Double](), ints = [Int]()
        if exactInts { ints.reserveCapacity(count) } else { values.reserveCapacity(count) }
        var sawNumber = false, sawBool = false
        func walk(_ t: Int32, _ d: Int, _ path: String) throws {
            let n = Int(lua_rawlen(L, t))
            guard n == shape[d] else {
                throw LuaError("\(function): ragged nested table: element \(path) has \(n) entries, expected \(shape[d])")
            }
            for k in 1...Swift.max(n, 1) where k <= n {
                lua_rawgeti(L, t, lua_Integer(k))
                defer { fp_pop(L, 1) }
                let here = path.isEmpty ? "[\(k)]" : path + "[\(k)]"
                let ty = lua_type(L, -1)
                if d + 1 < shape.count {
                    guard ty == LUA_TTABLE else {
                        throw LuaError("\(function): ragged nested table: element \(here) is a \(String(cString: lua_typename(L, ty))), expected a table")
                    }
                    try walk(lua_gettop(L), d + 1, here)
                } else if ty == LUA_TNUMBER {
                    sawNumber = true
                    if !exactInts { values.append(fp_tonumber(L, -1)) }
                    else if lua_isinteger(L, -1) != 0 { ints.append(Int(fp_tointeger(L, -1))) }
                    else {
                        let d = fp_tonumber(L, -1)
                        guard let x = Int64(exactly: d) else { throw LuaError("\(function): element \(here) is \(d), not an integer (dtype int64)") }
                        ints.append(Int(x))
                    }
                } else if ty == LUA_TBOOLEAN {
                    sawBool = true
                    if exactInts { ints.append(lua_toboolean(L, -1) != 0 ? 1 : 0) }
                    else { values.append(lua_toboolean(L, -1) != 0 ? 1 : 0) }
                } else {
                    throw LuaError("\(function): element \(here) is a \(String(cString: lua_typename(L, ty))), expected a number or boolean")
                }
            }
        }
        try walk(idx, 0, "")
        if exactInts { return try Tensor(ints: ints, shape: shape) }
        let dt = dtype ?? (sawBool && !sawNumber ? .bool : .float32)
        return try makeTensor(values, shape: shape, dtype: dt, function: function)
    }

    static func makeTensor(_ values: [Double], shape: [Int], dtype: DType, function: String) throws -> Tensor {
        switch dtype {
        case .float32: return try Tensor(values.map { Float($0) }, shape: shape)
        case .int64:
            var ints = [Int]()
            ints.reserveCapacity(values.count)
            for v in values {
                guard v == v.rounded(), Swift.abs(v) < 9.2e18 else {
                    throw LuaError("\(function): value \(v) is not an integer (dtype int64)")
                }
                ints.append(Int(v))
            }
            return try Tensor(ints: ints, shape: shape)
        case .bool: return try Tensor(bools: values.map { $0 != 0 }, shape: shape)
        }
    }

    /// Pushes t:tolist(): nested 1-based tables; a 0-d tensor becomes a number. Elements are
    /// read in their own dtype (int64 stays exact), and the Lua memory the lists need is
    /// checked against --max-memory first (a failed Lua allocation here would unwind Swift).
    static func pushList(_ L: OpaquePointer, _ t: Tensor) throws {
        // An empty tensor's memory does not bound the tables it makes ([2^40, 0] is 2^40 empty
        // lists): the tables before the first size-0 dim are counted and a huge count refused.
        var tables = 1
        for s in t.shape.dropLast() {
            if s == 0 { break }
            let (m, o) = tables.multipliedReportingOverflow(by: s)
            guard !o, m <= 1 << 24 else { throw LuaError("tolist: a tensor of shape \(shapeString(t.shape)) makes too many tables") }
            tables = m
        }
        let values = Limits.bytes(t.count, 16), tableBytes = Limits.bytes(tables, 64)
        try Limits.checkLuaRoom(values > Int.max - tableBytes ? Int.max : values + tableBytes)
        // read in the tensor's own dtype: int64 values stay exact (beyond 2^53 a Double rounds)
        let c = try t.contiguous()
        let raw = try c.storage.raw() + c.offset * c.dtype.byteSize
        let strides = Tensor.contiguousStrides(t.shape)
        func pushValue(_ i: Int) {
            switch t.dtype {
            case .float32: lua_pushnumber(L, Double(raw.assumingMemoryBound(to: Float.self)[i]))
            case .int64: lua_pushinteger(L, lua_Integer(raw.assumingMemoryBound(to: Int64.self)[i]))
            case .bool: lua_pushboolean(L, raw.assumingMemoryBound(to: UInt8.self)[i] != 0 ? 1 : 0)
            }
        }
        func build(_ d: Int, _ base: Int) {
            if d == t.rank { pushValue(base); return }
            lua_createtable(L, Int32(clamping: t.shape[d]), 0)
            for i in 0..<t.shape[d] {
                build(d + 1, base + i * strides[d])
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
        }
        if t.rank > 0 { _ = lua_checkstack(L, Int32(t.rank + 4)) }
        build(0, 0)
    }

    /// The string that stands for fp.newaxis in index tables.
    static let newaxis = "newaxis"

    /// Parses the key of t[key]: an integer, a tensor, or a table of index items.
    static func indexItems(_ L: OpaquePointer, _ key: Int32) throws -> [IndexItem] {
        let k = lua_absindex(L, key)
        if lua_type(L, k) == LUA_TTABLE {
            let n = Int(lua_rawlen(L, k))
            var items = [IndexItem]()
            for i in 1...Swift.max(n, 1) where i <= n {
                lua_rawgeti(L, k, lua_Integer(i))
                defer { fp_pop(L, 1) }
                items.append(try item(L, lua_gettop(L), position: i))
            }
            return items
        }
        return [try item(L, k, position: 1)]
    }

    private static func item(_ L: OpaquePointer, _ i: Int32, position: Int) throws -> IndexItem {
        switch lua_type(L, i) {
        case LUA_TNUMBER:
            if lua_isinteger(L, i) != 0 { return .int(Int(fp_tointeger(L, i))) }
            let d = fp_tonumber(L, i)
            guard d == d.rounded(), Swift.abs(d) < 9e15 else {
                throw LuaError("index: entry \(position) must be an integer, got \(d)")
            }
            return .int(Int(d))
        case LUA_TTABLE:
            var parts = [Int?]()
            for j in 1...3 {
                lua_rawgeti(L, i, lua_Integer(j))
                defer { fp_pop(L, 1) }
                switch lua_type(L, -1) {
                case LUA_TNIL: parts.append(nil)
                case LUA_TNUMBER where lua_isinteger(L, -1) != 0:
                    parts.append(Int(fp_tointeger(L, -1)))
                case LUA_TNUMBER:
                    let d = fp_tonumber(L, -1)
                    guard d == d.rounded(), Swift.abs(d) < 9e15 else {
                        throw LuaError("index: range bound \(d) in entry \(position) is not an integer")
                    }
                    parts.append(Int(d))
                default:
                    throw LuaError("index: entry \(position) is a range {start, stop, step} of integers, got a \(String(cString: lua_typename(L, lua_type(L, -1)))) inside")
                }
            }
            if lua_rawlen(L, i) > 3 {
                throw LuaError("index: entry \(position) has more than 3 numbers; index lists are int tensors: fp.tensor({...}, \"int\")")
            }
            if parts.allSatisfy({ $0 == nil }) { return .all }
            let step = parts[2] ?? 1
            guard step > 0 else { throw LuaError("index: range step must be positive, got \(step)") }
            return .range(parts[0], parts[1], step)
        case LUA_TSTRING:
            let s = String(cString: lua_tolstring(L, i, nil))
            if s == "..." { return .ellipsis }
            if s == ":" { return .all }
            if s == newaxis { return .newaxis }
            throw LuaError("index: unknown index string \"\(s)\" in entry \(position) (use \"...\" or fp.newaxis)")
        case LUA_TUSERDATA:
            if let t = LuaTensor.get(L, i) { return .tensor(t) }
            fallthrough
        default:
            throw LuaError("index: entry \(position) must be an integer, a range table, \"...\", fp.newaxis or a tensor, got \(String(cString: lua_typename(L, lua_type(L, i))))")
        }
    }
}

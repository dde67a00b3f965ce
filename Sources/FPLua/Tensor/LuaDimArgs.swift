import CLua
import FPTensor

/// Dimension arguments, read the same way by every tensor function: a dim is a Lua integer
/// (negative counts from the end, as in torch), a list of dims is a plain sequence of
/// integers; a table where one dim belongs, a list with other keys, a fraction and an extra
/// argument are errors naming the function and the argument (never silently ignored).
extension Lua {
    /// One dim at argument i.
    public func dimArg(_ i: Int32, _ what: String = "dim") throws -> Int {
        guard type(i) == LUA_TNUMBER else {
            let hint = type(i) == LUA_TTABLE ? " (a table is not a dim: write the dim as a number, e.g. t:softmax(-1))" : ""
            throw argError(i, message: "\(what) must be an integer, got \(typeName(i))\(hint)")
        }
        return try int(i)
    }

    /// An optional dim at argument i (nil or absent gives `d`).
    public func optDimArg(_ i: Int32, default d: Int, _ what: String = "dim") throws -> Int {
        isNone(i) ? d : try dimArg(i, what)
    }

    /// A list of dims: a sequence of integers and nothing else ({0, 1}; not {0, dim = 1}).
    public func dimList(_ i: Int32, _ what: String = "dims") throws -> [Int] {
        let dims = try intTable(i)
        var keys = 0
        let t = lua_absindex(L, i)
        lua_pushnil(L)
        while lua_next(L, t) != 0 { fp_pop(L, 1); keys += 1 }
        guard keys == dims.count else {
            throw argError(i, message: "\(what) must be a list of integers, got a table with other keys (give dims as {0, 1} and options in a separate table)")
        }
        return dims
    }

    /// Errors if a non-nil argument follows argument i ("t:softmax(0, 1)" is not two dims).
    public func noArgsAfter(_ i: Int32) throws {
        var k = top
        while k > i && isNone(k) { k -= 1 }
        guard k > i else { return }
        let most = isMethod ? i - 1 : i
        throw argError(i + 1, message: "unexpected argument (\(function) takes at most \(most) argument\(most == 1 ? "" : "s")), got \(typeName(i + 1))")
    }

    /// The `dim` option of the options table at i: an integer or a list of integers.
    func dimOption(_ i: Int32) throws -> [Int]? {
        guard let idx = option(i, "dim") else { return nil }
        defer { fp_pop(L, 1) }
        switch type(idx) {
        case LUA_TNUMBER: return [try int(idx)]
        case LUA_TTABLE: return try dimList(idx, "option 'dim'")
        default: throw LuaError("\(function): option 'dim' must be an integer or a list of integers, got \(typeName(idx))")
        }
    }
}

/// How many arguments (self included) each tensor method with fixed arguments takes: a call
/// with more non-nil arguments is an error. Methods with varargs (view, permute, tile) are not listed.
enum LuaArity {
    static let methods: [String: Int32] = [
        "dim": 1, "numel": 1, "item": 1, "tolist": 1, "clone": 1, "contiguous": 1, "T": 1,
        "size": 2, "flatten": 3, "transpose": 3, "unsqueeze": 2, "squeeze": 2, "narrow": 4, "select": 3,
        "softmax": 2, "log_softmax": 2, "gather": 3, "index_select": 3,
        "scatter": 4, "scatter_": 4, "scatter_add": 4, "expand_as": 2, "matmul": 2, "bmm": 2,
        "cumsum": 2, "tril": 2, "triu": 2, "diagonal": 4, "repeat_interleave": 3,
    ]
    static let functions: [String: Int32] = [
        "cat": 2, "stack": 2, "cosine_similarity": 4,
        "cumsum": 2, "tril": 2, "triu": 2, "diagonal": 4, "repeat_interleave": 3,
    ]

    /// `body` with the arity check in front when `name` has a fixed arity.
    static func checked(_ name: String, method: Bool, _ body: @escaping LuaFunction) -> LuaFunction {
        guard let n = (method ? methods : functions)[name] else { return body }
        return { l in try l.noArgsAfter(n); return try body(l) }
    }
}

import CLua
import FPTensor
import Foundation

/// fp functions backed by FPTensor's random, linear algebra and sorting modules, and the
/// sorting methods added to the tensor methods table.
enum LuaNumericFunctions {
    static var functions: [(String, LuaFunction)] {
        [
            ("seed", { l in
                let s = try l.int(1)
                RandomSource.seed(UInt64(bitPattern: Int64(s)))
                return 0
            }),
            ("randn", { l in l.push(try Tensor.randn(try floatShape(l))); return 1 }),
            ("options_error", LuaOptions.optionsError),
            ("rand", { l in l.push(try Tensor.rand(try floatShape(l))); return 1 }),
            ("randint", { l in
                // randint(high, shape) or randint(low, high, shape), as torch.randint
                let a = try l.int(1)
                if l.type(2) == LUA_TNUMBER {
                    l.push(try Tensor.randint(low: a, high: try l.int(2), shape: try l.intList(from: 3)))
                } else {
                    l.push(try Tensor.randint(low: 0, high: a, shape: try l.intList(from: 2)))
                }
                return 1
            }),
            // fp._hook_name_hint(name, names): the " (did you mean ...?)" text for a wrong hook
            // name (HookNameSuggestions), for the stdlib's own messages (cache:act, patching).
            ("_hook_name_hint", { l in
                let name = try l.string(1)
                guard lua_type(l.L, 2) == LUA_TTABLE else { throw LuaError("_hook_name_hint: expected a list of names") }
                var names = [String]()
                for k in 0..<Int(lua_rawlen(l.L, 2)) {
                    lua_rawgeti(l.L, 2, lua_Integer(k + 1))
                    if lua_type(l.L, -1) == LUA_TSTRING, let p = lua_tolstring(l.L, -1, nil) { names.append(String(cString: p)) }
                    fp_pop(l.L, 1)
                }
                l.pushString(HookNameSuggestions.hint(name, in: names))
                return 1
            }),
            ("randperm", { l in l.push(try Tensor.randperm(try l.int(1))); return 1 }),
            ("multinomial", { l in
                try l.checkOptions(3, ["replacement"])
                let replacement = l.type(3) == LUA_TBOOLEAN ? try l.bool(3) : try l.boolOption(3, "replacement", default: false)
                l.push(try Tensor.multinomial(try l.tensor(1), numSamples: try l.int(2), replacement: replacement))
                return 1
            }),
            ("randn_like", { l in l.push(try Tensor.randn(try l.tensor(1).shape)); return 1 }),
            ("save", { l in
                // fp.save("x.npy", t) or fp.save("w.safetensors" | "w.npz", {name = t, ...})
                let path = try Sandbox.path(l, 1, write: true, function: "save")
                if let t = LuaTensor.get(l.L, 2) {
                    try TensorFile.save(t, to: path)
                } else if l.type(2) == LUA_TTABLE {
                    try TensorFile.saveMany(try namedTensors(l, 2), to: path)
                } else {
                    throw l.argError(2, "tensor or table of named tensors expected")
                }
                return 0
            }),
            ("load_tensor", { l in
                let path = try Sandbox.path(l, 1, write: false, function: "load_tensor")
                l.push(try TensorFile.load(path)); return 1
            }),
            ("load_tensors", { l in
                let path = try Sandbox.path(l, 1, write: false, function: "load_tensors")
                let all = try TensorFile.loadMany(path)
                lua_createtable(l.L, 0, Int32(all.count))
                for (name, t) in all {
                    l.push(t)
                    lua_setfield(l.L, -2, name)
                }
                return 1
            }),
            ("make_dirs", { l in
                // mkdir -p: the folder and its missing parents (result files' --out folders)
                let path = try Sandbox.path(l, 1, write: true, function: "make_dirs")
                guard !path.isEmpty else { throw l.argError(1, message: "empty path") }
                do {
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                } catch {
                    throw LuaError("make_dirs: cannot create the folder '\(path)': \(error.localizedDescription)")
                }
                return 0
            }),
            ("write_file_atomic", { l in
                // The whole string goes to a temporary file next to path, then is renamed over
                // it: an interrupted run never leaves a truncated results file.
                let path = try Sandbox.path(l, 1, write: true, function: "write_file_atomic")
                guard l.type(2) == LUA_TSTRING else { throw l.argError(2, "string expected") }
                var len = 0
                guard let p = lua_tolstring(l.L, 2, &len) else { throw l.argError(2, "string expected") }
                try TensorFile.writeAtomically(Data(bytes: p, count: len), to: path, fn: "write_file_atomic")
                return 0
            }),
        ]
    }

    /// A Lua table {name = tensor, ...}, sorted by name (the order .npz files keep).
    static func namedTensors(_ l: Lua, _ i: Int32) throws -> [(String, Tensor)] {
        var out = [(String, Tensor)]()
        lua_pushnil(l.L)
        while lua_next(l.L, i) != 0 {
            defer { fp_pop(l.L, 1) }
            guard lua_type(l.L, -2) == LUA_TSTRING, let k = fp_tostring(l.L, -2).map({ String(cString: $0) }) else {
                lua_settop(l.L, i)
                throw l.argError(i, message: "table keys must be tensor names (strings)")
            }
            guard let t = LuaTensor.get(l.L, -1) else {
                let what = l.typeName(-1)
                lua_settop(l.L, i)
                throw l.argError(i, message: "entry '\(k)' must be a tensor, got \(what)")
            }
            out.append((k, t))
        }
        guard !out.isEmpty else { throw l.argError(i, message: "no tensors to save") }
        return out.sorted { $0.0 < $1.0 }
    }

    static var submodules: [(String, [(String, LuaFunction)])] {
        [("linalg", [
            ("qr", { l in
                let mode = try l.optString(2) ?? "reduced"
                guard mode == "reduced" || mode == "complete" else { throw l.argError(2, message: "mode must be \"reduced\" or \"complete\"") }
                let (q, r) = try Linalg.qr(try l.tensor(1), reduced: mode == "reduced")
                l.push(q); l.push(r); return 2
            }),
            ("svd", { l in
                try l.checkOptions(2, ["full_matrices"])
                let full = l.type(2) == LUA_TBOOLEAN ? try l.bool(2) : try l.boolOption(2, "full_matrices", default: false)
                let (u, s, vh) = try Linalg.svd(try l.tensor(1), fullMatrices: full)
                l.push(u); l.push(s); l.push(vh); return 3
            }),
            ("pinv", { l in
                let rcond = try l.optNumber(2)
                l.push(try Linalg.pinv(try l.tensor(1), rcond: rcond.map { Float($0) })); return 1
            }),
            ("solve", { l in l.push(try Linalg.solve(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("eigh", { l in
                let (v, w) = try Linalg.eigh(try l.tensor(1))
                l.push(v); l.push(w); return 2
            }),
            ("norm", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try LuaTensorMethods.reduceArgs(l, 2)
                return try LuaTensorMethods.pushReduced(l, try t.norm(dims: dims, keepdim: keep))
            }),
        ])]
    }

    /// The shape of randn/rand; a dtype other than float32 is an error (they draw floats).
    static func floatShape(_ l: Lua) throws -> [Int] {
        let (shape, dt) = try LuaFPModule.shapeAndDType(l, from: 1)
        guard dt == .float32 else { throw LuaError("\(l.function): only float32 is supported (use randint for integers)") }
        return shape
    }

    /// Arguments of sort/argsort/topk after the tensor (and k): an optional dim, an optional
    /// boolean flag (descending / largest), or an options table with `dim` and the flag's name.
    static func dimAndFlag(_ l: Lua, from i: Int32, flag: String, default d: Bool) throws -> (Int, Bool) {
        var dim = -1, value = d
        var k = i
        if l.type(k) == LUA_TNUMBER { dim = try l.int(k); k += 1 }
        if l.type(k) == LUA_TBOOLEAN { value = try l.bool(k); k += 1 }
        if l.type(k) == LUA_TTABLE {
            try l.checkOptions(k, ["dim", flag])
            dim = try l.intOption(k, "dim") ?? dim
            value = try l.boolOption(k, flag, default: value)
            k += 1
        }
        guard l.isNone(k) else { throw l.argError(k, "dim, boolean \(flag) or options table expected") }
        return (dim, value)
    }

    /// Tensor methods that live with these modules.
    static var methods: [(String, LuaFunction)] {
        [
            ("sort", { l in
                let (dim, desc) = try dimAndFlag(l, from: 2, flag: "descending", default: false)
                let (v, i) = try l.tensor(1).sort(dim: dim, descending: desc)
                l.push(v); l.push(i); return 2
            }),
            ("argsort", { l in
                let (dim, desc) = try dimAndFlag(l, from: 2, flag: "descending", default: false)
                let t = try l.tensor(1)
                _ = try t.dim(dim, "argsort")
                l.push(try t.sort(dim: dim, descending: desc).indices); return 1
            }),
            ("topk", { l in
                let t = try l.tensor(1)
                let k = try l.int(2)
                let (dim, largest) = try dimAndFlag(l, from: 3, flag: "largest", default: true)
                let (v, i) = try t.topk(k, dim: dim, largest: largest)
                l.push(v); l.push(i); return 2
            }),
        ]
    }
}

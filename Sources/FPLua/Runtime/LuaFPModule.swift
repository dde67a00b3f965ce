import CBLAS
import CLua
import FPTensor
import Foundation

/// The `fp` module table: constructors, free functions and submodules (fp.linalg).
enum LuaFPModule {
    /// A shape given as varargs or a table, optionally followed by a dtype string.
    static func shapeAndDType(_ l: Lua, from i: Int32) throws -> ([Int], DType) {
        var shape = [Int]()
        var k = i
        var dtype = DType.float32
        if l.type(k) == LUA_TTABLE { shape = try l.intTable(k); k += 1 }
        else {
            while l.type(k) == LUA_TNUMBER { shape.append(try l.int(k)); k += 1 }
        }
        if l.type(k) == LUA_TSTRING { dtype = try LuaTensorMethods.parseDType(l, k); k += 1 }
        guard l.isNone(k) else { throw l.argError(k, "integer size or dtype string expected") }
        // A nil among the sizes (fp.zeros(n, cfg.typo, 3)) must not silently drop the rest.
        for j in k..<Swift.max(k, l.top + 1) where !l.isNone(j) { throw l.argError(k, "integer size or dtype string expected") }
        return (shape, dtype)
    }

    /// arange(n) or arange(start, stop[, step]) as torch.arange: Lua integers give an exact
    /// int64 range; floats give float32, and a step below float32's resolution there (the
    /// elements would repeat) is an error, not a guess.
    static let arange: LuaFunction = { l in
        let allInt = (1...3).allSatisfy { l.isNone(Int32($0)) || lua_isinteger(l.L, Int32($0)) != 0 }
        if allInt {
            let a = try l.int(1), b = try l.optInt(2), st = try l.optInt(3) ?? 1
            let (start, stop) = b.map { (a, $0) } ?? (0, a)
            guard st != 0 else { throw l.argError(3, message: "step must be a non-zero finite number") }
            let (diff, o) = stop.subtractingReportingOverflow(start)
            guard !o else { throw LuaError("arange: too many elements (\(start) to \(stop))") }
            let n = diff == 0 || (diff > 0) != (st > 0) ? 0 : (diff.magnitude - 1) / st.magnitude + 1
            guard n <= 1 << 34 else { throw LuaError("arange: too many elements (\(n))") }
            let t = try Tensor.empty([Int(n)], dtype: .int64)
            let p = try t.intPointer()
            for i in 0..<Int(n) { p[i] = Int64(start &+ i &* st) }   // within [start, stop): no overflow
            l.push(t); return 1
        }
        let a = try l.number(1)
        let b = try l.optNumber(2), st = try l.optNumber(3) ?? 1
        let (start, stop) = b.map { (a, $0) } ?? (0.0, a)
        guard st != 0, st.isFinite, start.isFinite, stop.isFinite else { throw l.argError(3, message: "step must be a non-zero finite number") }
        let count = ((stop - start) / st).rounded(.up)
        guard count <= Double(1 << 34) else { throw LuaError("arange: too many elements (\(count))") }
        let n = Int(Swift.max(0, count))
        if n >= 2 {
            let far = Swift.max(Swift.abs(start), Swift.abs(start + Double(n - 1) * st))
            guard Swift.abs(st) >= Double(Float(far).ulp) else {
                throw LuaError("arange: step \(st) is finer than float32 can tell apart near \(Float(far)) (the elements would repeat); give Lua integers for an exact int64 range, e.g. fp.arange((1 << 53) + 1, (1 << 53) + 3)")
            }
        }
        let t = try Tensor.empty([n])
        let p = try t.floatPointer()
        for i in 0..<n { p[i] = Float(start + Double(i) * st) }
        l.push(t); return 1
    }

    static var functions: [(String, LuaFunction)] {
        [
            ("tensor", { l in
                let dt = try l.isNone(2) ? nil : LuaTensorMethods.parseDType(l, 2)
                switch l.type(1) {
                case LUA_TTABLE: l.push(try LuaConvert.tensorFromTable(l.L, 1, dtype: dt, function: "tensor"))
                case LUA_TNUMBER where dt == .int64 && lua_isinteger(l.L, 1) == 0:
                    l.push(try Tensor(ints: [Int(try Int64.storing(fp_tonumber(l.L, 1)))], shape: []))
                case LUA_TNUMBER, LUA_TBOOLEAN:
                    let t = try l.tensorOrScalar(1)
                    l.push(try t.to(dt ?? (l.type(1) == LUA_TBOOLEAN ? .bool : .float32)).clone())
                default:
                    if let t = LuaTensor.get(l.L, 1) { l.push(try t.to(dt ?? t.dtype).clone()) }
                    else { throw l.argError(1, "table, number or tensor expected") }
                }
                return 1
            }),
            ("zeros", { l in let (s, d) = try shapeAndDType(l, from: 1); l.push(try Tensor(zeros: s, dtype: d)); return 1 }),
            ("ones", { l in
                let (s, d) = try shapeAndDType(l, from: 1)
                let t = try Tensor(zeros: s, dtype: d); try t.fill(1); l.push(t); return 1
            }),
            ("full", { l in
                // fp.full({2, 3}, 7[, dtype]) as torch.full, or fp.full(2, 3, 7[, dtype]): the last number is the value
                var shape = [Int]()
                var vi: Int32 = 2
                if l.type(1) == LUA_TTABLE { shape = try l.intTable(1) } else {
                    var k: Int32 = 1
                    while l.type(k + 1) == LUA_TNUMBER || l.type(k + 1) == LUA_TBOOLEAN { shape.append(try l.int(k)); k += 1 }
                    vi = k
                }
                let isBool = l.type(vi) == LUA_TBOOLEAN
                let v = isBool ? (try l.bool(vi) ? 1.0 : 0.0) : try l.number(vi)
                let dt: DType = try l.isNone(vi + 1) ? (isBool ? .bool : .float32) : LuaTensorMethods.parseDType(l, vi + 1)
                let t = try Tensor(zeros: shape, dtype: dt)
                if isBool { try t.fill(v) } else { try l.fill(t, from: vi) }
                l.push(t); return 1
            }),
            ("zeros_like", { l in
                let t = try l.tensor(1)
                l.push(try Tensor(zeros: t.shape, dtype: l.isNone(2) ? t.dtype : try LuaTensorMethods.parseDType(l, 2)))
                return 1
            }),
            ("ones_like", { l in
                let t = try l.tensor(1)
                let out = try Tensor(zeros: t.shape, dtype: l.isNone(2) ? t.dtype : try LuaTensorMethods.parseDType(l, 2))
                try out.fill(1); l.push(out); return 1
            }),
            ("arange", arange),
            ("linspace", { l in
                let a = try l.number(1), b = try l.number(2), n = try l.int(3)
                guard n >= 0, n <= 1 << 34 else { throw l.argError(3, message: "steps must be between 0 and 2^34, got \(n)") }
                // written straight into the tensor (its storage counts against --max-memory)
                let t = try Tensor.empty([n])
                let p = try t.floatPointer()
                for i in 0..<n { p[i] = Float(n == 1 ? a : a + (b - a) * Double(i) / Double(n - 1)) }
                l.push(t); return 1
            }),
            ("eye", { l in
                let n = try l.int(1), m = try l.optInt(2) ?? n
                let t: Tensor
                do { t = try Tensor(zeros: [n, m]) } catch let e as TensorError { throw LuaError("eye: \(e.message)") }
                let p = try t.floatPointer()
                for i in 0..<Swift.min(n, m) { p[i * m + i] = 1 }
                l.push(t); return 1
            }),
            ("cat", { l in l.push(try Tensor.cat(try tensorList(l, 1), dim: try l.optInt(2) ?? 0)); return 1 }),
            ("stack", { l in l.push(try Tensor.stack(try tensorList(l, 1), dim: try l.optInt(2) ?? 0)); return 1 }),
            ("einsum", { l in
                let eq = try l.string(1)
                var ts = [Tensor]()
                if l.type(2) == LUA_TTABLE { ts = try tensorList(l, 2) } else {
                    var i: Int32 = 2
                    while i <= l.top { ts.append(try l.tensor(i)); i += 1 }
                }
                l.push(try Einsum.evaluate(eq, ts)); return 1
            }),
            ("outer", { l in l.push(try Tensor.outer(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("matmul", { l in l.push(try l.tensor(1).matmul(try l.tensor(2))); return 1 }),
            ("where", { l in l.push(try Tensor.whereSelect(try l.tensor(1), try l.tensorOrScalar(2), try l.tensorOrScalar(3))); return 1 }),
            ("cosine_similarity", { l in
                let a = try l.tensor(1), b = try l.tensor(2)
                let d = try l.optDimArg(3, default: -1)
                let eps = try l.optNumber(4) ?? 1e-8
                let dot = try Tensor.binary(.mul, a, b).reduce(.sum, dims: [d])
                let na = try a.norm(dims: [d]), nb = try b.norm(dims: [d])
                let den = try Tensor.binary(.maximum, Tensor.binary(.mul, na, nb), Tensor.scalar(Float(eps)))
                l.push(try Tensor.binary(.div, dot, den)); return 1
            }),
            ("item", { l in
                if l.type(1) == LUA_TNUMBER { lua_pushvalue(l.L, 1); return 1 }
                let t = try l.tensor(1)
                guard t.count == 1 else { throw LuaError("item: a tensor with \(t.count) elements cannot be converted to a number") }
                try LuaTensorMethods.pushScalar(l, t); return 1
            }),
            ("is_tensor", { l in l.push(bool: LuaTensor.get(l.L, 1) != nil); return 1 }),
            ("memory", { l in l.push(int: Storage.liveBytes); return 1 }),
            ("load_model", LuaModel.load),
            ("torch_generator", LuaTorchGenerator.make),
            ("isatty", { l in
                // a number that is no file descriptor is not a terminal
                l.push(bool: Int32(exactly: try l.int(1)).map { isatty($0) != 0 } ?? false); return 1
            }),
            ("use_color", { l in
                // ANSI colours only on a terminal, and not when NO_COLOR is set (no-color.org)
                // or TERM is "dumb": never escape codes in pipes and files
                let fd = Int32(exactly: try l.int(1))
                let env = ProcessInfo.processInfo.environment
                let off = !(env["NO_COLOR"] ?? "").isEmpty || env["TERM"] == "dumb"
                l.push(bool: !off && fd.map { isatty($0) != 0 } ?? false); return 1
            }),
            ("time", { l in
                // Monotonic wall-clock seconds, like Python's time.perf_counter().
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                l.push(Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9); return 1
            }),
            ("config", { l in
                // BLAS core and threads, for scripts and benchmarks that report them.
                lua_createtable(l.L, 0, 9)
                l.pushString(openblas_get_corename().map { String(cString: $0) } ?? "unknown")
                lua_setfield(l.L, -2, "blas_core")
                // FP_NUM_THREADS: what oneDNN's products and larger OpenBLAS ones use, not
                // OpenBLAS's setting of the moment (a small product just ran on one)
                l.push(int: BLASThreads.configured)
                lua_setfield(l.L, -2, "threads")
                l.pushString(fp_best_openblas_coretype().map { String(cString: $0) } ?? "auto")
                lua_setfield(l.L, -2, "best_core")
                l.pushString(GemmDispatch.mode.rawValue)   // FP_GEMM: auto, openblas, packed, onednn or measure
                lua_setfield(l.L, -2, "gemm")
                l.pushString(KernelISA.name)   // the attention and norm kernels' instruction set
                lua_setfield(l.L, -2, "kernels")
                // oneDNN's reordered weight copies: how many reorders so far, and their bytes now
                l.push(int: WeightPacks.reorders)
                lua_setfield(l.L, -2, "weight_reorders")
                l.push(int: WeightPacks.liveBytes)
                lua_setfield(l.L, -2, "weight_pack_bytes")
                // FP_WEIGHT_COPIES_MB: models up to this size keep blocked copies for few-row products
                l.push(int: GemmDispatch.smallModelBytes >> 20)
                lua_setfield(l.L, -2, "weight_copies_mb")
                l.pushString(GemmDispatch.onednnISA)
                lua_setfield(l.L, -2, "onednn_isa")
                return 1
            }),
        ]
    }

    /// A Lua list of tensors at index i.
    static func tensorList(_ l: Lua, _ i: Int32) throws -> [Tensor] {
        guard l.type(i) == LUA_TTABLE else { throw l.argError(i, "table of tensors expected") }
        let n = Int(lua_rawlen(l.L, i))
        var out = [Tensor]()
        for k in 1...Swift.max(n, 1) where k <= n {
            lua_rawgeti(l.L, i, lua_Integer(k))
            defer { fp_pop(l.L, 1) }
            guard let t = LuaTensor.get(l.L, -1) else {
                throw l.argError(i, message: "table of tensors expected, element \(k) is \(l.typeName(-1))")
            }
            out.append(t)
        }
        return out
    }

    /// Builds the module table and leaves it on the stack.
    static func push(_ L: OpaquePointer) {
        LuaTensorMeta.install(L)
        LuaModel.install(L)
        fp_newtable(L)
        let mod = lua_gettop(L)
        for (name, body) in functions + LuaNumericFunctions.functions + LuaAutograd.functions + LuaTensorOps.functions
            + LuaJSONText.functions + LuaSAEKernels.functions {
            LuaRegistry.push(L, id: LuaRegistry.register(name, LuaArity.checked(name, method: false, body)))
            lua_setfield(L, mod, name)
        }
        for (sub, fns) in LuaNumericFunctions.submodules {
            fp_newtable(L)
            for (name, body) in fns {
                LuaRegistry.push(L, id: LuaRegistry.register("\(sub).\(name)", body))
                lua_setfield(L, -2, name)
            }
            lua_setfield(L, mod, sub)
        }
        lua_pushstring(L, LuaConvert.newaxis)
        lua_setfield(L, mod, "newaxis")
        _ = fp_getmetatable_named(L, LuaTensor.metatableName)
        lua_getfield(L, -1, "__methods")
        lua_setfield(L, mod, "Tensor")
        fp_pop(L, 1)
        LuaTorchGenerator.install(L)
        _ = fp_getmetatable_named(L, LuaModel.metatableName)
        lua_getfield(L, -1, "__methods")
        lua_setfield(L, mod, "Model")
        fp_pop(L, 1)
    }
}

import CLua

/// Options tables are checked: a key the function does not know is an error naming the
/// nearest known key, so a typo ("fwd_hook") never silently turns an intervention off.
enum LuaOptions {
    /// The message for the first unknown key of the options table at `i`, or nil if all are
    /// known. Non-string keys are unknown too (a list where a table of options belongs).
    static func unknownKeyMessage(_ L: OpaquePointer, _ i: Int32, known: [String], function: String) -> String? {
        guard lua_type(L, i) == LUA_TTABLE else { return nil }
        let t = lua_absindex(L, i)
        var found: String?
        lua_pushnil(L)
        while lua_next(L, t) != 0 {
            // lua_tolstring on a number key would change it in place and break lua_next: only read strings
            let key: String = lua_type(L, -2) == LUA_TSTRING
                ? String(cString: lua_tolstring(L, -2, nil)) : "[\(describeKey(L, -2))]"
            fp_pop(L, 1)
            if !known.contains(key) {
                fp_pop(L, 1)
                found = key
                break
            }
        }
        guard let key = found else { return nil }
        let shown = key.count > 64 ? key.prefix(60) + "..." : Substring(key)   // a message, not a dump
        var msg = "\(function): unknown option '\(shown)'"
        if let near = nearest(key, among: known) { msg += " (did you mean '\(near)'?)" }
        else { msg += " (known: \(known.sorted().joined(separator: ", ")))" }
        return msg
    }

    private static func describeKey(_ L: OpaquePointer, _ i: Int32) -> String {
        if lua_type(L, i) == LUA_TNUMBER {
            return lua_isinteger(L, i) != 0 ? String(fp_tointeger(L, i)) : String(fp_tonumber(L, i))
        }
        return String(cString: lua_typename(L, lua_type(L, i)))
    }

    /// The known name closest to `name` by edit distance, if it is close enough to be a typo
    /// (1 edit for names up to 3 letters, else 2 or a third of the length), or the only known
    /// name sharing a prefix of 4 or more letters with it ("reduce" -> "reduction").
    static func nearest(_ name: String, among known: [String]) -> String? {
        guard name.utf8.count <= 64 else { return nil }   // a long key is no typo (and the distance is quadratic)
        let a = Array(name.lowercased().utf8)
        var best = "", bestDistance = Int.max
        for k in known {
            let d = editDistance(a, Array(k.lowercased().utf8))
            if d < bestDistance { (best, bestDistance) = (k, d) }
        }
        if bestDistance <= (a.count <= 3 ? 1 : Swift.max(2, a.count / 3)) { return best }
        // a spelled-out name whose initials are the key: learning_rate -> lr
        let words = name.lowercased().split(separator: "_")
        if words.count >= 2 {
            let initials = String(words.compactMap(\.first))
            if let k = known.first(where: { $0.lowercased() == initials }) { return k }
        }
        func prefix(_ k: String) -> Int { zip(a, k.lowercased().utf8).prefix { $0 == $1 }.count }
        let sharing = known.filter { prefix($0) >= 4 }
        return sharing.count == 1 ? sharing[0] : nil
    }

    /// Edit distance with insertions, deletions, substitutions and swaps of neighbours
    /// (optimal string alignment: "titel" is one edit from "title").
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}

extension Lua {
    /// Throws "FUNCTION: unknown option 'x' (did you mean 'y'?)" for an unknown key of the
    /// options table at `i` (nothing when `i` is not a table).
    public func checkOptions(_ i: Int32, _ known: [String]) throws {
        if let msg = LuaOptions.unknownKeyMessage(L, i, known: known, function: function) { throw LuaError(msg) }
    }
}

extension LuaOptions {
    /// fp.options_error(fname, opts, known): the message for an unknown key of `opts` (or nil),
    /// so the stdlib's Lua functions check their options the way fp's Swift functions do.
    static let optionsError: LuaFunction = { l in
        let fname = try l.string(1)
        guard l.type(2) == LUA_TTABLE else { throw l.argError(2, "options table expected") }
        guard l.type(3) == LUA_TTABLE else { throw l.argError(3, "list of option names expected") }
        var known = [String]()
        for k in 0..<Int(lua_rawlen(l.L, 3)) {
            lua_rawgeti(l.L, 3, lua_Integer(k + 1))
            defer { fp_pop(l.L, 1) }
            guard lua_type(l.L, -1) == LUA_TSTRING else { throw l.argError(3, message: "list of option names expected, element \(k + 1) is \(l.typeName(-1))") }
            known.append(String(cString: lua_tolstring(l.L, -1, nil)))
        }
        if let msg = unknownKeyMessage(l.L, 2, known: known, function: fname) { l.pushString(msg) } else { l.pushNil() }
        return 1
    }
}

import ArgumentParser
import CLineEdit
import CLua
import FPLua
import Foundation

/// `fp repl`: line editing and history (libedit), multi-line input, expression values printed
/// like the Lua 5.4 REPL, tab completion of globals and of fields/methods, Ctrl-C stops the
/// running chunk and keeps the session.
struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Interactive Lua prompt with fp loaded.")

    @OptionGroup var safety: SafetyOptions

    func run() throws {
        let host = try makeHost()
        guard safety.timeout == nil else { throw ValidationError("--timeout applies to fp run, not to the REPL (Ctrl-C stops a running chunk)") }
        let interactive = isatty(0) != 0
        let historyPath = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.fp_history"
        _ = try safety.apply(to: host, script: nil, args: [], historyFile: interactive ? historyPath : nil)
        host.setArgs(script: "repl", [])
        Completion.host = host
        fp_lineedit_set_completion(Completion.generator, " \t\n\"'([{,=+-*/%^<>~#;")
        _ = read_history(historyPath)
        if interactive { print("fp \(fpVersion) with \(luaVersion()) — Ctrl-D to quit, Ctrl-C stops a running chunk") }
        while true {
            signal(SIGINT, SIG_IGN)
            guard var chunk = readLine(prompt: "> ", interactive) else { break }
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            // Try as an expression first (prints its values), then as statements; keep reading
            // while the chunk is incomplete.
            while true {
                if let status = compile(host.L, chunk) {
                    if status == .incomplete, let more = readLine(prompt: ">> ", interactive) {
                        chunk += "\n" + more
                        continue
                    }
                }
                break
            }
            if interactive { add_history(chunk); _ = write_history(historyPath) }
            execute(host, chunk)
        }
        if interactive { print("") }
    }

    enum CompileStatus { case incomplete, error }

    /// nil when `chunk` compiles (as an expression or statements); the stack is left clean.
    func compile(_ L: OpaquePointer, _ chunk: String) -> CompileStatus? {
        for code in ["return " + chunk, chunk] {
            if fp_loadbuffer(L, code, strlen(code), "=stdin") == LUA_OK { fp_pop(L, 1); return nil }
            let msg = fp_tostring(L, -1).map { String(cString: $0) } ?? ""
            fp_pop(L, 1)
            if code == chunk && msg.hasSuffix("<eof>") { return .incomplete }
        }
        return .error
    }

    func execute(_ host: LuaHost, _ chunk: String) {
        let L = host.L
        let base = lua_gettop(L)
        let ret = "return " + chunk
        var loaded = fp_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK
        if !loaded {
            fp_pop(L, 1)
            loaded = fp_loadbuffer(L, chunk, strlen(chunk), "=stdin") == LUA_OK
        }
        if !loaded {
            printError(fp_tostring(L, -1).map { String(cString: $0) } ?? "syntax error")
            lua_settop(L, base)
            return
        }
        if let err = host.call(nargs: 0, nresults: LUA_MULTRET) {
            printError(err)
            lua_settop(L, base)
            return
        }
        let n = lua_gettop(L) - base
        if n > 0 {
            // show the results as print does, tables by their contents (stdlib fp/repl.lua)
            let show = "return require('fp.repl').show"
            if fp_loadbuffer(L, show, strlen(show), "=repl") != LUA_OK || host.call(nargs: 0, nresults: 1) != nil {
                lua_settop(L, base + n)
                lua_getglobal(L, "print")
            }
            fp_insert(L, base + 1)
            if let err = host.call(nargs: n, nresults: 0) { printError(err) }
        }
        lua_settop(L, base)
    }

    func readLine(prompt: String, _ interactive: Bool) -> String? {
        if interactive {
            guard let p = readline(prompt) else { return nil }
            defer { free(p) }
            return String(cString: p)
        }
        return Swift.readLine(strippingNewline: true)
    }
}

func luaVersion() -> String { "Lua 5.4" }

/// Tab completion: globals, and the fields/methods of the value named by the text before
/// the last '.' or ':' (tables: their keys; tensors and other userdata: their methods table).
enum Completion {
    nonisolated(unsafe) static var host: LuaHost?
    nonisolated(unsafe) static var matches: [String] = []
    nonisolated(unsafe) static var next = 0

    static let generator: fp_completion_generator = { text, state in
        guard let text else { return nil }
        if state == 0 {
            matches = candidates(String(cString: text))
            next = 0
        }
        guard next < matches.count else { return nil }
        next += 1
        return strdup(matches[next - 1])
    }

    static func candidates(_ text: String) -> [String] {
        guard let L = host?.L else { return [] }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        var path = text
        var sep = ""
        var prefix = text
        if let r = text.lastIndex(where: { $0 == "." || $0 == ":" }) {
            sep = String(text[r])
            prefix = String(text[text.index(after: r)...])
            path = String(text[..<r])
        } else {
            path = ""
        }
        // Walk the dotted path from the globals with raw lookups (no metamethods run).
        fp_pushglobaltable(L)
        if !path.isEmpty {
            for part in path.split(separator: ".", omittingEmptySubsequences: false) {
                guard lua_type(L, -1) == LUA_TTABLE else { return [] }
                lua_pushstring(L, String(part))
                lua_rawget(L, -2)
                fp_remove(L, -2)
            }
        }
        // For userdata, list the metatable's methods table.
        if lua_type(L, -1) == LUA_TUSERDATA {
            guard lua_getmetatable(L, -1) != 0 else { return [] }
            lua_getfield(L, -1, "__methods")
            guard lua_type(L, -1) == LUA_TTABLE else { return [] }
        }
        guard lua_type(L, -1) == LUA_TTABLE else { return [] }
        var out = [String]()
        lua_pushnil(L)
        while lua_next(L, -2) != 0 {
            if lua_type(L, -2) == LUA_TSTRING, let k = fp_tostring(L, -2).map({ String(cString: $0) }), k.hasPrefix(prefix) {
                let isFn = lua_type(L, -1) == LUA_TFUNCTION
                out.append((path.isEmpty ? "" : path + sep) + k + (isFn && sep == ":" ? "(" : ""))
            }
            fp_pop(L, 1)
        }
        return out.sorted()
    }
}

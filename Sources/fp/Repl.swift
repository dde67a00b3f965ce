import ArgumentParser
import CLineEdit
import CLua
import FPLua
import Foundation

/// `fp repl`: line editing and history (libedit), multi-line input, the session rules of
/// stdlib/fp/repl.lua (top-level locals persist, `_`, summaries, `?x` / help(x)), tab completion
/// from stdlib/fp/complete.lua. Ctrl-C at the prompt clears the line, Ctrl-C while a chunk runs
/// stops it and keeps the session, Ctrl-D quits. `--timeout N` stops any chunk after N seconds.
struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Interactive Lua prompt with fp loaded.")

    @OptionGroup var safety: SafetyOptions

    func run() throws {
        let host = try makeHost()
        let interactive = isatty(0) != 0
        let historyPath = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.fp_history"
        let timeout = try safety.apply(to: host, script: nil, args: [], historyFile: interactive ? historyPath : nil)
        host.setArgs(script: "repl", [])
        _ = host.runString("require('fp.repl').install()", name: "=repl")
        Completion.host = host
        // quotes and '[' belong to the word: `cache["blocks.0.` and `model.blocks[3].attn.` complete
        fp_lineedit_set_completion(Completion.generator, " \t\n(),{=+-*/%^<>~#;")
        _ = read_history(historyPath)
        if interactive {
            print("fp \(fpVersion) with \(luaVersion()) — help(x) or ?x for help, Ctrl-C stops a running chunk, Ctrl-D quits")
        }
        // Between chunks SIGINT only sets a flag: libedit's readline returns nil when Ctrl-C
        // interrupts it, and the flag tells that apart from Ctrl-D (fp_sigint_arm/disarm save
        // and restore this handler around each chunk).
        signal(SIGINT, Repl.onPromptInterrupt)
        while true {
            Repl.promptInterrupted = 0
            guard var chunk = readLine(prompt: "> ", interactive) else {
                if Repl.interruptedAtPrompt() { print("^C"); continue }   // Ctrl-C clears the line
                break
            }
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            // keep reading while the chunk is incomplete
            var cancelled = false
            while compile(host.L, chunk) == .incomplete {
                guard let more = readLine(prompt: ">> ", interactive) else { cancelled = Repl.interruptedAtPrompt(); break }
                chunk += "\n" + more
            }
            if cancelled { print("^C"); continue }   // Ctrl-C drops the unfinished chunk
            if interactive { add_history(chunk); _ = write_history(historyPath) }
            execute(host, chunk, timeout: timeout)
        }
        if interactive { print("") }
    }

    nonisolated(unsafe) static var promptInterrupted: sig_atomic_t = 0
    static let onPromptInterrupt: @convention(c) (Int32) -> Void = { _ in Repl.promptInterrupted = 1 }

    /// After readline returned nil: was it Ctrl-C (not Ctrl-D)? A process-directed SIGINT may
    /// run its handler on another thread (OpenBLAS's workers do not block it), a moment after
    /// readline returned, so the flag is given 100 ms to appear before this counts as Ctrl-D.
    static func interruptedAtPrompt() -> Bool {
        for _ in 0..<20 where promptInterrupted == 0 { usleep(5000) }
        return promptInterrupted != 0
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

    func execute(_ host: LuaHost, _ chunk: String, timeout: Int?) {
        let L = host.L
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        let run = "return require('fp.repl').run"
        guard fp_loadbuffer(L, run, strlen(run), "=repl") == LUA_OK, host.call(nargs: 0, nresults: 1) == nil else {
            printError("repl: cannot load fp.repl")
            return
        }
        lua_pushstring(L, chunk)
        let timer = timeout.map(ChunkTimer.init)
        let err = host.call(nargs: 1, nresults: 0)
        let timedOut = timer?.stop() ?? false
        if let err {
            printError(timedOut ? "timeout after \(timeout ?? 0) s (the session is kept)" : Repl.userPart(err))
        }
    }

    /// The error without the REPL's own frames: the traceback ends at the chunk's last line
    /// ("stdin:N"); an interrupt is just "interrupted".
    static func userPart(_ err: String) -> String {
        var lines = err.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let first = lines.first, first.hasSuffix(": interrupted") || first == "interrupted" {
            return "interrupted (the session is kept)"
        }
        if let last = lines.lastIndex(where: { $0.contains("stdin:") }), last > 0 { lines = Array(lines[...last]) }
        return lines.joined(separator: "\n")
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

/// `fp repl --timeout N`: SIGINT to this process N seconds after a chunk starts (the chunk stops
/// as with Ctrl-C and the session is kept); a chunk stuck in one native call gets a second
/// SIGINT 5 s later, which ends the process as a second Ctrl-C does.
final class ChunkTimer {
    private let timer: DispatchSourceTimer
    private let lock = NSLock()
    private var fired = 0
    private var running = true

    init(seconds: Int) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        timer.schedule(deadline: .now() + .seconds(seconds), repeating: .seconds(5))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard self.running else { return }
            self.fired += 1
            kill(getpid(), SIGINT)
        }
        timer.resume()
    }

    /// Stops the timer; true when it fired.
    func stop() -> Bool {
        lock.lock()
        running = false
        let f = fired > 0
        lock.unlock()
        timer.cancel()
        return f
    }
}

func luaVersion() -> String { "Lua 5.4" }

/// Tab completion through libedit: the candidates come from fp.complete (globals, fields,
/// methods after ':', model fields, cache keys and hook names inside strings).
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

    /// Replacements for the word `text` (from fp.complete; the REPL's word includes quotes and
    /// brackets, so the whole word is replaced).
    static func candidates(_ text: String) -> [String] {
        guard let host else { return [] }
        let L = host.L
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let code = "return require('fp.complete').complete(...)"
        guard fp_loadbuffer(L, code, strlen(code), "=complete") == LUA_OK else { return [] }
        lua_pushstring(L, text)
        guard fp_pcall_traceback(L, 1, 2) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else { return [] }
        let start = Int(fp_tointeger(L, -2))
        let head = String(decoding: Array(text.utf8).prefix(max(start - 1, 0)), as: UTF8.self)
        var out = [String]()
        let n = lua_rawlen(L, -1)
        for i in 0..<n {
            lua_rawgeti(L, -1, lua_Integer(i + 1))
            if let s = fp_tostring(L, -1) { out.append(head + String(cString: s)) }
            fp_pop(L, 1)
        }
        return out
    }
}

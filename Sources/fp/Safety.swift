import ArgumentParser
import FPLua
import FPModels
import FPTensor
import Foundation

/// fp's own flags for running code someone else wrote: the sandbox, and memory/time limits.
/// Defaults come from $FP_SANDBOX / $FP_MAX_MEMORY / $FP_TIMEOUT, then from the config file
/// (${XDG_CONFIG_HOME:-~/.config}/fp/config, lines `key = value`); flags win over both.
struct SafetyOptions: ParsableArguments {
    @Flag(name: .long, help: "Run in the sandbox (see docs/security.md).")
    var sandbox = false

    @Flag(name: .customLong("no-sandbox"), help: "Run without the sandbox even if the config makes it the default.")
    var noSandbox = false

    @Option(name: .customLong("allow-read"), help: "In the sandbox: also allow reading this file or folder (repeatable).")
    var allowRead: [String] = []

    @Option(name: .customLong("allow-write"), help: "In the sandbox: allow writing inside this folder (repeatable).")
    var allowWrite: [String] = []

    @Option(name: .customLong("max-memory"), help: "Limit live tensor memory (e.g. 512M, 2G).")
    var maxMemory: String?

    @Option(name: .long, help: "Stop the script after this many seconds (exit status 124).")
    var timeout: Int?

    /// Settings from the environment and the config file (flags override them).
    static func defaults() throws -> [String: String] {
        var out = [String: String]()
        let env = ProcessInfo.processInfo.environment
        let configHome = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? ".") + "/.config")
        let file = configHome + "/fp/config"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let kv = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2, ["sandbox", "max_memory", "timeout"].contains(kv[0]) else {
                    throw ValidationError("\(file):\(n + 1): expected `sandbox = true|false`, `max_memory = SIZE` or `timeout = SECONDS`, got '\(raw)'")
                }
                out[kv[0]] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            }
        }
        if let v = env["FP_SANDBOX"], !v.isEmpty { out["sandbox"] = v }
        if let v = env["FP_MAX_MEMORY"], !v.isEmpty { out["max_memory"] = v }
        if let v = env["FP_TIMEOUT"], !v.isEmpty { out["timeout"] = v }
        return out
    }

    static func truthy(_ v: String, _ what: String) throws -> Bool {
        switch v.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(what): expected true or false, got '\(v)'")
        }
    }

    /// Applies the limits and, when sandboxed, the sandbox to `host`, then loads fp.extensions
    /// (so no Lua code from a file runs before the sandbox is on). `script` is the script's
    /// path (nil for the REPL and -e); `args` are the script's arguments (those naming
    /// existing files or folders become readable). Returns the timeout, if any.
    func apply(to host: LuaHost, script: String?, args: [String], historyFile: String? = nil) throws -> Int? {
        let d = try SafetyOptions.defaults()
        guard !(sandbox && noSandbox) else { throw ValidationError("--sandbox and --no-sandbox contradict each other") }
        let configured = try d["sandbox"].map { try SafetyOptions.truthy($0, "sandbox setting") } ?? false
        let sandboxed = sandbox || (!noSandbox && configured)

        if let text = maxMemory ?? d["max_memory"] {
            guard let bytes = Limits.parseSize(text) else {
                throw ValidationError("--max-memory: expected a size like 512M or 2G, got '\(text)'")
            }
            Limits.maxTensorBytes = bytes
        }
        var seconds = timeout
        if seconds == nil, let t = d["timeout"] {
            guard let v = Int(t) else { throw ValidationError("timeout setting: expected whole seconds, got '\(t)'") }
            seconds = v
        }
        if let s = seconds, s <= 0 { throw ValidationError("--timeout: expected a positive number of seconds, got \(s)") }

        if sandboxed {
            try applySandbox(to: host, script: script, args: args, historyFile: historyFile)
        } else if !allowRead.isEmpty || !allowWrite.isEmpty {
            throw ValidationError("--allow-read and --allow-write only apply with --sandbox")
        }
        host.loadExtensions()
        return seconds
    }

    /// The policy (what fp checks) and the same folders in the kernel (Landlock, seccomp),
    /// kernel first, then the Lua wrappers.
    func applySandbox(to host: LuaHost, script: String?, args: [String], historyFile: String?) throws {
        typealias Bytes = SandboxPolicy.Bytes
        let fm = FileManager.default
        for dir in allowWrite {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--allow-write \(dir): no such folder (create it first)")
            }
        }
        for p in allowRead where !fm.fileExists(atPath: p) {
            throw ValidationError("--allow-read \(p): no such file or folder")
        }
        let homes = SafetyOptions.userHomes()
        let root: Bytes = [0x2F]
        var read = allowRead.map { Array($0.utf8) }
        if let script {
            if let folder = SafetyOptions.folderOfRegularFile(script) {
                // A script saved straight into the home folder (or /) must not make all of it
                // readable (~/.ssh, tokens): only what --allow-read names.
                let resolved = SandboxPolicy.resolve(folder)
                let shown = String(decoding: folder, as: UTF8.self)
                if resolved == nil || resolved == root || resolved.map(homes.contains) == true {
                    printError("sandbox: the script's folder \(shown) is not made readable (it is your home folder or /); use --allow-read for the files the script needs")
                } else if let r = resolved, homes.contains(where: { SandboxPolicy.isInside($0, r) }) {
                    printError("sandbox: the script's folder \(shown) is not made readable (it holds your home folder); use --allow-read for the files the script needs")
                } else {
                    read.append(folder)
                }
                read.append(Array(script.utf8))   // the script itself (loaded after the sandbox is on)
            } else {
                printError("sandbox: \(script) is not a regular file (a pipe or a device), so no script folder is made readable; use --allow-read for the files the script needs")
            }
        }
        // fp's own places; never / or a folder holding the home folder (HOME unset or odd).
        let stdlib = LuaHost.findStdlib(executable: CommandLine.arguments[0])
        var implicit = stdlib.map { [$0] } ?? []
        implicit += SandboxPolicy.folderAndLinkTargets(ModelLoader.modelsFolder)
        implicit.append(HubCache.cacheRoot())
        for p in implicit {
            guard let r = SandboxPolicy.resolve(Array(p.utf8)) else { continue }
            if r == root || homes.contains(where: { SandboxPolicy.isInside($0, r) }) {
                printError("sandbox: \(p) is not made readable (it is / or holds your home folder)")
            } else {
                read.append(r)
            }
        }
        // script arguments that name existing files or folders (data the script is given), but
        // never / or a folder holding the home folder (`fp run --sandbox x.lua ~` opens nothing)
        for a in args where !a.isEmpty && fm.fileExists(atPath: a) {
            guard let r = SandboxPolicy.resolve(Array(a.utf8)) else { continue }
            if r == root || homes.contains(where: { SandboxPolicy.isInside($0, r) }) {
                printError("sandbox: the argument \(a) is not made readable (it is / or holds your home folder); use --allow-read for what the script needs")
            } else {
                read.append(Array(a.utf8))
            }
        }

        // A writable folder must not hold the code a later run executes: Landlock only adds
        // rights, so a writable parent would make fp's stdlib (or fp itself) writable.
        let protected = [stdlib, "/proc/self/exe"].compactMap { $0 }.compactMap { p -> (String, Bytes)? in
            SandboxPolicy.resolve(Array(p.utf8)).map { (p == "/proc/self/exe" ? "fp's executable" : "fp's stdlib", $0) }
        }
        for dir in allowWrite {
            guard let w = SandboxPolicy.resolve(Array(dir.utf8)) else { continue }
            for (what, p) in protected where SandboxPolicy.isInside(p, w) {
                throw ValidationError("--allow-write \(dir): it holds \(what) (\(String(decoding: p, as: UTF8.self))); a sandboxed script could change the code the next run executes. Allow a folder that does not")
            }
        }

        let policy = SandboxPolicy(read: read, write: allowWrite.map { Array($0.utf8) })
        if KernelSandbox.landlockABI <= 0 {
            printError("sandbox: \(KernelSandbox.statusDescription): file access is checked by fp only, not enforced by the kernel (see docs/security.md)")
        }
        do {
            // the REPL's history file: for fp (libedit) only, the policy does not list it
            var files = [SandboxPolicy.Bytes]()
            if let h = historyFile, FileManager.default.fileExists(atPath: h) || FileManager.default.createFile(atPath: h, contents: nil),
               let r = SandboxPolicy.resolve(Array(h.utf8)), SandboxPolicy.isSymlink(Array(h.utf8)) == false {
                files.append(r)
            }
            _ = try KernelSandbox.apply(read: policy.readRoots, write: policy.writeRoots, files: files)
        } catch {
            throw ValidationError("cannot set up the sandbox: \(error)")
        }
        if let err = Sandbox.install(host.L, policy: policy) { throw ValidationError("cannot set up the sandbox: \(err)") }
    }

    /// The folder of `path` as bytes if `path` is a regular file (not a pipe such as
    /// /dev/stdin or a device), else nil.
    static func folderOfRegularFile(_ path: String) -> SandboxPolicy.Bytes? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var b = Array(path.utf8)
        while b.count > 1, b.last == 0x2F { b.removeLast() }
        guard let slash = b.lastIndex(of: 0x2F) else { return [0x2E] }
        return slash == 0 ? [0x2F] : Array(b[..<slash])
    }

    /// The user's home folders, resolved: $HOME if set and not empty, and the password
    /// database's entry (so an unset HOME does not hide the real one).
    static func userHomes() -> [SandboxPolicy.Bytes] {
        var out = [SandboxPolicy.Bytes]()
        if let h = ProcessInfo.processInfo.environment["HOME"], !h.isEmpty, let r = SandboxPolicy.resolve(Array(h.utf8)) { out.append(r) }
        if let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir, dir.pointee != 0 {
            let b = Array(UnsafeBufferPointer(start: UnsafeRawPointer(dir).assumingMemoryBound(to: UInt8.self), count: strlen(dir)))
            if let r = SandboxPolicy.resolve(b) { out.append(r) }
        }
        return out
    }
}

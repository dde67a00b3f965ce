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

    /// Applies the limits and, when sandboxed, the sandbox to `host`. `home` is the folder of
    /// the script (nil for the REPL and -e); `args` are the script's arguments (those naming
    /// existing files or folders become readable). Returns the timeout, if any.
    func apply(to host: LuaHost, home: String?, args: [String]) throws -> Int? {
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
            var read = allowRead
            if let home {
                // A script saved straight into the home folder (or /) must not make all of it
                // readable (~/.ssh, tokens): only what --allow-read names.
                let userHome = ProcessInfo.processInfo.environment["HOME"].flatMap(SandboxPolicy.resolve)
                let resolved = SandboxPolicy.resolve(home)
                if resolved == "/" || (userHome != nil && resolved == userHome) {
                    printError("sandbox: the script's folder \(home) is not made readable (it is your home folder or /); use --allow-read for the files the script needs")
                } else {
                    read.append(home)
                }
            }
            if let stdlib = LuaHost.findStdlib(executable: CommandLine.arguments[0]) { read.append(stdlib) }
            read += SandboxPolicy.folderAndLinkTargets(ModelLoader.modelsFolder)
            read.append(HubCache.cacheRoot())
            read += args.filter { !$0.isEmpty && fm.fileExists(atPath: $0) }
            let policy = SandboxPolicy(read: read, write: allowWrite)
            if let err = Sandbox.install(host.L, policy: policy) { throw ValidationError("cannot set up the sandbox: \(err)") }
        } else if !allowRead.isEmpty || !allowWrite.isEmpty {
            throw ValidationError("--allow-read and --allow-write only apply with --sandbox")
        }
        return seconds
    }
}

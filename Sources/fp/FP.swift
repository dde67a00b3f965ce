import ArgumentParser
import FPLua
import FPModels
import Foundation

let fpVersion = "0.1.0"

struct FP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fp",
        abstract: "Transformer models and tensors on the CPU, scripted in Lua 5.4.",
        version: "fp \(fpVersion)\n\(BLASSetup.description)",
        subcommands: [Run.self, Repl.self, Test.self, Info.self, Pull.self, Kernel.self, Merge.self])
}

/// Shared: a Lua host with fp's stdlib on package.path. fp.extensions (Lua code from a file)
/// is loaded by SafetyOptions.apply once the sandbox, if any, is on; `extensions` loads it now.
func makeHost(extensions: Bool = false) throws -> LuaHost {
    let host = try LuaHost(stdlibPath: LuaHost.findStdlib(executable: CommandLine.arguments[0]))
    if extensions { host.loadExtensions() }
    return host
}

func printError(_ message: String) {
    FileHandle.standardError.write(("fp: " + message + "\n").data(using: .utf8) ?? Data())
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Lua script (fp flags before FILE; everything after FILE goes to the script's `arg`).")

    @Option(name: .shortAndLong, help: "Run this Lua code instead of a file.")
    var execute: String?

    @OptionGroup var safety: SafetyOptions

    @OptionGroup var sharding: ShardOptions

    @Argument(parsing: .captureForPassthrough, help: "FILE [script arguments...]")
    var rest: [String] = []

    func run() throws {
        let host = try makeHost()
        if let code = execute {
            try sharding.install(on: host, script: "-e", path: nil, code: code, args: rest)
            let timeout = try safety.apply(to: host, script: nil, args: rest)
            host.setArgs(script: "-e", rest)
            try startTimeout(timeout)
            if let err = host.runString(code) { try fail(err) }
            return
        }
        guard let file = rest.first else {
            throw ValidationError("expected a Lua file to run (or -e 'code')")
        }
        if file == "--help" || file == "-h" {
            print(Run.helpMessage())
            return
        }
        if file.hasPrefix("-") && !FileManager.default.fileExists(atPath: file) {
            // fp's own flags come before FILE; anything else starting with '-' is a mistake.
            throw ValidationError("unknown option '\(file)' (fp run [-e CODE] FILE [script args...])")
        }
        guard FileManager.default.isReadableFile(atPath: file) else {
            printError("cannot open \(file): no such readable file")
            throw ExitCode(1)
        }
        let args = Array(rest.dropFirst())
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
        try sharding.install(on: host, script: file, path: file, code: nil, args: args)
        let timeout = try safety.apply(to: host, script: file, args: args)
        host.addToPackagePath(folder)
        host.setArgs(script: file, args)
        try startTimeout(timeout)
        if let err = host.runFile(file, args: args) { try fail(err) }
    }

    func startTimeout(_ seconds: Int?) throws {
        guard let seconds else { return }
        guard LimitsBridge.startTimeout(seconds: seconds) else { printError("cannot start the timeout timer"); throw ExitCode(1) }
    }

    /// Prints the script's error; a timeout exits with status 124 (as timeout(1) does).
    func fail(_ err: String) throws -> Never {
        printError(err)
        throw ExitCode(LimitsBridge.timedOut ? 124 : 1)
    }
}

struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Lua test files (test(name, fn), expect_error, assert_close, skip); default Tests/lua.")

    @Argument(help: "Test files or folders (folders: every *.lua inside, recursively).")
    var paths: [String] = []

    func run() throws {
        let roots = paths.isEmpty ? ["Tests/lua"] : paths
        let files = try collectLuaFiles(roots)
        guard !files.isEmpty else { printError("no test files (*.lua) found in \(roots.joined(separator: ", "))"); throw ExitCode(1) }
        let host = try makeHost(extensions: true)
        host.setArgs(script: "fp test", files)
        let code = "local failed = require('fp.testing').run_files(arg); if failed > 0 then os.exit(1) end"
        if let err = host.runString(code, name: "=fp test") { printError(err); throw ExitCode(1) }
    }

    func collectLuaFiles(_ paths: [String]) throws -> [String] {
        var out = [String]()
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else {
                printError("no such file or folder: \(p)")
                throw ExitCode(1)
            }
            if isDir.boolValue {
                let items = (fm.enumerator(atPath: p)?.allObjects as? [String]) ?? []
                out += items.filter { $0.hasSuffix(".lua") }.sorted().map { (p as NSString).appendingPathComponent($0) }
            } else {
                out.append(p)
            }
        }
        return out
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print fp's build and BLAS configuration, or a model's config, BOS default and hook points.")

    @Argument(help: "A model name or path (optional).")
    var model: String?

    func run() throws {
        guard let model else {
            print("fp \(fpVersion)")
            print(BLASSetup.description)
            print("Lua: \(luaVersion())")
            print("stdlib: \(LuaHost.findStdlib(executable: CommandLine.arguments[0]) ?? "(not found)")")
            print("models folder: \(ModelLoader.modelsFolder)")
            print("sandbox: \(KernelSandbox.statusDescription)")
            ModelInfo.printFamilies()
            return
        }
        do {
            try ModelInfo.print(model)
        } catch {
            printError("info: \(error)")
            throw ExitCode(1)
        }
    }
}

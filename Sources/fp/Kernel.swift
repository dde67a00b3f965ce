import ArgumentParser
import CLua
import FPLua
import Foundation

/// `fp kernel install [--user] [fp flags]` writes the Jupyter kernelspec "fp (Lua)";
/// `fp kernel worker` is the process the kernel (stdlib/fp/jupyter/fp_kernel.py) drives.
/// See docs/jupyter.md.
struct Kernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Jupyter kernel: `fp kernel install [--user] [fp flags]` adds \"fp (Lua)\" to Jupyter.",
        subcommands: [KernelInstall.self, KernelWorker.self])
}

struct KernelInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the kernelspec \"fp (Lua)\"; fp flags after the options (--sandbox, --allow-read, --allow-write, --max-memory, --timeout) apply to every notebook that uses it.")

    @Flag(name: .long, help: "Install for this user (~/.local/share/jupyter) instead of the Python environment's prefix.")
    var user = false

    @Option(name: .long, help: "The Python that runs the kernel (needs ipykernel); default $FP_PYTHON or python3.")
    var python: String?

    @Option(name: .long, help: "Kernel name (folder of the kernelspec).")
    var name = "fp"

    @Argument(parsing: .captureForPassthrough, help: "fp flags for the kernel's worker (e.g. --sandbox --max-memory 4G --timeout 600).")
    var flags: [String] = []

    func run() throws {
        // The flags must be ones the worker accepts: check them now, not when a notebook opens.
        _ = try SafetyOptions.parse(flags)
        let py = python ?? ProcessInfo.processInfo.environment["FP_PYTHON"] ?? "python3"
        guard let stdlib = LuaHost.findStdlib(executable: CommandLine.arguments[0]) else {
            printError("kernel install: cannot find fp's stdlib (set FP_STDLIB)")
            throw ExitCode(1)
        }
        let kernelPy = stdlib + "/fp/jupyter/fp_kernel.py"
        guard FileManager.default.fileExists(atPath: kernelPy) else {
            printError("kernel install: \(kernelPy) is missing")
            throw ExitCode(1)
        }
        let probe = runProcess(py, ["-c", "import ipykernel, jupyter_client; print(ipykernel.__version__)"])
        guard probe.status == 0 else {
            printError("""
                kernel install: \(py) cannot import ipykernel (\(probe.output.split(separator: "\n").last ?? "not found")).
                Install it for that Python, e.g. in a virtual environment:
                    python3 -m venv ~/fp-jupyter && ~/fp-jupyter/bin/pip install ipykernel jupyterlab
                    fp kernel install --python ~/fp-jupyter/bin/python
                """)
            throw ExitCode(1)
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let spec: [String: Any] = [
            "argv": [py, kernelPy, "-f", "{connection_file}", "--fp", exe, "--"] + flags,
            "display_name": "fp (Lua)",
            "language": "lua",
            "interrupt_mode": "signal",
            "env": ["FP_STDLIB": stdlib],
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-kernelspec-\(getpid())/\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent("kernel.json"))
        // jupyter_client knows where kernelspecs go (user dir, sys.prefix, JUPYTER_DATA_DIR).
        let install = """
            import sys
            from jupyter_client.kernelspec import KernelSpecManager
            user = sys.argv[2] == "user"
            print(KernelSpecManager().install_kernel_spec(sys.argv[1], sys.argv[3], user=user, prefix=None if user else sys.prefix))
            """
        let r = runProcess(py, ["-c", install, dir.path, user ? "user" : "prefix", name])
        guard r.status == 0 else {
            printError("kernel install: \(r.output)")
            throw ExitCode(1)
        }
        print("installed kernelspec \"fp (Lua)\" in \(r.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        print("open a notebook with: jupyter lab   (then pick the \"fp (Lua)\" kernel)")
    }

    func runProcess(_ exe: String, _ args: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (127, "\(error)") }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }
}

/// The worker: reads one JSON request per line from fd R, answers with JSON lines on fd W
/// (stdlib/fp/kernel.lua does the work); stdout and stderr stay the cell's output streams.
/// SIGINT stops the running request ("interrupted") and the worker keeps its state.
struct KernelWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "The process fp's Jupyter kernel drives (not for direct use).", shouldDisplay: false)

    @Option(name: .long, help: "Request and reply file descriptors, as R,W.")
    var fds: String

    @OptionGroup var safety: SafetyOptions

    func run() throws {
        let parts = fds.split(separator: ",").compactMap { Int32($0) }
        guard parts.count == 2 else { throw ValidationError("--fds: expected R,W") }
        guard safety.timeout == nil else { throw ValidationError("--timeout is applied per cell by the kernel, not by the worker") }
        KernelChannel.out = parts[1]
        setvbuf(stdout, nil, _IOLBF, 0)
        signal(SIGINT, SIG_IGN)   // between requests; fp_sigint_arm/disarm save and restore it
        let host = try makeHost()
        _ = try safety.apply(to: host, script: nil, args: [])
        host.setArgs(script: "kernel", [])
        let L = host.L
        let start = "return require('fp.kernel').start"
        guard fp_loadbuffer(L, start, strlen(start), "=kernel") == LUA_OK, host.call(nargs: 0, nresults: 1) == nil else {
            printError("kernel worker: cannot load fp.kernel")
            throw ExitCode(1)
        }
        lua_pushcclosure(L, KernelChannel.send, 0)
        if let err = host.call(nargs: 1, nresults: 0) { printError("kernel worker: \(err)"); throw ExitCode(1) }
        KernelChannel.write(["type": "ready"])
        let input = FileHandle(fileDescriptor: parts[0], closeOnDealloc: false)
        var buffer = Data()
        while true {
            let chunk = input.availableData
            if chunk.isEmpty { return }   // the kernel closed the pipe
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[buffer.index(after: nl)...])
                handle(host, String(decoding: line, as: UTF8.self))
            }
        }
    }

    func handle(_ host: LuaHost, _ line: String) {
        let L = host.L
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        let code = "return require('fp.kernel').handle"
        var error: String?
        if fp_loadbuffer(L, code, strlen(code), "=kernel") != LUA_OK || host.call(nargs: 0, nresults: 1) != nil {
            error = "kernel worker: cannot load fp.kernel"
        } else {
            lua_pushstring(L, line)
            error = host.call(nargs: 1, nresults: 0)
        }
        fflush(stdout)
        var done: [String: Any] = ["type": "done"]
        if let error { done["error"] = error }
        KernelChannel.write(done)
    }
}

/// The reply pipe: JSON lines, each written whole after the cell's stdout is flushed (so the
/// kernel can keep printed text and displays in order).
enum KernelChannel {
    nonisolated(unsafe) static var out: Int32 = -1

    static func writeLine(_ bytes: [UInt8]) {
        fflush(stdout)
        var all = bytes
        all.append(UInt8(ascii: "\n"))
        var off = 0
        while off < all.count {
            let n = all[off...].withUnsafeBytes { Foundation.write(out, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    static func write(_ msg: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: msg) else { return }
        writeLine([UInt8](data))
    }

    /// send(json_string) for fp.kernel: writes one line; never raises.
    static let send: lua_CFunction = { L in
        guard let L else { return 0 }
        var len = 0
        guard let p = lua_tolstring(L, 1, &len) else { return 0 }
        writeLine(Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: len)))
        return 0
    }
}

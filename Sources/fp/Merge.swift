import ArgumentParser
import Foundation

/// `fp merge DIR`: joins the shard-I-of-N folders of a sharded run into DIR/results.json (and
/// DIR/results.npz for tensor results), exactly as one unsharded run writes them. The work is
/// stdlib/fp/shard.lua's merge, the same code an unsharded run finishes with.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the shards of a sharded run (fp run --shard I/N ... --out DIR) into DIR/results.json.")

    @Argument(help: "The --out folder the shards wrote into (it holds shard-I-of-N folders).")
    var dir: String

    func run() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            printError("merge: no such folder: \(dir)")
            throw ExitCode(1)
        }
        // Lua has no directory listing: pass the shard folders' names (shard-I-of-N).
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.range(of: #"^shard-[0-9]+-of-[0-9]+$"#, options: .regularExpression) != nil
        }.sorted()
        let host = try makeHost()
        host.setArgs(script: "fp merge", [dir] + names)
        let code = "local ok = require('fp.shard').merge_command(arg[1], table.move(arg, 2, #arg, 1, {})); if not ok then os.exit(1) end"
        if let err = host.runString(code, name: "=fp merge") {
            printError(err)
            throw ExitCode(1)
        }
    }
}

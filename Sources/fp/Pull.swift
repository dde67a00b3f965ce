import ArgumentParser
import FPModels
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a Hugging Face model into the Hugging Face cache.",
        discussion: """
            Fetches ORG/NAME from $HF_ENDPOINT (default \(HubDownloader.defaultEndpoint)) into \
            ${HF_HUB_CACHE:-${HF_HOME:-~/.cache/huggingface}/hub}/models--ORG--NAME/snapshots/<commit>/ \
            and records the commit in refs/<revision>. Sends $HF_TOKEN (or the token file of \
            `huggingface-cli login`) for gated and private models. Interrupted downloads resume \
            from their .incomplete files. Prints the snapshot folder on stdout.

            Default files: \(HubDownloader.defaultIncludes.joined(separator: " ")). \
            --include replaces that list (e.g. --include '*.gguf', or --include '*' for everything).
            """)

    @Argument(help: "Model id, ORG/NAME.")
    var repo: String

    @Option(help: "Branch, tag or commit.")
    var revision = "main"

    @Option(parsing: .upToNextOption, help: ArgumentHelp(
        "Glob(s) of repo file paths to fetch instead of the default set ('*' also matches '/'); give ORG/NAME before --include.",
        valueName: "glob"))
    var include: [String] = []

    func run() throws {
        let downloader = HubDownloader(environment: ProcessInfo.processInfo.environment)
        let ui = PullProgress(tty: isatty(2) != 0)
        do {
            let path = try downloader.pull(repo: repo, revision: revision,
                                           include: include.isEmpty ? nil : include,
                                           progress: { ui.handle($0) })
            ui.end()
            print(path)
        } catch let e as HubError {
            ui.end()
            printError("pull: " + e.message)
            throw ExitCode(1)
        } catch {
            ui.end()
            printError("pull: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Status on stderr: a redrawn progress bar per file when stderr is a terminal, else one line
/// per file (and per retry / restart).
final class PullProgress {
    let tty: Bool
    private let lock = NSLock()
    private var name = ""
    private var label = ""
    private var start = Date()
    private var resumedAt: Int64 = 0
    private var lastDraw = Date.distantPast
    private var barShown = false

    init(tty: Bool) { self.tty = tty }

    func handle(_ event: HubPullEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case let .resolved(repo, revision, commit, files):
            let rev = revision == commit ? "" : "\(revision) = "
            line("pulling \(repo) at \(rev)\(commit.prefix(12)): \(files.count) file\(files.count == 1 ? "" : "s")")
        case let .fileStarted(n, index, count):
            name = n
            label = "[\(index + 1)/\(count)] \(n)"
            start = Date()
            resumedAt = 0
            lastDraw = .distantPast
        case let .fileResumed(_, offset):
            resumedAt = offset
            if !tty { line("  \(name): resuming at \(Self.size(offset))") }
        case let .fileRestarted(_, reason):
            resumedAt = 0
            line("  \(name): starting over: \(reason)")
        case let .retrying(_, attempt, of, reason):
            line("  \(name): \(reason); retrying (attempt \(attempt) of \(of))")
        case let .fileProgress(_, bytes, total):
            guard tty else { return }
            let now = Date()
            if now.timeIntervalSince(lastDraw) < 0.1 && bytes != total { return }
            lastDraw = now
            draw(bytes: bytes, total: total)
        case let .fileFinished(n, bytes, downloaded, seconds):
            let rate = seconds > 0 ? Double(downloaded) / seconds : 0
            let text = "\(label.isEmpty ? n : label)  \(Self.size(bytes))  "
                + "\(String(format: "%.1f", seconds)) s  \(Self.size(Int64(rate)))/s"
                + (resumedAt > 0 ? "  (resumed at \(Self.size(resumedAt)))" : "")
            line(text)
        case let .fileCached(n, bytes):
            line("\(n)  \(Self.size(bytes))  already in the cache")
        }
    }

    /// Ends a progress bar line left open by an error.
    func end() {
        lock.lock(); defer { lock.unlock() }
        if barShown { write("\n"); barShown = false }
    }

    private func draw(bytes: Int64, total: Int64?) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0.05 ? Double(bytes - resumedAt) / elapsed : 0
        var text = label + "  "
        if let t = total, t > 0 {
            let frac = min(1, max(0, Double(bytes) / Double(t)))
            let width = 24
            let filled = Int(frac * Double(width))
            text += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            text += "\(Self.size(bytes)) / \(Self.size(t))  \(String(format: "%3.0f", frac * 100))%"
        } else {
            text += Self.size(bytes)
        }
        text += "  \(Self.size(Int64(max(0, rate))))/s"
        write("\r\u{1B}[K" + text)
        barShown = true
    }

    private func line(_ text: String) {
        if barShown { write("\r\u{1B}[K"); barShown = false }
        write(text + "\n")
    }

    private func write(_ s: String) {
        FileHandle.standardError.write(s.data(using: .utf8) ?? Data())
    }

    static func size(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
    }
}

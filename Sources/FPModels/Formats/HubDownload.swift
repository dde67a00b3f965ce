import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Hugging Face Hub download into the huggingface_hub cache layout:
//
//   <cache>/models--ORG--NAME/refs/<revision>            the commit sha, no newline
//   <cache>/models--ORG--NAME/snapshots/<sha>/<files>    plain files (no blobs/ + symlinks)
//
// <cache> is $HF_HUB_CACHE, else ${HF_HOME:-$XDG_CACHE_HOME/huggingface or
// ~/.cache/huggingface}/hub. Protocol (as huggingface_hub's HfApi.model_info and
// hf_hub_download): GET {endpoint}/api/models/{repo}/revision/{rev} lists `sha` and
// `siblings[].rfilename`; GET {endpoint}/{repo}/resolve/{sha}/{file} returns the file, often
// through a redirect to a CDN. Files stream to `<file>.incomplete` next to their final name and
// resume with `Range: bytes=N-`; the size is checked against Content-Length / Content-Range and
// the file renamed into place only when complete.

/// An error with a message meant for the user (no prefix; the CLI adds "fp: pull: ").
public struct HubError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Cache layout

public enum HubCache {
    /// The hub cache folder: $HF_HUB_CACHE (or the legacy $HUGGINGFACE_HUB_CACHE), else
    /// `<HF_HOME>/hub`.
    public static func cacheRoot(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let p = nonEmpty(env["HF_HUB_CACHE"]) { return expandTilde(p, env) }
        if let p = nonEmpty(env["HUGGINGFACE_HUB_CACHE"]) { return expandTilde(p, env) }
        return (hfHome(environment: env) as NSString).appendingPathComponent("hub")
    }

    /// $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
    public static func hfHome(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let h = nonEmpty(env["HF_HOME"]) { return expandTilde(h, env) }
        if let x = nonEmpty(env["XDG_CACHE_HOME"]) {
            return (expandTilde(x, env) as NSString).appendingPathComponent("huggingface")
        }
        return (home(env) as NSString).appendingPathComponent(".cache/huggingface")
    }

    /// "ORG/NAME" -> "models--ORG--NAME".
    public static func repoFolderName(repo: String) -> String {
        "models--" + repo.replacingOccurrences(of: "/", with: "--")
    }

    /// The folder of an already downloaded snapshot of `repo`, nil if there is none:
    /// refs/<revision> -> sha -> snapshots/<sha>; else snapshots/<revision> when the revision
    /// is a commit; else, for the default revision "main" only, the most recently modified
    /// snapshot folder. `cacheRoot` defaults to `cacheRoot()` (HF_HUB_CACHE / HF_HOME).
    public static func snapshotPath(repo: String, revision: String = "main", cacheRoot root: String? = nil) -> String? {
        guard isValidRepoID(repo), isSafeRevision(revision) else { return nil }
        let fm = FileManager.default
        let repoDir = ((root ?? cacheRoot()) as NSString).appendingPathComponent(repoFolderName(repo: repo))
        let snaps = (repoDir as NSString).appendingPathComponent("snapshots")
        let refFile = ((repoDir as NSString).appendingPathComponent("refs") as NSString).appendingPathComponent(revision)
        if let text = try? String(contentsOfFile: refFile, encoding: .utf8) {
            let sha = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if isSafeCommitName(sha) {
                let dir = (snaps as NSString).appendingPathComponent(sha)
                if isDirectory(dir) { return dir }
            }
        }
        if isSafeCommitName(revision) {
            let dir = (snaps as NSString).appendingPathComponent(revision)
            if isDirectory(dir) { return dir }
        }
        guard revision == "main", let names = try? fm.contentsOfDirectory(atPath: snaps) else { return nil }
        var best: (date: Date, path: String)?
        for name in names.sorted() where !name.hasPrefix(".") {
            let dir = (snaps as NSString).appendingPathComponent(name)
            guard isDirectory(dir) else { continue }
            let date = ((try? fm.attributesOfItem(atPath: dir))?[.modificationDate] as? Date) ?? .distantPast
            if date > (best?.date ?? .distantPast) || best == nil { best = (date, dir) }
        }
        return best?.path
    }

    /// "ORG/NAME" or "NAME": letters, digits, '-', '_', '.', not "." or "..".
    public static func isValidRepoID(_ repo: String) -> Bool {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, repo.utf8.count <= 200 else { return false }
        for p in parts {
            guard !p.isEmpty, p != ".", p != ".." else { return false }
            for c in p.unicodeScalars where !(isASCIIAlnum(c) || c == "-" || c == "_" || c == ".") { return false }
        }
        return true
    }

    /// A branch, tag or commit usable as a path below refs/ (may contain '/', as "refs/pr/1").
    public static func isSafeRevision(_ rev: String) -> Bool {
        !rev.isEmpty && isSafeRelativePath(rev)
    }

    /// A relative path without empty, "." or ".." components, NUL or backslash.
    static func isSafeRelativePath(_ p: String) -> Bool {
        guard !p.isEmpty, !p.hasPrefix("/"), !p.contains("\0"), !p.contains("\\") else { return false }
        for part in p.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty || part == "." || part == ".." { return false }
        }
        return true
    }

    static func isSafeCommitName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.unicodeScalars.allSatisfy(isASCIIAlnum)
    }

    static func isASCIIAlnum(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func nonEmpty(_ s: String?) -> String? {
        guard let s = s, !s.isEmpty else { return nil }
        return s
    }

    static func home(_ env: [String: String]) -> String {
        nonEmpty(env["HOME"]) ?? NSHomeDirectory()
    }

    static func expandTilde(_ p: String, _ env: [String: String]) -> String {
        if p == "~" { return home(env) }
        if p.hasPrefix("~/") { return (home(env) as NSString).appendingPathComponent(String(p.dropFirst(2))) }
        return p
    }
}

// MARK: - Download

/// What `HubDownloader.pull` reports while it works (on the calling thread or the network
/// queue; handlers must not block for long).
public enum HubPullEvent {
    /// The revision resolved to `commit`; `files` will be fetched (or found in the cache).
    case resolved(repo: String, revision: String, commit: String, files: [String])
    /// Starting file `index` (0-based) of `count`.
    case fileStarted(name: String, index: Int, count: Int)
    /// Bytes on disk so far (including a resumed prefix) and the expected total if known.
    case fileProgress(name: String, bytes: Int64, total: Int64?)
    /// The server accepted a Range request: continuing from `offset`.
    case fileResumed(name: String, offset: Int64)
    /// A partial file was discarded and the download starts over (server ignored Range, ...).
    case fileRestarted(name: String, reason: String)
    /// An attempt failed; retrying after a pause.
    case retrying(name: String, attempt: Int, of: Int, reason: String)
    /// The file is complete: `bytes` total size, `downloaded` fetched in this call.
    case fileFinished(name: String, bytes: Int64, downloaded: Int64, seconds: Double)
    /// Already in the snapshot folder; not fetched.
    case fileCached(name: String, bytes: Int64)
}

public final class HubDownloader {
    public static let defaultEndpoint = "https://huggingface.co"

    /// Fetched when no include globs are given: configs, tokenizer files and safetensors
    /// weights. Pickle (.bin), .h5, .msgpack, .onnx and .gguf files only with --include.
    public static let defaultIncludes = [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model",
        "*.safetensors", "model.safetensors.index.json",
    ]

    public let endpoint: String
    public let token: String?
    public let cacheRoot: String
    /// Consecutive failed attempts per file before giving up (an attempt that made progress
    /// resets the count).
    public var maxAttempts = 5
    /// First pause between attempts in seconds; doubles each time, at most 8 s.
    public var retryDelay = 0.5
    /// Idle timeout of a request in seconds.
    public var timeout: TimeInterval = 60

    public init(endpoint: String, token: String?, cacheRoot: String) {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.token = (token?.isEmpty ?? true) ? nil : token
        self.cacheRoot = cacheRoot
    }

    /// HF_ENDPOINT, the token (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, else the file
    /// $HF_TOKEN_PATH or $HF_HOME/token written by `huggingface-cli login`) and the cache root.
    public convenience init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(endpoint: HubCache.nonEmpty(env["HF_ENDPOINT"]) ?? HubDownloader.defaultEndpoint,
                  token: HubDownloader.token(environment: env),
                  cacheRoot: HubCache.cacheRoot(environment: env))
    }

    public static func token(environment env: [String: String]) -> String? {
        for key in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
            if let t = HubCache.nonEmpty(env[key]?.trimmingCharacters(in: .whitespacesAndNewlines)) { return t }
        }
        let file = HubCache.nonEmpty(env["HF_TOKEN_PATH"]).map { HubCache.expandTilde($0, env) }
            ?? (HubCache.hfHome(environment: env) as NSString).appendingPathComponent("token")
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            return HubCache.nonEmpty(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return nil
    }

    /// Downloads the files of `repo` at `revision` that match `include` (shell globs over the
    /// repo-relative path, `*` crossing '/'; nil = `defaultIncludes`) and returns the snapshot
    /// folder. Files already in the snapshot are kept; partial files are resumed.
    public func pull(repo: String, revision: String = "main", include: [String]? = nil,
                     progress: ((HubPullEvent) -> Void)? = nil) throws -> String {
        guard HubCache.isValidRepoID(repo) else {
            throw HubError("'\(repo)' is not a model id: expected ORG/NAME (letters, digits, '-', '_', '.')")
        }
        guard HubCache.isSafeRevision(revision) else {
            throw HubError("'\(revision)' is not a usable revision (branch, tag or commit)")
        }
        let info = try modelInfo(repo: repo, revision: revision)
        let patterns = include ?? Self.defaultIncludes
        let names = info.files.filter { name in patterns.contains { fnmatch($0, name, 0) == 0 } }
        guard !names.isEmpty else {
            throw HubError("\(repo) at \(revision): none of its \(info.files.count) files matches "
                + patterns.joined(separator: " ")
                + (include == nil ? " (use --include GLOB to choose files)" : ""))
        }
        for name in names where !HubCache.isSafeRelativePath(name) {
            throw HubError("\(repo): the server listed an unsafe file name '\(name)'")
        }
        let fm = FileManager.default
        let repoDir = (cacheRoot as NSString).appendingPathComponent(HubCache.repoFolderName(repo: repo))
        let snapDir = ((repoDir as NSString).appendingPathComponent("snapshots") as NSString)
            .appendingPathComponent(info.sha)
        do { try fm.createDirectory(atPath: snapDir, withIntermediateDirectories: true) } catch {
            throw HubError("cannot create \(snapDir): \(Self.describe(error))")
        }
        progress?(.resolved(repo: repo, revision: revision, commit: info.sha, files: names))
        for (i, name) in names.enumerated() {
            let dest = (snapDir as NSString).appendingPathComponent(name)
            if let attrs = try? fm.attributesOfItem(atPath: dest), (attrs[.type] as? FileAttributeType) == .typeRegular {
                progress?(.fileCached(name: name, bytes: (attrs[.size] as? NSNumber)?.int64Value ?? 0))
                continue
            }
            let parent = (dest as NSString).deletingLastPathComponent
            do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                throw HubError("cannot create \(parent): \(Self.describe(error))")
            }
            progress?(.fileStarted(name: name, index: i, count: names.count))
            try downloadFile(repo: repo, commit: info.sha, revision: revision, name: name, dest: dest, progress: progress)
        }
        // The ref is written last, so refs/<revision> only ever points at a complete snapshot.
        if revision != info.sha {
            let refFile = ((repoDir as NSString).appendingPathComponent("refs") as NSString).appendingPathComponent(revision)
            do {
                try fm.createDirectory(atPath: (refFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try info.sha.write(toFile: refFile, atomically: true, encoding: .utf8)
            } catch {
                throw HubError("cannot write \(refFile): \(Self.describe(error))")
            }
        }
        return snapDir
    }

    // MARK: model info

    struct ModelInfo { let sha: String; let files: [String] }

    private struct ModelInfoJSON: Decodable {
        struct Sibling: Decodable { let rfilename: String }
        let sha: String?
        let siblings: [Sibling]?
    }

    func modelInfo(repo: String, revision: String) throws -> ModelInfo {
        let urlString = "\(endpoint)/api/models/\(repo)/revision/\(Self.percentEncode(revision, keepSlash: false))"
        guard let url = URL(string: urlString) else { throw HubError("bad endpoint URL: \(urlString)") }
        var req = makeRequest(url)
        req.setValue("application/json", forHTTPHeaderField: "Accept")
        let result = send(req, decide: { _ in .collect(limit: 256 << 20) }, sink: { _ in })
        if let e = result.localError { throw e }
        guard let http = result.response else {
            throw HubError("cannot reach \(endpoint): \(Self.networkMessage(result.transportError))")
        }
        guard http.statusCode == 200 else {
            throw httpError(http, body: result.body, url: urlString, repo: repo, revision: revision, file: nil)
        }
        if let e = result.transportError {
            throw HubError("\(repo): reading the file list from \(endpoint) failed: \(Self.networkMessage(e))")
        }
        let decoded: ModelInfoJSON
        do { decoded = try JSONDecoder().decode(ModelInfoJSON.self, from: result.body) } catch {
            throw HubError("\(repo): \(urlString) did not return model info JSON (\(Self.describe(error)))")
        }
        guard let sha = decoded.sha, HubCache.isSafeCommitName(sha) else {
            throw HubError("\(repo): the model info from \(urlString) has no usable commit sha")
        }
        return ModelInfo(sha: sha, files: (decoded.siblings ?? []).map(\.rfilename))
    }

    // MARK: one file

    private enum Retry: Error { case again(String) }

    private func downloadFile(repo: String, commit: String, revision: String, name: String, dest: String,
                              progress: ((HubPullEvent) -> Void)?) throws {
        let urlString = "\(endpoint)/\(repo)/resolve/\(commit)/\(Self.percentEncode(name, keepSlash: true))"
        guard let url = URL(string: urlString) else { throw HubError("bad URL: \(urlString)") }
        let tmp = dest + ".incomplete"
        let fm = FileManager.default
        let started = Date()
        var downloaded: Int64 = 0
        var failures = 0
        while true {
            let before = Self.fileSize(tmp)
            do {
                let size = try attempt(url: url, urlString: urlString, tmp: tmp, repo: repo, revision: revision,
                                       name: name, downloaded: &downloaded, progress: progress)
                if fm.fileExists(atPath: dest) { try? fm.removeItem(atPath: dest) }
                do { try fm.moveItem(atPath: tmp, toPath: dest) } catch {
                    throw HubError("cannot rename \(tmp) to \(dest): \(Self.describe(error))")
                }
                progress?(.fileFinished(name: name, bytes: size, downloaded: downloaded,
                                        seconds: Date().timeIntervalSince(started)))
                return
            } catch Retry.again(let reason) {
                if Self.fileSize(tmp) > before { failures = 0 }  // progress was made
                failures += 1
                if failures >= maxAttempts {
                    let kept = Self.fileSize(tmp)
                    throw HubError("\(repo): downloading \(name) failed \(failures) times in a row: \(reason)"
                        + (kept > 0 ? " (\(kept) bytes kept in \(tmp); run fp pull again to resume)" : ""))
                }
                progress?(.retrying(name: name, attempt: failures + 1, of: maxAttempts, reason: reason))
                Thread.sleep(forTimeInterval: min(8, retryDelay * pow(2, Double(failures - 1))))
            }
        }
    }

    /// One request for the rest of `tmp`. Returns the complete size, throws Retry.again for
    /// transient failures and HubError for the rest.
    private func attempt(url: URL, urlString: String, tmp: String, repo: String, revision: String, name: String,
                         downloaded: inout Int64, progress: ((HubPullEvent) -> Void)?) throws -> Int64 {
        let fm = FileManager.default
        if !fm.fileExists(atPath: tmp) && !fm.createFile(atPath: tmp, contents: nil) {
            throw HubError("cannot create \(tmp)")
        }
        guard let handle = FileHandle(forUpdatingAtPath: tmp) else { throw HubError("cannot open \(tmp) for writing") }
        defer { try? handle.close() }
        let offset: Int64
        do { offset = Int64(try handle.seekToEnd()) } catch {
            throw HubError("cannot read \(tmp): \(Self.describe(error))")
        }
        var req = makeRequest(url)
        req.setValue("identity", forHTTPHeaderField: "Accept-Encoding")  // sizes must be byte counts
        if offset > 0 { req.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }

        var position = offset            // bytes in tmp
        var expected: Int64?             // total size the server announced
        var rangeMismatch: String?
        var received: Int64 = 0
        var lastReport: UInt64 = 0
        let result = send(req, decide: { http in
            switch http.statusCode {
            case 200:
                if offset > 0 {  // Range ignored: start over
                    try handle.truncate(atOffset: 0)
                    position = 0
                    progress?(.fileRestarted(name: name, reason: "the server ignored the Range request"))
                }
                expected = Self.contentLength(http).flatMap { Self.isEncoded(http) ? nil : $0 }
                return .stream
            case 206:
                let cr = Self.contentRange(http)
                guard let start = cr?.start, start == offset else {
                    rangeMismatch = "the server answered Range bytes=\(offset)- with "
                        + (Self.header(http, "Content-Range").map { "Content-Range \($0)" } ?? "no Content-Range")
                    return .collect(limit: 0)
                }
                expected = cr?.total ?? Self.contentLength(http).map { offset + $0 }
                progress?(.fileResumed(name: name, offset: offset))
                return .stream
            default:
                return .collect(limit: 1 << 16)
            }
        }, sink: { data in
            try handle.write(contentsOf: data)
            position += Int64(data.count)
            received += Int64(data.count)
            let now = DispatchTime.now().uptimeNanoseconds
            if now &- lastReport >= 100_000_000 {
                lastReport = now
                progress?(.fileProgress(name: name, bytes: position, total: expected))
            }
        })
        downloaded += received
        if let e = result.localError { throw HubError("cannot write \(tmp): \(Self.describe(e))") }
        guard let http = result.response else {
            let why = Self.networkMessage(result.transportError)
            if Self.isConnectFailure(result.transportError) && offset == 0 && downloaded == 0 {
                throw HubError("cannot reach \(endpoint): \(why)")
            }
            throw Retry.again(why)
        }
        switch http.statusCode {
        case 200, 206:
            if let m = rangeMismatch {
                try? handle.truncate(atOffset: 0)
                progress?(.fileRestarted(name: name, reason: m))
                throw Retry.again(m)
            }
        case 416:  // the partial file is not a prefix the server can continue
            try? handle.truncate(atOffset: 0)
            progress?(.fileRestarted(name: name, reason: "the server cannot continue at byte \(offset) (HTTP 416)"))
            throw Retry.again("HTTP 416 for Range bytes=\(offset)-")
        case 408, 429, 500...599:
            throw Retry.again("HTTP \(http.statusCode) from \(urlString)")
        default:
            throw httpError(http, body: result.body, url: urlString, repo: repo, revision: revision, file: name)
        }
        if let e = result.transportError {
            throw Retry.again("\(Self.networkMessage(e)) after \(position) bytes")
        }
        try? handle.synchronize()
        let size = Self.fileSize(tmp)
        progress?(.fileProgress(name: name, bytes: size, total: expected))
        if let total = expected, size != total {
            if size > total {
                try? handle.truncate(atOffset: 0)
                progress?(.fileRestarted(name: name, reason: "\(size) bytes on disk but the server announced \(total)"))
            }
            throw Retry.again("got \(size) of \(total) bytes")
        }
        return size
    }

    // MARK: HTTP

    private func makeRequest(_ url: URL) -> URLRequest {
        var req = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        req.httpMethod = "GET"
        req.setValue("fp/0.1 (Swift; +huggingface_hub-compatible cache)", forHTTPHeaderField: "User-Agent")
        if let t = token { req.setValue("Bearer \(t)", forHTTPHeaderField: "Authorization") }
        return req
    }

    enum Disposition { case stream, collect(limit: Int) }

    struct SendResult {
        var response: HTTPURLResponse?
        var body = Data()
        var transportError: Error?
        var localError: Error?   // thrown by decide/sink (disk errors)
    }

    /// Runs one request synchronously. `decide` sees the final (post-redirect) response and
    /// chooses whether its body streams into `sink` or is collected (error bodies, JSON).
    private func send(_ request: URLRequest, decide: @escaping (HTTPURLResponse) throws -> Disposition,
                      sink: @escaping (Data) throws -> Void) -> SendResult {
        let delegate = TransferDelegate(originalHost: request.url?.host, decide: decide, sink: sink)
        let config = URLSessionConfiguration.ephemeral
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = 7 * 24 * 3600
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: queue)
        let task = session.dataTask(with: request)
        task.resume()
        delegate.done.wait()
        session.finishTasksAndInvalidate()
        return delegate.result
    }

    // Callbacks run on one serial queue; the caller reads `result` only after `done` is signalled.
    private final class TransferDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let originalHost: String?
        let decide: (HTTPURLResponse) throws -> Disposition
        let sink: (Data) throws -> Void
        let done = DispatchSemaphore(value: 0)
        var result = SendResult()
        private var disposition = Disposition.collect(limit: 0)
        private var finished = false

        init(originalHost: String?, decide: @escaping (HTTPURLResponse) throws -> Disposition,
             sink: @escaping (Data) throws -> Void) {
            self.originalHost = originalHost
            self.decide = decide
            self.sink = sink
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            guard let http = response as? HTTPURLResponse else {
                result.localError = HubError("not an HTTP response")
                completionHandler(.cancel)
                return
            }
            result.response = http
            do {
                disposition = try decide(http)
                completionHandler(.allow)
            } catch {
                result.localError = error
                completionHandler(.cancel)
            }
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard result.localError == nil else { return }
            switch disposition {
            case .stream:
                do { try sink(data) } catch {
                    result.localError = error
                    dataTask.cancel()
                }
            case .collect(let limit):
                if result.body.count < limit { result.body.append(data.prefix(limit - result.body.count)) }
            }
        }

        // Follow redirects (the hub sends LFS files to a CDN), keeping Range and dropping the
        // token when the host changes.
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            var next = request
            if let orig = task.originalRequest {
                for (k, v) in orig.allHTTPHeaderFields ?? [:] where next.value(forHTTPHeaderField: k) == nil {
                    next.setValue(v, forHTTPHeaderField: k)
                }
            }
            if next.url?.host != originalHost { next.setValue(nil, forHTTPHeaderField: "Authorization") }
            completionHandler(next)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            guard !finished else { return }
            finished = true
            if result.localError == nil { result.transportError = error }
            done.signal()
        }
    }

    // MARK: errors

    private func httpError(_ http: HTTPURLResponse, body: Data, url: String, repo: String, revision: String,
                           file: String?) -> HubError {
        let code = http.statusCode
        let errCode = Self.header(http, "X-Error-Code")
        var serverMessage = Self.header(http, "X-Error-Message")
        if serverMessage == nil, let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
           let e = obj["error"] as? String {
            serverMessage = e
        }
        let what = file.map { "\(repo): \($0)" } ?? repo
        switch code {
        case 401, 403:
            let gated = errCode == "GatedRepo" ? "gated" : "gated or private"
            if token == nil {
                return HubError("\(what): access denied (HTTP \(code)): the model is \(gated), or does not exist. "
                    + "Set HF_TOKEN to a Hugging Face access token that has access "
                    + "(for a gated model, accept its terms on the model page first).")
            }
            return HubError("\(what): access denied (HTTP \(code)) although HF_TOKEN is set: the token is not valid "
                + "or has no access to this \(gated) model (for a gated model, accept its terms on the model page).")
        case 404:
            if errCode == "RevisionNotFound" {
                return HubError("\(repo) has no revision '\(revision)' (HTTP 404)")
            }
            if let f = file {
                return HubError("\(repo): no file '\(f)' at revision \(revision) (HTTP 404 from \(url))")
            }
            return HubError("no such model: \(repo) (HTTP 404 from \(endpoint)); check ORG/NAME"
                + (revision == "main" ? "" : " and the revision '\(revision)'"))
        default:
            return HubError("\(what): HTTP \(code) from \(url)" + (serverMessage.map { ": \($0)" } ?? ""))
        }
    }

    static func isConnectFailure(_ error: Error?) -> Bool {
        guard let ns = error.map({ $0 as NSError }), ns.domain == NSURLErrorDomain else { return false }
        return [NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed,
                NSURLErrorNotConnectedToInternet, NSURLErrorSecureConnectionFailed,
                NSURLErrorServerCertificateUntrusted, NSURLErrorServerCertificateHasBadDate,
                NSURLErrorUnsupportedURL].contains(ns.code)
    }

    static func networkMessage(_ error: Error?) -> String {
        guard let error = error else { return "no response" }
        let ns = error as NSError
        if ns.domain == NSURLErrorDomain {
            switch ns.code {
            case NSURLErrorCannotConnectToHost: return "could not connect to the server"
            case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: return "host not found"
            case NSURLErrorTimedOut: return "timed out"
            case NSURLErrorNetworkConnectionLost: return "the connection was lost"
            case NSURLErrorNotConnectedToInternet: return "not connected to the network"
            case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted,
                 NSURLErrorServerCertificateHasBadDate, NSURLErrorServerCertificateNotYetValid:
                return "TLS connection failed"
            case NSURLErrorHTTPTooManyRedirects: return "too many redirects"
            case NSURLErrorCancelled: return "cancelled"
            default: break
            }
        }
        return describe(error)
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        let text = ns.localizedDescription
        return ns.domain == NSURLErrorDomain && ns.code != NSURLErrorUnknown ? "\(text) (URL error \(ns.code))" : text
    }

    // MARK: small helpers

    static func header(_ http: HTTPURLResponse, _ name: String) -> String? {
        for (k, v) in http.allHeaderFields {
            if let ks = k as? String, ks.caseInsensitiveCompare(name) == .orderedSame { return v as? String }
        }
        return nil
    }

    static func contentLength(_ http: HTTPURLResponse) -> Int64? {
        header(http, "Content-Length").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    static func isEncoded(_ http: HTTPURLResponse) -> Bool {
        guard let e = header(http, "Content-Encoding")?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return !e.isEmpty && e != "identity"
    }

    /// "bytes START-END/TOTAL" (TOTAL may be "*").
    static func contentRange(_ http: HTTPURLResponse) -> (start: Int64, total: Int64?)? {
        guard var s = header(http, "Content-Range")?.trimmingCharacters(in: .whitespaces) else { return nil }
        guard s.lowercased().hasPrefix("bytes") else { return nil }
        s = String(s.dropFirst(5)).trimmingCharacters(in: .whitespaces)
        let halves = s.split(separator: "/", maxSplits: 1)
        guard let range = halves.first, let dash = range.firstIndex(of: "-"),
              let start = Int64(range[..<dash]) else { return nil }
        let total = halves.count == 2 ? Int64(halves[1]) : nil
        return (start, total)
    }

    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// Percent-encodes all but RFC 3986 unreserved characters (and '/' when asked).
    static func percentEncode(_ s: String, keepSlash: Bool) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        if keepSlash { allowed.insert("/") }
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

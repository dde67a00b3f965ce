import CBLAS
import Foundation

/// body(0), ..., body(n - 1) spread over the cores on plain threads, the caller's included.
/// Not Dispatch's concurrentPerform: on Linux libdispatch's thread-pool monitor reads
/// /proc/TID/stat of its workers and stops the process when it cannot, and in the sandbox
/// (docs/security.md) /proc is closed so that other processes' files stay unreadable.
public enum ParallelFor {
    /// The shared state of one run; `body` is dropped before `run` returns (it does not escape).
    final class Job {
        var body: ((Int) -> Void)?
        let n: Int
        let lock = NSLock()
        var next = 0
        init(_ n: Int, _ body: @escaping (Int) -> Void) { self.n = n; self.body = body }

        func work() {
            guard let body else { return }
            while true {
                lock.lock()
                let i = next
                next += 1
                lock.unlock()
                if i >= n { return }
                body(i)
            }
        }
    }

    public static func run(_ n: Int, _ body: (Int) -> Void) {
        let workers = min(n, Int(fp_cpu_count()))
        if workers <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let job = Job(n, body)
            let done = DispatchGroup()
            for _ in 1..<workers {
                done.enter()
                Thread { job.work(); done.leave() }.start()
            }
            job.work()
            done.wait()
            job.body = nil
        }
    }
}

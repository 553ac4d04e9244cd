import PFlowCore
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX thread running one closure, joined once its work is needed.
/// (pflow runs at most two threads at once; plain pthreads keep libdispatch's
/// start-up and worker pool out of every run.)
public final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private var joined = false

    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread; nil when the system won't start one.
    public init?(_ body: @escaping () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        let started = pthread_create(&thread, nil, { raw in
            if let raw { Unmanaged<Work>.fromOpaque(raw).takeRetainedValue().body() }
            return nil
        }, work)
        if started != 0 {
            Unmanaged<Work>.fromOpaque(work).release()
            return nil
        }
    }

    /// Lets the thread run on unjoined (one that never returns).
    public func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }

    /// Waits for the closure to return.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}

/// Runs `first` on this thread and `second` on another, returning when both
/// have; both run here, one after the other, when no thread can start.
public func inParallel(_ first: () -> Void, _ second: () -> Void) {
    withoutActuallyEscaping(second) { second in
        // Waited for below, before `second` goes out of scope.
        if HelperThread.shared.start(second) {
            first()
            HelperThread.shared.wait()
        } else if let other = WorkerThread(second) {
            first()
            other.join()
        } else {
            first()
            second()
        }
    }
}

/// One thread kept for `inParallel`, started on first use and then woken
/// for each job: the capture's end splits its work in two about ten times
/// (each batch of live flows twice, the findings beside the rows), and a
/// thread started and joined for each took 0.12-0.27 ms in `clone3` alone
/// (`perf trace`, 1M bench capture). One job at a time: a caller that finds
/// it busy (a job of its own asking for another) starts a thread as before.
/// Never joined: it waits on its condition until the process exits.
final class HelperThread: @unchecked Sendable {
    static let shared = HelperThread()
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `lock`.
    private var job: (() -> Void)?
    private var claimed = false
    private var finished = false
    private var running = false
    private var failed = false

    private init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
        changed = .allocate(capacity: 1)
        changed.initialize(to: pthread_cond_t())
        pthread_cond_init(changed, nil)
    }

    /// Hands `body` to the thread; false (nothing started) if it is busy or
    /// can't be had. After true, `wait` must be called before `body`'s
    /// captures go away.
    func start(_ body: @escaping () -> Void) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard !claimed, !failed else { return false }
        if !running {
            let me = Unmanaged.passUnretained(self).toOpaque()
            var thread = pthread_t()
            guard pthread_create(&thread, nil, { raw in
                if let raw { Unmanaged<HelperThread>.fromOpaque(raw).takeUnretainedValue().serve() }
                return nil
            }, me) == 0 else {
                failed = true
                return false
            }
            pthread_detach(thread)
            running = true
        }
        claimed = true
        finished = false
        job = body
        pthread_cond_broadcast(changed)
        return true
    }

    /// Waits for the job `start` handed over.
    func wait() {
        pthread_mutex_lock(lock)
        while !finished { pthread_cond_wait(changed, lock) }
        claimed = false
        pthread_mutex_unlock(lock)
    }

    private func serve() -> Never {
        pthread_mutex_lock(lock)
        while true {
            while job == nil { pthread_cond_wait(changed, lock) }
            var body = job
            job = nil
            pthread_mutex_unlock(lock)
            body?()
            // Let go of it before saying so: `inParallel`'s closure must not
            // outlive the call (withoutActuallyEscaping checks).
            body = nil
            pthread_mutex_lock(lock)
            finished = true
            pthread_cond_broadcast(changed)
        }
    }
}

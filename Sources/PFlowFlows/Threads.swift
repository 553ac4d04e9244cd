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
        // Joined below, before `second` goes out of scope.
        if let other = WorkerThread(second) {
            first()
            other.join()
        } else {
            first()
            second()
        }
    }
}

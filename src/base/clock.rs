//! The monotonic clock, in the units the station's counters and time codes use, and
//! the calling thread's CPU clock.

/// Microseconds of CLOCK_MONOTONIC.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// Milliseconds of CLOCK_MONOTONIC, the same clock in every process on the machine.
pub fn monotonic_ms() -> u64 {
    monotonic_us() / 1000
}

/// CPU time the calling thread has used, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Waits for `thread` to end, `limit` at most: Err gives the handle back when it has
/// not (a thread stuck in a device call, which nobody can end from outside; the caller
/// goes on without it).
pub fn join_within<T>(
    thread: std::thread::JoinHandle<T>,
    limit: std::time::Duration,
) -> Result<(), std::thread::JoinHandle<T>> {
    let deadline = std::time::Instant::now() + limit;
    while !thread.is_finished() {
        if std::time::Instant::now() >= deadline {
            return Err(thread);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = thread.join();
    Ok(())
}

/// Takes `lock` if it comes free within `limit`: a device's lock held by a writer that
/// never returned is not waited on for good. A poisoned lock is taken as it is.
pub fn lock_within<T: ?Sized>(
    lock: &std::sync::Mutex<T>,
    limit: std::time::Duration,
) -> Option<std::sync::MutexGuard<'_, T>> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match lock.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2))
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_thread_that_never_ends_is_given_back_and_one_that_ends_is_joined() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let stuck = std::thread::spawn(move || {
            let _ = wait.recv();
        });
        let stuck = join_within(stuck, Duration::from_millis(50)).unwrap_err();
        assert!(!stuck.is_finished());
        drop(release);
        assert!(join_within(stuck, Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn a_held_lock_is_given_up_on_and_a_free_one_taken() {
        let lock = std::sync::Mutex::new(1);
        let held = lock.lock().unwrap();
        assert!(lock_within(&lock, Duration::from_millis(20)).is_none());
        drop(held);
        assert_eq!(*lock_within(&lock, Duration::from_millis(20)).unwrap(), 1);
    }
}

//! The process heap as glibc's allocator sees it: how much is in use, how much it holds
//! free, and handing the free part back to the system.
//!
//! A station runs for months. Its resident memory can grow for two reasons that look the
//! same from /proc: a leak (memory in use grows) or an allocator that keeps what was freed
//! (memory in use stays, free memory grows). [`figures`] tells them apart, and
//! [`return_freed`] undoes the second after each call, when pipelines and their threads
//! have just released their buffers.

use serde::Serialize;

/// One look at the heap, in kilobytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HeapFigures {
    /// Allocated and not yet freed, in the heaps and in separately mapped blocks: what a
    /// leak grows.
    pub in_use_kb: u64,
    /// Freed and still held by the allocator, ready for reuse.
    pub free_kb: u64,
}

/// The heap's figures now; zeros where the allocator cannot say (not glibc).
pub fn figures() -> HeapFigures {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 only reads glibc's own counters (it takes each arena's lock).
        let info = unsafe { libc::mallinfo2() };
        HeapFigures {
            in_use_kb: ((info.uordblks + info.hblkhd) / 1024) as u64,
            free_kb: (info.fordblks / 1024) as u64,
        }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        HeapFigures::default()
    }
}

/// Arenas the allocator may keep: one per busy thread at most otherwise (eight per core),
/// and each keeps its own freed memory. Media threads come and go with every call, so a
/// station carried a growing set of half-empty arenas: with two, its memory at rest stays
/// level over a day of calls (benchmarks.md, "A day at a door").
const ARENAS: i32 = 2;

/// Blocks this large or larger are mapped on their own, and unmapped when freed. glibc
/// otherwise raises this threshold each time such a block is freed and then serves large
/// blocks from its heaps, where they stay: a burst of password hashes (each tens of
/// megabytes) left the station's memory at a gigabyte. Pictures (4 MiB at most for
/// 1080p) stay below it, in the heaps that recycle them.
const MAP_ON_THEIR_OWN: i32 = 16 * 1024 * 1024;

/// Tunes the allocator for a process that runs for months (see [`ARENAS`] and
/// [`MAP_ON_THEIR_OWN`]). Called first thing in `main`, before threads start; later calls
/// do nothing.
pub fn tune() {
    #[cfg(target_env = "gnu")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes the allocator's tuning; it is called once.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MAP_ON_THEIR_OWN);
        });
    }
}

/// Hands freed heap memory back to the system (glibc's malloc_trim): whole free pages in
/// every arena, not only the top of the main heap.
pub fn return_freed() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_in_use_is_counted_and_its_release_is_seen() {
        let before = figures();
        let block = vec![7u8; 64 * 1024 * 1024];
        let during = figures();
        assert!(
            during.in_use_kb >= before.in_use_kb + 60 * 1024,
            "{before:?} -> {during:?}"
        );
        drop(block);
        return_freed();
        let after = figures();
        assert!(
            after.in_use_kb + 60 * 1024 <= during.in_use_kb,
            "{during:?} -> {after:?}"
        );
    }
}

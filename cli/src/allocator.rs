//! The `fieldsync` binary's allocator (docs/adr/0037): mimalloc 2, built without transparent
//! huge pages, returning freed memory to the system at once.
//!
//! A sync allocates and frees thousands of small objects (Automerge's ops and patches, the
//! answer's buffers) on blocking-pool threads that change from one sync to the next; mimalloc's
//! per-thread free lists cost the server ~10% less CPU per sync than glibc's arenas. Left to
//! its defaults it keeps freed pages for 10 ms, and huge pages, so that one hostile 1.5 MiB
//! request raised the server's peak memory by up to 49 MB where glibc's rose 9 MB (the bench's
//! `memory` suite); with freed memory purged at once the rise is ~11 MB, inside that suite's
//! 16.78 MB goal.

/// mimalloc as the global allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 2's `mi_option_t` (include/mimalloc.h); the crate exports
/// no constant for it. The test below checks that this index holds the option's default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory is given back to the system as soon as mimalloc can, not 10 ms later. Called
/// first thing in `main`, before any other thread exists.
pub fn return_freed_memory_at_once() {
    set_option(PURGE_DELAY, 0);
}

#[allow(unsafe_code)]
fn set_option(option: libmimalloc_sys::mi_option_t, value: std::os::raw::c_long) {
    // SAFETY: `mi_option_set` takes plain integers and stores one into mimalloc's option table;
    // an index is checked against `_mi_option_last` by mimalloc itself. No pointer is passed.
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn option(option: libmimalloc_sys::mi_option_t) -> std::os::raw::c_long {
        // SAFETY: reads one integer from mimalloc's option table; no pointer is passed.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc 2's default purge delay is 10 ms; its neighbours in the table default to 1
        // (`eager_commit_delay`) and 0 (`use_numa_nodes`): a shifted index would not read 10.
        assert_eq!(option(PURGE_DELAY), 10, "index {PURGE_DELAY} is not mimalloc 2's purge_delay");
        return_freed_memory_at_once();
        assert_eq!(option(PURGE_DELAY), 0);
    }
}

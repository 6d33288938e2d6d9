// Internal: where the thread pool's tasks live — a small-object allocator with
// one cache per thread, so that submitting a task and dropping its future
// cost no call into malloc in the steady state.
//
// Each thread that allocates a task gets a cache (made on first use) of freed
// blocks in a few size classes. A block remembers the cache it came from.
// Freeing on that cache's thread pushes the block onto the cache's own list
// (no atomic operation); freeing on any other thread pushes it onto the
// cache's *returned* list, a lock-free stack that the owner takes whole when
// its own list runs dry. Nothing is shared by all threads, and there is no
// lock: a fork-join task allocated and freed by one worker never leaves that
// worker's cache, and a task that crosses threads costs one compare-and-swap.
//
// Lifetime: blocks, not pools, own the caches' memory. When a thread exits, its
// cache leaves the blocks it holds to a depot that threads created later adopt
// from before they ask the system (at most one cache's worth per size class;
// the rest is freed), marks its returned lists closed, and lives on only while
// blocks it handed out are still alive; the last of those, freed on any
// thread, deletes it. So threads that come and go (a submitter per request)
// reuse the same memory instead of a malloc and a free per task. So a future may outlive its pool and its worker,
// and any number of pools share the same per-thread caches. Each size class
// keeps at most kCacheBytes per thread — what a burst of a million tasks of
// up to 128 bytes (an empty task with a small capture is 72) needs, so that
// the next burst reuses it (oneTBB keeps everything); beyond that, frees go
// back to the system.
//
//     void* memory = allocate_task(sizeof(MyTask));
//     auto* task = new (memory) MyTask(...);
//     ...
//     task->~MyTask();
//     deallocate_task(task, sizeof(MyTask));  // any thread
#pragma once

#include <cstddef>  // std::size_t, std::max_align_t

namespace tandem::detail {

/// Blocks larger than this come from the system (with the same header).
inline constexpr std::size_t kLargestCachedTask = 512;
/// What one thread keeps cached per size class, at most (128 MiB).
inline constexpr std::size_t kCacheBytes = std::size_t{128} << 20;
/// The alignment of every block (std::max_align_t's).
inline constexpr std::size_t kTaskAlignment = alignof(std::max_align_t);

/// Memory for an object of `size` bytes, aligned to kTaskAlignment. Throws
/// std::bad_alloc when the system has none.
void* allocate_task(std::size_t size);

/// Gives back what allocate_task(size) returned; any thread, never throws.
void deallocate_task(void* object, std::size_t size) noexcept;

/// Per-thread caches still alive (owned by a running thread, or kept by a
/// block it handed out): for tests.
std::size_t live_task_caches() noexcept;

}  // namespace tandem::detail

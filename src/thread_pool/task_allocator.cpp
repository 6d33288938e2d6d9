// The thread pool's per-thread task caches (see detail/thread_pool/task_allocator.hpp).
#include "tandem/detail/thread_pool/task_allocator.hpp"

#include <pthread.h>  // pthread_atfork: the depot's lock across fork()

#include <array>    // the size classes of a cache
#include <atomic>   // returned lists, late-free count, live count, the depot's lock
#include <bit>      // std::bit_width: size to class
#include <cstdint>  // std::int64_t counts
#include <mutex>    // std::lock_guard over the depot's lock
#include <new>      // ::operator new / delete, placement new
#include <utility>  // std::exchange

namespace tandem::detail {

namespace {

// Blocks of 64, 128, 256 and 512 bytes, header included.
constexpr std::size_t kSmallestBlock = 64;
constexpr std::size_t kClassCount = 4;
static_assert(kSmallestBlock << (kClassCount - 1) == kLargestCachedTask);

// Every block starts with its owner, padded so that the object keeps the
// strictest fundamental alignment.
constexpr std::size_t kHeaderSize = kTaskAlignment;

constexpr std::size_t block_size(std::size_t size_class) noexcept { return kSmallestBlock << size_class; }

/// The class of a block holding `size` bytes of object; kClassCount if none.
constexpr std::size_t class_of(std::size_t size) noexcept {
    const std::size_t block = size + kHeaderSize;
    if (block > kLargestCachedTask) return kClassCount;
    return static_cast<std::size_t>(std::bit_width((block - 1) / kSmallestBlock));
}
static_assert(class_of(1) == 0 && class_of(48) == 0 && class_of(49) == 1 && class_of(112) == 1 &&
              class_of(113) == 2 && class_of(496) == 3 && class_of(497) == kClassCount);

std::atomic<std::size_t> live_caches{0};

class ThreadCache;

struct Header {
    ThreadCache* owner;  // null: the block came from the system and goes back there
};
static_assert(sizeof(Header) <= kHeaderSize);

/// What a free block holds, in place of its object.
struct FreeBlock {
    FreeBlock* next;
};

std::byte* block_of(void* object) noexcept { return static_cast<std::byte*>(object) - kHeaderSize; }
void* object_of(std::byte* block) noexcept { return block + kHeaderSize; }
Header& header_of(std::byte* block) noexcept { return *std::launder(reinterpret_cast<Header*>(block)); }

std::byte* system_block(std::size_t bytes, ThreadCache* owner) {
    auto* block = static_cast<std::byte*>(::operator new(bytes));
    new (block) Header{owner};
    return block;
}

// --- the depot: what exiting threads leave to new ones ---------------------
// A thread that exits leaves its cached blocks here (at most one cache's
// capacity per class, the rest goes back to the system) and a thread whose
// cache runs dry adopts them before it asks the system: so threads that come
// and go (a submitter per request) reuse the same memory, as oneTBB's
// allocator lets them. Blocks move as whole lists (a Chunk: its first block
// names its last), so leaving and adopting take one lock and touch no other
// block; a block learns its new owner when it is handed out. The lock is held
// across fork(), so that a child never finds it taken by a thread it does not
// have.

/// A free list as it waits in the depot, written over its first block.
struct Chunk {
    FreeBlock first;  // the list itself starts here
    FreeBlock* last;
    std::size_t count;
    Chunk* next_chunk;
};
static_assert(sizeof(Chunk) <= kSmallestBlock - kHeaderSize);

/// A free list, its last block and its length.
struct FreeList {
    FreeBlock* head = nullptr;
    FreeBlock* last = nullptr;
    std::size_t count = 0;
};

class Depot {
public:
    /// Keeps `list` (blocks of `size_class`) if it fits; else returns it,
    /// for the system.
    FreeList leave(FreeList list, std::size_t size_class) noexcept {
        if (list.head == nullptr) return {};
        const std::lock_guard lock(*this);
        Class& kept = classes_[size_class];
        if (kept.count.load(std::memory_order_relaxed) + list.count > capacity(size_class)) return list;
        FreeBlock* const second = list.head->next;
        kept.chunks = new (list.head) Chunk{{second}, list.last, list.count, kept.chunks};
        kept.count.fetch_add(list.count, std::memory_order_relaxed);
        return {};
    }

    /// A list that some exited thread left, or an empty one.
    FreeList adopt(std::size_t size_class) noexcept {
        Class& kept = classes_[size_class];
        if (kept.count.load(std::memory_order_relaxed) == 0) return {};  // no lock for nothing
        const std::lock_guard lock(*this);
        Chunk* chunk = kept.chunks;
        if (chunk == nullptr) return {};
        kept.chunks = chunk->next_chunk;
        kept.count.fetch_sub(chunk->count, std::memory_order_relaxed);
        return {&chunk->first, chunk->last, chunk->count};
    }

    // BasicLockable, for lock_guard and the fork handlers.
    void lock() noexcept {
        while (locked_.exchange(true, std::memory_order_acquire)) {
            while (locked_.load(std::memory_order_relaxed)) {
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

    static constexpr std::size_t capacity(std::size_t size_class) noexcept {
        return (kCacheBytes / kSmallestBlock) >> size_class;
    }

private:
    struct Class {
        Chunk* chunks = nullptr;
        std::atomic<std::size_t> count{0};  // blocks; read without the lock to skip an empty class
    };
    std::atomic<bool> locked_{false};
    std::array<Class, kClassCount> classes_{};
};

/// The depot: made on first use and never destroyed (threads may exit after
/// main() returns), so its blocks stay reachable for LeakSanitizer.
Depot& depot() {
    static Depot* const instance = [] {
        auto* made = new Depot;
        ::pthread_atfork([] { depot().lock(); }, [] { depot().unlock(); }, [] { depot().unlock(); });
        return made;
    }();
    return *instance;
}

/// One thread's cache. Only the owning thread touches `own_`; other threads
/// push onto `returned_`, which the owner takes whole.
class ThreadCache {
public:
    ThreadCache() noexcept { live_caches.fetch_add(1, std::memory_order_relaxed); }
    ThreadCache(const ThreadCache&) = delete;
    ThreadCache& operator=(const ThreadCache&) = delete;
    ~ThreadCache() { live_caches.fetch_sub(1, std::memory_order_relaxed); }

    /// Owner only.
    void* allocate(std::size_t size_class) {
        FreeList& own = own_[size_class];
        if (own.head == nullptr) take_returned(size_class);
        if (own.head == nullptr) adopt(size_class);
        if (FreeBlock* free = own.head) {
            own.head = free->next;
            if (own.head == nullptr) own.last = nullptr;
            --own.count;
            // An adopted block still names the cache that left it (its line
            // is about to be written anyway).
            header_of(reinterpret_cast<std::byte*>(free) - kHeaderSize).owner = this;
            return free;  // it lies where the block's object goes
        }
        std::byte* block = system_block(block_size(size_class), this);
        ++from_system_;
        return object_of(block);
    }

    /// Owner only.
    void free_own(std::byte* block, std::size_t size_class) noexcept {
        FreeList& own = own_[size_class];
        if (own.count >= capacity(size_class)) {
            to_system(block);
            return;
        }
        own.head = new (object_of(block)) FreeBlock{own.head};
        if (own.last == nullptr) own.last = own.head;
        ++own.count;
    }

    /// Any thread but the owner.
    void free_returned(std::byte* block, std::size_t size_class) noexcept {
        std::atomic<FreeBlock*>& head = returned_[size_class].head;
        auto* free = new (object_of(block)) FreeBlock{head.load(std::memory_order_relaxed)};
        for (;;) {
            if (free->next == closed()) {
                // The owner has exited: the block goes back to the system, and
                // the last one back deletes the cache.
                ::operator delete(block);
                if (late_frees_.fetch_add(1, std::memory_order_acq_rel) + 1 == 0) delete this;
                return;
            }
            // release: the owner, taking the list with acquire, sees the
            // links and everything this thread did with the object.
            if (head.compare_exchange_weak(free->next, free, std::memory_order_release, std::memory_order_relaxed))
                return;
        }
    }

    /// The owner exits: leaves what is cached in the depot (the rest goes
    /// back to the system) and closes the returned lists; the cache itself
    /// goes when the last block it handed out comes back.
    void retire() noexcept {
        std::int64_t freed = 0;
        for (std::size_t c = 0; c < kClassCount; ++c) {
            for (const FreeList& list : {std::exchange(own_[c], FreeList{}),
                                         list_of(returned_[c].head.exchange(closed(), std::memory_order_acquire))}) {
                freed += static_cast<std::int64_t>(list.count);
                free_all(depot().leave(list, c).head);
            }
        }
        const std::int64_t outstanding = from_system_ - freed;
        if (late_frees_.fetch_sub(outstanding, std::memory_order_acq_rel) - outstanding == 0) delete this;
    }

private:
    struct alignas(64) ReturnedList {
        std::atomic<FreeBlock*> head{nullptr};
    };

    static FreeBlock* closed() noexcept { return reinterpret_cast<FreeBlock*>(std::uintptr_t{1}); }
    static constexpr std::size_t capacity(std::size_t size_class) noexcept {
        return Depot::capacity(size_class);  // a shift: this is on every free
    }

    // Blocks an exited thread left: this cache's from now on.
    void adopt(std::size_t size_class) noexcept {
        own_[size_class] = depot().adopt(size_class);
        from_system_ += static_cast<std::int64_t>(own_[size_class].count);
    }

    /// A list and its length and last block (each block is touched once
    /// more before it is used anyway).
    static FreeList list_of(FreeBlock* head) noexcept {
        FreeList list{head, nullptr, 0};
        for (FreeBlock* free = head; free != nullptr; free = free->next) {
            list.last = free;
            ++list.count;
        }
        return list;
    }

    void take_returned(std::size_t size_class) noexcept {
        std::atomic<FreeBlock*>& head = returned_[size_class].head;
        if (head.load(std::memory_order_relaxed) == nullptr) return;
        FreeList& own = own_[size_class];
        own = list_of(head.exchange(nullptr, std::memory_order_acquire));
        // No more than the cache's capacity.
        while (own.count > capacity(size_class)) {
            FreeBlock* extra = own.head;
            own.head = extra->next;
            --own.count;
            to_system(reinterpret_cast<std::byte*>(extra) - kHeaderSize);
        }
    }

    void to_system(std::byte* block) noexcept {
        ::operator delete(block);
        --from_system_;
    }

    static void free_all(FreeBlock* list) noexcept {
        while (list != nullptr) {
            FreeBlock* next = list->next;
            ::operator delete(reinterpret_cast<std::byte*>(list) - kHeaderSize);
            list = next;
        }
    }

    std::array<FreeList, kClassCount> own_{};
    std::int64_t from_system_ = 0;  // blocks this cache took from the system and has not given back
    std::array<ReturnedList, kClassCount> returned_{};
    alignas(64) std::atomic<std::int64_t> late_frees_{0};  // blocks freed after retire(), minus those then outstanding
};

// The calling thread's cache. Trivially destructible, so it stays readable
// while other thread_local objects are destroyed after `retirer` below.
thread_local ThreadCache* this_thread_cache = nullptr;
thread_local bool this_thread_retired = false;

/// Retires the thread's cache when the thread exits.
struct CacheRetirer {
    ~CacheRetirer() {
        this_thread_retired = true;
        if (ThreadCache* cache = std::exchange(this_thread_cache, nullptr)) cache->retire();
    }
};

/// The thread's cache, made on first use; null once the thread is exiting.
ThreadCache* thread_cache() {
    if (this_thread_cache != nullptr) return this_thread_cache;
    if (this_thread_retired) return nullptr;
    thread_local CacheRetirer retirer;  // registers the thread-exit hook, once
    static_cast<void>(retirer);
    this_thread_cache = new ThreadCache;
    return this_thread_cache;
}

}  // namespace

void* allocate_task(std::size_t size) {
    const std::size_t size_class = class_of(size);
    ThreadCache* cache = size_class < kClassCount ? thread_cache() : nullptr;
    if (cache == nullptr) return object_of(system_block(size + kHeaderSize, nullptr));
    return cache->allocate(size_class);
}

void deallocate_task(void* object, std::size_t size) noexcept {
    std::byte* block = block_of(object);
    ThreadCache* owner = header_of(block).owner;
    if (owner == nullptr) {
        ::operator delete(block);
    } else if (owner == this_thread_cache) {
        owner->free_own(block, class_of(size));
    } else {
        owner->free_returned(block, class_of(size));
    }
}

std::size_t live_task_caches() noexcept { return live_caches.load(std::memory_order_relaxed); }

}  // namespace tandem::detail

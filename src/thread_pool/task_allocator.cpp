// The thread pool's per-thread task caches (see detail/thread_pool/task_allocator.hpp).
#include "tandem/detail/thread_pool/task_allocator.hpp"

#include <array>    // the size classes of a cache
#include <atomic>   // returned lists, late-free count, live count
#include <bit>      // std::bit_width: size to class
#include <cstdint>  // std::int64_t counts
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
        OwnList& own = own_[size_class];
        if (own.head == nullptr) take_returned(size_class);
        if (FreeBlock* free = own.head) {
            own.head = free->next;
            --own.count;
            return free;  // it lies where the block's object goes
        }
        std::byte* block = system_block(block_size(size_class), this);
        ++from_system_;
        return object_of(block);
    }

    /// Owner only.
    void free_own(std::byte* block, std::size_t size_class) noexcept {
        OwnList& own = own_[size_class];
        if (own.count >= capacity(size_class)) {
            to_system(block);
            return;
        }
        own.head = new (object_of(block)) FreeBlock{own.head};
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

    /// The owner exits: frees what is cached and closes the returned lists;
    /// the cache itself goes when the last block it handed out comes back.
    void retire() noexcept {
        std::int64_t freed = 0;
        for (std::size_t c = 0; c < kClassCount; ++c) {
            freed += free_all(std::exchange(own_[c].head, nullptr));
            own_[c].count = 0;
            freed += free_all(returned_[c].head.exchange(closed(), std::memory_order_acquire));
        }
        const std::int64_t outstanding = from_system_ - freed;
        if (late_frees_.fetch_sub(outstanding, std::memory_order_acq_rel) - outstanding == 0) delete this;
    }

private:
    struct OwnList {
        FreeBlock* head = nullptr;
        std::size_t count = 0;
    };
    struct alignas(64) ReturnedList {
        std::atomic<FreeBlock*> head{nullptr};
    };

    static FreeBlock* closed() noexcept { return reinterpret_cast<FreeBlock*>(std::uintptr_t{1}); }
    static constexpr std::size_t capacity(std::size_t size_class) noexcept {
        return (kCacheBytes / kSmallestBlock) >> size_class;  // a shift: this is on every free
    }

    void take_returned(std::size_t size_class) noexcept {
        std::atomic<FreeBlock*>& head = returned_[size_class].head;
        if (head.load(std::memory_order_relaxed) == nullptr) return;
        OwnList& own = own_[size_class];
        own.head = head.exchange(nullptr, std::memory_order_acquire);
        // Count what came back (each block is touched once more before it is
        // used anyway), and keep no more than the cache's capacity.
        std::size_t count = 0;
        for (FreeBlock* free = own.head; free != nullptr; free = free->next) ++count;
        own.count = count;
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

    static std::int64_t free_all(FreeBlock* list) noexcept {
        std::int64_t count = 0;
        while (list != nullptr) {
            FreeBlock* next = list->next;
            ::operator delete(reinterpret_cast<std::byte*>(list) - kHeaderSize);
            list = next;
            ++count;
        }
        return count;
    }

    std::array<OwnList, kClassCount> own_{};
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

// Tests for tandem/detail/thread_pool/task_allocator.hpp: the per-thread task
// caches behind ThreadPoolExecutor::submit(). What they must get right: a
// block freed on another thread than the one that allocated it goes back to
// its owner without a lock, a cache outlives its thread until the last block
// it handed out is freed (a future outliving its pool's worker), and nothing
// is lost or shared between two live objects. Leaks are caught by the ASan
// build (LeakSanitizer), races by the TSan build.
#include "tandem/detail/thread_pool/task_allocator.hpp"

#include <gtest/gtest.h>

#include <algorithm>  // std::count_if
#include <barrier>    // threads that swap blocks in rounds
#include <cstddef>    // std::size_t, std::byte
#include <cstdint>    // std::uintptr_t
#include <cstring>    // std::memset
#include <set>        // addresses seen
#include <thread>     // owners and freeing threads
#include <vector>     // blocks

using tandem::detail::allocate_task;
using tandem::detail::deallocate_task;
using tandem::detail::kLargestCachedTask;
using tandem::detail::kTaskAlignment;
using tandem::detail::live_task_caches;

namespace {

struct Block {
    void* memory;
    std::size_t size;
};

/// Fills a block with its own address, so that an overlap shows.
void stamp(const Block& block) {
    auto* bytes = static_cast<unsigned char*>(block.memory);
    for (std::size_t i = 0; i < block.size; ++i)
        bytes[i] = static_cast<unsigned char>(reinterpret_cast<std::uintptr_t>(block.memory) + i);
}
bool stamped(const Block& block) {
    const auto* bytes = static_cast<const unsigned char*>(block.memory);
    for (std::size_t i = 0; i < block.size; ++i)
        if (bytes[i] != static_cast<unsigned char>(reinterpret_cast<std::uintptr_t>(block.memory) + i)) return false;
    return true;
}

}  // namespace

// A block freed on its own thread is the next one that thread gets.
TEST(TaskAllocator, ReusesAFreedBlockOnTheSameThread) {
    std::thread owner([] {
        void* first = allocate_task(40);
        deallocate_task(first, 40);
        void* second = allocate_task(40);
        EXPECT_EQ(first, second);
        deallocate_task(second, 40);
    });
    owner.join();
}

// Every size, small or large, is aligned and usable in full, and live blocks never overlap.
// tandem: a thread that exits leaves its cached blocks to the threads that come after it
// (threads that come and go, a submitter per request, reuse the same memory): the next
// thread's allocations are the blocks the last one freed, each still whole and distinct,
// and they go back to their new owner, which is gone with its thread once they are freed.
TEST(TaskAllocator, AThreadThatExitsLeavesItsBlocksToTheNextOne) {
    constexpr std::size_t kCount = 1000;
    constexpr std::size_t kSize = 200;   // 256-byte blocks
    std::set<void*> left;
    std::thread first([&left] {
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < kCount; ++i) blocks.push_back(allocate_task(kSize));
        for (void* block : blocks) {
            left.insert(block);
            deallocate_task(block, kSize);
        }
    });
    first.join();
    const std::size_t before = live_task_caches();
    std::vector<Block> adopted;
    std::thread second([&adopted] {
        for (std::size_t i = 0; i < kCount; ++i) {
            adopted.push_back({allocate_task(kSize), kSize});
            stamp(adopted.back());
        }
    });
    second.join();
    EXPECT_EQ(live_task_caches(), before + 1);  // the second thread's cache, kept by its blocks
    std::set<void*> distinct;
    for (const Block& block : adopted) {
        EXPECT_TRUE(stamped(block));
        distinct.insert(block.memory);
    }
    EXPECT_EQ(distinct.size(), kCount);
    EXPECT_EQ(std::count_if(adopted.begin(), adopted.end(), [&left](const Block& b) { return left.count(b.memory); }),
              static_cast<std::ptrdiff_t>(kCount))
        << "the second thread took fresh memory instead of the blocks the first one left";
    for (const Block& block : adopted) deallocate_task(block.memory, block.size);  // on this thread: returned
    EXPECT_EQ(live_task_caches(), before);
}

TEST(TaskAllocator, EverySizeIsAlignedAndDistinct) {
    std::vector<Block> blocks;
    for (std::size_t size = 1; size <= kLargestCachedTask + 64; size += 7) {
        for (int copy = 0; copy < 3; ++copy) {
            Block block{allocate_task(size), size};
            EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block.memory) % kTaskAlignment, 0u) << size;
            stamp(block);
            blocks.push_back(block);
        }
    }
    for (const Block& block : blocks) EXPECT_TRUE(stamped(block)) << block.size;
    for (const Block& block : blocks) deallocate_task(block.memory, block.size);
}

// Blocks freed on another thread return to their owner, which hands them out again.
TEST(TaskAllocator, CrossThreadFreesReturnToTheOwner) {
    static constexpr std::size_t count = 1000;
    std::thread owner([] {
        std::vector<void*> first;
        for (std::size_t i = 0; i < count; ++i) first.push_back(allocate_task(64));
        std::thread freer([&first] {
            for (void* block : first) deallocate_task(block, 64);
        });
        freer.join();
        const std::set<void*> freed(first.begin(), first.end());
        std::vector<void*> second;
        for (std::size_t i = 0; i < count; ++i) second.push_back(allocate_task(64));
        const auto reused = std::count_if(second.begin(), second.end(), [&](void* b) { return freed.contains(b); });
        EXPECT_EQ(static_cast<std::size_t>(reused), count);
        for (void* block : second) deallocate_task(block, 64);
    });
    owner.join();
}

// A thread that exits with blocks still out keeps its cache until the last
// comes back, freed on another thread (a future outliving its pool's worker).
TEST(TaskAllocator, CacheOutlivesItsThreadUntilTheLastBlockComesBack) {
    const std::size_t before = live_task_caches();
    std::vector<Block> cached;
    Block large{nullptr, 2000};  // above kLargestCachedTask: from the system, holding no cache
    std::thread owner([&] {
        for (std::size_t size : {8, 100, 300}) {
            cached.push_back({allocate_task(size), size});
            stamp(cached.back());
        }
        large.memory = allocate_task(large.size);
        // A block its owner freed before exiting goes back with the cache.
        void* gone = allocate_task(8);
        deallocate_task(gone, 8);
    });
    owner.join();
    EXPECT_EQ(live_task_caches(), before + 1);
    deallocate_task(large.memory, large.size);
    EXPECT_EQ(live_task_caches(), before + 1);
    for (std::size_t i = 0; i < cached.size(); ++i) {
        EXPECT_EQ(live_task_caches(), before + 1);
        EXPECT_TRUE(stamped(cached[i]));
        deallocate_task(cached[i].memory, cached[i].size);
    }
    EXPECT_EQ(live_task_caches(), before);  // the last one deleted it
}

// A thread that exits with nothing out frees its cache at once.
TEST(TaskAllocator, ThreadWithNothingOutLeavesNoCache) {
    const std::size_t before = live_task_caches();
    std::thread owner([] {
        std::vector<void*> blocks;
        for (int i = 0; i < 100; ++i) blocks.push_back(allocate_task(200));
        for (void* block : blocks) deallocate_task(block, 200);
    });
    owner.join();
    EXPECT_EQ(live_task_caches(), before);
}

// Many threads allocate and free each other's blocks at once, in rounds:
// nothing is lost or handed out twice (TSan checks the hand-over).
TEST(TaskAllocator, ManyThreadsFreeEachOthersBlocks) {
    constexpr std::size_t threads = 4;
    constexpr std::size_t per_round = 200;
    constexpr int rounds = 20;
    const std::size_t before = live_task_caches();
    std::vector<std::vector<Block>> handed(threads);
    std::barrier sync(static_cast<std::ptrdiff_t>(threads));
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int round = 0; round < rounds; ++round) {
                for (std::size_t i = 0; i < per_round; ++i) {
                    const std::size_t size = 16 + (i * 37 + t * 11) % 480;
                    Block block{allocate_task(size), size};
                    stamp(block);
                    handed[t].push_back(block);
                }
                sync.arrive_and_wait();
                // Free the neighbour's blocks: every free is a cross-thread one.
                for (const Block& block : handed[(t + 1) % threads]) {
                    EXPECT_TRUE(stamped(block));
                    deallocate_task(block.memory, block.size);
                }
                sync.arrive_and_wait();
                handed[(t + 1) % threads].clear();
                sync.arrive_and_wait();
            }
        });
    }
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(live_task_caches(), before);
}

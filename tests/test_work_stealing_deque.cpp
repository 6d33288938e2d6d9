// detail/thread_pool/work_stealing_deque.hpp: the Chase–Lev deque each pool
// worker owns. The owner pushes and pops at the bottom (LIFO), thieves steal
// at the top (FIFO); under concurrent push/pop/steal every item comes out
// exactly once, including across growth of the array. Run under TSan too.
#include "tandem/detail/thread_pool/work_stealing_deque.hpp"

#include <gtest/gtest.h>

#include <atomic>   // the stop flag, counters
#include <cstdint>  // item numbers
#include <thread>   // thieves
#include <vector>   // items, per-thread tallies

namespace {

using tandem::detail::WorkStealingDeque;

// Items are pointers into one array, so an item's index says which it is.
struct Items {
    explicit Items(std::size_t count) : storage(count) {}
    int* at(std::size_t i) { return &storage[i]; }
    std::size_t index_of(int* item) const { return static_cast<std::size_t>(item - storage.data()); }
    std::vector<int> storage;
};

TEST(WorkStealingDeque, OwnerPopsNewestFirstThievesStealOldestFirst) {
    Items items(4);
    WorkStealingDeque<int*> deque;
    EXPECT_TRUE(deque.empty());
    for (std::size_t i = 0; i < 4; ++i) deque.push(items.at(i));
    EXPECT_FALSE(deque.empty());
    EXPECT_EQ(deque.pop(), items.at(3));
    EXPECT_EQ(deque.steal(), items.at(0));
    EXPECT_EQ(deque.pop(), items.at(2));
    EXPECT_EQ(deque.steal(), items.at(1));
    EXPECT_EQ(deque.pop(), nullptr);
    EXPECT_EQ(deque.steal(), nullptr);
    EXPECT_TRUE(deque.empty());
}

TEST(WorkStealingDeque, GrowsPastItsCapacityKeepingOrder) {
    Items items(1000);
    WorkStealingDeque<int*> deque(4);
    for (std::size_t i = 0; i < 1000; ++i) deque.push(items.at(i));
    for (std::size_t i = 0; i < 500; ++i) ASSERT_EQ(deque.steal(), items.at(i));
    for (std::size_t i = 1000; i-- > 500;) ASSERT_EQ(deque.pop(), items.at(i));
    EXPECT_TRUE(deque.empty());
}

TEST(WorkStealingDeque, ReusedAfterEmptyingAndWrappingAround) {
    Items items(8);
    WorkStealingDeque<int*> deque(2);
    for (int round = 0; round < 1000; ++round) {
        deque.push(items.at(0));
        deque.push(items.at(1));
        ASSERT_EQ(deque.steal(), items.at(0));
        ASSERT_EQ(deque.pop(), items.at(1));
        ASSERT_TRUE(deque.empty());
    }
}

// The owner pushes every item (sometimes popping some back itself) while
// thieves steal; every item must be taken exactly once, by someone.
void run_owner_against_thieves(std::size_t thieves, std::size_t count, std::size_t pop_every) {
    Items items(count);
    WorkStealingDeque<int*> deque(8);  // small, so it grows while thieves read it
    std::vector<std::atomic<int>> taken(count);
    std::atomic<bool> owner_done{false};
    std::atomic<std::size_t> stolen{0};

    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < thieves; ++t) {
        threads.emplace_back([&] {
            for (;;) {
                const bool last_look = owner_done.load(std::memory_order_acquire);
                if (int* item = deque.steal()) {
                    taken[items.index_of(item)].fetch_add(1, std::memory_order_relaxed);
                    stolen.fetch_add(1, std::memory_order_relaxed);
                } else if (last_look && deque.empty()) {
                    return;
                }
            }
        });
    }
    std::size_t popped = 0;
    for (std::size_t i = 0; i < count; ++i) {
        deque.push(items.at(i));
        if (pop_every != 0 && i % pop_every == 0) {
            if (int* item = deque.pop()) {
                taken[items.index_of(item)].fetch_add(1, std::memory_order_relaxed);
                ++popped;
            }
        }
    }
    // The owner drains what is left, racing the thieves for the last items.
    while (int* item = deque.pop()) {
        taken[items.index_of(item)].fetch_add(1, std::memory_order_relaxed);
        ++popped;
    }
    owner_done.store(true, std::memory_order_release);
    for (std::thread& thread : threads) thread.join();

    EXPECT_EQ(popped + stolen.load(), count);
    for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(taken[i].load(), 1) << "item " << i;
}

TEST(WorkStealingDeque, ConcurrentStealsTakeEveryItemOnce) { run_owner_against_thieves(3, 200'000, 0); }

TEST(WorkStealingDeque, ConcurrentPopsAndStealsTakeEveryItemOnce) { run_owner_against_thieves(3, 200'000, 3); }

TEST(WorkStealingDeque, RaceForTheLastItemHasOneWinner) {
    // One item at a time: the owner's pop and a thief's steal race for it.
    constexpr std::size_t kRounds = 20'000;
    Items items(1);
    WorkStealingDeque<int*> deque;
    std::atomic<std::size_t> round_ready{0};
    std::atomic<std::size_t> thief_round{0};
    std::atomic<std::size_t> stolen{0};
    std::thread thief([&] {
        for (std::size_t round = 1; round <= kRounds; ++round) {
            while (round_ready.load(std::memory_order_acquire) < round) std::this_thread::yield();
            if (deque.steal() != nullptr) stolen.fetch_add(1, std::memory_order_relaxed);
            thief_round.store(round, std::memory_order_release);
        }
    });
    std::size_t popped = 0;
    for (std::size_t round = 1; round <= kRounds; ++round) {
        deque.push(items.at(0));
        round_ready.store(round, std::memory_order_release);
        if (deque.pop() != nullptr) ++popped;
        while (thief_round.load(std::memory_order_acquire) < round) std::this_thread::yield();
        ASSERT_TRUE(deque.empty());
    }
    thief.join();
    EXPECT_EQ(popped + stolen.load(), kRounds);
}

}  // namespace

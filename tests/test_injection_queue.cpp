// detail/thread_pool/injection_queue.hpp: how work from outside a pool reaches
// its workers. Sharded lock-free rings with an overflow list: each
// submitter's items come out in the order it pushed them, concurrent pushes
// and pops lose and duplicate nothing (also past a ring's capacity, through
// the overflow), and close() refuses later pushes but keeps what was accepted.
// Run under TSan too.
#include "tandem/detail/thread_pool/injection_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>     // the stop flag, tallies
#include <exception>  // Runnable's interface
#include <thread>     // submitters and takers
#include <vector>     // items, tallies

#include "tandem/detail/thread_pool/task.hpp"  // Runnable

namespace {

using tandem::detail::InjectionQueue;
using tandem::detail::Runnable;

// The queue only stores Runnable pointers: items carry their submitter and
// their position in its sequence, and are never run.
struct Item final : Runnable {
    std::size_t submitter = 0;
    std::size_t sequence = 0;
    void run() noexcept override {}
    void abandon(std::exception_ptr) noexcept override {}
};

std::vector<Item> make_items(std::size_t submitters, std::size_t per_submitter) {
    std::vector<Item> items(submitters * per_submitter);
    for (std::size_t s = 0; s < submitters; ++s) {
        for (std::size_t i = 0; i < per_submitter; ++i) {
            items[s * per_submitter + i].submitter = s;
            items[s * per_submitter + i].sequence = i;
        }
    }
    return items;
}

TEST(InjectionQueue, OneSubmitterInOrderThroughTheOverflowAndBack) {
    // More than a shard's ring holds (4096), so the tail goes through the
    // overflow list, and then the ring again once it drained.
    constexpr std::size_t kCount = 10'000;
    std::vector<Item> items = make_items(1, kCount);
    InjectionQueue queue(1);
    EXPECT_FALSE(queue.maybe_nonempty());
    for (Item& item : items) ASSERT_TRUE(queue.push(&item));
    EXPECT_TRUE(queue.maybe_nonempty());
    for (std::size_t i = 0; i < kCount; ++i) {
        auto* item = static_cast<Item*>(queue.pop(0));
        ASSERT_NE(item, nullptr);
        ASSERT_EQ(item->sequence, i);
    }
    EXPECT_EQ(queue.pop(0), nullptr);
    EXPECT_FALSE(queue.maybe_nonempty());
    for (std::size_t i = 0; i < 10; ++i) ASSERT_TRUE(queue.push(&items[i]));
    for (std::size_t i = 0; i < 10; ++i) ASSERT_EQ(static_cast<Item*>(queue.pop(i))->sequence, i);
}

TEST(InjectionQueue, PushesWhileOverflowedQueueBehindTheOverflowedItems) {
    // The first pop from the overflow list moves a batch of it back into the
    // ring; pushes made while anything is still overflowed must come out after
    // all of it, not in the ring's free cells ahead of it.
    constexpr std::size_t kFirst = 10'000;   // 4096 in the ring, the rest overflowed
    constexpr std::size_t kTaken = 5'000;    // drains the ring and part of the overflow
    constexpr std::size_t kCount = 16'000;
    std::vector<Item> items = make_items(1, kCount);
    InjectionQueue queue(1);
    std::size_t next = 0;
    for (std::size_t i = 0; i < kFirst; ++i) ASSERT_TRUE(queue.push(&items[i]));
    for (; next < kTaken; ++next) ASSERT_EQ(static_cast<Item*>(queue.pop(0))->sequence, next);
    for (std::size_t i = kFirst; i < kCount; ++i) ASSERT_TRUE(queue.push(&items[i]));
    for (; next < kCount; ++next) {
        auto* item = static_cast<Item*>(queue.pop(0));
        ASSERT_NE(item, nullptr);
        ASSERT_EQ(item->sequence, next);
    }
    EXPECT_EQ(queue.pop(0), nullptr);
    EXPECT_FALSE(queue.maybe_nonempty());
}

TEST(InjectionQueue, EachSubmittersItemsStayInOrderForOneTaker) {
    constexpr std::size_t kSubmitters = 4;
    constexpr std::size_t kPerSubmitter = 20'000;
    std::vector<Item> items = make_items(kSubmitters, kPerSubmitter);
    InjectionQueue queue(2);  // fewer shards than submitters: shards are shared
    std::vector<std::thread> submitters;
    for (std::size_t s = 0; s < kSubmitters; ++s) {
        submitters.emplace_back([&, s] {
            for (std::size_t i = 0; i < kPerSubmitter; ++i) ASSERT_TRUE(queue.push(&items[s * kPerSubmitter + i]));
        });
    }
    std::vector<std::size_t> next(kSubmitters, 0);
    std::size_t received = 0;
    for (std::size_t start = 0; received < kSubmitters * kPerSubmitter; ++start) {
        auto* item = static_cast<Item*>(queue.pop(start));
        if (item == nullptr) {
            std::this_thread::yield();
            continue;
        }
        ASSERT_EQ(item->sequence, next[item->submitter]) << "submitter " << item->submitter;
        ++next[item->submitter];
        ++received;
    }
    for (std::thread& thread : submitters) thread.join();
    EXPECT_EQ(queue.pop(0), nullptr);
}

TEST(InjectionQueue, ConcurrentPushesAndPopsTakeEveryItemOnce) {
    constexpr std::size_t kSubmitters = 3;
    constexpr std::size_t kTakers = 3;
    constexpr std::size_t kPerSubmitter = 30'000;
    std::vector<Item> items = make_items(kSubmitters, kPerSubmitter);
    std::vector<std::atomic<int>> taken(items.size());
    std::atomic<std::size_t> remaining{items.size()};
    InjectionQueue queue(2);

    std::vector<std::thread> threads;
    for (std::size_t s = 0; s < kSubmitters; ++s) {
        threads.emplace_back([&, s] {
            for (std::size_t i = 0; i < kPerSubmitter; ++i) ASSERT_TRUE(queue.push(&items[s * kPerSubmitter + i]));
        });
    }
    for (std::size_t t = 0; t < kTakers; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t start = t; remaining.load(std::memory_order_acquire) != 0; ++start) {
                if (Runnable* runnable = queue.pop(start)) {
                    const auto index = static_cast<std::size_t>(static_cast<Item*>(runnable) - items.data());
                    taken[index].fetch_add(1, std::memory_order_relaxed);
                    remaining.fetch_sub(1, std::memory_order_acq_rel);
                } else {
                    std::this_thread::yield();
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(taken[i].load(), 1) << "item " << i;
    EXPECT_EQ(queue.pop(0), nullptr);
}

TEST(InjectionQueue, CloseRefusesLaterPushesAndKeepsAcceptedOnes) {
    std::vector<Item> items = make_items(1, 5000);
    InjectionQueue queue(2);
    for (std::size_t i = 0; i < 4999; ++i) ASSERT_TRUE(queue.push(&items[i]));
    queue.close();
    EXPECT_FALSE(queue.push(&items[4999]));
    std::size_t drained = 0;
    while (queue.pop(drained) != nullptr) ++drained;
    EXPECT_EQ(drained, 4999U);
}

TEST(InjectionQueue, CloseDuringPushesLeavesExactlyTheAcceptedOnes) {
    // Every push close() lets in must be poppable afterwards; every other one
    // must have been refused, whatever the interleaving.
    constexpr std::size_t kSubmitters = 3;
    constexpr std::size_t kPerSubmitter = 20'000;
    std::vector<Item> items = make_items(kSubmitters, kPerSubmitter);
    InjectionQueue queue(2);
    std::atomic<std::size_t> accepted{0};
    std::atomic<std::size_t> accepted_late{0};  // pushes begun after close() returned, yet accepted
    std::atomic<std::size_t> started{0};
    std::atomic<bool> close_returned{false};
    std::vector<std::thread> submitters;
    for (std::size_t s = 0; s < kSubmitters; ++s) {
        submitters.emplace_back([&, s] {
            started.fetch_add(1);
            for (std::size_t i = 0; i < kPerSubmitter; ++i) {
                // Read before the push: a push that starts after close() returned must be refused.
                // (Counting after the push would race with close(): an accepted push may not have
                // counted itself yet when close() returns.)
                const bool late = close_returned.load();
                if (!queue.push(&items[s * kPerSubmitter + i])) continue;
                accepted.fetch_add(1, std::memory_order_relaxed);
                if (late) accepted_late.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    while (started.load() < kSubmitters || accepted.load() < 1000) std::this_thread::yield();
    queue.close();
    close_returned.store(true);
    for (std::thread& thread : submitters) thread.join();
    EXPECT_EQ(accepted_late.load(), 0U) << "a push begun after close() returned was accepted";
    std::size_t drained = 0;
    while (queue.pop(drained) != nullptr) ++drained;
    EXPECT_EQ(drained, accepted.load());
}

}  // namespace

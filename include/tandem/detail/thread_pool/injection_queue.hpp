// Internal: how work submitted from outside the pool reaches the workers.
//
// Several shards, each a bounded lock-free MPMC ring (Vyukov's sequence-number
// design) with an unbounded overflow list behind a mutex that is touched only
// when the ring is full. Once anything overflowed, pushes go to the list until
// it is empty, and a worker that takes from the list moves a batch of the
// oldest tasks back into the ring, so a submitter that outruns the workers
// costs them one lock per batch. A submitting thread sticks to one shard, so its tasks
// stay in submission order; workers take from every shard, starting at a
// rotating index, so no shard starves. Submitters on different threads rarely
// touch the same cache lines, and there is no global lock.
#pragma once

#include <atomic>   // ring positions and sequence numbers
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <deque>    // overflow list
#include <memory>   // shard storage
#include <mutex>    // guards the overflow list

namespace tandem::detail {

class Runnable;

class InjectionQueue {
public:
    explicit InjectionQueue(std::size_t shard_count);
    InjectionQueue(const InjectionQueue&) = delete;
    InjectionQueue& operator=(const InjectionQueue&) = delete;
    ~InjectionQueue();

    /// Any thread. Never blocks on other submitters. Returns false, without
    /// enqueuing, once close() has begun.
    bool push(Runnable* task);
    /// Refuses further pushes and returns once every push that was accepted has
    /// finished, so a drain after close() sees everything.
    void close() noexcept;
    /// Any thread; `start` rotates the shard tried first. nullptr when empty.
    Runnable* pop(std::size_t start) noexcept;
    /// A snapshot that may report work which is about to be published; it is
    /// never wrong the other way once push() has returned.
    bool maybe_nonempty() const noexcept;

private:
    struct Shard;
    std::size_t shard_count_;
    std::unique_ptr<Shard[]> shards_;
};

}  // namespace tandem::detail

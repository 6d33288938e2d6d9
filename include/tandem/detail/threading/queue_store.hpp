// Internal: the containers behind tandem::threading's queues.
//
// BasicQueue (tandem/threading/queue.hpp) holds the locking, blocking, task
// counting and shutdown logic once; what differs between Queue, LifoQueue and
// PriorityQueue is only which item leaves first, and that lives here, as in
// Python's _put/_get overrides. A store is used under the queue's mutex only.
//
// Every store gives the strong guarantee: push() and take() either succeed or
// leave the store exactly as it was, even when T's constructors or the
// priority comparator throw. take() returns the item by value and removes it
// only after the caller's object has been built, so a throwing move loses
// nothing.
#pragma once

#include <cstddef>      // std::size_t
#include <deque>        // the FIFO and LIFO stores
#include <exception>    // std::uncaught_exceptions
#include <memory>       // std::unique_ptr boxes for heap items whose moves may throw
#include <type_traits>  // nothrow checks that choose the heap's slot type
#include <utility>      // std::move, std::forward, std::swap, std::as_const
#include <vector>       // the heap's array

namespace tandem::detail {

/// Runs `action` when the scope ends normally and skips it when the scope is
/// left by an exception. A store hands an item out with `return
/// std::move(slot)` and drops the slot in this guard: the return object is
/// built before locals are destroyed, so the slot goes only once the caller
/// has the item. `action` must not throw.
template <class Action>
class OnSuccess {
public:
    explicit OnSuccess(Action action) noexcept : action_(std::move(action)) {}
    ~OnSuccess() {
        if (std::uncaught_exceptions() == pending_) action_();
    }
    OnSuccess(const OnSuccess&) = delete;
    OnSuccess& operator=(const OnSuccess&) = delete;

private:
    Action action_;
    int pending_ = std::uncaught_exceptions();
};

/// Which end of a DequeStore take() serves.
enum class TakeFrom { oldest, newest };

/// FIFO (Queue) or LIFO (LifoQueue) order. std::deque, not std::vector, for
/// both: inserting at either end of a deque never moves the other items, so
/// push() is strong even for a move-only T whose move may throw.
template <class T, TakeFrom end>
class DequeStore {
public:
    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }
    void clear() noexcept { items_.clear(); }

    /// Constructs the item at the back; no effect if that throws.
    template <class U>
    void push(U&& item) {
        items_.emplace_back(std::forward<U>(item));
    }

    /// Removes and returns the oldest (FIFO) or newest (LIFO) item.
    /// Precondition: not empty.
    T take() {
        if constexpr (end == TakeFrom::oldest) {
            const OnSuccess drop([this]() noexcept { items_.pop_front(); });
            return std::move(items_.front());
        } else {
            const OnSuccess drop([this]() noexcept { items_.pop_back(); });
            return std::move(items_.back());
        }
    }

private:
    std::deque<T> items_;
};

/// Priority order (PriorityQueue): a binary heap in which no item is ordered
/// before its parent by `Compare`, so the item that compares first leaves
/// first (with std::less, the smallest, like Python's heapq).
///
/// The heap is sifted with swaps that cannot throw, so when the comparator
/// throws part-way the swaps made so far are walked back and the heap is as it
/// was. Slots are T itself when T's moves cannot throw, otherwise a box
/// holding T: only the box is swapped, and T is moved just once on the way in
/// and once on the way out.
template <class T, class Compare>
class HeapStore {
    static constexpr bool boxed =
        !(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>);
    using Slot = std::conditional_t<boxed, std::unique_ptr<T>, T>;

public:
    explicit HeapStore(Compare compare = Compare()) : compare_(std::move(compare)) {}

    bool empty() const noexcept { return slots_.empty(); }
    std::size_t size() const noexcept { return slots_.size(); }
    void clear() noexcept { slots_.clear(); }

    /// Adds the item; no effect if constructing it or comparing throws.
    template <class U>
    void push(U&& item) {
        if constexpr (boxed) {
            // Grow the array before touching the item, so a failed allocation
            // leaves the caller's item where it was.
            slots_.emplace_back();
            try {
                slots_.back() = std::make_unique<T>(std::forward<U>(item));
            } catch (...) {
                slots_.pop_back();
                throw;
            }
        } else {
            slots_.emplace_back(std::forward<U>(item));
        }
        const std::size_t start = slots_.size() - 1;
        std::size_t at = start;
        try {
            while (at > 0 && before(at, parent(at))) {
                swap_slots(at, parent(at));
                at = parent(at);
            }
        } catch (...) {
            // Walk the new item back down the path it climbed, then drop it.
            while (at != start) {
                std::size_t child = start;
                while (parent(child) != at) child = parent(child);
                swap_slots(at, child);
                at = child;
            }
            slots_.pop_back();
            throw;
        }
    }

    /// Removes and returns the first item in priority order.
    /// Precondition: not empty.
    T take() {
        // Park the first item in the last slot and restore the heap over the
        // others; `at` tracks where the former last item sank to, which is all
        // that is needed to undo it.
        const std::size_t last = slots_.size() - 1;
        swap_slots(0, last);
        std::size_t at = 0;
        const auto undo = [&]() noexcept {
            for (; at > 0; at = parent(at)) swap_slots(at, parent(at));
            swap_slots(0, last);
        };
        try {
            for (;;) {
                std::size_t child = 2 * at + 1;
                if (child >= last) break;
                if (child + 1 < last && before(child + 1, child)) ++child;
                if (!before(child, at)) break;
                swap_slots(at, child);
                at = child;
            }
        } catch (...) {
            undo();
            throw;
        }
        const OnSuccess drop([this]() noexcept { slots_.pop_back(); });
        try {
            return std::move(value(slots_.back()));
        } catch (...) {
            undo();  // only reachable when T is boxed: its move may throw
            throw;
        }
    }

private:
    static std::size_t parent(std::size_t at) noexcept { return (at - 1) / 2; }
    static T& value(Slot& slot) noexcept {
        if constexpr (boxed) {
            return *slot;
        } else {
            return slot;
        }
    }
    bool before(std::size_t a, std::size_t b) {
        return compare_(std::as_const(value(slots_[a])), std::as_const(value(slots_[b])));
    }
    void swap_slots(std::size_t a, std::size_t b) noexcept {
        std::swap(slots_[a], slots_[b]);
    }

    std::vector<Slot> slots_;
    [[no_unique_address]] Compare compare_;
};

}  // namespace tandem::detail

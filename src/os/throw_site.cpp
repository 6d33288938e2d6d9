// Recording where exceptions are thrown. See tandem/detail/os/throw_site.hpp.
#include "tandem/detail/os/throw_site.hpp"

#include <cstring>  // std::memcpy: the thrown object behind an exception_ptr
#include <memory>   // the per-thread record, made on first use
#include <span>     // the recorded frames

#include "tandem/detail/os/stack_trace.hpp"  // capture_stack, symbolize

namespace tandem::detail {

std::atomic<bool> throw_capture_enabled{false};

namespace {

struct ThrowRecord {
    void* object = nullptr;
    std::size_t count = 0;
    void* frames[kMaxFrames];
};

// Made by a thread's first recorded throw: threads of a process that never
// records pay nothing, not even thread-local storage for the frames.
thread_local std::unique_ptr<ThrowRecord> last_throw;

// What an exception_ptr points to: libstdc++'s holds the thrown object's
// address, the same the hook was given.
void* thrown_object(const std::exception_ptr& error) noexcept {
    static_assert(sizeof(std::exception_ptr) == sizeof(void*), "libstdc++'s exception_ptr: one pointer");
    void* object = nullptr;
    std::memcpy(&object, &error, sizeof object);
    return object;
}

}  // namespace

void enable_throw_capture() noexcept {
    warm_up_stack_capture();
    throw_capture_enabled.store(true, std::memory_order_relaxed);
}

void record_throw(void* thrown_object) noexcept {
    if (!last_throw) {
        last_throw.reset(new (std::nothrow) ThrowRecord);
        if (!last_throw) return;
    }
    // Two frames of the hook itself: this function and __wrap___cxa_throw.
    last_throw->count = capture_stack(last_throw->frames, kMaxFrames, 2);
    last_throw->object = thrown_object;
}

std::string throw_site_stack(const std::exception_ptr& error) {
    if (!throw_capture_enabled.load(std::memory_order_relaxed) || !last_throw || !error) return {};
    if (last_throw->object != thrown_object(error)) return {};
    return symbolize(std::span<void* const>(last_throw->frames, last_throw->count), kTaskCaller);
}

}  // namespace tandem::detail

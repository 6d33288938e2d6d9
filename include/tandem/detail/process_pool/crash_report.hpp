// Internal: the stack of a worker that dies of a fatal signal.
//
// A pool worker installs a handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and
// SIGABRT, on an alternate stack (a stack overflow still reaches it). The
// handler does only async-signal-safe work: it walks the stack with libgcc's
// unwinder (warmed up at install, so it neither loads nor allocates), turns
// each program counter into module + offset with a table of the worker's
// modules made at install, copies that into the CrashRecord in the worker's
// area, then lets the signal kill the worker as it would have (default
// action, re-raised). The parent, once the worker is dead, copies the record
// out of shared memory once, checks every count and index against the
// record's own bounds and reads module paths no further than their buffers,
// and symbolizes the frames against its own copy of the same modules
// (stack_trace.hpp): symbol lookups only, nothing the record says is called.
// A record the worker scribbled over gives a shorter or empty stack, never
// more.
//
//     install_crash_handler(area->crash);                 // in the worker
//     std::string stack = read_crash_stack(area->crash);  // in the parent, after the death
#pragma once

#include <atomic>   // the record's completion flag
#include <cstddef>  // std::size_t
#include <cstdint>  // fixed-width fields shared between processes
#include <string>   // the stack as text

namespace tandem::detail::process_pool {

/// What the fatal-signal handler leaves in the worker's area.
struct CrashRecord {
    static constexpr std::size_t kFrames = 48;
    static constexpr std::size_t kModules = 12;
    static constexpr std::size_t kPathBytes = 256;
    struct Frame {
        std::uint32_t module;  ///< index into `modules`
        std::uint32_t unused;
        std::uint64_t offset;  ///< from the module's load address
    };
    struct Data {
        std::int32_t signal_number;
        std::uint32_t frame_count;
        std::uint32_t module_count;
        std::uint32_t unused;
        Frame frames[kFrames];
        /// NUL-terminated when shorter than kPathBytes; "" is the program.
        char modules[kModules][kPathBytes];
    };
    /// 1 once `data` is written (release), by a dying worker only.
    std::atomic<std::uint32_t> complete{0};
    Data data{};
};

/// In a worker: records this process's fatal signals into `record`. Safe
/// to call again (the handler is installed once per process).
void install_crash_handler(CrashRecord& record) noexcept;

/// In the parent, once the worker is dead: its recorded stack, symbolized,
/// innermost first, with the signal's name; "" if it recorded none.
std::string read_crash_stack(const CrashRecord& record);

}  // namespace tandem::detail::process_pool

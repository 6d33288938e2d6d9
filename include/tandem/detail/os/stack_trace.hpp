// Internal: a thread's stack as program counters, and program counters as text.
//
// capture_stack() walks the calling thread's stack with libgcc's unwinder
// (the one C++ exceptions use) into a caller's array: no allocation and no
// lock once warm_up_stack_capture() has run, so a fatal-signal handler may
// call it. Program counters are stored as module + offset (ModuleOffset),
// which means the same in every process running the same binaries: a worker
// records them, and the parent, which runs the same program, turns them into
// function names with symbolize() — backward-cpp over elfutils' libdw, which
// reads the symbol table (static functions included) and, when the program
// has debug information, source files and lines.
//
//     warm_up_stack_capture();
//     void* pcs[kMaxFrames];
//     const std::size_t count = capture_stack(pcs, kMaxFrames, 0);
//     std::string text = symbolize({pcs, count});  // "#0 parse(...) at parse.cpp:12\n#1 ..."
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t offsets
#include <span>         // frames
#include <string>       // module paths, the text
#include <string_view>  // the outermost frame kept

namespace tandem::detail {

/// The most frames any stack is kept to: the innermost ones say where.
inline constexpr std::size_t kMaxFrames = 48;

/// Loads the unwinder now (its first use may load libgcc_s and allocate),
/// so that capture_stack() is safe in a signal handler afterwards.
void warm_up_stack_capture() noexcept;

/// Writes up to `capacity` program counters of the calling thread's stack,
/// innermost first, leaving out the `skip` innermost frames (this function
/// itself is never included); returns how many. Each counter points into
/// the instruction that was running or the call that was made, so a frame
/// that ends a function in a call (a throw) is still named after it.
std::size_t capture_stack(void** frames, std::size_t capacity, std::size_t skip) noexcept;

/// A program counter as the module it lies in (its path, "" for the
/// program itself) and the offset from that module's load address.
struct ModuleOffset {
    std::string module;
    std::uint64_t offset = 0;
};

/// One line per frame, "#<i> <function> at <file>:<line>" (the source when
/// the binary has debug information), "#<i> <function> in <module>"
/// otherwise, "#<i> ?? in <module>+0x<offset>" when the module is not
/// loaded here or has no symbol there. Frames after the first whose
/// function's name starts with `outermost` (when not empty) are left out:
/// what called the task says nothing about it. Looks up addresses only;
/// nothing is called. Throws only std::bad_alloc.
std::string symbolize(std::span<const ModuleOffset> frames, std::string_view outermost = {});

/// symbolize() for program counters of this process.
std::string symbolize(std::span<void* const> frames, std::string_view outermost = {});

/// The frame a pool worker calls every task from: stacks stop there.
inline constexpr std::string_view kTaskCaller = "tandem::detail::run_call(";

}  // namespace tandem::detail

// Capturing and symbolizing stacks. See tandem/detail/os/stack_trace.hpp.
//
// backward-cpp (Debian's libbackward-cpp-dev) resolves addresses through
// elfutils' libdw: function names from the symbol table, inlined frames and
// source lines from DWARF when present. Only this file includes it.
#include "tandem/detail/os/stack_trace.hpp"

#include <link.h>    // dl_iterate_phdr: where each module is loaded here
#include <unwind.h>  // _Unwind_Backtrace: libgcc's unwinder

#include <cinttypes>  // PRIx64
#include <cstdio>     // std::snprintf
#include <mutex>      // one resolver per process, used by one thread at a time
#include <vector>     // addresses to resolve

#define BACKWARD_HAS_DW 1
#include <backward.hpp>  // backward::TraceResolver over libdw

namespace tandem::detail {
namespace {

struct Walk {
    void** frames;
    std::size_t capacity;
    std::size_t skip;
    std::size_t count;
};

_Unwind_Reason_Code visit(_Unwind_Context* context, void* argument) {
    auto& walk = *static_cast<Walk*>(argument);
    int before_instruction = 0;
    auto pc = _Unwind_GetIPInfo(context, &before_instruction);
    if (pc == 0) return _URC_END_OF_STACK;
    // A return address points after the call; one byte back is inside it
    // (a signal frame's counter already points at the interrupted instruction).
    if (before_instruction == 0) --pc;
    if (walk.skip > 0) {
        --walk.skip;
        return _URC_NO_REASON;
    }
    if (walk.count == walk.capacity) return _URC_END_OF_STACK;
    walk.frames[walk.count++] = reinterpret_cast<void*>(pc);
    return _URC_NO_REASON;
}

// Where a module is loaded in this process.
struct Loaded {
    const std::string* module;
    std::uintptr_t base = 0;
    std::uintptr_t end = 0;
    bool found = false;
};

int find_module(dl_phdr_info* info, std::size_t, void* argument) {
    auto& loaded = *static_cast<Loaded*>(argument);
    const std::string_view name = info->dlpi_name != nullptr ? info->dlpi_name : "";
    if (name != *loaded.module) return 0;
    std::uintptr_t end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& header = info->dlpi_phdr[i];
        if (header.p_type == PT_LOAD) end = std::max<std::uintptr_t>(end, header.p_vaddr + header.p_memsz);
    }
    loaded.base = info->dlpi_addr;
    loaded.end = info->dlpi_addr + end;
    loaded.found = true;
    return 1;
}

std::string describe(std::size_t index, const backward::ResolvedTrace& trace, const std::string& fallback) {
    std::string line = "#";
    line.append(std::to_string(index)).push_back(' ');
    const std::string& function = !trace.source.function.empty() ? trace.source.function : trace.object_function;
    if (function.empty()) return line + "?? in " + fallback;
    line += function;
    if (!trace.source.filename.empty()) {
        line += " at " + trace.source.filename + ":" + std::to_string(trace.source.line);
    } else {
        line += " in " + (trace.object_filename.empty() ? fallback : trace.object_filename);
    }
    return line;
}

std::string resolve_all(const std::vector<void*>& addresses, const std::vector<std::string>& fallbacks,
                        std::string_view outermost) {
    // libdw reads a module's tables once; later stacks reuse them.
    static std::mutex mutex;
    static backward::TraceResolver* resolver = nullptr;
    std::lock_guard lock(mutex);
    if (resolver == nullptr) resolver = new backward::TraceResolver;  // kept for the process's life
    std::string text;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        backward::ResolvedTrace trace(backward::Trace(addresses[i], i));
        if (addresses[i] != nullptr) trace = resolver->resolve(trace);
        text += describe(i, trace, fallbacks[i]) + "\n";
        if (!outermost.empty() && trace.object_function.starts_with(outermost)) break;
    }
    return text;
}

std::string hex_location(const std::string& module, std::uint64_t offset) {
    char number[32];
    std::snprintf(number, sizeof number, "+0x%" PRIx64, offset);
    return (module.empty() ? std::string("the program") : module) + number;
}

}  // namespace

void warm_up_stack_capture() noexcept {
    void* frame = nullptr;
    static_cast<void>(capture_stack(&frame, 1, 0));
}

std::size_t capture_stack(void** frames, std::size_t capacity, std::size_t skip) noexcept {
    Walk walk{frames, capacity, skip + 1, 0};  // + this function
    _Unwind_Backtrace(&visit, &walk);
    return walk.count;
}

std::string symbolize(std::span<const ModuleOffset> frames, std::string_view outermost) {
    std::vector<void*> addresses;
    std::vector<std::string> fallbacks;
    for (const ModuleOffset& frame : frames) {
        Loaded loaded{&frame.module};
        dl_iterate_phdr(&find_module, &loaded);
        // Only an offset inside the module as loaded here is looked up.
        const bool inside = loaded.found && frame.offset < loaded.end - loaded.base;
        addresses.push_back(inside ? reinterpret_cast<void*>(loaded.base + frame.offset) : nullptr);
        fallbacks.push_back(hex_location(frame.module, frame.offset));
    }
    return resolve_all(addresses, fallbacks, outermost);
}

std::string symbolize(std::span<void* const> frames, std::string_view outermost) {
    std::vector<void*> addresses(frames.begin(), frames.end());
    std::vector<std::string> fallbacks;
    for (void* address : frames) {
        Dl_info info{};
        fallbacks.push_back(::dladdr(address, &info) != 0 && info.dli_fname != nullptr
                                ? hex_location(info.dli_fname, reinterpret_cast<std::uintptr_t>(address) -
                                                                   reinterpret_cast<std::uintptr_t>(info.dli_fbase))
                                : "??");
    }
    return resolve_all(addresses, fallbacks, outermost);
}

}  // namespace tandem::detail

// The fatal-signal handler of a pool worker and the parent's reading of what
// it recorded. See tandem/detail/process_pool/crash_report.hpp.
#include "tandem/detail/process_pool/crash_report.hpp"

#include <link.h>      // dl_iterate_phdr: the worker's modules, listed at install
#include <signal.h>    // sigaction, sigaltstack
#include <ucontext.h>  // the interrupted instruction

#include <algorithm>  // std::min
#include <cstring>    // std::memcpy, strnlen, sigabbrev_np
#include <vector>     // frames to symbolize

#include "tandem/detail/os/stack_trace.hpp"  // capture_stack, symbolize, ModuleOffset

namespace tandem::detail::process_pool {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr std::size_t kMaxModules = 128;
constexpr std::size_t kAlternateStackBytes = 64 * 1024;

// The worker's modules, listed at install (dl_iterate_phdr takes a lock: not
// in a signal handler). A module loaded later is not listed; its frames are
// left out.
struct Module {
    std::uintptr_t base;
    std::uintptr_t end;
    const char* path;  // the loader's string: lives while the module is loaded
};
Module modules[kMaxModules];
std::size_t module_count = 0;
CrashRecord* target = nullptr;
alignas(16) char alternate_stack[kAlternateStackBytes];

int list_module(dl_phdr_info* info, std::size_t, void*) {
    if (module_count == kMaxModules) return 1;
    std::uintptr_t end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& header = info->dlpi_phdr[i];
        if (header.p_type == PT_LOAD) end = std::max<std::uintptr_t>(end, header.p_vaddr + header.p_memsz);
    }
    modules[module_count++] = Module{info->dlpi_addr, info->dlpi_addr + end, info->dlpi_name ? info->dlpi_name : ""};
    return 0;
}

const Module* module_of(std::uintptr_t pc) noexcept {
    for (std::size_t i = 0; i < module_count; ++i) {
        if (pc >= modules[i].base && pc < modules[i].end) return &modules[i];
    }
    return nullptr;
}

std::uintptr_t interrupted_pc(void* context) noexcept {
    const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
    return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
    static_cast<void>(uc);
    return 0;
#endif
}

// Async-signal-safe: the unwinder (warmed up), plain copies, sigaction, raise.
void on_fatal_signal(int signal_number, siginfo_t* info, void* context) {
    CrashRecord* record = target;
    if (record != nullptr && record->complete.load(std::memory_order_relaxed) == 0) {
        void* pcs[CrashRecord::kFrames + 8];
        const std::size_t count = capture_stack(pcs, CrashRecord::kFrames + 8, 0);
        // Start at the interrupted instruction: the handler's own frames say nothing.
        std::size_t first = 0;
        const std::uintptr_t pc = interrupted_pc(context);
        for (std::size_t i = 0; i < count; ++i) {
            if (reinterpret_cast<std::uintptr_t>(pcs[i]) == pc) {
                first = i;
                break;
            }
        }
        CrashRecord::Data& data = record->data;
        data.signal_number = signal_number;
        data.frame_count = 0;
        data.module_count = 0;
        const Module* named[CrashRecord::kModules];
        for (std::size_t i = first; i < count && data.frame_count < CrashRecord::kFrames; ++i) {
            const auto address = reinterpret_cast<std::uintptr_t>(pcs[i]);
            const Module* module = module_of(address);
            if (module == nullptr) continue;
            std::uint32_t index = 0;
            while (index < data.module_count && named[index] != module) ++index;
            if (index == data.module_count) {
                if (index == CrashRecord::kModules) continue;
                named[index] = module;
                const std::size_t length = ::strnlen(module->path, CrashRecord::kPathBytes - 1);
                std::memcpy(data.modules[index], module->path, length);
                data.modules[index][length] = '\0';
                ++data.module_count;
            }
            data.frames[data.frame_count++] = CrashRecord::Frame{index, 0, address - module->base};
        }
        record->complete.store(1, std::memory_order_release);
    }
    // Die of the signal as without the handler (SA_RESETHAND restored the
    // default): one sent by kill or raise is sent again; a fault happens
    // again when the handler returns.
    if (info == nullptr || info->si_code <= 0 || signal_number == SIGABRT) ::raise(signal_number);
}

}  // namespace

void install_crash_handler(CrashRecord& record) noexcept {
    if (target == nullptr) {
        dl_iterate_phdr(&list_module, nullptr);
        warm_up_stack_capture();
        stack_t stack{};
        stack.ss_sp = alternate_stack;
        stack.ss_size = sizeof alternate_stack;
        ::sigaltstack(&stack, nullptr);
        struct sigaction action{};
        action.sa_sigaction = &on_fatal_signal;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
        sigemptyset(&action.sa_mask);
        for (int signal_number : kFatalSignals) ::sigaction(signal_number, &action, nullptr);
    }
    target = &record;
}

std::string read_crash_stack(const CrashRecord& record) {
    if (record.complete.load(std::memory_order_acquire) != 1) return {};
    // One copy; everything below looks at the copy only.
    CrashRecord::Data data;
    std::memcpy(&data, &record.data, sizeof data);
    const std::size_t frames = std::min<std::size_t>(data.frame_count, CrashRecord::kFrames);
    const std::size_t named = std::min<std::size_t>(data.module_count, CrashRecord::kModules);
    std::vector<ModuleOffset> stack;
    for (std::size_t i = 0; i < frames; ++i) {
        const CrashRecord::Frame& frame = data.frames[i];
        if (frame.module >= named) break;
        const char* path = data.modules[frame.module];
        stack.push_back(ModuleOffset{std::string(path, ::strnlen(path, CrashRecord::kPathBytes)), frame.offset});
    }
    if (stack.empty()) return {};
    const int signal_number = data.signal_number;
    const char* name = signal_number > 0 && signal_number < 65 ? ::sigabbrev_np(signal_number) : nullptr;
    return std::string("stack at SIG") + (name ? name : "?") + ":\n" + symbolize(stack, kTaskCaller);
}

}  // namespace tandem::detail::process_pool

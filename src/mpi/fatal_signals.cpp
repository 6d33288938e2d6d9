// The line a dying serving rank writes: see
// tandem/detail/mpi/fatal_signals.hpp.
#include "tandem/detail/mpi/fatal_signals.hpp"

#include <signal.h>  // sigaction, sigaltstack, raise
#include <unistd.h>  // write, getpid, gethostname

#include <array>    // the handled signals and their saved actions
#include <atomic>   // the flags a handler reads
#include <cerrno>   // errno, saved around the handler
#include <cstddef>  // std::size_t
#include <cstdlib>  // std::atexit
#include <cstring>  // std::strlen

namespace tandem::detail::mpi {
namespace {

struct Handled {
    int number;
    const char* name;
};
constexpr std::array<Handled, 5> kSignals{{
    {SIGSEGV, "SIGSEGV"},
    {SIGBUS, "SIGBUS"},
    {SIGILL, "SIGILL"},
    {SIGFPE, "SIGFPE"},
    {SIGABRT, "SIGABRT"},
}};

// Written before the handlers are installed, read only by them.
char line_prefix[256];
std::array<struct sigaction, kSignals.size()> previous_actions;
stack_t previous_stack;
// Room for the handler on a task that overflowed its own stack (and for a
// sanitizer's handler it chains to).
alignas(16) char alternate_stack[64 * 1024];

std::atomic<bool> installed{false};
std::atomic<bool> in_task{false};
std::atomic<bool> reported{false};  // one line per process, however many signals follow

// async-signal-safe appending (no snprintf in a handler).
struct Line {
    char text[512];
    std::size_t size = 0;
    void add(const char* part) noexcept {
        for (; *part != '\0' && size < sizeof text; ++part) text[size++] = *part;
    }
    void add_number(long value) noexcept {
        char digits[24];
        std::size_t count = 0;
        const bool negative = value < 0;
        unsigned long magnitude = negative ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
        do {
            digits[count++] = static_cast<char>('0' + magnitude % 10);
            magnitude /= 10;
        } while (magnitude != 0 && count < sizeof digits);
        if (negative) add("-");
        while (count != 0 && size < sizeof text) text[size++] = digits[--count];
    }
    void write_out() const noexcept {
        [[maybe_unused]] const auto written = ::write(2, text, size);
    }
};

void report(const char* what) noexcept {
    if (reported.exchange(true)) return;
    Line line;
    line.add(line_prefix);
    line.add(what);
    line.add(in_task.load() ? " while running a task" : " while waiting for a task");
    line.add("; the MPI job ends\n");
    line.write_out();
}

void on_fatal_signal(int number, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    std::size_t index = 0;
    while (index < kSignals.size() && kSignals[index].number != number) ++index;
    if (installed.load()) {
        Line what;
        what.add("died of signal ");
        what.add_number(number);
        if (index < kSignals.size()) {
            what.add(" (");
            what.add(kSignals[index].name);
            what.add(")");
        }
        what.text[what.size < sizeof what.text ? what.size : sizeof what.text - 1] = '\0';
        report(what.text);
    }
    // Whoever handled it before (Open MPI's backtrace, a sanitizer's report)
    // has its say; then the signal's default action ends the process, so
    // mpirun sees the signal itself.
    if (index < kSignals.size()) {
        const struct sigaction& previous = previous_actions[index];
        if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
            previous.sa_sigaction(number, info, context);
        } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
            previous.sa_handler(number);
        }
    }
    ::signal(number, SIG_DFL);
    errno = saved_errno;
    ::raise(number);
}

// exit() called by a task: the rank leaves without finalizing MPI, which
// mpirun reports without saying why.
void on_exit_during_task() {
    if (installed.load() && in_task.load()) report("called exit()");
}

}  // namespace

FatalSignalReporter::FatalSignalReporter(int rank, int size) noexcept {
    char host[128] = "?";
    ::gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    Line prefix;
    prefix.add("tandem::mpi: rank ");
    prefix.add_number(rank);
    prefix.add(" of ");
    prefix.add_number(size);
    prefix.add(" (pid ");
    prefix.add_number(::getpid());
    prefix.add(" on ");
    prefix.add(host);
    prefix.add(") ");
    const std::size_t length = prefix.size < sizeof line_prefix ? prefix.size : sizeof line_prefix - 1;
    for (std::size_t i = 0; i < length; ++i) line_prefix[i] = prefix.text[i];
    line_prefix[length] = '\0';
    reported.store(false);

    stack_t stack{};
    stack.ss_sp = alternate_stack;
    stack.ss_size = sizeof alternate_stack;
    ::sigaltstack(&stack, &previous_stack);
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
        struct sigaction action{};
        action.sa_sigaction = &on_fatal_signal;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        ::sigaction(kSignals[i].number, &action, &previous_actions[i]);
    }
    static const bool exit_hook = std::atexit(&on_exit_during_task) == 0;
    static_cast<void>(exit_hook);
    installed.store(true);
}

FatalSignalReporter::~FatalSignalReporter() {
    installed.store(false);
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i].number, &previous_actions[i], nullptr);
    ::sigaltstack(&previous_stack, nullptr);
}

void FatalSignalReporter::task_started() noexcept { in_task.store(true, std::memory_order_relaxed); }
void FatalSignalReporter::task_finished() noexcept { in_task.store(false, std::memory_order_relaxed); }

}  // namespace tandem::detail::mpi

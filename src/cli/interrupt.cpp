// tandem bench: the SIGINT/SIGTERM handler and its self-pipe.
#include "interrupt.hpp"

#include <fcntl.h>   // O_CLOEXEC, O_NONBLOCK
#include <unistd.h>  // pipe2, write

#include <atomic>        // the flag, read from any thread
#include <cerrno>        // errno for system_error
#include <csignal>       // sigaction
#include <cstring>       // strsignal
#include <string>        // the message
#include <system_error>  // std::system_error

namespace tandem::cli {

namespace {

std::atomic<int> received{0};
int pipe_read = -1;
int pipe_write = -1;

extern "C" void on_signal(int signal_number) {
    const int saved_errno = errno;
    int expected = 0;
    received.compare_exchange_strong(expected, signal_number);
    const char byte = 1;
    [[maybe_unused]] const auto ignored = ::write(pipe_write, &byte, 1);
    // The next one of these ends the program at once.
    ::signal(signal_number, SIG_DFL);
    errno = saved_errno;
}

}  // namespace

Interrupted::Interrupted(int signal_number)
    : std::runtime_error(std::string("interrupted by ") + ::strsignal(signal_number)), signal_number_(signal_number) {}

void install_interrupt_handler() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    pipe_read = fds[0];
    pipe_write = fds[1];
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (const int signal_number : {SIGINT, SIGTERM}) {
        if (::sigaction(signal_number, &action, nullptr) != 0)
            throw std::system_error(errno, std::generic_category(), "sigaction");
    }
}

int interrupt_signal() noexcept { return received.load(std::memory_order_relaxed); }

int interrupt_fd() noexcept { return pipe_read; }

void check_interrupt() {
    if (const int signal_number = interrupt_signal()) throw Interrupted(signal_number);
}

}  // namespace tandem::cli

// The system calls under Connection, wait() and the queues: see detail/os/fd_io.hpp.
#include "tandem/detail/os/fd_io.hpp"

#include <pthread.h>     // pthread_sigmask
#include <sys/socket.h>  // sendmsg, MSG_NOSIGNAL
#include <sys/stat.h>    // fstat, S_ISSOCK
#include <sys/uio.h>     // writev, iovec
#include <unistd.h>      // read

#include <algorithm>  // std::min
#include <cerrno>     // errno, EINTR, EPIPE
#include <csignal>    // sigset_t, sigtimedwait
#include <ctime>      // timespec
#include <optional>   // the SIGPIPE guard, for pipes only

#include "tandem/detail/os/system_error.hpp"  // throw_errno


namespace tandem::detail {
namespace {

// Keeps SIGPIPE blocked in this thread for a scope; a SIGPIPE raised meanwhile
// by our own write is consumed before the old mask comes back, so that it is
// never delivered. If the caller had SIGPIPE blocked already, a pending one
// is theirs and is left alone.
class SigpipeHeldOff {
public:
    SigpipeHeldOff() noexcept {
        sigemptyset(&pipe_only_);
        sigaddset(&pipe_only_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_only_, &previous_);
    }
    SigpipeHeldOff(const SigpipeHeldOff&) = delete;
    SigpipeHeldOff& operator=(const SigpipeHeldOff&) = delete;
    ~SigpipeHeldOff() {
        if (raised_ && sigismember(&previous_, SIGPIPE) == 0) {
            const timespec no_wait{};
            while (sigtimedwait(&pipe_only_, nullptr, &no_wait) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    void raised() noexcept { raised_ = true; }

private:
    sigset_t pipe_only_{};
    sigset_t previous_{};
    bool raised_ = false;
};

// Kernel waits are cut into hours so that a far deadline never overflows a
// timespec; the loop in poll_until re-checks the deadline anyway.
timespec time_left(Clock::time_point deadline) noexcept {
    const auto now = Clock::now();
    const auto left = deadline > now ? std::min<Clock::duration>(deadline - now, std::chrono::hours(1))
                                     : Clock::duration::zero();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(left);
    timespec result{};
    result.tv_sec = static_cast<time_t>(seconds.count());
    result.tv_nsec = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - seconds).count());
    return result;
}

}  // namespace

std::size_t poll_until(std::span<pollfd> entries, Deadline deadline) {
    for (;;) {
        timespec timeout{};
        if (deadline) timeout = time_left(*deadline);
        const int ready = ::ppoll(entries.data(), static_cast<nfds_t>(entries.size()), deadline ? &timeout : nullptr,
                                  nullptr);
        if (ready > 0) return static_cast<std::size_t>(ready);
        if (ready < 0 && errno != EINTR) throw_errno(errno, "poll");
        if (deadline && Clock::now() >= *deadline) return 0;
    }
}

bool wait_readable(int fd, Deadline deadline) {
    pollfd entry{fd, POLLIN, 0};
    return poll_until({&entry, 1}, deadline) != 0;
}

void write_all(int fd, bool is_socket, std::span<const std::byte> first, std::span<const std::byte> second) {
    iovec pieces[2] = {{const_cast<std::byte*>(first.data()), first.size()},
                       {const_cast<std::byte*>(second.data()), second.size()}};
    iovec* next = pieces;
    int count = 2;
    auto drop_empty = [&] {
        while (count > 0 && next->iov_len == 0) {
            ++next;
            --count;
        }
    };
    drop_empty();
    if (count == 0) return;

    auto write_once = [&]() -> ssize_t {
        if (is_socket) {
            msghdr message{};
            message.msg_iov = next;
            message.msg_iovlen = static_cast<std::size_t>(count);
            return ::sendmsg(fd, &message, MSG_NOSIGNAL);
        }
        return ::writev(fd, next, count);
    };

    std::optional<SigpipeHeldOff> held_off;
    if (!is_socket) held_off.emplace();
    while (count > 0) {
        const ssize_t written = write_once();
        if (written < 0) {
            if (errno == EINTR) continue;
            const int error = errno;
            if (error == EPIPE && held_off) held_off->raised();
            throw_errno(error, "write");
        }
        auto done = static_cast<std::size_t>(written);
        while (count > 0 && done >= next->iov_len) {
            done -= next->iov_len;
            ++next;
            --count;
        }
        if (count > 0) {
            next->iov_base = static_cast<std::byte*>(next->iov_base) + done;
            next->iov_len -= done;
        }
        drop_empty();
    }
}

std::size_t read_some(int fd, std::span<std::byte> out) {
    for (;;) {
        const ssize_t got = ::read(fd, out.data(), out.size());
        if (got >= 0) return static_cast<std::size_t>(got);
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) return 0;
        throw_errno(errno, "read");
    }
}

bool is_socket(int fd) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_errno(errno, "fstat");
    return S_ISSOCK(info.st_mode);
}

}  // namespace tandem::detail

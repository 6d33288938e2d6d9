// Internal: the descriptors a process pool keeps from the workers it forks.
//
// Under the fork start method a worker begins as a copy of its parent, with
// every descriptor the parent has open. Among them would be the other
// workers' control sockets and event fds, their pidfds (which can signal
// them), the collector's epoll instance (which a child can edit: it is the
// same kernel object) and the memfds of their shared memory; any of them
// would let a task in one worker act on another worker or on the pool. So:
//
//  - every long-lived pool descriptor is a PrivateFd (or, for a worker's
//    pidfd, which its Process owns, listed with list_fd): listed from when it
//    is made until it is closed, and every forked child closes every listed
//    descriptor before fork() returns in it (a pthread_atfork handler; the
//    list is locked across each fork, so a child never sees it half-changed);
//  - a short-lived one (a memfd on its way to a worker, or just received and
//    mapped) is made and closed while hold_worker_starts() is held;
//  - a worker's own descriptors (its memfd, its end of the control socket,
//    its event fd) are made under the same hold, are not listed when its
//    fork happens, and the listed ones are listed right after;
//  - every pool worker is started while hold_worker_starts() is held.
// So no pool worker is ever forked while a descriptor of another worker or of
// a pool is open and unlisted. (Mappings are kept from children with
// SharedRegion's Inherit::no, made under the same hold.)
//
// Other children forked meanwhile (a user's fork-method Process) may inherit a
// short-lived descriptor: they run the program's own code, outside any pool.
//
//     auto held = hold_worker_starts();
//     UniqueFd made(::eventfd(0, EFD_CLOEXEC));
//     PrivateFd mine(std::move(made));        // listed while `held` keeps workers from forking
#pragma once

#include <mutex>  // the hold

#include "tandem/detail/os/unique_fd.hpp"  // UniqueFd, adopted by PrivateFd

namespace tandem::detail::process_pool {

/// Held across each pool worker's start and across the life of every pool
/// descriptor that is not listed (see the file comment). Never held while
/// waiting for anything but short system calls and a worker's start.
[[nodiscard]] std::unique_lock<std::mutex> hold_worker_starts();

/// Lists `fd`, owned elsewhere, so that every child forked from now on
/// closes it. Throws std::bad_alloc.
void list_fd(int fd);

/// Unlists `fd` (before its owner closes it). Harmless if not listed.
void unlist_fd(int fd) noexcept;

/// An owned, listed descriptor: closed in every forked child, and here
/// closed and unlisted together (no fork can fall between the two).
class PrivateFd {
public:
    PrivateFd() noexcept = default;
    /// Lists `fd` and takes it. Throws std::bad_alloc (then `fd` is closed).
    explicit PrivateFd(UniqueFd fd);
    PrivateFd(PrivateFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    PrivateFd& operator=(PrivateFd&& other) noexcept;
    PrivateFd(const PrivateFd&) = delete;
    PrivateFd& operator=(const PrivateFd&) = delete;
    ~PrivateFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Unlists and closes the descriptor; harmless when empty.
    void reset() noexcept;

private:
    int fd_ = -1;
};

}  // namespace tandem::detail::process_pool

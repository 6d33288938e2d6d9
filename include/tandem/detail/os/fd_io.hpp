// Internal: the system calls under Connection, wait() and the multiprocessing
// queues, with their awkward corners handled once: EINTR, partial transfers,
// deadlines that survive a signal, and SIGPIPE.
//
// A write to a pipe whose readers are all gone raises SIGPIPE, which kills a
// process that did not ignore it (Python ignores it at start-up; a C++
// library may not change a process-wide disposition). Sockets are written
// with MSG_NOSIGNAL; pipes with SIGPIPE blocked in the writing thread for the
// duration of the call, and a SIGPIPE the write raised is consumed before it
// is unblocked. Either way the caller sees EPIPE as std::system_error.
//
//     pollfd entry{fd, POLLIN, 0};
//     if (detail::poll_until({&entry, 1}, detail::deadline_after(1s)) == 0) { /* timed out */ }
//     detail::write_all(fd, false, header, payload);   // both pieces, in order
#pragma once

#include <poll.h>  // pollfd

#include <cstddef>  // std::byte, std::size_t
#include <span>     // byte and descriptor views

#include "tandem/detail/os/futex.hpp"  // detail::Deadline

namespace tandem::detail {

/// poll() over `entries` until one is ready or `deadline` passes (no
/// deadline: as long as it takes; a past deadline: one look without
/// waiting). EINTR resumes the wait with the time left. Returns the number
/// of ready entries (0 on timeout) with their revents filled in. Throws
/// std::system_error if poll() fails.
std::size_t poll_until(std::span<pollfd> entries, Deadline deadline);

/// Waits until `fd` is readable (data, end of file or an error to report)
/// or `deadline` passes; true if readable.
bool wait_readable(int fd, Deadline deadline);

/// Writes `first` then `second` completely to the blocking descriptor `fd`
/// (one writev/sendmsg when the kernel takes it all), retrying partial writes
/// and EINTR. `is_socket` selects MSG_NOSIGNAL; otherwise SIGPIPE is held
/// off as described above. Throws std::system_error (EPIPE when the reading
/// end is gone).
void write_all(int fd, bool is_socket, std::span<const std::byte> first, std::span<const std::byte> second = {});

/// One read() into `out`, retrying EINTR. Returns the bytes read, 0 at end
/// of file (a reset connection counts as end of file). Throws
/// std::system_error for other failures, EAGAIN included.
std::size_t read_some(int fd, std::span<std::byte> out);

/// True if `fd` is a socket (fstat). Throws std::system_error if `fd` is not open.
bool is_socket(int fd);

}  // namespace tandem::detail

// Internal: a failed system call as the exception tandem documents for it.
//
// A system call that fails for a reason the caller cannot act on (EMFILE,
// ENOMEM, a descriptor that is not what it should be) surfaces as
// std::system_error with the errno value and what was being done:
//
//     if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("Queue: pipe2");
//     if (const int rc = pthread_create(...); rc != 0) throw_errno(rc, "starting the feeder thread");
#pragma once

#include <string>  // what was being done

namespace tandem::detail {

/// Throws std::system_error(error, generic_category(), what).
[[noreturn]] void throw_errno(int error, const std::string& what);

/// Throws std::system_error for the current errno (read before anything else
/// runs, so nothing can overwrite it).
[[noreturn]] void throw_errno(const char* what);

}  // namespace tandem::detail

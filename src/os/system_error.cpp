// detail/os/system_error.hpp: one way to report a failed system call.
#include "tandem/detail/os/system_error.hpp"

#include <cerrno>        // errno
#include <system_error>  // std::system_error, std::generic_category

namespace tandem::detail {

void throw_errno(int error, const std::string& what) { throw std::system_error(error, std::generic_category(), what); }

void throw_errno(const char* what) {
    const int error = errno;
    throw_errno(error, what);
}

}  // namespace tandem::detail

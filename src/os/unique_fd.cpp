// detail/os/unique_fd.hpp: duplicating a descriptor.
#include "tandem/detail/os/unique_fd.hpp"

#include <fcntl.h>  // fcntl(F_DUPFD_CLOEXEC)

#include "tandem/detail/os/system_error.hpp"  // throw_errno

namespace tandem::detail {

UniqueFd duplicate_fd(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw_errno("dup");
    return UniqueFd(copy);
}

}  // namespace tandem::detail

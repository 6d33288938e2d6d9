// Initializer's non-template parts (see tandem/initializer.hpp).
#include "tandem/initializer.hpp"

#include <fcntl.h>  // fcntl(F_DUPFD_CLOEXEC)

#include <cerrno>        // errno
#include <system_error>  // std::system_error

namespace tandem {

std::shared_ptr<const Initializer::Encoded> Initializer::keep(const detail::HandoffWriter& call) {
    auto encoded = std::make_shared<Encoded>();
    encoded->bytes.assign(call.bytes().begin(), call.bytes().end());
    for (int fd : call.fds()) encoded->fds.push_back(duplicate_fd(fd));
    return encoded;
}

detail::UniqueFd Initializer::duplicate_fd(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "initializer: dup");
    return detail::UniqueFd(copy);
}

}  // namespace tandem

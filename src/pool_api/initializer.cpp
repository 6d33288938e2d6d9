// Initializer's non-template parts (see tandem/initializer.hpp).
#include "tandem/initializer.hpp"

namespace tandem {

std::shared_ptr<const Initializer::Encoded> Initializer::keep(const detail::HandoffWriter& call) {
    auto encoded = std::make_shared<Encoded>();
    encoded->bytes.assign(call.bytes().begin(), call.bytes().end());
    for (int fd : call.fds()) encoded->fds.push_back(detail::duplicate_fd(fd));
    return encoded;
}

}  // namespace tandem

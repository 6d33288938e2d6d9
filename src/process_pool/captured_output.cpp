// Running a pool task with its output captured. See
// tandem/detail/process_pool/captured_output.hpp.
#include "tandem/detail/process_pool/captured_output.hpp"

#include <sys/mman.h>  // memfd_create
#include <unistd.h>    // dup, dup2, pread

#include <cstdio>     // std::fflush
#include <exception>  // std::current_exception

#include "tandem/detail/os/system_error.hpp"   // throw_errno
#include "tandem/detail/os/unique_fd.hpp"      // the memfds, the saved descriptors
#include "tandem/detail/wire/remote_call.hpp"  // run_call, raised_outcome

namespace tandem::detail::process_pool {
namespace {

UniqueFd checked(int fd, const char* what) {
    if (fd < 0) throw_errno(what);
    return UniqueFd(fd);
}

std::string read_back(const UniqueFd& memfd) {
    std::string text(kMaxCapturedBytes, '\0');
    std::size_t have = 0;
    while (have < text.size()) {
        const ssize_t got = ::pread(memfd.get(), text.data() + have, text.size() - have, static_cast<off_t>(have));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        have += static_cast<std::size_t>(got);
    }
    text.resize(have);
    return text;
}

// Points 1 and 2 at the memfds while it lives, then back.
class Redirect {
public:
    Redirect(const UniqueFd& out, const UniqueFd& err)
        : saved_out_(checked(::dup(STDOUT_FILENO), "capture: dup")),
          saved_err_(checked(::dup(STDERR_FILENO), "capture: dup")) {
        std::fflush(nullptr);
        ::dup2(out.get(), STDOUT_FILENO);
        ::dup2(err.get(), STDERR_FILENO);
    }
    ~Redirect() {
        std::fflush(nullptr);
        ::dup2(saved_out_.get(), STDOUT_FILENO);
        ::dup2(saved_err_.get(), STDERR_FILENO);
    }
    Redirect(const Redirect&) = delete;
    Redirect& operator=(const Redirect&) = delete;

private:
    UniqueFd saved_out_;
    UniqueFd saved_err_;
};

}  // namespace

CapturedReply run_captured(std::vector<std::byte> inner) {
    const UniqueFd out = checked(::memfd_create("tandem:task-stdout", MFD_CLOEXEC), "capture: memfd_create");
    const UniqueFd err = checked(::memfd_create("tandem:task-stderr", MFD_CLOEXEC), "capture: memfd_create");
    CallOutcome outcome;
    {
        const Redirect redirect(out, err);
        try {
            HandoffReader in(inner, {});
            outcome = run_call(in);
        } catch (...) {
            outcome = raised_outcome(std::current_exception());
        }
    }
    return CapturedReply{outcome.raised, std::move(outcome.payload), read_back(out), read_back(err)};
}

}  // namespace tandem::detail::process_pool

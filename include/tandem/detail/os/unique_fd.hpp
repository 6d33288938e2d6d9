// Internal: a file descriptor owned by exactly one object.
//
// Every descriptor tandem opens is close-on-exec and lives in a UniqueFd (or
// an object that owns one), so that no error path can leak it and no child
// program inherits one by accident.
//
//     detail::UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
//     if (!fd) throw_errno("eventfd");
//     ::write(fd.get(), &one, sizeof one);      // closed when fd goes out of scope
#pragma once

#include <unistd.h>  // close

#include <utility>  // std::exchange

namespace tandem::detail {

class UniqueFd {
public:
    UniqueFd() noexcept = default;
    /// Takes ownership of `fd` (-1 for none).
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Gives up ownership without closing.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the descriptor held (if any) and takes `fd`.
    void reset(int fd = -1) noexcept {
        // close() may fail with EINTR after the descriptor is gone (Linux), so
        // it is never retried; other failures leave nothing to do either.
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

/// A close-on-exec duplicate of `fd`, for keeping a descriptor whose owner
/// may close its own first. Throws std::system_error (EMFILE, EBADF).
UniqueFd duplicate_fd(int fd);

}  // namespace tandem::detail

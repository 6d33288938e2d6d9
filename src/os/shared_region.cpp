// detail::SharedRegion: memfd + ftruncate + seals + mmap(MAP_SHARED).
#include "tandem/detail/os/shared_region.hpp"

#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/errors.hpp"                  // ValueError

#include <algorithm>   // std::max
#include <cerrno>      // errno
#include <cstdint>     // std::uintptr_t
#include <fcntl.h>     // F_ADD_SEALS, F_GET_SEALS
#include <string>      // error messages
#include <sys/mman.h>  // memfd_create, mmap, madvise, munmap
#include <sys/stat.h>  // fstat
#include <unistd.h>    // ftruncate, close

namespace tandem::detail {

namespace {

// The size can never change again, nor can anyone add a seal (F_SEAL_WRITE
// would make the creator's own writes fail).
constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW;
constexpr int kSeals = kSizeSeals | F_SEAL_SEAL;
// Seals that would make a writable mapping fail or writes through it fault.
constexpr int kWriteSeals = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

void add_seals(int fd, int seals) {
    if (::fcntl(fd, F_ADD_SEALS, seals) != 0) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "SharedRegion: F_ADD_SEALS");
    }
}

std::byte* map_shared(int fd, std::size_t size, Inherit inherit, Access access = Access::read_write) {
    const int protection = access == Access::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    void* address = ::mmap(nullptr, size, protection, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "SharedRegion: mmap");
    }
    if (inherit == Inherit::no && ::madvise(address, size, MADV_DONTFORK) != 0) {
        const int error = errno;
        ::munmap(address, size);
        ::close(fd);
        throw_errno(error, "SharedRegion: madvise(MADV_DONTFORK)");
    }
    return static_cast<std::byte*>(address);
}

}  // namespace

SharedRegion::SharedRegion(std::size_t size, const char* label, Inherit inherit, Writers writers) {
    // mmap refuses a length of zero; an empty RawArray still needs a region.
    const std::size_t length = std::max<std::size_t>(size, 1);
    const int fd = ::memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) throw_errno(errno, "SharedRegion: memfd_create");
    if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "SharedRegion: ftruncate");
    }
    if (writers == Writers::anyone) {
        add_seals(fd, kSeals);
        data_ = map_shared(fd, length, inherit);
    } else {
        // F_SEAL_FUTURE_WRITE after this mapping: it stays writable, and
        // no mapping made later can ever be (nor mprotect()ed to be).
        add_seals(fd, kSizeSeals);
        data_ = map_shared(fd, length, inherit);
        try {
            add_seals(fd, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
        } catch (...) {
            ::munmap(data_, length);
            throw;
        }
    }
    fd_ = fd;
    size_ = size;
}

SharedRegion SharedRegion::from_fd(int fd, std::size_t size, Inherit inherit, Access access) {
    // Seals first: once they hold, the size fstat reports is final. EINVAL:
    // not a memfd (a file, a pipe), which cannot be sealed.
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0 && errno != EINVAL) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "SharedRegion::from_fd: F_GET_SEALS");
    }
    if (seals < 0 || (seals & kSeals) != kSeals || (access == Access::read_write && (seals & kWriteSeals) != 0)) {
        ::close(fd);
        throw ValueError("SharedRegion::from_fd: not a memfd sealed against resizing");
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "SharedRegion::from_fd: fstat");
    }
    const std::size_t length = std::max<std::size_t>(size, 1);
    if (info.st_size < 0 || static_cast<std::size_t>(info.st_size) < length) {
        ::close(fd);
        throw ValueError("SharedRegion::from_fd: the memory object has " + std::to_string(info.st_size) +
                         " bytes, fewer than the " + std::to_string(length) + " expected");
    }
    std::byte* data = map_shared(fd, length, inherit, access);
    return SharedRegion(fd, data, size);
}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : fd_(other.fd_), data_(other.data_), size_(other.size_) {
    other.fd_ = -1;
    other.data_ = nullptr;
    other.size_ = 0;
}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = other.fd_;
        data_ = other.data_;
        size_ = other.size_;
        other.fd_ = -1;
        other.data_ = nullptr;
        other.size_ = 0;
    }
    return *this;
}

SharedRegion::~SharedRegion() { release(); }

void SharedRegion::close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void SharedRegion::release() noexcept {
    if (data_ != nullptr) ::munmap(data_, std::max<std::size_t>(size_, 1));
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    fd_ = -1;
    size_ = 0;
}

void check_placement(const SharedRegion& region, std::size_t offset, std::size_t bytes, std::size_t alignment) {
    if (offset > region.size() || bytes > region.size() - offset) {
        throw ValueError("shared object of " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                         " does not fit in a region of " + std::to_string(region.size()) + " bytes");
    }
    const auto address = reinterpret_cast<std::uintptr_t>(region.data() + offset);
    if (address % alignment != 0) {
        throw ValueError("shared object at offset " + std::to_string(offset) + " is not aligned to " +
                         std::to_string(alignment) + " bytes");
    }
}

}  // namespace tandem::detail

// Internal: how an object that owns OS resources travels to another process.
//
// A forked child inherits descriptors and mappings, so a Connection, Queue,
// Lock or Value captured before fork() simply works there. A child started
// by spawn or forkserver is a fresh program: such an object passed to it (as
// a Process argument, or inside a pool task) is *handed off*. Its descriptors
// travel beside the message with SCM_RIGHTS (the receiver gets its own
// duplicates), and the few bytes that say how to rebuild it (an offset, a
// size, a flag) travel in the message itself.
//
// A type opts in by specialising Handoff<T>:
//
//     template <>
//     struct detail::Handoff<multiprocessing::Lock> {
//         static void send(HandoffWriter& out, const multiprocessing::Lock& lock) {
//             out.write_fd(region_of(lock).fd());        // index 0, 1, ... in order
//             out.write(offset_of(lock));                // trivially copyable values
//         }
//         static multiprocessing::Lock receive(HandoffReader& in) {
//             UniqueFd fd = in.take_fd();                // in the order written
//             auto offset = in.read<std::size_t>();
//             return rebuild(std::move(fd), offset);
//         }
//     };
//
// Reading past what was written, or taking a descriptor that was not sent,
// throws FrameError: the bytes come from another process and are checked.
#pragma once

#include <concepts>     // std::same_as
#include <cstddef>      // std::byte
#include <cstring>      // std::memcpy
#include <span>         // byte views
#include <type_traits>  // std::is_trivially_copyable_v
#include <utility>      // std::move
#include <vector>       // bytes and descriptors

#include "tandem/detail/os/unique_fd.hpp"  // detail::UniqueFd
#include "tandem/errors.hpp"               // FrameError

namespace tandem::detail {

/// Collects what one message hands off: bytes, and descriptors to pass with
/// SCM_RIGHTS. The descriptors stay owned by their objects; the sender must
/// keep those objects alive until the message is sent.
class HandoffWriter {
public:
    template <class T>
        requires std::is_trivially_copyable_v<T>
    void write(const T& value) {
        const auto* first = reinterpret_cast<const std::byte*>(&value);
        bytes_.insert(bytes_.end(), first, first + sizeof(T));
    }
    void write_bytes(std::span<const std::byte> bytes) {
        write(bytes.size());
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    }
    void write_fd(int fd) { fds_.push_back(fd); }

    std::span<const std::byte> bytes() const noexcept { return bytes_; }
    std::span<const int> fds() const noexcept { return fds_; }
    /// The bytes themselves, for encoders that reserve and append in place
    /// instead of copying from a buffer of their own (remote_call.hpp
    /// encodes a task's arguments straight into the message).
    std::vector<std::byte>& byte_buffer() noexcept { return bytes_; }

private:
    std::vector<std::byte> bytes_;
    std::vector<int> fds_;
};

/// Reads back, in the same order, what a HandoffWriter collected in another
/// process. Owns the descriptors received; those never taken are closed.
class HandoffReader {
public:
    HandoffReader(std::span<const std::byte> bytes, std::vector<UniqueFd> fds)
        : bytes_(bytes), fds_(std::move(fds)) {}

    template <class T>
        requires std::is_trivially_copyable_v<T>
    T read() {
        T value;
        std::memcpy(&value, take(sizeof(T)).data(), sizeof(T));
        return value;
    }
    std::span<const std::byte> read_bytes() { return take(read<std::size_t>()); }
    UniqueFd take_fd() {
        if (next_fd_ == fds_.size()) throw FrameError("handoff: a descriptor is missing from the message");
        return std::move(fds_[next_fd_++]);
    }
    /// True once every byte has been read.
    bool at_end() const noexcept { return bytes_.empty(); }

private:
    std::span<const std::byte> take(std::size_t size) {
        if (size > bytes_.size()) throw FrameError("handoff: the message is shorter than its contents");
        auto taken = bytes_.first(size);
        bytes_ = bytes_.subspan(size);
        return taken;
    }

    std::span<const std::byte> bytes_;
    std::vector<UniqueFd> fds_;
    std::size_t next_fd_ = 0;
};

/// Specialise for each type that can be handed to another process (see above).
template <class T>
struct Handoff;

/// True for types with a Handoff specialisation.
template <class T>
concept HandedOff = requires(HandoffWriter& out, HandoffReader& in, const T& value) {
    Handoff<T>::send(out, value);
    { Handoff<T>::receive(in) } -> std::same_as<T>;
};

}  // namespace tandem::detail

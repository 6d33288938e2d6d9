// tandem/multiprocessing/shared_memory.hpp — Python's
// multiprocessing.shared_memory.SharedMemory: a named block of POSIX shared
// memory (/dev/shm) that unrelated processes attach to by name.
//
//     using tandem::multiprocessing::SharedMemory;
//     SharedMemory block(std::nullopt, true, 1 << 20);   // create, with a fresh name
//     std::ranges::fill(block.buf(), std::byte{0});
//     // elsewhere, given block.name():
//     SharedMemory view(name);                            // attach
//     auto bytes = view.buf();
//     view.close();
//
// Ownership is explicit, unlike Python's resource tracker (which unlinks
// segments other processes still use, gh-82300, and leaks them when it is
// itself killed):
// - The object that created a segment owns its name: its destructor unlinks
//   the segment unless unlink() was called already. An object that attached
//   never unlinks on its own; it may call unlink() explicitly, as in Python.
// - Segments of a creator that dies without running destructors (SIGKILL, a
//   crash, _exit) are removed all the same. The first creation in a process
//   starts a small reaper process (double-forked, so never a zombie, and in
//   its own session, so Ctrl-C does not reach it) connected to the creator by
//   a socket on which each created name is registered. When the creator's end
//   closes (on any death) the reaper unlinks the names still registered, then
//   exits. Only names that still refer to the segment this process created
//   (same device and inode) are removed, so a segment re-created under the same
//   name by someone else survives. A process forked from the creator does not
//   keep the reaper alive and never unlinks its parent's segments.
// - A SIGKILL in the few microseconds between creating a segment and
//   registering it leaves it behind; that window is the only one.
//
// Handed to a spawn or forkserver child (as a Process argument), a
// SharedMemory travels by name and the child attaches to it: the child never
// owns the segment, so it never unlinks it on its own. A forked child inherits
// the mapping and does not own the segment either.
//
// Errors: std::system_error carries the OS error of a failed shm_open, with
// code() EEXIST when creating a name that exists (Python's FileExistsError) and
// ENOENT when attaching to a missing one (FileNotFoundError). ValueError for
// bad arguments, as Python.
#pragma once

#include <cstddef>      // std::byte, std::size_t, std::ptrdiff_t
#include <cstdint>      // the segment's identity
#include <cstring>      // std::memcpy for a handed-off name
#include <optional>     // the optional name
#include <span>         // buf(), the bytes of a handed-off name
#include <string>       // names
#include <sys/types.h>  // pid_t
#include <utility>      // std::move

#include "tandem/detail/wire/handoff.hpp"  // detail::Handoff, so a SharedMemory can be a Process argument

namespace tandem::multiprocessing {

/// multiprocessing.shared_memory.SharedMemory. Move-only: the object owns its
/// mapping (and, if it created the segment, the segment's name).
class SharedMemory {
public:
    /// Creates (`create` true) or attaches to the segment `name`. Creating
    /// without a name picks a fresh "tandem_…" one. `size` is the size of a
    /// new segment; attaching maps the whole existing segment and ignores it.
    /// A leading '/' in `name` is optional. Throws ValueError if `size` < 0,
    /// if `size` is 0 when creating, if `name` is missing when attaching or is
    /// not a valid name; std::system_error (EEXIST) if creating a name that
    /// exists, (ENOENT) if attaching to a missing one, or for any other OS
    /// failure.
    explicit SharedMemory(std::optional<std::string> name = std::nullopt, bool create = false,
                          std::ptrdiff_t size = 0);

    SharedMemory(SharedMemory&& other) noexcept;
    SharedMemory& operator=(SharedMemory&& other) noexcept;
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;
    /// Closes the mapping; if this object created the segment, in this
    /// process, and nobody unlinked it yet, unlinks it too.
    ~SharedMemory();

    /// The segment's name, without the leading '/' (as Python reports it).
    const std::string& name() const noexcept { return name_; }
    /// The segment's size in bytes.
    std::size_t size() const noexcept { return size_; }
    /// The segment's bytes. Throws ValueError after close().
    std::span<std::byte> buf() const;
    /// Unmaps the segment from this process; the segment itself stays.
    /// Calling it again does nothing.
    void close() noexcept;
    /// Removes the segment's name; processes that mapped it keep their
    /// mappings. Throws std::system_error (ENOENT) if the name no longer
    /// exists.
    void unlink();

private:
    void unlink_if_still_ours() noexcept;

    std::string name_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    pid_t creator_pid_ = 0;  // this process's id if this object created the segment, else 0
    bool unlinked_ = false;
    std::uint64_t device_ = 0;  // identity of the created segment, so that cleanup
    std::uint64_t inode_ = 0;   // never removes a newer segment of the same name
};

}  // namespace tandem::multiprocessing

namespace tandem::detail {

/// A SharedMemory travels by name; the receiver attaches (see above).
template <>
struct Handoff<multiprocessing::SharedMemory> {
    static void send(HandoffWriter& out, const multiprocessing::SharedMemory& memory) {
        const std::string& name = memory.name();
        out.write_bytes(std::as_bytes(std::span(name.data(), name.size())));
    }
    /// Throws like SharedMemory(name) when attaching (ENOENT if the segment
    /// was unlinked meanwhile), FrameError for a malformed message.
    static multiprocessing::SharedMemory receive(HandoffReader& in) {
        const auto bytes = in.read_bytes();
        std::string name(bytes.size(), '\0');
        if (!bytes.empty()) std::memcpy(name.data(), bytes.data(), bytes.size());
        return multiprocessing::SharedMemory(std::move(name), false);
    }
};

}  // namespace tandem::detail

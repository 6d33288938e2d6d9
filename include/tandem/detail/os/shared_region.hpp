// Internal: anonymous shared memory that every tandem shared object lives in.
//
// A SharedRegion is a memfd (close-on-exec), sized with ftruncate, sealed
// against any change of size and mapped MAP_SHARED. It has no name in
// /dev/shm, so nothing can leak: the kernel frees the memory when the last
// descriptor and the last mapping in any process are gone. A forked child
// inherits the mapping (unless it was made with Inherit::no); another process
// (spawn, forkserver) receives the descriptor over a Unix socket (SCM_RIGHTS)
// and maps it with SharedRegion::from_fd.
//
// The seals (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) are why a process
// may map memory that another, less trusted process holds a descriptor to:
// a memfd truncated under a mapping makes every access past the new end a
// SIGBUS in every process that maps it. Sealed, ftruncate fails with EPERM
// for everyone, and from_fd refuses a descriptor without these seals, so
// whatever a peer sends cannot shrink later. A region made with
// Writers::creator is sealed F_SEAL_FUTURE_WRITE as well, after its creator
// mapped it: the creator keeps writing, every other process (and any later
// mapping) can only read it — the process pool's messages, which a worker
// must not rewrite once the parent wrote them.
//
// Shared objects (multiprocessing::Lock, Value<T>, ...) are placement-constructed
// at an offset in a region, so any of them is described across processes by
// (descriptor, offset). Their constructors for that are private;
// SharedObjectAccess is the one friend that reaches them, for the code that
// hands objects to other processes.
//
//     auto region = std::make_shared<detail::SharedRegion>(4096, "tandem:example");
//     int fd = region->fd();                                   // send it with SCM_RIGHTS
//     auto there = detail::SharedRegion::from_fd(received_fd, 4096);  // in the receiver
#pragma once

#include <cstddef>  // std::size_t, std::byte
#include <memory>   // std::shared_ptr, the handle every shared object holds
#include <utility>  // std::forward

namespace tandem::detail {

/// Whether a child made by fork() keeps a region's mapping.
enum class Inherit {
    yes,  ///< the child shares the memory (a Lock or Queue used after fork)
    no,   ///< MADV_DONTFORK: the child has nothing at that address
};

/// Who may write a region once it is made.
enum class Writers {
    anyone,   ///< every process that maps it (shared objects, rings)
    creator,  ///< the creator's own mapping only (F_SEAL_FUTURE_WRITE): others can map it read-only
};

/// How from_fd maps a region.
enum class Access { read_write, read_only };

/// Anonymous shared memory: a sealed memfd and its MAP_SHARED mapping.
/// Move-only; the destructor unmaps and closes.
class SharedRegion {
public:
    /// Creates `size` bytes of zeroed shared memory (at least one byte is
    /// mapped), sealed at that size. `label` names the memfd in
    /// /proc/PID/fd and /proc/PID/maps, for debugging only. Throws
    /// std::system_error when the kernel refuses.
    explicit SharedRegion(std::size_t size, const char* label = "tandem", Inherit inherit = Inherit::yes,
                          Writers writers = Writers::anyone);

    /// Maps `size` bytes of a region another process created, from a
    /// descriptor it sent. Takes ownership of `fd` (closed on failure too).
    /// Throws ValueError if `fd` is not a memfd sealed as the constructor
    /// seals it (so its size can never change; read_write also needs it
    /// writable by anyone) or is smaller than `size`, std::system_error if
    /// it cannot be inspected or mapped.
    static SharedRegion from_fd(int fd, std::size_t size, Inherit inherit = Inherit::yes,
                                Access access = Access::read_write);

    SharedRegion(SharedRegion&& other) noexcept;
    SharedRegion& operator=(SharedRegion&& other) noexcept;
    SharedRegion(const SharedRegion&) = delete;
    SharedRegion& operator=(const SharedRegion&) = delete;
    ~SharedRegion();

    /// The first byte of the mapping.
    std::byte* data() const noexcept { return data_; }
    /// The mapped size in bytes, as requested.
    std::size_t size() const noexcept { return size_; }
    /// The memfd behind the mapping (close-on-exec); still owned by the
    /// region. -1 after close_fd().
    int fd() const noexcept { return fd_; }

    /// Closes the memfd and keeps the mapping: for memory whose descriptor
    /// was handed over and must not stay open here (a forked child would
    /// inherit it).
    void close_fd() noexcept;

private:
    SharedRegion(int fd, std::byte* data, std::size_t size) noexcept : fd_(fd), data_(data), size_(size) {}
    void release() noexcept;

    int fd_ = -1;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// What a shared object's private constructor does with the bytes at its offset.
enum class Placement {
    construct,  ///< build a fresh object there
    attach,     ///< use the object another process built there (its type tag is checked)
};

/// Rounds `value` up to a multiple of `alignment` (a power of two).
constexpr std::size_t align_up(std::size_t value, std::size_t alignment) noexcept {
    return (value + alignment - 1) & ~(alignment - 1);
}

/// Alignment of every object placed in a region: a cache line, so that two
/// objects sharing a region never share a line.
inline constexpr std::size_t kObjectAlignment = 64;

/// Checks that `bytes` at `offset` fit inside `region` and that the address is
/// a multiple of `alignment`. Throws ValueError otherwise.
void check_placement(const SharedRegion& region, std::size_t offset, std::size_t bytes, std::size_t alignment);

/// The friend of every shared object: reaches the private constructors and the
/// (region, offset) pair, for the code that sends objects to other processes.
struct SharedObjectAccess {
    /// Calls Object's private constructor, e.g. (region, offset, Placement).
    template <class Object, class... Args>
    static Object make(Args&&... args) {
        return Object(std::forward<Args>(args)...);
    }
    /// Bytes an Object occupies when placed at an offset in a region.
    template <class Object>
    static std::size_t footprint() noexcept {
        return Object::footprint();
    }
    /// The region holding the object.
    template <class Object>
    static const std::shared_ptr<SharedRegion>& region(const Object& object) noexcept {
        return object.region_;
    }
    /// Where in its region the object lives.
    template <class Object>
    static std::size_t offset(const Object& object) noexcept {
        return object.offset_;
    }
};

}  // namespace tandem::detail

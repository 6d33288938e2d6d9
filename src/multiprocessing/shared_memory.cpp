// SharedMemory, and the reaper process that removes the segments of a creator
// that died. See shared_memory.hpp for the ownership rules.
#include "tandem/multiprocessing/shared_memory.hpp"

#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/errors.hpp"                  // ValueError

#include <algorithm>       // std::find_if
#include <cerrno>          // errno
#include <csignal>         // signal dispositions of the reaper
#include <cstring>         // std::memcpy
#include <fcntl.h>         // O_* flags, fcntl
#include <mutex>           // the registry's mutex
#include <pthread.h>       // pthread_atfork
#include <sys/mman.h>      // shm_open, shm_unlink, mmap, mremap
#include <sys/prctl.h>     // PR_SET_NAME
#include <sys/random.h>    // getrandom, for fresh names
#include <sys/resource.h>  // getrlimit, when close_range is missing
#include <sys/socket.h>    // the creator-reaper socket
#include <sys/stat.h>      // fstat, for segment identity
#include <sys/syscall.h>   // SYS_close_range
#include <sys/wait.h>      // waitpid
#include <unistd.h>        // fork, close, ftruncate
#include <utility>         // std::exchange, std::swap
#include <vector>          // the registry

namespace tandem::multiprocessing {

namespace {

// A name in /dev/shm is one path component.
constexpr std::size_t kMaxNameLength = 255;
// A message to the reaper: an operation byte, the segment's device and inode,
// then the name (its length is the rest of the datagram).
constexpr std::size_t message_header = 1 + 2 * sizeof(std::uint64_t);
constexpr char kRegisterOp = '+';
constexpr char kUnregisterOp = '-';

struct Identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    bool operator==(const Identity&) const = default;
};

Identity identity_of(const struct stat& info) noexcept {
    return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

// --- the reaper process ----------------------------------------------------------
// It is forked from a process that may have other threads, so it keeps to
// system calls: no malloc, no locks, no stdio. Its table lives in an mmap.

struct ReaperRecord {
    Identity identity;
    std::size_t length;
    char name[kMaxNameLength + 1];
};

struct ReaperTable {
    ReaperRecord* records = nullptr;
    std::size_t count = 0;
    std::size_t capacity = 0;

    bool grow() noexcept {
        const std::size_t wanted = capacity == 0 ? 64 : capacity * 2;
        void* memory = capacity == 0
                           ? ::mmap(nullptr, wanted * sizeof(ReaperRecord), PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                           : ::mremap(records, capacity * sizeof(ReaperRecord), wanted * sizeof(ReaperRecord),
                                      MREMAP_MAYMOVE);
        if (memory == MAP_FAILED) return false;
        records = static_cast<ReaperRecord*>(memory);
        capacity = wanted;
        return true;
    }
    void add(Identity identity, const char* name, std::size_t length) noexcept {
        if (count == capacity && !grow()) return;
        ReaperRecord& record = records[count++];
        record.identity = identity;
        record.length = length;
        std::memcpy(record.name, name, length);
        record.name[length] = '\0';
    }
    void remove(Identity identity, const char* name, std::size_t length) noexcept {
        for (std::size_t i = 0; i < count; ++i) {
            const ReaperRecord& record = records[i];
            if (record.identity == identity && record.length == length &&
                std::memcmp(record.name, name, length) == 0) {
                records[i] = records[--count];
                return;
            }
        }
    }
};

// Unlinks /dev/shm/<name> if it is still the segment the creator made.
void remove_if_same(const ReaperRecord& record) noexcept {
    static constexpr char directory[] = "/dev/shm/";
    char path[sizeof(directory) + kMaxNameLength];
    std::memcpy(path, directory, sizeof(directory) - 1);
    std::memcpy(path + sizeof(directory) - 1, record.name, record.length + 1);
    const int fd = ::open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    struct stat info {};
    const bool same = ::fstat(fd, &info) == 0 && identity_of(info) == record.identity;
    ::close(fd);
    if (same) ::unlink(path);
}

// Keeps only `socket_fd` (moved to descriptor 3) and /dev/null as 0-2, so that
// the reaper holds no pipe or socket another part of the program waits on.
int isolate_descriptors(int socket_fd) noexcept {
    const int moved = ::fcntl(socket_fd, F_DUPFD, 3);
    if (moved < 0) ::_exit(1);
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        for (int standard = 0; standard <= 2; ++standard) ::dup2(null_fd, standard);
    }
    if (moved != 3 && ::dup2(moved, 3) != 3) ::_exit(1);
    if (::syscall(SYS_close_range, 4u, ~0u, 0u) != 0) {
        rlimit limit{};
        const rlim_t last = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                                ? limit.rlim_cur
                                : 65536;
        for (rlim_t fd = 4; fd < last; ++fd) ::close(static_cast<int>(fd));
    }
    return 3;
}

[[noreturn]] void reaper_main(int socket_fd) noexcept {
    ::prctl(PR_SET_NAME, "tandem-reaper", 0, 0, 0);
    // Its own session: a Ctrl-C or a kill of the creator's process group must
    // not take the reaper down before it has cleaned up after the creator.
    ::setsid();
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) ::sigaction(signal_number, &action, nullptr);
    action.sa_handler = SIG_IGN;
    for (const int signal_number : {SIGINT, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(signal_number, &action, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int fd = isolate_descriptors(socket_fd);

    ReaperTable table;
    unsigned char message[message_header + kMaxNameLength];
    for (;;) {
        const ssize_t received = ::recv(fd, message, sizeof(message), 0);
        if (received < 0 && errno == EINTR) continue;
        if (received <= 0) break;  // end of file: every creator-side descriptor is closed
        if (static_cast<std::size_t>(received) <= message_header) continue;
        Identity identity;
        std::memcpy(&identity.device, message + 1, sizeof(identity.device));
        std::memcpy(&identity.inode, message + 1 + sizeof(identity.device), sizeof(identity.inode));
        const auto* name = reinterpret_cast<const char*>(message + message_header);
        const std::size_t length = static_cast<std::size_t>(received) - message_header;
        if (message[0] == kRegisterOp) table.add(identity, name, length);
        if (message[0] == kUnregisterOp) table.remove(identity, name, length);
    }
    for (std::size_t i = 0; i < table.count; ++i) remove_if_same(table.records[i]);
    ::_exit(0);
}

// --- the creator's registry --------------------------------------------------------

// True in the thread that forks the reaper while holding the registry's mutex,
// so that the atfork handlers do not try to take it again.
thread_local bool forking_reaper = false;

class Registry {
public:
    static Registry& instance() {
        // Never destroyed: segments may be destroyed during static destruction.
        static Registry* registry = new Registry;
        return *registry;
    }

    // Registers a segment this process created; starts the reaper if needed.
    // Throws std::system_error if no reaper can be started.
    void add(const std::string& name, Identity identity) {
        std::lock_guard lock(mutex_);
        adopt_locked();
        entries_.push_back({name, identity});
        if (socket_ >= 0 && send_locked(kRegisterOp, entries_.back())) return;
        // No reaper yet, or it was killed: start one and tell it everything.
        if (socket_ >= 0) ::close(std::exchange(socket_, -1));
        try {
            socket_ = start_reaper_locked();
        } catch (...) {
            entries_.pop_back();
            throw;
        }
        for (const Entry& entry : entries_) send_locked(kRegisterOp, entry);
    }

    // Forgets a segment that was unlinked normally.
    void remove(const std::string& name, Identity identity) noexcept {
        std::lock_guard lock(mutex_);
        adopt_locked();
        const auto found = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& entry) {
            return entry.name == name && entry.identity == identity;
        });
        if (found == entries_.end()) return;
        if (socket_ >= 0) send_locked(kUnregisterOp, *found);
        entries_.erase(found);
    }

private:
    struct Entry {
        std::string name;
        Identity identity;
    };

    Registry() : owner_pid_(::getpid()) {
        pthread_atfork(&Registry::before_fork, &Registry::after_fork_in_parent, &Registry::after_fork_in_child);
    }

    // Forks do not copy the registry mid-update.
    static void before_fork() noexcept {
        if (!forking_reaper) instance().mutex_.lock();
    }
    static void after_fork_in_parent() noexcept {
        if (!forking_reaper) instance().mutex_.unlock();
    }
    // A child is not the creator of its parent's segments, and must not keep
    // the parent's reaper waiting: it drops the socket at once.
    static void after_fork_in_child() noexcept {
        Registry& registry = instance();
        if (registry.socket_ >= 0) ::close(std::exchange(registry.socket_, -1));
        if (!forking_reaper) registry.mutex_.unlock();
    }

    // The entries inherited from a parent process are the parent's.
    void adopt_locked() {
        const pid_t pid = ::getpid();
        if (pid == owner_pid_) return;
        entries_.clear();
        owner_pid_ = pid;
    }

    bool send_locked(char op, const Entry& entry) noexcept {
        unsigned char message[message_header + kMaxNameLength];
        message[0] = static_cast<unsigned char>(op);
        std::memcpy(message + 1, &entry.identity.device, sizeof(entry.identity.device));
        std::memcpy(message + 1 + sizeof(entry.identity.device), &entry.identity.inode, sizeof(entry.identity.inode));
        std::memcpy(message + message_header, entry.name.data(), entry.name.size());
        const std::size_t length = message_header + entry.name.size();
        for (;;) {
            const ssize_t sent = ::send(socket_, message, length, MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            return sent == static_cast<ssize_t>(length);
        }
    }

    // Double fork: the intermediate child exits at once and is reaped here, so
    // the reaper is adopted by init (or a subreaper) and never left a zombie.
    int start_reaper_locked() {
        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
            detail::throw_errno(errno, "SharedMemory: cannot create the reaper's socket");
        }
        forking_reaper = true;
        const pid_t intermediate = ::fork();
        if (intermediate == 0) {
            const pid_t reaper = ::fork();
            if (reaper == 0) {
                ::close(ends[0]);
                reaper_main(ends[1]);
            }
            ::_exit(reaper < 0 ? 1 : 0);
        }
        forking_reaper = false;
        const int fork_error = errno;
        ::close(ends[1]);
        int status = 0;
        pid_t waited = -1;
        if (intermediate > 0) {
            do {
                waited = ::waitpid(intermediate, &status, 0);
            } while (waited < 0 && errno == EINTR);
        }
        // ECHILD: SIGCHLD is ignored, so the kernel reaped the child already.
        const bool started = intermediate > 0 && ((waited == intermediate && WIFEXITED(status) &&
                                                   WEXITSTATUS(status) == 0) ||
                                                  (waited < 0 && errno == ECHILD));
        if (!started) {
            ::close(ends[0]);
            detail::throw_errno(intermediate < 0 ? fork_error : EAGAIN,
                        "SharedMemory: cannot start the process that removes the segments of a dead creator");
        }
        return ends[0];
    }

    std::mutex mutex_;
    int socket_ = -1;
    pid_t owner_pid_;
    std::vector<Entry> entries_;
};

// --- names ----------------------------------------------------------------------------

std::string checked_name(const std::string& requested) {
    const std::size_t start = requested.find_first_not_of('/');
    std::string name = start == std::string::npos ? std::string() : requested.substr(start);
    if (name.empty() || name == "." || name == ".." || name.size() > kMaxNameLength ||
        name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
        throw ValueError("invalid shared memory name '" + requested +
                         "': it must be one path component of 1 to 255 characters, with an optional leading '/'");
    }
    return name;
}

std::string fresh_name() {
    unsigned char random[8];
    std::size_t filled = 0;
    while (filled < sizeof(random)) {
        const ssize_t got = ::getrandom(random + filled, sizeof(random) - filled, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) detail::throw_errno(errno, "SharedMemory: getrandom");
        filled += static_cast<std::size_t>(got);
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string name = "tandem_";
    for (const unsigned char byte : random) {
        name += digits[byte >> 4];
        name += digits[byte & 0xf];
    }
    return name;
}

std::string shm_name(const std::string& name) { return "/" + name; }

}  // namespace

SharedMemory::SharedMemory(std::optional<std::string> name, bool create, std::ptrdiff_t size) {
    if (size < 0) throw ValueError("'size' must be a positive integer");
    if (create && size == 0) throw ValueError("'size' must be a positive number different from zero");
    if (!name && !create) throw ValueError("'name' can only be None if create=True");

    int fd = -1;
    if (create) {
        for (;;) {
            name_ = name ? checked_name(*name) : fresh_name();
            fd = ::shm_open(shm_name(name_).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
            if (fd >= 0) break;
            if (errno == EEXIST && !name) continue;  // a fresh name that happened to exist
            detail::throw_errno(errno, "SharedMemory: cannot create '" + name_ + "'" +
                                   (errno == EEXIST ? ": a segment of that name exists" : ""));
        }
    } else {
        name_ = checked_name(*name);
        fd = ::shm_open(shm_name(name_).c_str(), O_RDWR, 0);
        if (fd < 0) {
            detail::throw_errno(errno, "SharedMemory: cannot attach to '" + name_ + "'" +
                                   (errno == ENOENT ? ": no segment of that name" : ""));
        }
    }

    // From here on, a failure closes the descriptor, and removes the segment
    // if it was created here (as Python does).
    try {
        struct stat info {};
        if (::fstat(fd, &info) != 0) detail::throw_errno(errno, "SharedMemory: fstat '" + name_ + "'");
        if (create) {
            const Identity identity = identity_of(info);
            Registry::instance().add(name_, identity);
            creator_pid_ = ::getpid();
            device_ = identity.device;
            inode_ = identity.inode;
            if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
                detail::throw_errno(errno, "SharedMemory: cannot size '" + name_ + "'");
            }
            size_ = static_cast<std::size_t>(size);
        } else {
            size_ = static_cast<std::size_t>(info.st_size);
            if (size_ == 0) throw ValueError("SharedMemory: cannot map '" + name_ + "': the segment is empty");
        }
        void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (address == MAP_FAILED) detail::throw_errno(errno, "SharedMemory: cannot map '" + name_ + "'");
        data_ = static_cast<std::byte*>(address);
        ::close(fd);
    } catch (...) {
        ::close(fd);
        if (create) {
            if (creator_pid_ != 0) {
                unlink_if_still_ours();
            } else {
                ::shm_unlink(shm_name(name_).c_str());
            }
        }
        throw;
    }
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : name_(std::move(other.name_)), data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)), creator_pid_(std::exchange(other.creator_pid_, 0)),
      unlinked_(other.unlinked_), device_(other.device_), inode_(other.inode_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
    SharedMemory taken(std::move(other));
    std::swap(name_, taken.name_);
    std::swap(data_, taken.data_);
    std::swap(size_, taken.size_);
    std::swap(creator_pid_, taken.creator_pid_);
    std::swap(unlinked_, taken.unlinked_);
    std::swap(device_, taken.device_);
    std::swap(inode_, taken.inode_);
    return *this;  // `taken` now holds the old segment, and lets go of it
}

SharedMemory::~SharedMemory() {
    close();
    if (creator_pid_ != 0 && !unlinked_ && creator_pid_ == ::getpid()) unlink_if_still_ours();
}

std::span<std::byte> SharedMemory::buf() const {
    if (data_ == nullptr) throw ValueError("SharedMemory '" + name_ + "' is closed");
    return {data_, size_};
}

void SharedMemory::close() noexcept {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
}

void SharedMemory::unlink() {
    if (::shm_unlink(shm_name(name_).c_str()) != 0) {
        detail::throw_errno(errno, "SharedMemory: cannot unlink '" + name_ + "'");
    }
    unlinked_ = true;
    if (creator_pid_ == ::getpid()) Registry::instance().remove(name_, {device_, inode_});
}

void SharedMemory::unlink_if_still_ours() noexcept {
    const Identity mine{device_, inode_};
    const int fd = ::shm_open(shm_name(name_).c_str(), O_RDONLY, 0);
    if (fd >= 0) {
        struct stat info {};
        const bool same = ::fstat(fd, &info) == 0 && identity_of(info) == mine;
        ::close(fd);
        if (same) ::shm_unlink(shm_name(name_).c_str());
    }
    unlinked_ = true;
    Registry::instance().remove(name_, mine);
}

}  // namespace tandem::multiprocessing

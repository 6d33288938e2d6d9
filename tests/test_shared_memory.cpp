// Tests for tandem/multiprocessing/shared_memory.hpp (Python's
// multiprocessing.shared_memory.SharedMemory, ported from CPython's
// _TestSharedMemory) and for the anonymous memory behind every shared object,
// detail::SharedRegion. Beyond Python: explicit ownership (the creator unlinks,
// attachers never do) and no segment left behind by a creator killed with
// SIGKILL.
#include "tandem/multiprocessing/shared_memory.hpp"

#include "support/gate.hpp"                    // eventually
#include "tandem/detail/os/shared_region.hpp"  // detail::SharedRegion
#include "tandem/errors.hpp"                   // ValueError

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "support/child_process.hpp"  // fork_child, join_child, open_fd_count

#include <algorithm>     // std::ranges::all_of, fill
#include <cerrno>        // errno
#include <chrono>        // deadlines
#include <csignal>       // SIGKILL
#include <cstring>       // std::memcpy, std::strerror
#include <fcntl.h>       // fcntl, FD_CLOEXEC
#include <poll.h>        // poll, for the pipe
#include <string>        // names
#include <sys/mman.h>    // shm_open, shm_unlink
#include <sys/prctl.h>   // PR_SET_CHILD_SUBREAPER
#include <sys/stat.h>    // stat, to look into /dev/shm
#include <sys/wait.h>    // waitpid
#include <system_error>  // std::system_error
#include <thread>        // sleep_for while polling
#include <unistd.h>      // fork, _exit, pipe
#include <utility>       // std::move
#include <vector>        // names reported by a child

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;
using tandem::detail::SharedRegion;

namespace {

using tandem_test::fork_child;
using tandem_test::join_child;

constexpr auto long_wait = 10s;  // for waits that should succeed: a bug fails instead of hanging

using tandem_test::eventually;

bool exists_in_dev_shm(const std::string& name) {
    struct stat info {};
    return ::stat(("/dev/shm/" + name).c_str(), &info) == 0;
}

// A name no other test run uses.
std::string unique_name(const char* what) {
    return "tandem_test_" + std::to_string(::getpid()) + "_" + what;
}

// The errno a std::system_error carries, or 0 if `action` did not throw one.
template <class Action>
int system_error_code(Action action) {
    try {
        action();
    } catch (const std::system_error& error) {
        return error.code().value();
    }
    return 0;
}

}  // namespace

// ============================== SharedRegion (internal) ========================

// tandem internals: a region is zeroed, its memfd is close-on-exec, and a forked child writes into the same memory.
TEST(SharedRegion, ZeroedCloexecAndInheritedByFork) {
    SharedRegion region(100, "tandem:test");
    ASSERT_EQ(region.size(), 100u);
    EXPECT_TRUE(std::all_of(region.data(), region.data() + region.size(), [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_NE(::fcntl(region.fd(), F_GETFD) & FD_CLOEXEC, 0);
    const pid_t child = fork_child([&] {
        region.data()[99] = std::byte{42};
        return 0;
    });
    ASSERT_EQ(join_child(child), 0);
    EXPECT_EQ(region.data()[99], std::byte{42});
}

// tandem internals: from_fd maps the same memory again (as a process that received the descriptor does); too small a region is refused.
TEST(SharedRegion, AttachFromDescriptor) {
    SharedRegion region(4096);
    SharedRegion again = SharedRegion::from_fd(::dup(region.fd()), 4096);
    ASSERT_NE(again.data(), region.data());
    region.data()[10] = std::byte{7};
    EXPECT_EQ(again.data()[10], std::byte{7});
    EXPECT_THROW(SharedRegion::from_fd(::dup(region.fd()), 8192), tandem::ValueError);
    EXPECT_THROW(SharedRegion::from_fd(-1, 16), std::system_error);
    // Moving keeps one owner.
    SharedRegion moved = std::move(again);
    EXPECT_EQ(moved.data()[10], std::byte{7});
    EXPECT_EQ(again.data(), nullptr);
    EXPECT_EQ(again.fd(), -1);
}

// tandem internals: a region's size is sealed, so a process that holds its descriptor
// cannot shrink it under another's mapping (a SIGBUS there); from_fd refuses memory that is not.
TEST(SharedRegion, SealedAgainstResizing) {
    SharedRegion region(4096, "tandem:test");
    const int seals = ::fcntl(region.fd(), F_GET_SEALS);
    EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_EQ(::ftruncate(region.fd(), 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(::ftruncate(region.fd(), 1 << 20), -1);
    EXPECT_EQ(::fcntl(region.fd(), F_ADD_SEALS, F_SEAL_WRITE), -1) << "no one adds a seal";
    region.data()[4095] = std::byte{1};  // still there, still writable

    const int unsealed = ::memfd_create("unsealed", MFD_CLOEXEC);
    ASSERT_GE(unsealed, 0);
    ASSERT_EQ(::ftruncate(unsealed, 4096), 0);
    EXPECT_THROW(SharedRegion::from_fd(unsealed, 4096), tandem::ValueError);  // closes it

    const int shrinkable = ::memfd_create("grow-only", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_GE(shrinkable, 0);
    ASSERT_EQ(::ftruncate(shrinkable, 4096), 0);
    ASSERT_EQ(::fcntl(shrinkable, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL), 0);
    EXPECT_THROW(SharedRegion::from_fd(shrinkable, 4096), tandem::ValueError);

    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    ::close(pipe_fds[1]);
    EXPECT_THROW(SharedRegion::from_fd(pipe_fds[0], 16), tandem::ValueError) << "not memory at all";
}

// tandem internals: Inherit::no keeps a mapping from children made by fork()
// (MADV_DONTFORK); close_fd() drops the descriptor and keeps the mapping.
TEST(SharedRegion, KeptFromForkedChildren) {
    SharedRegion kept(4096, "tandem:test", tandem::detail::Inherit::no);
    SharedRegion shared(4096, "tandem:test");
    kept.close_fd();
    EXPECT_EQ(kept.fd(), -1);
    kept.data()[0] = std::byte{5};
    EXPECT_EQ(kept.data()[0], std::byte{5});
    const pid_t child = fork_child([&] {
        // msync reports ENOMEM for an address that is not mapped.
        const bool kept_mapped = ::msync(kept.data(), 4096, MS_ASYNC) == 0;
        const bool shared_mapped = ::msync(shared.data(), 4096, MS_ASYNC) == 0;
        return (kept_mapped ? 1 : 0) + (shared_mapped ? 0 : 2);
    });
    EXPECT_EQ(join_child(child), 0);
}

// ============================== SharedMemory ==================================

// shared_memory: creating without a name picks a fresh one; size() is the requested size; the segment appears in /dev/shm.
TEST(SharedMemory, CreateWithFreshName) {
    mp::SharedMemory block(std::nullopt, true, 1000);
    EXPECT_EQ(block.name().rfind("tandem_", 0), 0u) << block.name();
    EXPECT_EQ(block.size(), 1000u);
    EXPECT_EQ(block.buf().size(), 1000u);
    EXPECT_TRUE(exists_in_dev_shm(block.name()));
    mp::SharedMemory other(std::nullopt, true, 10);
    EXPECT_NE(other.name(), block.name());
}

// shared_memory: an attacher sees the creator's bytes and its size, whatever size it passes; a leading '/' is optional.
TEST(SharedMemory, AttachSharesBytes) {
    const std::string name = unique_name("attach");
    mp::SharedMemory creator("/" + name, true, 64);
    EXPECT_EQ(creator.name(), name);  // reported without the slash, as Python
    const char text[] = "howdy";
    std::memcpy(creator.buf().data(), text, sizeof(text));
    mp::SharedMemory attacher(name, false, 0);
    EXPECT_EQ(attacher.size(), 64u);
    EXPECT_STREQ(reinterpret_cast<const char*>(attacher.buf().data()), "howdy");
    mp::SharedMemory also(name, false, 5);  // size is ignored when attaching
    EXPECT_EQ(also.size(), 64u);
    attacher.buf()[0] = std::byte{'H'};
    EXPECT_EQ(creator.buf()[0], std::byte{'H'});
}

// shared_memory: a child attaches by name and writes; the parent sees it.
TEST(SharedMemory, ChildAttachesByName) {
    mp::SharedMemory block(std::nullopt, true, 4096);
    const std::string name = block.name();
    const pid_t child = fork_child([&] {
        mp::SharedMemory view(name);
        std::ranges::fill(view.buf(), std::byte{9});
        return 0;  // the view's mapping goes with the process
    });
    ASSERT_EQ(join_child(child), 0);
    EXPECT_TRUE(std::ranges::all_of(block.buf(), [](std::byte b) { return b == std::byte{9}; }));
}

// shared_memory: creating a name that exists raises FileExistsError (std::system_error EEXIST here).
TEST(SharedMemory, CreateExistingRaises) {
    const std::string name = unique_name("exists");
    mp::SharedMemory first(name, true, 16);
    EXPECT_EQ(system_error_code([&] { mp::SharedMemory second(name, true, 16); }), EEXIST);
    EXPECT_TRUE(exists_in_dev_shm(name));  // the failed attempt removed nothing
}

// shared_memory: attaching to a missing name raises FileNotFoundError (std::system_error ENOENT here).
TEST(SharedMemory, AttachMissingRaises) {
    EXPECT_EQ(system_error_code([] { mp::SharedMemory missing(unique_name("missing")); }), ENOENT);
}

// shared_memory: negative size, zero size when creating, and no name when attaching raise ValueError; so do invalid names.
TEST(SharedMemory, BadArgumentsRaiseValueError) {
    EXPECT_THROW(mp::SharedMemory(std::nullopt, true, -1), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory(unique_name("negative"), false, -1), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory(std::nullopt, true, 0), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory(unique_name("zero"), true), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory(), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory("", true, 8), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory("a/b", true, 8), tandem::ValueError);
    EXPECT_THROW(mp::SharedMemory(std::string(300, 'x'), true, 8), tandem::ValueError);
    EXPECT_FALSE(exists_in_dev_shm(unique_name("zero")));
}

// shared_memory: close() unmaps (buf is gone; Python's memoryview is released) and may be repeated; the segment stays.
TEST(SharedMemory, CloseKeepsSegment) {
    mp::SharedMemory block(std::nullopt, true, 32);
    block.close();
    block.close();
    EXPECT_THROW(static_cast<void>(block.buf()), tandem::ValueError);
    EXPECT_TRUE(exists_in_dev_shm(block.name()));
    mp::SharedMemory again(block.name());
    EXPECT_EQ(again.size(), 32u);
}

// shared_memory: unlink() removes the name (mappings stay usable); a second unlink raises FileNotFoundError.
TEST(SharedMemory, UnlinkTwiceRaises) {
    mp::SharedMemory block(std::nullopt, true, 32);
    block.unlink();
    EXPECT_FALSE(exists_in_dev_shm(block.name()));
    block.buf()[0] = std::byte{1};  // still mapped
    EXPECT_EQ(system_error_code([&] { block.unlink(); }), ENOENT);
}

// tandem ownership: the creating object's destructor unlinks; an attacher's close() and destruction never do (gh-82300).
TEST(SharedMemory, CreatorUnlinksAttacherDoesNot) {
    std::string name;
    {
        mp::SharedMemory creator(std::nullopt, true, 64);
        name = creator.name();
        {
            mp::SharedMemory attacher(name);
            attacher.close();
        }
        EXPECT_TRUE(exists_in_dev_shm(name)) << "an attacher unlinked the segment";
        const pid_t child = fork_child([&] {
            mp::SharedMemory in_child(name);
            return 0;
        });
        EXPECT_EQ(join_child(child), 0);
        EXPECT_TRUE(exists_in_dev_shm(name)) << "an attaching process unlinked the segment";
    }
    EXPECT_FALSE(exists_in_dev_shm(name)) << "the creator did not unlink its segment";
}

// tandem ownership: a forked child that destroys its copy of the creator object does not unlink the parent's segment.
TEST(SharedMemory, ForkedChildNeverUnlinksParentsSegment) {
    mp::SharedMemory creator(std::nullopt, true, 64);
    const pid_t child = fork_child([&] {
        mp::SharedMemory taken = std::move(creator);  // destroyed in the child
        return 0;
    });
    EXPECT_EQ(join_child(child), 0);
    EXPECT_TRUE(exists_in_dev_shm(creator.name()));
}

// tandem ownership: a creator whose name was unlinked and re-created by someone else leaves the new segment alone.
TEST(SharedMemory, CreatorDoesNotRemoveANewerSegment) {
    const std::string name = unique_name("recreated");
    auto creator = std::make_unique<mp::SharedMemory>(name, true, 16);
    mp::SharedMemory(name).unlink();  // an attacher removes it explicitly, as Python allows
    mp::SharedMemory newer(name, true, 32);
    creator.reset();
    EXPECT_TRUE(exists_in_dev_shm(name));
    mp::SharedMemory check(name);
    EXPECT_EQ(check.size(), 32u);
}

// tandem ownership: moving hands over ownership; the moved-from object unlinks nothing.
TEST(SharedMemory, MoveTransfersOwnership) {
    mp::SharedMemory first(std::nullopt, true, 16);
    const std::string name = first.name();
    mp::SharedMemory second = std::move(first);
    EXPECT_EQ(second.name(), name);
    {
        mp::SharedMemory third(std::nullopt, true, 8);
        const std::string third_name = third.name();
        third = std::move(second);  // the old third segment is released (and unlinked)
        EXPECT_FALSE(exists_in_dev_shm(third_name));
        EXPECT_TRUE(exists_in_dev_shm(name));
    }
    EXPECT_FALSE(exists_in_dev_shm(name));
}

// Waits (bounded) for an orphan adopted by this process (a subreaper) to exit;
// true if one exited with status 0.
bool orphan_exited_cleanly() {
    int status = 0;
    pid_t orphan = 0;
    const bool exited = eventually([&] {
        orphan = ::waitpid(-1, &status, WNOHANG);
        return orphan != 0;
    });
    return exited && orphan > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Reads one line from `fd` (bounded wait).
std::string read_line(int fd) {
    std::string text;
    char chunk[256];
    pollfd entry{fd, POLLIN, 0};
    while (text.find('\n') == std::string::npos && ::poll(&entry, 1, 10000) == 1) {
        const ssize_t got = ::read(fd, chunk, sizeof(chunk));
        if (got <= 0) break;
        text.append(chunk, static_cast<std::size_t>(got));
    }
    const std::size_t end = text.find('\n');
    return end == std::string::npos ? std::string() : text.substr(0, end);
}

// tandem (Python leaks here when its resource tracker dies too): the segments of a creator killed by SIGKILL are
// removed, except a name someone else re-created meanwhile; the reaper then exits.
TEST(SharedMemory, SegmentsOfKilledCreatorAreRemoved) {
    // This process's own reaper starts now, before orphans become ours.
    mp::SharedMemory own(std::nullopt, true, 1);
    // Orphans of our children become ours, so the child's reaper's exit can be awaited.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const std::string chosen = unique_name("killed");
    const std::string replaced = unique_name("replaced");
    const pid_t creator = fork_child([&]() -> int {
        mp::SharedMemory fresh(std::nullopt, true, 4096);
        mp::SharedMemory named(chosen, true, 4096);
        mp::SharedMemory taken_over(replaced, true, 4096);
        const std::string line = fresh.name() + "\n";
        if (::write(report[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 1;
        for (;;) ::pause();
    });
    ::close(report[1]);
    const std::string fresh = read_line(report[0]);
    ::close(report[0]);
    ASSERT_FALSE(fresh.empty()) << "the child did not report its segment";
    EXPECT_TRUE(exists_in_dev_shm(fresh));
    EXPECT_TRUE(exists_in_dev_shm(chosen));
    // Another owner takes over one name while the creator lives.
    mp::SharedMemory(replaced).unlink();
    mp::SharedMemory newer(replaced, true, 64);

    const auto killed_at = std::chrono::steady_clock::now();
    ::kill(creator, SIGKILL);
    EXPECT_EQ(join_child(creator), -SIGKILL);
    EXPECT_TRUE(orphan_exited_cleanly()) << "the reaper did not exit after its creator died";
    EXPECT_LT(std::chrono::steady_clock::now() - killed_at, long_wait);
    EXPECT_FALSE(exists_in_dev_shm(fresh)) << "a segment of a killed creator was left in /dev/shm";
    EXPECT_FALSE(exists_in_dev_shm(chosen)) << "a segment of a killed creator was left in /dev/shm";
    EXPECT_TRUE(exists_in_dev_shm(replaced)) << "the reaper removed a segment its creator no longer owned";
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// tandem: a creator that exits without running destructors (_exit) leaves nothing either.
TEST(SharedMemory, SegmentsOfCreatorThatExitsAreRemoved) {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    const std::string kept = unique_name("exit_kept");
    const std::string unlinked = unique_name("exit_unlinked");
    const pid_t creator = fork_child([&] {
        static_cast<void>(new mp::SharedMemory(kept, true, 100));  // never destroyed
        mp::SharedMemory removed(unlinked, true, 100);
        removed.unlink();
        return 0;
    });
    EXPECT_EQ(join_child(creator), 0);
    EXPECT_TRUE(orphan_exited_cleanly()) << "the reaper did not exit after its creator did";
    EXPECT_FALSE(exists_in_dev_shm(kept)) << "a segment of an exited creator was left in /dev/shm";
    EXPECT_FALSE(exists_in_dev_shm(unlinked));
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// Tests for tandem/init.hpp: who may make a program a worker. Python's
// forkserver accepts a connection only from a holder of its authentication
// key (3.14: the key is checked before anything is unpickled); here a
// re-executed program acts only for its own parent running the same
// executable, and a program with elevated privileges ignores the variable.
// The programs are run from the outside: trust_probe (support/trust_probe.cpp)
// as a set-user-ID copy, and started by a Python script that sets
// TANDEM_WORKER and sends it a well-formed start message.
#include "tandem/init.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <fcntl.h>       // fcntl
#include <grp.h>         // setgroups
#include <sys/socket.h>  // socketpair
#include <sys/stat.h>    // chmod
#include <unistd.h>      // getpid, geteuid, setuid, setgid, chown

#include <filesystem>  // temporary directories, copies
#include <string>      // outputs, markers
#include <vector>      // arguments

#include "support/child_process.hpp"              // fork_child, join_child, run_program
#include "tandem/detail/launch/parent_check.hpp"  // launching_parent_problem, kRefusedWorkerStatus
#include "tandem/detail/os/unique_fd.hpp"         // UniqueFd

namespace {

namespace fs = std::filesystem;
using tandem::detail::UniqueFd;
using tandem_test::run_program;

constexpr const char* kProbe = TANDEM_TRUST_PROBE;
constexpr uid_t kNobody = 65534;

// A directory of its own under /tmp, removed with everything in it.
class TemporaryDirectory {
public:
    TemporaryDirectory() {
        std::string pattern = (fs::temp_directory_path() / "tandem-init-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
        path_ = pattern;
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::pair<UniqueFd, UniqueFd> socket_pair() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) throw std::runtime_error("socketpair");
    return {UniqueFd(ends[0]), UniqueFd(ends[1])};
}

std::string python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

// --- the check itself ------------------------------------------------------------------

// tandem: a socket made by the parent passes, in a child of the same program as the same user.
TEST(LaunchingParent, SocketFromTheParentPasses) {
    auto [ours, theirs] = socket_pair();
    const pid_t parent = ::getpid();
    const pid_t pid = tandem_test::fork_child(
        [&] { return tandem::detail::launching_parent_problem(theirs.get(), parent).empty() ? 0 : 1; });
    EXPECT_EQ(tandem_test::join_child(pid), 0);
}

// tandem: a socket the child made itself, a wrong parent pid, or no socket at all is refused, saying why.
TEST(LaunchingParent, AnythingElseIsRefusedWithTheReason) {
    const pid_t parent = ::getpid();
    const pid_t own_socket = tandem_test::fork_child([&] {
        auto [mine, other] = socket_pair();
        const std::string problem = tandem::detail::launching_parent_problem(other.get(), parent);
        return problem.find("was made by process " + std::to_string(::getpid())) != std::string::npos ? 0 : 1;
    });
    EXPECT_EQ(tandem_test::join_child(own_socket), 0);

    auto [ours, theirs] = socket_pair();
    const pid_t wrong_parent = tandem_test::fork_child([&] {
        const std::string problem = tandem::detail::launching_parent_problem(theirs.get(), parent + 1);
        return problem.find("not by the parent named") != std::string::npos ? 0 : 1;
    });
    EXPECT_EQ(tandem_test::join_child(wrong_parent), 0);

    int pipe_ends[2];
    ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC), 0);
    const UniqueFd read_end(pipe_ends[0]);
    const UniqueFd write_end(pipe_ends[1]);
    EXPECT_NE(tandem::detail::launching_parent_problem(read_end.get(), parent).find("not a connected Unix socket"),
              std::string::npos);
}

// --- another program sets the variable ----------------------------------------------------

// Starts `probe` with TANDEM_WORKER=KIND:FD:<own pid> on a socket pair it
// made, sends it the start message in FRAME (attaching a status socket for a
// forkserver, as tandem's client does), waits until the child exits or
// TARGET appears (the forged target ran), and prints the child's exit code.
constexpr const char* kLauncherScript = R"(
import os, socket, subprocess, sys, time
probe, kind, frame_path, target = sys.argv[1:5]
frame = open(frame_path, 'rb').read()
ours, theirs = socket.socketpair()
os.environ['TANDEM_WORKER'] = '%s:%d:%d' % (kind, theirs.fileno(), os.getpid())
child = subprocess.Popen([probe], pass_fds=[theirs.fileno()])
theirs.close()
kept = []
try:
    if kind == 'forkserver':
        kept = list(socket.socketpair())
        socket.send_fds(ours, [frame], [kept[1].fileno()])
    else:
        ours.sendall(frame)
except OSError:
    pass  # the child is gone already
deadline = time.monotonic() + 30
while child.poll() is None and not os.path.exists(target) and time.monotonic() < deadline:
    time.sleep(0.01)
ours.close()
for end in kept:
    end.close()
print('exit=%d' % child.wait(timeout=30), flush=True)
)";

class StartedByAnotherProgram : public testing::TestWithParam<std::string> {};

std::string marker_kind(const testing::TestParamInfo<std::string>& parameter) { return parameter.param; }

INSTANTIATE_TEST_SUITE_P(Markers, StartedByAnotherProgram, testing::Values("spawn", "forkserver"), marker_kind);

// Python 3.14's forkserver: a client without the authentication key is
// refused before anything it sent is unpickled. tandem: a program started with
// TANDEM_WORKER by a script (which made the socket itself) refuses with exit
// status 3 and one line on stderr, before it reads the well-formed start
// message the script sends, whose target would leave a file behind.
TEST_P(StartedByAnotherProgram, RefusesToAct) {
    const TemporaryDirectory directory;
    const std::string frame = (directory.path() / "frame").string();
    const std::string target = (directory.path() / "acted").string();
    const auto made = run_program({kProbe, GetParam() + "-frame", frame, target});
    ASSERT_EQ(made.code, 0) << made.output;

    const auto run = run_program({python(), "-c", kLauncherScript, kProbe, GetParam(), frame, target});
    EXPECT_NE(run.output.find("exit=" + std::to_string(tandem::detail::kRefusedWorkerStatus)), std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("refusing to act as a " + GetParam() + " worker: its parent runs another program"),
              std::string::npos)
        << run.output;
    EXPECT_FALSE(fs::exists(target)) << "the forged start message was run";
}

// --- another user ------------------------------------------------------------------------

// Drops this (forked) process to nobody, in the child before exec.
bool become_nobody() noexcept { return ::setgroups(0, nullptr) == 0 && ::setgid(kNobody) == 0 && ::setuid(kNobody) == 0; }

// A copy of the probe, owned by root, in a directory anyone may enter (the
// build directory may be under /root, which nobody cannot); set-user-ID if
// asked.
class ProbeCopy {
public:
    explicit ProbeCopy(bool set_user_id) {
        fs::permissions(directory_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                               fs::perms::others_read | fs::perms::others_exec);
        path_ = (directory_.path() / "trust_probe").string();
        fs::copy_file(kProbe, path_);
        if (::chown(path_.c_str(), 0, 0) != 0 || ::chmod(path_.c_str(), set_user_id ? 04755 : 0755) != 0) {
            throw std::runtime_error("chown/chmod of the probe's copy");
        }
    }
    const std::string& path() const { return path_; }

private:
    TemporaryDirectory directory_;
    std::string path_;
};

// tandem: a worker does not act for a parent of another user (here root
// driving a program that runs as nobody): its socket's creator must be its
// own user.
TEST(WorkerVariable, ParentOfAnotherUserIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to start the program as another user";
    auto [ours, theirs] = socket_pair();
    ours.reset();  // a program that took the marker finds end of file, not a hang
    const int socket = theirs.get();
    const std::string marker = "TANDEM_WORKER=spawn:3:" + std::to_string(::getpid());
    const ProbeCopy probe(false);
    const auto run = run_program({probe.path()}, {marker}, [socket] {
        return ::dup2(socket, 3) == 3 && become_nobody();
    });
    EXPECT_EQ(run.code, tandem::detail::kRefusedWorkerStatus) << run.output;
    EXPECT_NE(run.output.find("its parent runs as user 0, not as 65534"), std::string::npos) << run.output;
}

// --- elevated privileges -------------------------------------------------------------------

// tandem: in a program whose real and effective users differ (set-user-ID
// root, run by nobody: the kernel sets AT_SECURE), TANDEM_WORKER is ignored
// and removed, main() runs, and spawn is refused with a reason (a copy it
// executed could not tell a real worker from a forged one).
TEST(WorkerVariable, SetuidProgramIgnoresIt) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to make a set-user-ID copy owned by root and run it as nobody";
    const ProbeCopy probe(true);
    auto [ours, theirs] = socket_pair();
    // A program that took the marker would find its socket at end of file
    // and exit 1 without running main().
    ours.reset();
    const int socket = theirs.get();
    const std::string marker = "TANDEM_WORKER=spawn:3:" + std::to_string(::getpid());
    const auto run = run_program({probe.path()}, {marker}, [socket] { return ::dup2(socket, 3) == 3 && become_nobody(); });
    EXPECT_NE(run.output.find("main ran"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("TANDEM_WORKER absent"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("spawn refused: the spawn start method is not available in a program running with "
                              "elevated privileges"),
              std::string::npos)
        << run.output;
    EXPECT_EQ(run.code, 0) << run.output;
}

}  // namespace

// tandem bench: run_process over posix_spawn, poll and a process group.
#include "subprocess.hpp"

#include <fcntl.h>     // O_CLOEXEC, O_NONBLOCK, open
#include <poll.h>      // poll
#include <spawn.h>     // posix_spawnp, POSIX_SPAWN_SETPGROUP
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // pipe2, read, write, close, access

#include <algorithm>  // std::min
#include <cerrno>     // errno
#include <csignal>    // kill, SIGKILL
#include <cstdlib>    // std::getenv
#include <cstring>    // std::strerror
#include <stdexcept>  // std::runtime_error
#include <thread>     // std::this_thread::sleep_for while a group winds down

#include "interrupt.hpp"  // interrupt_fd, Interrupted

extern char** environ;

namespace tandem::cli {

namespace {

using Clock = std::chrono::steady_clock;

// How long the rest of a finished child's group may take to leave by itself.
constexpr auto kGroupGrace = std::chrono::milliseconds(1500);

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    int release() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

void make_pipe(Fd& read_end, Fd& write_end) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe2");
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
}

// Our environment with `extra` entries added, replacing those of the same name.
std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> result;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const std::string name = text.substr(0, text.find('='));
        bool replaced = false;
        for (const auto& added : extra) replaced = replaced || added.substr(0, added.find('=')) == name;
        if (!replaced) result.push_back(text);
    }
    result.insert(result.end(), extra.begin(), extra.end());
    return result;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

// Reaps what is left of group `group` (orphans come to us as the subreaper),
// gives it kGroupGrace to leave by itself unless `now`, then kills the rest.
void end_group(pid_t group, bool now) {
    if (now) ::kill(-group, SIGKILL);
    const auto give_up = Clock::now() + kGroupGrace;
    for (;;) {
        while (::waitpid(-group, nullptr, WNOHANG) > 0) {
        }
        if (::kill(-group, 0) != 0) return;  // ESRCH: nobody left
        if (Clock::now() > give_up) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::kill(-group, SIGKILL);
    // Killed processes become zombies until reaped: wait for ours, bounded
    // (those reparented elsewhere are reaped there).
    const auto last = Clock::now() + kGroupGrace;
    while (Clock::now() < last) {
        if (::waitpid(-group, nullptr, WNOHANG) < 0) return;  // ECHILD: none of ours left
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace

bool in_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string rest = path ? path : "/usr/bin:/bin";
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        const std::string folder = rest.substr(0, colon);
        rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
        if (!folder.empty() && ::access((folder + "/" + program).c_str(), X_OK) == 0) return true;
    }
    return false;
}

ProcessOutput run_process(const std::vector<std::string>& argv, const RunOptions& options) {
    if (argv.empty()) throw std::runtime_error("run_process: no program");
    Fd in_read, in_write, out_read, out_write, err_read, err_write;
    make_pipe(in_read, in_write);
    make_pipe(out_read, out_write);
    make_pipe(err_read, err_write);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group (a Ctrl-C is ours to handle), the default
    // actions for the signals a program expects to have them, and an empty
    // mask, whatever this process set up.
    sigset_t defaults, none;
    sigemptyset(&defaults);
    for (const int signal_number : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, signal_number);
    sigemptyset(&none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setsigmask(&attributes, &none);

    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const std::vector<std::string> environment = merged_environment(options.environment);
    std::vector<char*> env;
    for (const auto& entry : environment) env.push_back(const_cast<char*>(entry.c_str()));
    env.push_back(nullptr);

    pid_t pid = -1;
    const int spawned = ::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0) {
        errno = spawned;
        fail("cannot run " + argv[0]);
    }
    in_read.reset();
    out_write.reset();
    err_write.reset();
    ::fcntl(in_write.get(), F_SETFL, O_NONBLOCK);

    ProcessOutput result;
    std::size_t written = 0;
    if (options.input.empty()) in_write.reset();
    const auto deadline = Clock::now() + options.timeout;
    bool killed = false;
    std::string why;
    while (out_read.get() >= 0 || err_read.get() >= 0) {
        pollfd fds[4] = {{out_read.get(), POLLIN, 0},
                         {err_read.get(), POLLIN, 0},
                         {in_write.get(), POLLOUT, 0},
                         {interrupt_fd(), POLLIN, 0}};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || interrupt_signal() != 0) {
            killed = true;
            why = left <= 0 ? argv[0] + " ran past its time limit" : "";
            break;
        }
        if (::poll(fds, 4, static_cast<int>(std::min<long long>(left, 1000))) < 0 && errno != EINTR) fail("poll");
        char buffer[65536];
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) {
                (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                (i == 0 ? out_read : err_read).reset();
            }
        }
        if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
            const ssize_t sent = ::write(in_write.get(), options.input.data() + written, options.input.size() - written);
            if (sent > 0) written += static_cast<std::size_t>(sent);
            if (sent < 0 && errno != EAGAIN && errno != EINTR) written = options.input.size();  // it stopped reading
            if (written == options.input.size()) in_write.reset();
        }
    }
    if (killed) {
        end_group(pid, true);
        ::waitpid(pid, nullptr, 0);
        if (why.empty()) check_interrupt();
        throw std::runtime_error(why);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = decode_status(status);
    end_group(pid, false);
    return result;
}

}  // namespace tandem::cli

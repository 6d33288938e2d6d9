// Test support: running the tandem program as a user would — in a process
// group of its own, as a terminal runs a foreground job — collecting its
// output, signalling it, and checking what it left behind (processes,
// temporary files, listening ports).
#pragma once

#include <dirent.h>     // /proc, folders
#include <fcntl.h>      // O_CLOEXEC
#include <poll.h>       // the output reader
#include <signal.h>     // kill
#include <spawn.h>      // posix_spawn
#include <sys/prctl.h>  // PR_SET_CHILD_SUBREAPER
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // pipe2, read, close, getpid

#include <chrono>      // limits
#include <filesystem>  // leftovers in a folder
#include <fstream>     // /proc files
#include <mutex>       // output shared with the reader
#include <optional>    // a finished run
#include <set>         // ports
#include <sstream>     // /proc/net/tcp
#include <string>      // output
#include <thread>      // the reader, yields
#include <vector>      // arguments

extern char** environ;

namespace tandem_test {

using ProgramClock = std::chrono::steady_clock;

/// What a finished run left.
struct Finished {
    int status = -1;  // exit status, or 128 + signal
    std::string out;
    std::string err;
    double seconds = 0;
};

/// The tandem program under test (set by CMake).
inline std::string program_path() { return TANDEM_PROGRAM; }

/// A running `tandem` with its output collected in the background.
class RunningProgram {
public:
    RunningProgram(const std::vector<std::string>& args, const std::vector<std::string>& environment = {}) {
        int out[2], err[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attributes, 0);
        std::vector<std::string> argv_strings = {program_path()};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& arg : argv_strings) argv.push_back(arg.data());
        argv.push_back(nullptr);
        std::vector<std::string> env_strings;
        for (char** entry = environ; *entry != nullptr; ++entry) env_strings.emplace_back(*entry);
        env_strings.insert(env_strings.end(), environment.begin(), environment.end());
        std::vector<char*> env;
        for (auto& entry : env_strings) env.push_back(entry.data());
        env.push_back(nullptr);
        start_ = ProgramClock::now();
        const int spawned = ::posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), env.data());
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
        ::close(out[1]);
        ::close(err[1]);
        if (spawned != 0) {
            ::close(out[0]);
            ::close(err[0]);
            throw std::runtime_error("cannot run " + program_path());
        }
        reader_ = std::thread([this, fd_out = out[0], fd_err = err[0]] { read_output(fd_out, fd_err); });
    }
    RunningProgram(const RunningProgram&) = delete;
    RunningProgram& operator=(const RunningProgram&) = delete;
    ~RunningProgram() {
        if (!finished_) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (reader_.joinable()) reader_.join();
    }

    pid_t pid() const noexcept { return pid_; }

    /// Whether stdout or stderr so far contains `text`.
    bool output_contains(const std::string& text) {
        std::lock_guard lock(mutex_);
        return out_.find(text) != std::string::npos || err_.find(text) != std::string::npos;
    }

    /// Sends `signal_number` to the program's whole process group, as a terminal does for Ctrl-C.
    void signal_group(int signal_number) { ::kill(-pid_, signal_number); }

    /// Waits at most `limit` for the program to end; nullopt if it did not
    /// (it is then killed).
    std::optional<Finished> wait(std::chrono::seconds limit) {
        const auto give_up = ProgramClock::now() + limit;
        int status = 0;
        for (;;) {
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) break;
            if (ProgramClock::now() > give_up) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        finished_ = true;
        Finished result;
        result.seconds = std::chrono::duration<double>(ProgramClock::now() - start_).count();
        result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        reader_.join();
        std::lock_guard lock(mutex_);
        result.out = out_;
        result.err = err_;
        return result;
    }

private:
    void read_output(int fd_out, int fd_err) {
        pollfd fds[2] = {{fd_out, POLLIN, 0}, {fd_err, POLLIN, 0}};
        int open_fds = 2;
        char buffer[4096];
        while (open_fds > 0) {
            if (::poll(fds, 2, 1000) < 0) continue;
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
                if (got <= 0) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_fds;
                    continue;
                }
                std::lock_guard lock(mutex_);
                (i == 0 ? out_ : err_).append(buffer, static_cast<std::size_t>(got));
            }
        }
    }

    pid_t pid_ = -1;
    ProgramClock::time_point start_;
    std::thread reader_;
    std::mutex mutex_;
    std::string out_;
    std::string err_;
    bool finished_ = false;
};

/// Runs the program to completion (killed after `limit`).
inline Finished run_program(const std::vector<std::string>& args, const std::vector<std::string>& environment = {},
                            std::chrono::seconds limit = std::chrono::seconds(300)) {
    RunningProgram program(args, environment);
    auto finished = program.wait(limit);
    if (!finished) throw std::runtime_error("the program ran past " + std::to_string(limit.count()) + " s");
    return *finished;
}

/// The pids whose parent is `parent`, with their command names.
inline std::vector<std::pair<pid_t, std::string>> children_of(pid_t parent) {
    std::vector<std::pair<pid_t, std::string>> children;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return children;
    while (const dirent* entry = ::readdir(proc)) {
        const std::string name = entry->d_name;
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat("/proc/" + name + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        const auto open = line.find('(');
        const auto close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent) children.emplace_back(std::stoi(name), line.substr(open + 1, close - open - 1));
    }
    ::closedir(proc);
    return children;
}

/// Makes this process the subreaper of its descendants: orphans of the
/// program under test (a worker that outlived it) become our children, where
/// the test can see and reap them.
inline void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

/// Reaps our exited children, then tells whether any child is left; waits up
/// to `limit` for them to go.
inline std::vector<std::pair<pid_t, std::string>> children_left(std::chrono::seconds limit) {
    const auto give_up = ProgramClock::now() + limit;
    for (;;) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        auto children = children_of(::getpid());
        if (children.empty() || ProgramClock::now() > give_up) return children;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

/// The entries of `folder` (empty when none is left).
inline std::vector<std::string> entries_of(const std::filesystem::path& folder) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) names.push_back(entry.path().filename());
    return names;
}

/// The TCP ports in LISTEN state on this machine (IPv4).
inline std::set<int> listening_ports() {
    std::set<int> ports;
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line);  // header
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (state != "0A") continue;  // TCP_LISTEN
        ports.insert(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
    }
    return ports;
}

}  // namespace tandem_test

// The forkserver start method: the client in the user's program (starts the
// server once, lazily, by re-executing /proc/self/exe; sends it start
// requests) and the server itself, a single-threaded loop that forks the
// children, hands back their pidfds and reports their exit codes (see
// detail/launch/launcher.hpp).
//
// Protocol. Control socket (client -> server), one message per child: bytes =
// a byte saying which of the client's descriptors 0, 1, 2 follow +
// write_bytes(encode(ChildSetup)) + the encoded call; descriptors = [the
// server's end of a fresh status socket pair] + those of 0, 1, 2 + the call's
// descriptors. The child makes them its own 0, 1, 2, so that it writes where
// its parent writes now, as a forked or spawned child would (Python's
// forkserver children share the server's stdio instead).
// Status socket (server -> client), two messages per child: encode(tuple(pid,
// error)) with the child's pidfd attached (error empty on success), then
// encode(exit code) once the server has reaped it. The server greets the
// client with its build_id on start.
#include <fcntl.h>       // fcntl, FD_CLOEXEC
#include <poll.h>        // the server's loop
#include <pthread.h>     // pthread_atfork
#include <signal.h>      // signal, kill
#include <sys/socket.h>  // socketpair
#include <sys/wait.h>    // waitid
#include <unistd.h>      // fork, getpid, _exit

#include <cerrno>              // errno
#include <condition_variable>  // waiting while another thread starts the server
#include <csignal>             // SIGINT, SIGKILL
#include <cstdint>             // std::int32_t on the wire
#include <mutex>               // the client's lock
#include <string>              // errors
#include <system_error>        // std::system_error
#include <tuple>               // the start reply
#include <utility>             // std::pair of socket ends
#include <vector>              // children, descriptors

#include "tandem/detail/launch/fork.hpp"       // die_with_parent, reset_signal_state
#include "tandem/detail/launch/launcher.hpp"   // ProcessTarget, ChildSetup, LaunchedChild, ...
#include "tandem/detail/launch/reexec.hpp"     // run_forkserver, exec_worker
#include "tandem/detail/os/pidfd.hpp"          // pidfd_open, open_pidfd, exit_code_from
#include "tandem/detail/os/system_error.hpp"   // throw_errno
#include "tandem/detail/wire/encoding.hpp"     // encode / decode
#include "tandem/detail/wire/fd_passing.hpp"   // send_with_fds, receive_with_fds
#include "tandem/detail/wire/function_id.hpp"  // build_id, check_same_build
#include "tandem/errors.hpp"                   // ProcessError, EOFError

namespace tandem::detail {
namespace {

constexpr auto kWaitPidfd = static_cast<idtype_t>(3);  // P_PIDFD, unnamed in glibc 2.36

using StartReply = std::tuple<std::int32_t, std::string>;  // pid, error

std::pair<UniqueFd, UniqueFd> socket_pair() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw_errno("socketpair");
    return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

// --- client -------------------------------------------------------------------------

// The server this process uses. Never destroyed (children may be started and
// joined until the very end); a forked child forgets its parent's server and
// starts its own when it needs one.
class Client {
public:
    static Client& get() {
        static Client* client = [] {
            auto* created = new Client;
            pthread_atfork([] { get().mutex_.lock(); }, [] { get().mutex_.unlock(); },
                           [] {
                               Client& self = get();
                               self.control_.reset();
                               self.server_pidfd_.reset();
                               self.starting_ = false;
                               self.mutex_.unlock();
                           });
            return created;
        }();
        return *client;
    }

    // Sends one start request, starting the server first if there is none.
    void send(std::span<const std::byte> bytes, std::span<const int> fds) {
        std::unique_lock lock(mutex_);
        if (!control_) start_server(lock);
        try {
            send_with_fds(control_.get(), bytes, fds);
        } catch (const std::system_error& e) {
            // The server died: forget it (the next start gets a new one).
            control_.reset();
            server_pidfd_.reset();
            throw ProcessError(std::string("the forkserver is gone: ") + e.what());
        }
    }

private:
    Client() = default;

    // Not holding the lock across the fork (the atfork handlers take it), so
    // other threads wait on `started_` meanwhile.
    void start_server(std::unique_lock<std::mutex>& lock) {
        if (starting_) {
            started_.wait(lock, [this] { return !starting_; });
            if (control_) return;
        }
        starting_ = true;
        lock.unlock();
        UniqueFd control;
        UniqueFd pidfd;
        std::string problem;
        try {
            auto [ours, theirs] = socket_pair();
            const pid_t pid = exec_worker("forkserver", theirs.get());
            pidfd = open_pidfd(pid);
            theirs.reset();
            const ReceivedMessage hello = receive_with_fds(ours.get(), 4096);
            check_same_build(hello.bytes);
            control = std::move(ours);
        } catch (const std::exception& e) {
            problem = e.what();
        }
        lock.lock();
        starting_ = false;
        started_.notify_all();
        if (!problem.empty()) throw ProcessError("the forkserver did not start: " + problem);
        control_ = std::move(control);
        server_pidfd_ = std::move(pidfd);
    }

    std::mutex mutex_;
    std::condition_variable started_;
    bool starting_ = false;
    UniqueFd control_;
    UniqueFd server_pidfd_;  // keeps the server's pid ours; it dies with us
};

// --- server ----------------------------------------------------------------------------

struct ServedChild {
    pid_t pid;
    UniqueFd pidfd;
    UniqueFd status;
};

// What the server's child needs; it runs in the server's copied memory.
struct ServedJob {
    int control;
    std::vector<ServedChild>* siblings;
    UniqueFd* status;
    ReceivedMessage* request;
    pid_t server;
};

[[noreturn]] void run_served_child(ServedJob& job) {
    // Only what this child was handed stays open.
    ::close(job.control);
    for (ServedChild& sibling : *job.siblings) {
        sibling.pidfd.reset();
        sibling.status.reset();
    }
    job.status->reset();
    // The server ignores SIGINT; its children start as any child does.
    reset_signal_state();
    die_with_parent(job.server);
    std::vector<UniqueFd> fds = std::move(job.request->fds);
    fds.erase(fds.begin());  // the status socket, already closed above
    HandoffReader in(job.request->bytes, std::move(fds));
    ChildSetup setup;
    try {
        const auto standard = in.read<std::uint8_t>();
        for (int target = 0; target < 3; ++target) {
            if ((standard & (1u << target)) == 0) continue;
            const UniqueFd fd = in.take_fd();
            if (::dup2(fd.get(), target) != target) throw_errno("dup2");
        }
        setup = decode<ChildSetup>(in.read_bytes());
        become_child(setup);
    } catch (...) {
        report_target_exception(setup.name.empty() ? "?" : setup.name, describe_exception(std::current_exception()));
        exit_child(1);
    }
    exit_child(run_encoded_target(in, setup.name));
}

void send_quietly(int socket, std::span<const std::byte> bytes, std::span<const int> fds = {}) noexcept {
    try {
        send_with_fds(socket, bytes, fds);
    } catch (...) {
        // The client closed its end (it gave up on the child); nothing to tell.
    }
}

// Forks the child one request asks for and tells the client about it.
void serve_request(int control, std::vector<ServedChild>& children, ReceivedMessage& request) {
    if (request.fds.empty()) ::_exit(1);  // not our client: nothing else sends without a status socket
    UniqueFd status = std::move(request.fds.front());
    const pid_t server = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ServedJob job{control, &children, &status, &request, server};
        run_served_child(job);
    }
    if (pid < 0) {
        const std::string error = std::string("fork failed: ") + std::system_category().message(errno);
        send_quietly(status.get(), encode(StartReply(0, error)));
        return;
    }
    const int pidfd = pidfd_open(pid);
    if (pidfd < 0) {
        const std::string error = std::string("pidfd_open failed: ") + std::system_category().message(errno);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        send_quietly(status.get(), encode(StartReply(0, error)));
        return;
    }
    const int attached[1] = {pidfd};
    send_quietly(status.get(), encode(StartReply(pid, std::string())), attached);
    children.push_back(ServedChild{pid, UniqueFd(pidfd), std::move(status)});
}

}  // namespace

LaunchedChild launch_forkserver(const ProcessTarget& target, const ChildSetup& setup) {
    HandoffWriter message;
    auto [ours, theirs] = socket_pair();
    std::vector<int> fds{theirs.get()};
    std::uint8_t standard = 0;
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) == -1) continue;  // closed here: the child keeps the server's
        standard = static_cast<std::uint8_t>(standard | (1u << fd));
        fds.push_back(fd);
    }
    message.write(standard);
    message.write_bytes(encode(setup));
    target.encode(message);
    fds.insert(fds.end(), message.fds().begin(), message.fds().end());
    Client::get().send(message.bytes(), fds);
    theirs.reset();
    ReceivedMessage reply;
    try {
        reply = receive_with_fds(ours.get(), 1 << 16);
    } catch (const EOFError&) {
        throw ProcessError("the forkserver ended before it started the child");
    }
    auto [pid, error] = decode<StartReply>(reply.bytes);
    if (!error.empty()) throw ProcessError("the forkserver could not start the child: " + error);
    if (reply.fds.size() != 1 || pid <= 0) throw ProcessError("the forkserver sent a malformed start reply");
    LaunchedChild child;
    child.pid = pid;
    child.pidfd = std::move(reply.fds.front());
    child.status = std::move(ours);
    return child;
}

void run_forkserver(int control, pid_t parent) noexcept {
    die_with_parent(parent);
    ::fcntl(control, F_SETFD, FD_CLOEXEC);
    // Ctrl-C reaches the whole foreground group: the children and the
    // parent end, and the server with its parent (PR_SET_PDEATHSIG).
    ::signal(SIGINT, SIG_IGN);
    try {
        send_with_fds(control, build_id());
        std::vector<ServedChild> children;
        std::vector<pollfd> watched;
        for (;;) {
            watched.assign(1, pollfd{control, POLLIN, 0});
            for (const ServedChild& child : children) watched.push_back(pollfd{child.pidfd.get(), POLLIN, 0});
            if (::poll(watched.data(), watched.size(), -1) < 0) {
                if (errno == EINTR) continue;
                ::_exit(1);
            }
            // Reap first, so that a child's slot is free before new ones come.
            for (std::size_t i = watched.size() - 1; i >= 1; --i) {
                if (watched[i].revents == 0) continue;
                ServedChild& child = children[i - 1];
                siginfo_t info{};
                if (::waitid(kWaitPidfd, static_cast<id_t>(child.pidfd.get()), &info, WEXITED | WNOHANG) != 0 ||
                    info.si_pid == 0) {
                    continue;
                }
                send_quietly(child.status.get(), encode(static_cast<std::int32_t>(exit_code_from(info))));
                children.erase(children.begin() + static_cast<std::ptrdiff_t>(i - 1));
            }
            if (watched[0].revents != 0) {
                ReceivedMessage request;
                try {
                    request = receive_with_fds(control, kMaxStartMessage);
                } catch (const EOFError&) {
                    // The client is gone: so is everyone we served (their
                    // PR_SET_PDEATHSIG fires as we exit).
                    ::_exit(0);
                }
                serve_request(control, children, request);
            }
        }
    } catch (...) {
        ::_exit(1);
    }
}

}  // namespace tandem::detail

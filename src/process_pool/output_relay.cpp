// Passing pool workers' output on, line by line. See
// tandem/detail/process_pool/output_relay.hpp.
#include "tandem/detail/process_pool/output_relay.hpp"

#include <fcntl.h>        // O_NONBLOCK for the relay's ends
#include <sys/epoll.h>    // the relay thread's wait
#include <sys/eventfd.h>  // waking it to stop
#include <unistd.h>       // pipe2, read, write

#include <cerrno>        // errno
#include <string_view>   // lines
#include <system_error>  // std::system_error

#include "tandem/detail/os/system_error.hpp"  // throw_errno

namespace tandem::detail::process_pool {
namespace {

constexpr std::uint64_t kWake = 0;  // the epoll tag of wake_fd_; streams are 2 * id (+1 for stderr)
constexpr std::size_t kReadBytes = 16384;

// All of `text` to `fd`, in as few writes as the kernel allows (one for a
// line that fits a pipe's atomic size or a terminal's buffer).
void write_all(int fd, std::string_view text) noexcept {
    while (!text.empty()) {
        const ssize_t written = ::write(fd, text.data(), text.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // the parent's stream is gone: the line is dropped, as a write to it would be
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace

OutputRelay::OutputRelay(bool prefix) : prefix_(prefix) {
    {
        const auto held = hold_worker_starts();
        const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd < 0) throw_errno("process pool: epoll_create1");
        epoll_fd_ = PrivateFd(UniqueFd(epoll_fd));
        const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd < 0) throw_errno("process pool: eventfd");
        wake_fd_ = PrivateFd(UniqueFd(wake_fd));
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWake;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &event) != 0) throw_errno("process pool: epoll_ctl");
    thread_ = std::thread(&OutputRelay::run, this);
}

OutputRelay::~OutputRelay() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_fd_.get(), &one, sizeof one);
    thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& [id, worker] : workers_) {
        drain_locked(worker, worker.out);
        drain_locked(worker, worker.err);
    }
}

std::pair<std::uint64_t, OutputRelay::WorkerEnds> OutputRelay::open() {
    WorkerEnds ends;
    Worker worker;
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("process pool: pipe2");
    ends.out = UniqueFd(out[1]);
    worker.out.fd = PrivateFd(UniqueFd(out[0]));
    if (::pipe2(err, O_CLOEXEC) != 0) throw_errno("process pool: pipe2");
    ends.err = UniqueFd(err[1]);
    worker.err.fd = PrivateFd(UniqueFd(err[0]));
    worker.err.target = 2;
    for (Stream* stream : {&worker.out, &worker.err}) {
        const int flags = ::fcntl(stream->fd.get(), F_GETFL);
        if (flags < 0 || ::fcntl(stream->fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) throw_errno("process pool: fcntl");
    }
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    auto& added = workers_.emplace(id, std::move(worker)).first->second;
    for (Stream* stream : {&added.out, &added.err}) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = 2 * id + (stream == &added.err ? 1 : 0);
        if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, stream->fd.get(), &event) != 0) {
            const int error = errno;
            unwatch_locked(added.out);
            workers_.erase(id);
            throw std::system_error(error, std::generic_category(), "process pool: epoll_ctl");
        }
        stream->watched = true;
    }
    return {id, std::move(ends)};
}

void OutputRelay::set_name(std::uint64_t id, std::string name) {
    if (!prefix_) return;
    std::lock_guard lock(mutex_);
    const auto found = workers_.find(id);
    if (found == workers_.end()) return;
    std::string& prefix = found->second.prefix;
    prefix.assign(1, '[').append(name).append("] ");
}

std::string OutputRelay::close(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto found = workers_.find(id);
    if (found == workers_.end()) return {};
    Worker& worker = found->second;
    for (Stream* stream : {&worker.out, &worker.err}) {
        drain_locked(worker, *stream);
        if (!stream->partial.empty()) {
            const std::string rest = std::move(stream->partial);
            stream->partial.clear();
            emit_locked(worker, *stream, rest);
        }
        unwatch_locked(*stream);
    }
    std::string tail;
    for (const std::string& line : worker.tail) tail += line + "\n";
    workers_.erase(found);
    return tail;
}

void OutputRelay::run() {
    epoll_event events[32];
    for (;;) {
        const int ready = ::epoll_wait(epoll_fd_.get(), events, 32, -1);
        if (ready < 0 && errno != EINTR) return;
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        for (int i = 0; i < ready; ++i) {
            const std::uint64_t tag = events[i].data.u64;
            if (tag == kWake) continue;
            const auto found = workers_.find(tag / 2);
            if (found == workers_.end()) continue;
            Worker& worker = found->second;
            Stream& stream = (tag % 2) != 0 ? worker.err : worker.out;
            drain_locked(worker, stream);
            // Every writer gone (the worker died): nothing more will come,
            // and a pipe at its end would wake epoll forever.
            if ((events[i].events & (EPOLLHUP | EPOLLERR)) != 0) unwatch_locked(stream);
        }
    }
}

void OutputRelay::drain_locked(Worker& worker, Stream& stream) {
    if (!stream.fd) return;
    char buffer[kReadBytes];
    for (;;) {
        const ssize_t got = ::read(stream.fd.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return;  // drained (EAGAIN), or every writer gone
        stream.partial.append(buffer, static_cast<std::size_t>(got));
        std::size_t start = 0;
        for (std::size_t newline; (newline = stream.partial.find('\n', start)) != std::string::npos;
             start = newline + 1) {
            emit_locked(worker, stream, std::string_view(stream.partial).substr(start, newline - start));
        }
        stream.partial.erase(0, start);
        while (stream.partial.size() >= kMaxLine) {
            emit_locked(worker, stream, std::string_view(stream.partial).substr(0, kMaxLine));
            stream.partial.erase(0, kMaxLine);
        }
    }
}

void OutputRelay::emit_locked(Worker& worker, Stream& stream, std::string_view line) {
    std::string whole;
    whole.reserve(worker.prefix.size() + line.size() + 1);
    whole.append(worker.prefix).append(line).push_back('\n');
    write_all(stream.target, whole);
    if (&stream == &worker.err) {
        worker.tail.emplace_back(line.substr(0, kTailLineBytes));
        if (worker.tail.size() > kTailLines) worker.tail.pop_front();
    }
}

void OutputRelay::unwatch_locked(Stream& stream) noexcept {
    if (!stream.watched) return;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, stream.fd.get(), nullptr);
    stream.watched = false;
}

}  // namespace tandem::detail::process_pool

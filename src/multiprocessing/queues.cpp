// multiprocessing.Queue, JoinableQueue and SimpleQueue: see
// multiprocessing/queues.hpp for the behaviour. Here: how it is done.
//
// Shared between processes (inherited by fork, handed off otherwise):
//   - a pipe in packet mode (O_DIRECT). Its write end is non-blocking, so a
//     put() can try a write without ever waiting; its read end blocks, so a
//     get() without a timeout sleeps in read() itself.
//   - one memfd region holding QueueState, the reader and writer locks, the
//     semaphore counting free slots (Python's _sem) and, for a JoinableQueue,
//     the unfinished-task semaphore and the condition join() waits on.
// Per process (QueueCore's "local" members, reset in a forked child):
//   - the backlog of frames the feeder thread still has to write, the
//     feeder itself, its eventfds, the closed flag.
//
// The frame discipline that keeps the byte stream in step: a writer writes
// every byte of a frame while holding the writer lock, a reader reads every
// packet of a frame while holding the reader lock, and packets never span two
// frames (each write() makes its own packets). A frame of at most PIPE_BUF
// bytes is one packet, written atomically; a larger one is several packets,
// and QueueState::frame_open says one is being written, so that a writer who
// takes the lock over from a dead one knows whether it died mid-frame.
#include "tandem/multiprocessing/queues.hpp"

#include <fcntl.h>        // O_DIRECT, O_NONBLOCK, fcntl
#include <limits.h>       // PIPE_BUF
#include <poll.h>         // pollfd
#include <pthread.h>      // the feeder thread, pthread_atfork
#include <signal.h>       // the feeder runs with every signal blocked
#include <sys/eventfd.h>  // waking the feeder, announcing that it is done
#include <unistd.h>       // pipe2, read, write

#include <algorithm>  // std::min, std::max, std::erase
#include <array>      // the packet buffer
#include <atomic>     // the shared flags
#include <cerrno>     // errno
#include <climits>    // INT_MAX, the largest semaphore count
#include <cstring>    // std::memcpy
#include <deque>      // the backlog
#include <mutex>      // the process-local lock
#include <new>        // placement new, std::launder
#include <optional>   // the semaphores and condition only some kinds have
#include <string>     // error messages
#include <utility>    // std::exchange, std::move, std::pair

#include "tandem/detail/os/fd_io.hpp"              // poll_until, wait_readable, read_some
#include "tandem/detail/os/shared_region.hpp"      // SharedRegion, SharedObjectAccess
#include "tandem/detail/os/system_error.hpp"       // throw_errno
#include "tandem/multiprocessing/synchronize.hpp"  // Lock, Semaphore, Condition; send_region / receive_region

namespace tandem::detail {

namespace {

using multiprocessing::Condition;
using multiprocessing::Lock;
using multiprocessing::Semaphore;
using namespace std::chrono_literals;

constexpr std::uint32_t kQueueTag = 0x45555154;  // "TQUE"

// How often a reader stuck in the middle of a frame checks whether its writer
// is still there, and a feeder waiting for the writer lock whether it should
// give up.
constexpr auto kStallCheckInterval = 100ms;

// A payload buffer starts at this size and grows as packets arrive, so that a
// header claiming a large payload costs memory only once the bytes are there.
constexpr std::size_t kFirstPayloadChunk = std::size_t{1} << 20;

struct QueueState {
    QueueState(QueueKind queue_kind, std::int64_t bound) : kind(queue_kind), maxsize(bound) {}
    std::uint32_t tag = kQueueTag;
    QueueKind kind;
    std::int64_t maxsize;                      // as given to the constructor
    std::atomic<std::uint32_t> broken{0};      // the byte stream is out of step for good
    std::atomic<std::uint32_t> frame_open{0};  // a frame of several packets is being written
};

// Where each shared object lives in the region, by queue kind.
struct Layout {
    std::size_t read_lock = 0;
    std::size_t write_lock = 0;
    std::size_t slots = 0;
    std::size_t unfinished = 0;
    std::size_t condition_lock = 0;
    std::size_t condition = 0;
    std::size_t size = 0;
};

Layout layout_of(QueueKind kind) {
    using Access = SharedObjectAccess;
    Layout layout;
    std::size_t at = align_up(sizeof(QueueState), kObjectAlignment);
    auto take = [&at](std::size_t footprint) { return std::exchange(at, at + footprint); };
    layout.read_lock = take(Access::footprint<Lock>());
    layout.write_lock = take(Access::footprint<Lock>());
    if (kind != QueueKind::simple) layout.slots = take(Access::footprint<Semaphore>());
    if (kind == QueueKind::joinable) {
        layout.unfinished = take(Access::footprint<Semaphore>());
        layout.condition_lock = take(Access::footprint<Lock>());
        layout.condition = take(Access::footprint<Condition>());
    }
    layout.size = at;
    return layout;
}

const char* kind_name(QueueKind kind) noexcept {
    switch (kind) {
        case QueueKind::simple:
            return "SimpleQueue";
        case QueueKind::fifo:
            return "Queue";
        case QueueKind::joinable:
            return "JoinableQueue";
    }
    return "queue";
}

std::int64_t checked_maxsize(std::ptrdiff_t maxsize) {
    if (maxsize > INT_MAX) throw ValueError("Queue maxsize must be at most INT_MAX");
    return maxsize;
}

std::pair<UniqueFd, UniqueFd> make_packet_pipe() {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC | O_DIRECT) != 0) detail::throw_errno(errno, "Queue: pipe2");
    UniqueFd reader(fds[0]);
    UniqueFd writer(fds[1]);
    const int flags = ::fcntl(writer.get(), F_GETFL);
    if (flags < 0 || ::fcntl(writer.get(), F_SETFL, flags | O_NONBLOCK) != 0) detail::throw_errno(errno, "Queue: fcntl");
    return {std::move(reader), std::move(writer)};
}

UniqueFd make_eventfd(int flags) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | flags));
    if (!fd) detail::throw_errno(errno, "Queue: eventfd");
    return fd;
}

void signal_eventfd(const UniqueFd& fd) noexcept {
    const std::uint64_t one = 1;
    while (::write(fd.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
}

void drain_eventfd(const UniqueFd& fd) noexcept {
    std::uint64_t count = 0;
    while (::read(fd.get(), &count, sizeof count) < 0 && errno == EINTR) {
    }
}

// Time left before `deadline`, for the primitives that take a duration.
Clock::duration time_left(Clock::time_point deadline) noexcept { return deadline - Clock::now(); }

}  // namespace

// --- the core ------------------------------------------------------------------------

class QueueCore {
public:
    // A new queue.
    QueueCore(QueueKind kind, std::ptrdiff_t maxsize)
        : QueueCore(kind, make_packet_pipe(), std::make_shared<SharedRegion>(layout_of(kind).size, "tandem:Queue"),
                    Placement::construct, checked_maxsize(maxsize)) {}
    // A queue handed over by another process.
    QueueCore(QueueKind kind, UniqueFd reader, UniqueFd writer, std::shared_ptr<SharedRegion> region)
        : QueueCore(kind, {std::move(reader), std::move(writer)}, std::move(region), Placement::attach, 0) {}

    QueueCore(const QueueCore&) = delete;
    QueueCore& operator=(const QueueCore&) = delete;
    ~QueueCore();

    void check_open() const;
    void put(std::vector<std::byte>&& frame, bool block, Deadline deadline);
    void put_blocking(std::vector<std::byte>&& frame);
    std::vector<std::byte> get(bool block, Deadline deadline);

    std::size_t qsize() const;
    bool empty() const;
    bool full() const;
    std::ptrdiff_t maxsize() const noexcept { return static_cast<std::ptrdiff_t>(state_->maxsize); }
    void close();
    void join_thread();
    void cancel_join_thread();
    void task_done();
    bool join(Deadline deadline);
    void send(HandoffWriter& out) const;

    // fork(): see ForkRegistry.
    void lock_for_fork() noexcept { local_mutex_.lock(); }
    void unlock_after_fork() noexcept { local_mutex_.unlock(); }
    void reset_after_fork() noexcept;

private:
    enum class FeedOutcome { written, cancelled, no_reader, failed };

    QueueCore(QueueKind kind, std::pair<UniqueFd, UniqueFd> pipe, std::shared_ptr<SharedRegion> region,
              Placement placement, std::int64_t maxsize);
    static QueueState* place_state(SharedRegion& region, Placement placement, QueueKind kind, std::int64_t maxsize);

    std::int64_t capacity() const noexcept { return state_->maxsize > 0 ? state_->maxsize : INT_MAX; }
    [[noreturn]] void throw_broken() const;
    void mark_broken() noexcept { state_->broken.store(1); }
    [[noreturn]] void corrupted(const std::string& what);
    bool acquire_slot(bool block, Deadline deadline);
    void give_back(std::size_t items) noexcept;

    // Writing.
    static void seal(std::vector<std::byte>& frame);
    bool take_write_lock_now();
    void check_previous_writer();
    void enqueue(std::vector<std::byte>&& frame);
    bool write_small_now(std::span<const std::byte> frame);
    void wake_feeder();
    static void* feeder_main(void* core) noexcept;
    void feed() noexcept;
    FeedOutcome write_from_feeder(std::span<const std::byte> frame) noexcept;
    bool feeder_cancelled() noexcept;

    // Reading.
    std::vector<std::byte> read_frame();
    void wait_for_packet();

    // Shared with other processes.
    QueueKind kind_;
    Layout layout_;
    UniqueFd reader_;
    UniqueFd writer_;
    std::shared_ptr<SharedRegion> region_;
    QueueState* state_;
    Lock read_lock_;
    Lock write_lock_;
    std::optional<Semaphore> slots_;       // free places (Queue, JoinableQueue)
    std::optional<Semaphore> unfinished_;  // items put and not yet task_done() (JoinableQueue)
    std::optional<Condition> all_done_;    // join() waits on it (JoinableQueue)

    // This process's own; local_mutex_ guards all but closed_ (read without it).
    std::mutex local_mutex_;
    std::deque<std::vector<std::byte>> backlog_;
    std::size_t pending_ = 0;  // the backlog plus the frame the feeder is writing
    bool feeder_running_ = false;
    bool feeder_idle_ = false;  // the feeder sleeps until wake_ is signalled
    bool stopping_ = false;     // the feeder exits once the backlog is written
    bool cancelled_ = false;    // the feeder exits now, dropping the backlog
    bool join_cancelled_ = false;
    bool join_claimed_ = false;  // a thread has joined (or is joining) the feeder
    pthread_t feeder_{};
    UniqueFd wake_;  // signalled to wake the feeder
    UniqueFd done_;  // readable once the feeder has finished
    std::atomic<bool> closed_{false};
};

// --- fork() ----------------------------------------------------------------------------
// A forked child gets a copy of every queue's process-local state, maybe in
// the middle of an update by a thread that does not exist in the child, and
// the parent's backlog, which is the parent's to write. So the prepare handler
// takes every queue's local lock (nobody is then in the middle of an update)
// and the child's handler starts each queue afresh, as Python's
// Queue._after_fork does.

class ForkRegistry {
public:
    static ForkRegistry& instance() {
        // Never destroyed: a queue in a static object may outlive it.
        static ForkRegistry* const registry = new ForkRegistry();
        return *registry;
    }
    void add(QueueCore* core) {
        const std::lock_guard lock(mutex_);
        cores_.push_back(core);
    }
    void remove(QueueCore* core) noexcept {
        const std::lock_guard lock(mutex_);
        std::erase(cores_, core);
    }

private:
    ForkRegistry() {
        const int rc = ::pthread_atfork(&prepare, &in_parent, &in_child);
        if (rc != 0) detail::throw_errno(rc, "pthread_atfork");
    }
    static void prepare() noexcept {
        ForkRegistry& registry = instance();
        registry.mutex_.lock();
        for (QueueCore* core : registry.cores_) core->lock_for_fork();
    }
    static void in_parent() noexcept {
        ForkRegistry& registry = instance();
        for (QueueCore* core : registry.cores_) core->unlock_after_fork();
        registry.mutex_.unlock();
    }
    static void in_child() noexcept {
        ForkRegistry& registry = instance();
        for (QueueCore* core : registry.cores_) core->reset_after_fork();
        registry.mutex_.unlock();
    }

    std::mutex mutex_;
    std::vector<QueueCore*> cores_;
};

void QueueCore::reset_after_fork() noexcept {
    backlog_.clear();
    pending_ = 0;
    feeder_running_ = false;
    feeder_idle_ = false;
    stopping_ = false;
    cancelled_ = false;
    join_cancelled_ = false;
    join_claimed_ = false;
    closed_.store(false);
    // The child's copies; the parent's feeder keeps its own.
    wake_.reset();
    done_.reset();
    local_mutex_.unlock();
}

// --- construction ------------------------------------------------------------------

QueueState* QueueCore::place_state(SharedRegion& region, Placement placement, QueueKind kind, std::int64_t maxsize) {
    if (region.size() < layout_of(kind).size) {
        throw FrameError(std::string("handoff: the shared memory of a ") + kind_name(kind) + " is too small");
    }
    check_placement(region, 0, sizeof(QueueState), alignof(QueueState));
    if (placement == Placement::construct) return new (region.data()) QueueState(kind, maxsize);
    auto* state = std::launder(reinterpret_cast<QueueState*>(region.data()));
    if (state->tag != kQueueTag || state->kind != kind) {
        throw FrameError(std::string("handoff: the shared memory does not hold a ") + kind_name(kind));
    }
    return state;
}

QueueCore::QueueCore(QueueKind kind, std::pair<UniqueFd, UniqueFd> pipe, std::shared_ptr<SharedRegion> region,
                     Placement placement, std::int64_t maxsize)
    : kind_(kind),
      layout_(layout_of(kind)),
      reader_(std::move(pipe.first)),
      writer_(std::move(pipe.second)),
      region_(std::move(region)),
      state_(place_state(*region_, placement, kind, maxsize)),
      read_lock_(SharedObjectAccess::make<Lock>(region_, layout_.read_lock, placement)),
      write_lock_(SharedObjectAccess::make<Lock>(region_, layout_.write_lock, placement)) {
    if (kind != QueueKind::simple) {
        slots_.emplace(SharedObjectAccess::make<Semaphore>(region_, layout_.slots, placement));
        // A semaphore placed in a region starts at zero.
        if (placement == Placement::construct) slots_->release(capacity());
    }
    if (kind == QueueKind::joinable) {
        unfinished_.emplace(SharedObjectAccess::make<Semaphore>(region_, layout_.unfinished, placement));
        all_done_.emplace(SharedObjectAccess::make<Condition>(
            region_, layout_.condition, placement,
            SharedObjectAccess::make<Lock>(region_, layout_.condition_lock, placement)));
    }
    if (kind != QueueKind::simple) ForkRegistry::instance().add(this);
}

QueueCore::~QueueCore() {
    if (kind_ == QueueKind::simple) return;
    ForkRegistry::instance().remove(this);
    bool running = false;
    {
        const std::lock_guard lock(local_mutex_);
        closed_.store(true);
        stopping_ = true;
        if (join_cancelled_) cancelled_ = true;
        // A join_thread() that claimed the feeder has returned (its caller held
        // a handle), so the feeder is gone already.
        running = feeder_running_ && !join_claimed_;
    }
    if (!running) return;
    // This process reads no more. If no other process can read either, the
    // feeder's pipe reports an error instead of room, and the backlog is
    // dropped rather than waited on for ever.
    reader_.reset();
    signal_eventfd(wake_);
    ::pthread_join(feeder_, nullptr);
}

// --- small helpers -------------------------------------------------------------------

void QueueCore::check_open() const {
    if (closed_.load(std::memory_order_acquire)) throw ValueError(std::string(kind_name(kind_)) + " is closed");
    if (state_->broken.load() != 0) throw_broken();
}

void QueueCore::throw_broken() const {
    throw FrameError(std::string(kind_name(kind_)) +
                     " is broken: a process died or gave up in the middle of an item, so the items in its pipe can "
                     "no longer be told apart");
}

void QueueCore::corrupted(const std::string& what) {
    mark_broken();
    throw FrameError(std::string(kind_name(kind_)) + " is broken: " + what);
}

bool QueueCore::acquire_slot(bool block, Deadline deadline) {
    if (!block) return slots_->acquire(false);
    if (!deadline) return slots_->acquire(true);
    return slots_->acquire(time_left(*deadline));
}

// Undoes the accounting of items that were put but will never be read.
void QueueCore::give_back(std::size_t items) noexcept {
    if (items == 0) return;
    try {
        slots_->release(static_cast<long long>(items));
        if (unfinished_) {
            for (std::size_t i = 0; i < items; ++i) (void)unfinished_->acquire(false);
            const std::lock_guard guard(*all_done_);
            if (unfinished_->get_value() == 0) all_done_->notify_all();
        }
    } catch (...) {
        // Only a count pushed past its bound gets here; nothing to repair.
    }
}

void QueueCore::seal(std::vector<std::byte>& frame) {
    const std::span<std::byte> bytes(frame);
    encode_frame_header(bytes.first<kFrameHeaderSize>(), FrameKind::message, 0, bytes.subspan(kFrameHeaderSize));
}

// --- put -------------------------------------------------------------------------------

void QueueCore::put(std::vector<std::byte>&& frame, bool block, Deadline deadline) {
    check_open();
    seal(frame);
    if (!acquire_slot(block, deadline)) throw Full();
    // Counted before anyone can get the item, so that its task_done() never
    // finds the count at zero.
    if (unfinished_) unfinished_->release();
    try {
        enqueue(std::move(frame));
    } catch (...) {
        give_back(1);
        throw;
    }
}

bool QueueCore::take_write_lock_now() {
    // A writer holds the lock for one write() of a small frame, a microsecond
    // or two: worth a short spin before handing the item to the feeder.
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (!write_lock_.locked() && write_lock_.acquire(false)) return true;
        cpu_relax();
    }
    return false;
}

// With the writer lock just taken: if its previous holder died in the middle
// of a frame, the stream is out of step for good.
void QueueCore::check_previous_writer() {
    if (write_lock_.recovered_from_dead_owner() && state_->frame_open.load() != 0) mark_broken();
    if (state_->broken.load() != 0) {
        write_lock_.release();
        throw_broken();
    }
}

void QueueCore::enqueue(std::vector<std::byte>&& frame) {
    const std::lock_guard lock(local_mutex_);
    // Only when nothing of this process is still waiting to be written, or
    // the item would overtake it.
    if (pending_ == 0 && frame.size() <= PIPE_BUF && write_small_now(frame)) return;
    backlog_.push_back(std::move(frame));
    ++pending_;
    try {
        wake_feeder();
    } catch (...) {
        backlog_.pop_back();
        --pending_;
        throw;
    }
}

// Called under local_mutex_. True if the frame is in the pipe, false if the
// pipe is full or the writer lock busy.
bool QueueCore::write_small_now(std::span<const std::byte> frame) {
    if (!take_write_lock_now()) return false;
    check_previous_writer();
    for (;;) {
        const ssize_t written = ::write(writer_.get(), frame.data(), frame.size());
        if (written == static_cast<ssize_t>(frame.size())) break;
        if (written < 0 && errno == EINTR) continue;
        const int error = errno;
        write_lock_.release();
        if (written < 0 && error == EAGAIN) return false;
        if (written < 0) detail::throw_errno(error, "Queue.put: write");
        // At most PIPE_BUF bytes are written whole or not at all; anything
        // else leaves the stream out of step.
        corrupted("a small item was written in part");
    }
    write_lock_.release();
    return true;
}

// Called under local_mutex_.
void QueueCore::wake_feeder() {
    if (feeder_running_) {
        if (feeder_idle_) signal_eventfd(wake_);
        return;
    }
    if (!wake_) wake_ = make_eventfd(EFD_NONBLOCK);
    if (!done_) done_ = make_eventfd(0);
    // The feeder must not run the program's signal handlers: they belong to
    // the program's own threads.
    sigset_t all_signals;
    sigset_t previous;
    sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous);
    const int rc = ::pthread_create(&feeder_, nullptr, &QueueCore::feeder_main, this);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (rc != 0) detail::throw_errno(rc, "Queue: starting the feeder thread");
    ::pthread_setname_np(feeder_, "tandem-feeder");
    feeder_running_ = true;
}

void* QueueCore::feeder_main(void* core) noexcept {
    static_cast<QueueCore*>(core)->feed();
    return nullptr;
}

bool QueueCore::feeder_cancelled() noexcept {
    const std::lock_guard lock(local_mutex_);
    return cancelled_;
}

void QueueCore::feed() noexcept {
    std::unique_lock lock(local_mutex_);
    for (;;) {
        if (cancelled_) break;
        if (backlog_.empty()) {
            if (stopping_) break;
            feeder_idle_ = true;
            lock.unlock();
            try {
                (void)wait_readable(wake_.get(), std::nullopt);
            } catch (...) {
                // poll() on an eventfd we own cannot fail; if it did, the
                // next round tries again.
            }
            drain_eventfd(wake_);
            lock.lock();
            feeder_idle_ = false;
            continue;
        }
        // Other threads only append to the backlog, which leaves the front
        // element where it is.
        const std::vector<std::byte>& frame = backlog_.front();
        lock.unlock();
        const FeedOutcome outcome = write_from_feeder(frame);
        lock.lock();
        if (outcome != FeedOutcome::written) break;
        backlog_.pop_front();
        --pending_;
    }
    const std::size_t dropped = backlog_.size();
    backlog_.clear();
    pending_ = 0;
    lock.unlock();
    give_back(dropped);
    signal_eventfd(done_);
}

QueueCore::FeedOutcome QueueCore::write_from_feeder(std::span<const std::byte> frame) noexcept {
    try {
        while (!write_lock_.acquire(kStallCheckInterval)) {
            if (feeder_cancelled()) return FeedOutcome::cancelled;
        }
        if (write_lock_.recovered_from_dead_owner() && state_->frame_open.load() != 0) mark_broken();
        if (state_->broken.load() != 0) {
            write_lock_.release();
            return FeedOutcome::failed;
        }
        const bool several_packets = frame.size() > PIPE_BUF;
        if (several_packets) state_->frame_open.store(1);
        FeedOutcome outcome = FeedOutcome::written;
        std::size_t done = 0;
        while (done < frame.size()) {
            const ssize_t written = ::write(writer_.get(), frame.data() + done, frame.size() - done);
            if (written > 0) {
                done += static_cast<std::size_t>(written);
                continue;
            }
            if (written < 0 && errno == EINTR) continue;
            if (written < 0 && errno == EAGAIN) {
                pollfd entries[2] = {{writer_.get(), POLLOUT, 0}, {wake_.get(), POLLIN, 0}};
                (void)poll_until(entries, std::nullopt);
                if ((entries[0].revents & POLLERR) != 0) {
                    outcome = FeedOutcome::no_reader;
                    break;
                }
                if (entries[1].revents != 0) {
                    drain_eventfd(wake_);
                    if (feeder_cancelled()) {
                        outcome = FeedOutcome::cancelled;
                        break;
                    }
                }
                continue;
            }
            // EPIPE: every reading end is closed (the SIGPIPE it raised stays
            // blocked in this thread and dies with it).
            outcome = written < 0 && errno == EPIPE ? FeedOutcome::no_reader : FeedOutcome::failed;
            break;
        }
        if (outcome != FeedOutcome::written && done > 0) mark_broken();
        if (several_packets) state_->frame_open.store(0);
        write_lock_.release();
        return outcome;
    } catch (...) {
        mark_broken();
        return FeedOutcome::failed;
    }
}

void QueueCore::put_blocking(std::vector<std::byte>&& frame) {
    check_open();
    seal(frame);
    (void)write_lock_.acquire();
    check_previous_writer();
    const bool several_packets = frame.size() > PIPE_BUF;
    if (several_packets) state_->frame_open.store(1);
    std::size_t done = 0;
    try {
        while (done < frame.size()) {
            const ssize_t written = ::write(writer_.get(), frame.data() + done, frame.size() - done);
            if (written > 0) {
                done += static_cast<std::size_t>(written);
            } else if (written < 0 && errno == EAGAIN) {
                pollfd entry{writer_.get(), POLLOUT, 0};
                (void)poll_until({&entry, 1}, std::nullopt);
                // No reader left anywhere (this process holds one, so never).
                if ((entry.revents & POLLERR) != 0) detail::throw_errno(EPIPE, "SimpleQueue.put: write");
            } else if (!(written < 0 && errno == EINTR)) {
                detail::throw_errno(errno, "SimpleQueue.put: write");
            }
        }
    } catch (...) {
        if (done > 0) mark_broken();
        if (several_packets) state_->frame_open.store(0);
        write_lock_.release();
        throw;
    }
    if (several_packets) state_->frame_open.store(0);
    write_lock_.release();
}

// --- get ---------------------------------------------------------------------------------

std::vector<std::byte> QueueCore::get(bool block, Deadline deadline) {
    check_open();
    const bool locked = !block     ? read_lock_.acquire(false)
                        : deadline ? read_lock_.acquire(time_left(*deadline))
                                   : read_lock_.acquire(true);
    if (!locked) throw Empty();
    std::vector<std::byte> payload;
    try {
        if (state_->broken.load() != 0) throw_broken();
        if (!block || deadline) {
            if (!wait_readable(reader_.get(), block ? deadline : Deadline(Clock::now()))) throw Empty();
        }
        payload = read_frame();
    } catch (...) {
        read_lock_.release();
        throw;
    }
    read_lock_.release();
    if (slots_) slots_->release();
    return payload;
}

// Reads one frame, packet by packet, under the reader lock.
std::vector<std::byte> QueueCore::read_frame() {
    // Never read a packet into less than PIPE_BUF bytes: the kernel drops
    // whatever of a packet does not fit.
    std::array<std::byte, PIPE_BUF> packet;
    const std::size_t first = read_some(reader_.get(), packet);
    if (first == 0) throw EOFError(std::string(kind_name(kind_)) + ": every writing end is closed");
    if (first < kFrameHeaderSize) corrupted("a packet shorter than a frame header");
    FrameHeader header{};
    try {
        header = decode_frame_header(std::span(packet).first(kFrameHeaderSize));
    } catch (const FrameError& e) {
        corrupted(e.what());
    }
    if (header.kind != FrameKind::message) corrupted("a frame that is not a queue item");
    const std::size_t size = header.payload_size;
    const std::size_t in_first = first - kFrameHeaderSize;
    if (in_first > size) corrupted("a packet longer than its frame");

    std::vector<std::byte> payload(std::min(size, std::max(in_first, kFirstPayloadChunk)));
    if (in_first != 0) std::memcpy(payload.data(), packet.data() + kFrameHeaderSize, in_first);
    std::size_t got = in_first;
    while (got < size) {
        const std::size_t remaining = size - got;
        wait_for_packet();
        std::size_t n = 0;
        if (remaining < PIPE_BUF) {
            n = read_some(reader_.get(), packet);
            if (n > remaining) corrupted("a packet longer than its frame");
            if (payload.size() < size) payload.resize(size);
            std::memcpy(payload.data() + got, packet.data(), n);
        } else {
            if (payload.size() - got < PIPE_BUF) {
                payload.resize(std::min(size, std::max(payload.size() * 2, got + PIPE_BUF)));
            }
            n = read_some(reader_.get(), std::span(payload).subspan(got, std::min(remaining, payload.size() - got)));
        }
        if (n == 0) corrupted("end of file in the middle of an item");
        got += n;
    }
    if (crc32c(payload) != header.payload_checksum) corrupted("corrupted frame: payload checksum mismatch");
    return payload;
}

// Mid-frame: waits for the frame's next packet. If none comes for a while and
// nobody holds the writer lock, the frame's writer is gone for good.
void QueueCore::wait_for_packet() {
    for (;;) {
        if (wait_readable(reader_.get(), Clock::now() + kStallCheckInterval)) return;
        if (state_->broken.load() != 0) throw_broken();
        if (write_lock_.acquire(false)) {
            // Its last packets may have landed just before the lock was free.
            const bool arrived = wait_readable(reader_.get(), Clock::now());
            write_lock_.release();
            if (arrived) return;
            corrupted("the writer of an item died or gave up in its middle");
        }
    }
}

// --- state and lifetime ------------------------------------------------------------------

std::size_t QueueCore::qsize() const {
    const long long value = slots_->get_value();
    return static_cast<std::size_t>(std::max<long long>(capacity() - value, 0));
}

bool QueueCore::empty() const { return !wait_readable(reader_.get(), Clock::now()); }

bool QueueCore::full() const { return slots_->get_value() == 0; }

void QueueCore::close() {
    const std::lock_guard lock(local_mutex_);
    closed_.store(true, std::memory_order_release);
    stopping_ = true;
    if (feeder_running_ && feeder_idle_) signal_eventfd(wake_);
}

void QueueCore::join_thread() {
    int done = -1;
    bool join_here = false;
    {
        const std::lock_guard lock(local_mutex_);
        if (!closed_.load()) throw RuntimeError(std::string(kind_name(kind_)) + ".join_thread() called before close()");
        if (join_cancelled_ || !feeder_running_) return;
        join_here = !std::exchange(join_claimed_, true);
        done = done_.get();
    }
    // One caller reclaims the thread; any other waits on done_, which is
    // never read and so stays readable for all of them.
    if (join_here) {
        ::pthread_join(feeder_, nullptr);
    } else {
        (void)wait_readable(done, std::nullopt);
    }
}

void QueueCore::cancel_join_thread() {
    const std::lock_guard lock(local_mutex_);
    join_cancelled_ = true;
}

void QueueCore::task_done() {
    const std::lock_guard guard(*all_done_);
    if (!unfinished_->acquire(false)) throw ValueError("task_done() called too many times");
    if (unfinished_->get_value() == 0) all_done_->notify_all();
}

bool QueueCore::join(Deadline deadline) {
    const std::lock_guard guard(*all_done_);
    const auto all_done = [this] { return unfinished_->get_value() == 0; };
    if (!deadline) return all_done_->wait_for(all_done);
    return all_done_->wait_for(all_done, time_left(*deadline));
}

void QueueCore::send(HandoffWriter& out) const {
    out.write(kind_);
    out.write_fd(reader_.get());
    out.write_fd(writer_.get());
    send_region(out, *region_);
}

// --- QueueHandle -----------------------------------------------------------------------

QueueHandle::QueueHandle(QueueKind kind, std::ptrdiff_t maxsize) : core_(std::make_shared<QueueCore>(kind, maxsize)) {}

void QueueHandle::check_open() const { core_->check_open(); }
void QueueHandle::put(std::vector<std::byte>&& frame, bool block, Deadline deadline) const {
    core_->put(std::move(frame), block, deadline);
}
void QueueHandle::put_blocking(std::vector<std::byte>&& frame) const { core_->put_blocking(std::move(frame)); }
std::vector<std::byte> QueueHandle::get(bool block, Deadline deadline) const { return core_->get(block, deadline); }
std::size_t QueueHandle::qsize() const { return core_->qsize(); }
bool QueueHandle::empty() const { return core_->empty(); }
bool QueueHandle::full() const { return core_->full(); }
std::ptrdiff_t QueueHandle::maxsize() const noexcept { return core_->maxsize(); }
void QueueHandle::close() const { core_->close(); }
void QueueHandle::join_thread() const { core_->join_thread(); }
void QueueHandle::cancel_join_thread() const { core_->cancel_join_thread(); }
void QueueHandle::task_done() const { core_->task_done(); }
bool QueueHandle::join(Deadline deadline) const { return core_->join(deadline); }
void QueueHandle::send(HandoffWriter& out) const { core_->send(out); }

QueueHandle QueueHandle::receive(HandoffReader& in, QueueKind kind) {
    const auto sent_kind = in.read<QueueKind>();
    if (sent_kind != kind) {
        throw FrameError(std::string("handoff: expected a ") + kind_name(kind) + ", got another kind of queue");
    }
    UniqueFd reader = in.take_fd();
    UniqueFd writer = in.take_fd();
    auto region = receive_region(in);
    return QueueHandle(std::make_shared<QueueCore>(kind, std::move(reader), std::move(writer), std::move(region)));
}

}  // namespace tandem::detail

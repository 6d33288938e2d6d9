// The process-pool worker's main loop. See
// tandem/detail/process_pool/worker.hpp.
#include "tandem/detail/process_pool/worker.hpp"

#include <stdio_ext.h>  // __fpurge: a forked worker drops its parent's buffered output
#include <unistd.h>     // write, dup2, getpid

#include <atomic>     // the area's flags
#include <chrono>     // task start times
#include <csignal>    // signal(SIGINT, SIG_IGN)
#include <cstdio>     // std::setvbuf: line-buffered output
#include <cstring>    // std::strncpy
#include <exception>  // std::current_exception
#include <optional>   // the resident set size, read only with max_memory_per_child
#include <span>       // message views
#include <string>     // failure descriptions
#include <utility>    // std::move
#include <vector>     // descriptors

#include "tandem/detail/launch/launcher.hpp"             // describe_exception, exit_child
#include "tandem/detail/os/futex.hpp"                    // spin_until, cpu_relax, futex_wait
#include "tandem/detail/os/shared_region.hpp"            // SharedRegion: the worker's area
#include "tandem/detail/os/throw_site.hpp"               // enable_throw_capture: remote tracebacks
#include "tandem/detail/process_pool/crash_report.hpp"   // install_crash_handler
#include "tandem/detail/process_pool/memory_limits.hpp"  // limit_data_growth, ResidentSetSize, name_memory_limit
#include "tandem/detail/process_pool/spill.hpp"          // write_message, read_message, SpillWriter::claim
#include "tandem/detail/process_pool/task_ring.hpp"      // WorkerArea, RingReader, RingWriter
#include "tandem/detail/wire/fd_passing.hpp"             // kMaxPassedFds
#include "tandem/detail/wire/remote_call.hpp"            // run_call, raised_outcome, CallOutcome, ResultPlace
#include "tandem/errors.hpp"                             // FrameError

namespace tandem::detail::process_pool {
namespace {

// Spins before sleeping: a pipeline that sends the next task within a few
// microseconds never pays for a futex round trip.
constexpr std::chrono::microseconds kSpinBudget{50};

std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

SharedRegion map_area(const WorkerChannel& channel) {
    if (channel.region_size != sizeof(WorkerArea)) throw FrameError("pool worker: a region of the wrong size");
    SharedRegion region =
        SharedRegion::from_fd(duplicate_fd(channel.region_fd).release(), channel.region_size, Inherit::no);
    region.close_fd();
    return region;
}

class Worker {
public:
    explicit Worker(const WorkerChannel& channel)
        : max_memory_(channel.max_memory),
          memory_limit_(channel.memory_limit),
          region_(map_area(channel)),
          area_(reinterpret_cast<WorkerArea*>(region_.data())),
          requests_(area_->requests),
          replies_(area_->replies),
          event_fd_(channel.event_fd),
          socket_fd_(channel.socket_fd) {}

    /// From now on a fatal signal leaves this worker's stack in its area,
    /// and a task's exception brings the stack that threw it.
    void record_failures() noexcept {
        install_crash_handler(area_->crash);
        enable_throw_capture();
    }

    /// Applies the hard limit and opens what max_memory_per_child reads.
    /// Throws std::system_error.
    void bound_memory() {
        if (memory_limit_ != 0) limit_data_growth(memory_limit_);
        if (max_memory_ != 0) rss_.emplace();
    }

    /// Runs the initializer; false (with the slot saying why) if it threw.
    bool initialize(const WorkerChannel& channel) {
        if (!channel.initializer.empty()) {
            std::vector<UniqueFd> fds;
            for (int fd : channel.initializer_fds) fds.push_back(duplicate_fd(fd));
            HandoffReader in(channel.initializer, std::move(fds));
            CallOutcome outcome;
            try {
                outcome = run_call(in);
            } catch (...) {
                outcome = raised_outcome(std::current_exception());
            }
            if (outcome.raised) {
                std::string description = describe_exception(decode_exception(outcome.payload));
                std::strncpy(area_->failure, description.c_str(), sizeof area_->failure - 1);
                area_->failure[sizeof area_->failure - 1] = '\0';
                area_->phase.store(WorkerPhase::init_failed, std::memory_order_seq_cst);
                return false;
            }
        }
        area_->phase.store(WorkerPhase::ready, std::memory_order_seq_cst);
        notify_parent();
        return true;
    }

    void serve() {
        for (;;) {
            wait_for_request();
            const std::byte* slot = requests_.slot();
            const SlotHeader header = copy_header(slot);
            if (header.kind == MessageKind::stop) {
                requests_.consume();
                return;
            }
            area_->started_ns.store(now_ns(), std::memory_order_relaxed);
            area_->current_task.store(header.task_id, std::memory_order_seq_cst);
            CallOutcome outcome = run(header, slot);
            // Past its hard limit the worker's heap may be fragmented at the
            // bound: it is replaced after this reply.
            const bool out_of_memory = name_memory_limit(outcome, memory_limit_);
            requests_.consume();
            reply(header.task_id, outcome);
            area_->current_task.store(0, std::memory_order_release);
            if (out_of_memory || (rss_ && rss_->bytes() > max_memory_)) return;
        }
    }

private:
    void wait_for_request() {
        // A task that wrote over this worker's area leaves rings that cannot
        // be trusted: the worker dies, and the parent fails the task as a crash.
        if (requests_.corrupt()) exit_child(kCorruptRingStatus);
        while (!spin_until([this] { return !requests_.empty(); }, kSpinBudget)) {
            std::atomic<std::uint32_t>& sleeping = area_->requests.consumer_sleeping;
            sleeping.store(1, std::memory_order_seq_cst);
            if (!requests_.empty()) {
                sleeping.store(0, std::memory_order_relaxed);
                return;
            }
            futex_wait(sleeping, 1, std::nullopt, FutexScope::shared);
        }
    }

    // A large result of raw values or ranges is encoded straight into a
    // reply spill buffer (remote_call.hpp's ResultPlace), not into a
    // buffer of its own that reply() would copy.
    class ReplyPlace final : public ResultPlace {
    public:
        explicit ReplyPlace(Worker& worker) : worker_(worker) {}

        std::byte* reserve(std::size_t size) noexcept override {
            // A child the task forked inherits this object, not the buffers.
            if (size <= kSlotPayload || claimed || ::getpid() != pid_) return nullptr;
            try {
                claimed = worker_.reply_spills_.claim(size, worker_.replies_, worker_.socket_fd_);
            } catch (...) {
                return nullptr;  // no new buffer: the result travels the ordinary way
            }
            return claimed ? claimed->data : nullptr;
        }

        std::optional<SpillWriter::Place> claimed;

    private:
        Worker& worker_;
        const pid_t pid_ = ::getpid();
    };

    CallOutcome run(const SlotHeader& header, const std::byte* slot) {
        reply_place_.claimed.reset();
        current_result_place() = &reply_place_;
        CallOutcome outcome;
        try {
            if (header.kind != MessageKind::call) throw FrameError("pool worker: unknown request kind");
            SlotMessage message = read_message(header, payload_of(slot), request_spills_, socket_fd_, kMaxPassedFds);
            HandoffReader in(message.bytes, std::move(message.fds));
            outcome = run_call(in);
        } catch (...) {
            outcome = raised_outcome(std::current_exception());
        }
        current_result_place() = nullptr;
        return outcome;
    }

    void reply(std::uint64_t id, const CallOutcome& outcome) {
        // The parent never has more tasks in flight than the ring has slots:
        // full means a slow parent, or (corrupt) a task that wrote over it.
        while (replies_.full()) {
            if (replies_.corrupt()) exit_child(kCorruptRingStatus);
            cpu_relax();
        }
        if (replies_.corrupt()) exit_child(kCorruptRingStatus);
        SlotHeader* slot = replies_.slot();
        slot->task_id = id;
        slot->kind = outcome.raised ? MessageKind::raised : MessageKind::result;
        if (outcome.placed != 0 && reply_place_.claimed) {
            name_spill(*slot, reply_place_.claimed->ref);  // written there by the trampoline
        } else {
            write_message(*slot, outcome.payload, {}, reply_spills_, replies_, socket_fd_);
        }
        replies_.publish();
        notify_parent();
    }

    void notify_parent() noexcept {
        std::atomic<std::uint32_t>& sleeping = area_->collector_sleeping;
        if (sleeping.load(std::memory_order_seq_cst) != 0 && sleeping.exchange(0, std::memory_order_seq_cst) != 0) {
            const std::uint64_t one = 1;
            // An eventfd write only fails on counter overflow, which the
            // collector's reads rule out.
            [[maybe_unused]] const auto written = ::write(event_fd_, &one, sizeof one);
        }
    }

    const std::size_t max_memory_;
    const std::size_t memory_limit_;
    std::optional<ResidentSetSize> rss_;
    SharedRegion region_;
    WorkerArea* area_;
    RingReader requests_;
    RingWriter replies_;
    int event_fd_;
    int socket_fd_;
    SpillReader request_spills_;
    SpillWriter reply_spills_;
    ReplyPlace reply_place_{*this};
};

}  // namespace

void worker_main(WorkerChannel channel) {
    // Its output goes through the parent's relay, a line at a time; stdio
    // flushes each line as a terminal would have it. What a forked worker's
    // stdout buffer holds is the parent's, not to be written twice.
    if (channel.stdout_fd >= 0 && channel.stderr_fd >= 0) {
        ::__fpurge(stdout);
        ::dup2(channel.stdout_fd, STDOUT_FILENO);
        ::dup2(channel.stderr_fd, STDERR_FILENO);
        std::setvbuf(stdout, nullptr, _IOLBF, 0);
    }
    // Ctrl-C at a terminal signals the whole foreground process group; a
    // worker must not die half-way through a task because of it. The parent
    // decides (its pool shuts down or it dies, and PDEATHSIG follows).
    ::signal(SIGINT, SIG_IGN);
    Worker worker(channel);
    worker.record_failures();
    worker.bound_memory();
    if (!worker.initialize(channel)) exit_child(kInitializerFailedStatus);
    worker.serve();
}

}  // namespace tandem::detail::process_pool

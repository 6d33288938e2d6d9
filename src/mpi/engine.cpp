// The root's communication thread: see tandem/detail/mpi/engine.hpp.
#include "tandem/detail/mpi/engine.hpp"

#include <pthread.h>  // pthread_setname_np
#include <sched.h>    // sched_yield

#include <climits>  // INT_MAX: wake every waiter
#include <string>   // messages
#include <utility>  // std::move

#include "tandem/detail/mpi/backoff.hpp"   // Backoff
#include "tandem/detail/mpi/protocol.hpp"  // tags, kKeptBufferBytes, probed_size, message_count, abort_job
#include "tandem/detail/os/futex.hpp"      // futex_wait, futex_wake
#include "tandem/errors.hpp"               // RuntimeError, CancelledError

namespace tandem::detail::mpi {

Engine::Engine(MPI_Comm comm, int root) : comm_(comm) {
    int size = 0;
    MPI_Comm_size(comm_, &size);
    rank_index_.assign(static_cast<std::size_t>(size), -1);
    for (int rank = 0; rank < size; ++rank) {
        if (rank == root) continue;
        rank_index_[static_cast<std::size_t>(rank)] = static_cast<int>(ranks_.size());
        ranks_.push_back(Rank{rank, {}});
    }
    thread_ = std::thread([this] { run(); });
}

Engine::~Engine() { stop(); }

// --- any thread ------------------------------------------------------------------------

void Engine::submit(const std::shared_ptr<Client>& client, StatePtr<FutureStateBase> future, Deliver deliver,
                    std::vector<std::byte> call) {
    static_cast<void>(message_count(call.size(), "the task's encoded call"));
    auto task = std::make_unique<Task>(Task{std::move(future), deliver, std::move(call), client, MPI_REQUEST_NULL});
    {
        std::lock_guard lock(mutex_);
        if (client->closed_) throw RuntimeError("cannot schedule new futures after shutdown");
        if (stopping_) throw RuntimeError("cannot schedule new futures after the MPI pool has stopped");
        client->outstanding_.fetch_add(1, std::memory_order_relaxed);
        queue_.push_back(std::move(task));
    }
    wake();
}

void Engine::shutdown(Client& client, bool wait, bool cancel_futures) {
    std::vector<std::unique_ptr<Task>> cancelled;
    {
        std::lock_guard lock(mutex_);
        client.closed_ = true;
        if (cancel_futures) {
            for (auto it = queue_.begin(); it != queue_.end();) {
                if (it->get()->client.get() == &client) {
                    cancelled.push_back(std::move(*it));
                    it = queue_.erase(it);
                } else {
                    ++it;
                }
            }
        }
    }
    for (auto& task : cancelled) {
        // Not given to a rank, so still pending (or cancelled by its owner):
        // cancel() succeeds, and waiters are told now, as the thread would.
        task->future->cancel();
        static_cast<void>(task->future->set_running_or_notify_cancel());
        finish(std::move(task));
    }
    if (!wait || std::this_thread::get_id() == thread_.get_id()) return;
    for (std::uint32_t left = client.outstanding_.load(std::memory_order_acquire); left != 0;
         left = client.outstanding_.load(std::memory_order_acquire)) {
        futex_wait(client.outstanding_, left, std::nullopt);
    }
}

void Engine::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    if (std::this_thread::get_id() == thread_.get_id()) {
        // exit() from a done-callback: this thread cannot go on running
        // tasks under it. The ranks are told to stop, and the answers to
        // what they were given are taken and dropped (a rank sending a large
        // one waits until it is taken), so every rank ends.
        send_stops();
        discard_replies();
        thread_.detach();
    } else {
        thread_.join();
    }
    MPI_Comm_free(&comm_);
    stopped_ = true;
}

void Engine::wake() noexcept {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) futex_wake(wake_, 1);
}

void Engine::finish(std::unique_ptr<Task> task) noexcept {
    std::shared_ptr<Client> client = std::move(task->client);
    task.reset();  // the future's reference goes before shutdown(wait) may return
    if (client->outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake(client->outstanding_, INT_MAX);
}

// --- the communication thread ----------------------------------------------------------

void Engine::run() noexcept {
    ::pthread_setname_np(::pthread_self(), "tandem-mpi");
    Backoff backoff;
    for (;;) {
        // Read before looking at the queue: a submit after the look changes
        // it, so the sleep below returns at once (engine.hpp).
        const std::uint32_t seen = wake_.load(std::memory_order_seq_cst);
        bool progress = false;
        try {
            progress = receive_replies();
            progress = dispatch() || progress;
        } catch (const std::exception& e) {
            // Only allocation can throw here (a reply buffer, the queue's
            // bookkeeping); the job cannot go on with a future lost.
            abort_job(comm_, std::string("the root's communication thread failed: ") + e.what());
        } catch (...) {
            abort_job(comm_, "the root's communication thread failed");
        }
        if (progress) {
            backoff.reset();
            continue;
        }
        if (in_flight_ == 0 && finished()) break;
        const std::chrono::nanoseconds pause = backoff.next();
        if (pause.count() == 0) {
            // A reply (or the next submit of a caller that waits for each
            // result) usually comes within microseconds: yield, poll again.
            sched_yield();
        } else if (in_flight_ == 0) {
            // Nothing can arrive from a rank: sleep until a submit or stop.
            sleep_until_woken(seen, std::nullopt);
            backoff.reset();
        } else {
            sleep_until_woken(seen, Clock::now() + pause);
        }
    }
    send_stops();
}

void Engine::sleep_until_woken(std::uint32_t seen, Deadline deadline) noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    futex_wait(wake_, seen, deadline);
    sleeping_.store(false, std::memory_order_relaxed);
}

bool Engine::finished() {
    std::lock_guard lock(mutex_);
    return stopping_ && queue_.empty();
}

Engine::Rank* Engine::least_busy() noexcept {
    Rank* best = nullptr;
    for (Rank& rank : ranks_) {
        // The first of the least busy: a trickle of tasks keeps finding the
        // rank that has just finished one, still polling rather than asleep.
        if (rank.in_flight.size() < kDispatchDepth && (best == nullptr || rank.in_flight.size() < best->in_flight.size()))
            best = &rank;
    }
    return best;
}

bool Engine::dispatch() {
    bool progress = false;
    for (Rank* rank = least_busy(); rank != nullptr; rank = least_busy()) {
        std::unique_ptr<Task> task;
        {
            std::lock_guard lock(mutex_);
            if (queue_.empty()) break;
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        progress = true;
        bool run = false;
        try {
            run = task->future->set_running_or_notify_cancel();
        } catch (const std::exception&) {
            // Its owner completed it by hand (Future::set_result): nothing to run.
        }
        if (!run) {
            finish(std::move(task));
            continue;
        }
        // Sent from the task's own buffer, which lives until the reply.
        MPI_Isend(task->call.data(), static_cast<int>(task->call.size()), MPI_BYTE, rank->rank, kCallTag, comm_,
                  &task->request);
        rank->in_flight.push_back(std::move(task));
        ++in_flight_;
    }
    return progress;
}

bool Engine::receive_replies() {
    bool progress = false;
    while (in_flight_ != 0) {
        int arrived = 0;
        MPI_Message message = MPI_MESSAGE_NULL;
        MPI_Status status;
        MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &arrived, &message, &status);
        if (arrived == 0) break;
        progress = true;
        const int source = status.MPI_SOURCE;
        const int index = source >= 0 && static_cast<std::size_t>(source) < rank_index_.size()
                              ? rank_index_[static_cast<std::size_t>(source)]
                              : -1;
        if (index < 0 || ranks_[static_cast<std::size_t>(index)].in_flight.empty() ||
            (status.MPI_TAG != kResultTag && status.MPI_TAG != kRaisedTag)) {
            abort_job(comm_, "rank " + std::to_string(source) + " sent the root a message it did not ask for (tag " +
                                 std::to_string(status.MPI_TAG) + ")");
        }
        Rank& rank = ranks_[static_cast<std::size_t>(index)];
        // Into the reply buffer kept from the last reply (protocol.hpp).
        reply_.raised = status.MPI_TAG == kRaisedTag;
        reply_.payload.resize(probed_size(comm_, status));
        MPI_Mrecv(reply_.payload.data(), static_cast<int>(reply_.payload.size()), MPI_BYTE, &message,
                  MPI_STATUS_IGNORE);
        std::unique_ptr<Task> task = std::move(rank.in_flight.front());
        rank.in_flight.pop_front();
        --in_flight_;
        // The rank has the call, so its send is complete; this frees the request.
        MPI_Wait(&task->request, MPI_STATUS_IGNORE);
        task->deliver(task->future, reply_);
        finish(std::move(task));
        if (reply_.payload.capacity() > kKeptBufferBytes) reply_.payload = {};
    }
    return progress;
}

void Engine::discard_replies() noexcept {
    std::vector<std::byte> dropped;
    while (in_flight_ != 0) {
        int arrived = 0;
        MPI_Message message = MPI_MESSAGE_NULL;
        MPI_Status status;
        MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &arrived, &message, &status);
        if (arrived == 0) {
            sched_yield();
            continue;
        }
        const int index = status.MPI_SOURCE >= 0 && static_cast<std::size_t>(status.MPI_SOURCE) < rank_index_.size()
                              ? rank_index_[static_cast<std::size_t>(status.MPI_SOURCE)]
                              : -1;
        Rank* rank = index < 0 ? nullptr : &ranks_[static_cast<std::size_t>(index)];
        if (rank == nullptr || rank->in_flight.empty()) {
            abort_job(comm_, "rank " + std::to_string(status.MPI_SOURCE) + " sent the root a message it did not ask for");
        }
        try {
            dropped.resize(probed_size(comm_, status));
        } catch (const std::exception&) {
            abort_job(comm_, "the root cannot take a rank's last answer while exiting");
        }
        MPI_Mrecv(dropped.data(), static_cast<int>(dropped.size()), MPI_BYTE, &message, MPI_STATUS_IGNORE);
        MPI_Wait(&rank->in_flight.front()->request, MPI_STATUS_IGNORE);
        rank->in_flight.pop_front();
        --in_flight_;
    }
}

void Engine::send_stops() noexcept {
    for (const Rank& rank : ranks_) MPI_Send(nullptr, 0, MPI_BYTE, rank.rank, kStopTag, comm_);
}

}  // namespace tandem::detail::mpi

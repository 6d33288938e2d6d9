// Internal: the root's side of an mpi::PoolExecutor — one communication
// thread that hands encoded calls to the serving ranks and completes the
// futures from their replies.
//
// Every executor on the root is a Client of one Engine (mpi::init makes one
// for the whole program, as `python -m mpi4py.futures` shares one pool of
// workers between every MPIPoolExecutor; a CommExecutor makes its own).
// A task's journey: submit() (any thread) queues the encoded call and wakes
// the communication thread if it sleeps. That thread, the only one here that
// calls MPI while the engine runs (MPI_THREAD_SERIALIZED suffices), gives
// queued tasks to the least busy serving rank, at most kDispatchDepth per
// rank (one running, one waiting in MPI's queue, so the rank never waits
// for the root), marking each future running as it goes (a future
// cancelled before that is dropped there, as Python's executors do). The
// call leaves with MPI_Isend from the task's own buffer. Replies are found
// with MPI_Improbe, received into a buffer of the probed size, and matched
// to the rank's oldest task; the future is completed with the task's
// Deliver, and done-callbacks run on this thread.
//
// With tasks in flight it polls, yielding the CPU and then sleeping in
// growing pauses (backoff.hpp) that a submit cuts short. With nothing in
// flight it only yields for a moment (a caller that waits for each result
// submits the next one within microseconds), then sleeps on a futex until a
// submit wakes it: an idle executor costs nothing.
//
// A serving rank that dies is not seen here: Open MPI ends the whole job
// (mpirun reports the rank and the signal, and the rank's own crash line
// says more, fatal_signals.hpp). No future waits for a rank that is gone.
#pragma once

#include <mpi.h>  // MPI_Comm, MPI_Request

#include <atomic>   // the wake word, outstanding counts
#include <cstddef>  // std::size_t, std::byte
#include <cstdint>  // std::uint32_t
#include <deque>    // the queue, each rank's tasks in flight
#include <memory>   // tasks, clients
#include <mutex>    // guards the queue
#include <thread>   // the communication thread
#include <vector>   // ranks, encoded calls

#include "tandem/detail/future/future_state.hpp"  // FutureStateBase, StatePtr
#include "tandem/detail/mpi/remote_task.hpp"      // Deliver

namespace tandem::detail::mpi {

class Engine;

/// One executor's share of an Engine: whether it was shut down, and how
/// many of its tasks are not finished yet (shutdown(wait) waits for those).
class Client {
public:
    Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

private:
    friend class Engine;
    std::atomic<std::uint32_t> outstanding_{0};
    bool closed_ = false;  // guarded by the engine's mutex
};

class Engine {
public:
    /// Tasks a serving rank holds at most: one running, one waiting.
    static constexpr std::size_t kDispatchDepth = 2;

    /// Takes `comm`, an intracommunicator of at least two ranks made for the
    /// engine alone (it is freed by stop()), on which this process is
    /// `root`; every other rank serves (server.hpp). Starts the thread.
    Engine(MPI_Comm comm, int root);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    /// stop().
    ~Engine();

    /// A new executor's share.
    std::shared_ptr<Client> attach() { return std::make_shared<Client>(); }

    /// Queues one encoded call; `deliver` completes `future` from the reply.
    /// Throws RuntimeError after the client's shutdown or the engine's
    /// stop, ValueError for a call larger than one MPI message.
    void submit(const std::shared_ptr<Client>& client, StatePtr<FutureStateBase> future, Deliver deliver,
                std::vector<std::byte> call);

    /// The client accepts no more tasks; with `cancel_futures` its queued
    /// ones are cancelled; with `wait` returns once the rest have finished
    /// (not when called on the communication thread, from a done-callback,
    /// which would wait for itself). Harmless to repeat.
    void shutdown(Client& client, bool wait, bool cancel_futures);

    /// Runs what is queued to the end, tells every serving rank to stop,
    /// joins the thread and frees the communicator. No MPI call is made
    /// afterwards. Harmless to repeat.
    void stop();

    /// The number of serving ranks.
    std::size_t workers() const noexcept { return ranks_.size(); }

private:
    struct Task {
        StatePtr<FutureStateBase> future;
        Deliver deliver;
        std::vector<std::byte> call;
        std::shared_ptr<Client> client;
        MPI_Request request = MPI_REQUEST_NULL;
    };
    struct Rank {
        int rank;
        std::deque<std::unique_ptr<Task>> in_flight;
    };

    void run() noexcept;
    bool dispatch();
    bool receive_replies();
    void sleep_until_woken(std::uint32_t seen, Deadline deadline) noexcept;
    bool finished();
    void send_stops() noexcept;
    void discard_replies() noexcept;
    Rank* least_busy() noexcept;
    void wake() noexcept;
    static void finish(std::unique_ptr<Task> task) noexcept;

    MPI_Comm comm_;
    std::deque<Rank> ranks_;  // a deque: Rank holds a deque, whose move may throw
    std::vector<int> rank_index_;  // comm rank -> index in ranks_, -1 for the root
    std::size_t in_flight_ = 0;    // communication thread only
    CallOutcome reply_;            // communication thread only: the last reply's buffer, reused

    std::mutex mutex_;
    std::deque<std::unique_ptr<Task>> queue_;
    bool stopping_ = false;

    std::atomic<std::uint32_t> wake_{0};
    std::atomic<bool> sleeping_{false};

    std::mutex stop_mutex_;  // one stop() at a time
    bool stopped_ = false;   // guarded by stop_mutex_
    std::thread thread_;
};

}  // namespace tandem::detail::mpi

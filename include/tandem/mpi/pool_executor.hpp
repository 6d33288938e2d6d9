// tandem/mpi/pool_executor.hpp — mpi4py.futures for C++: the executor API
// over the ranks of an MPI job (Open MPI), for work that outgrows one machine.
//
// A program is started with mpirun. Rank 0 runs main() and gets executors;
// every other rank serves their tasks until the program ends, as under
// `mpiexec -n N python -m mpi4py.futures script.py`. That split happens in
// mpi::init(), which every rank calls first thing in main():
//
//     long count_primes(long from, long to) { /* ... */ }
//     long square(long x) { return x * x; }
//
//     int main(int argc, char** argv) {
//         tandem::mpi::init(argc, argv);            // ranks 1..N-1 serve here, then exit
//         tandem::mpi::PoolExecutor pool;           // rank 0 only gets this far
//         tandem::Future<long> f = pool.submit(count_primes, 0L, 1'000'000L);
//         for (long n : pool.map(square, std::views::iota(0L, 1000L), {.chunksize = 100})) use(n);
//         long primes = f.result();
//     }                                             // rank 0 returns: every rank exits
//
//     $ scripts/mpirun.sh -np 3 ./app               # 1 root + 2 serving ranks (mpirun + settings)
//
// A program that runs its own code on every rank, and manages MPI itself,
// uses CommExecutor instead (mpi4py's MPICommExecutor): a collective call
// that gives rank `root` an executor while the other ranks serve inside it.
//
// Tasks are what a ProcessPoolExecutor runs (a function or captureless
// lambda, serializable arguments and result: tandem/serialization.hpp),
// encoded the same way; exceptions come back with their types, as from the
// process pool, and the job goes on. The futures are tandem::Future, so
// wait() and as_completed() mix them with the futures of local executors.
//
// Where it differs from mpi4py.futures:
// - No dynamic process management (MPI_Comm_spawn): the serving ranks are
//   those mpirun started. PoolExecutor has no max_workers; all executors on
//   the root share the serving ranks (as under `python -m mpi4py.futures`),
//   and one started with `mpirun -np 1` has none, so constructing it throws
//   ValueError. No initializer, starmap, multi-range map, bootup, or
//   unordered map; map takes one range, as ProcessPoolExecutor's does.
// - A rank that dies (SIGKILL, a segfault or abort() in a task, exit() in a
//   task) ends the whole job within seconds: Open MPI is not fault tolerant.
//   So does an exception that escapes main() on rank 0 (mpi4py calls
//   MPI_Abort; here std::terminate aborts rank 0 and mpirun ends the rest).
//   The dying rank writes a line naming itself, its host and the signal
//   (mpirun names it too, for SIGKILL); nothing hangs. Python's mpi4py
//   does the same through mpiexec. A task that never returns keeps its rank
//   busy: map(timeout) still raises TimeoutError, but shutdown(wait) waits.
// - Objects that own descriptors or shared memory (Connection, Queue, Lock,
//   Value, ...) cannot be task arguments: they do not compile.
// - MPI must provide MPI_THREAD_SERIALIZED on the root (init() asks for it;
//   CommExecutor checks it): the root talks to the ranks from a thread of
//   its own. mpi4py warns and carries on below that level; tandem refuses.
// - A message (one call, one result) is at most 2 GiB - 1 bytes, what one
//   MPI transfer counts; a larger call is a ValueError at submit(), a larger
//   result fails its future with ValueError.
// - Done-callbacks run on the root's communication thread: they must not
//   wait for other futures of MPI executors, nor destroy one.
#pragma once

#include <mpi.h>  // MPI_Comm, MPI_COMM_WORLD

#include <concepts>     // std::same_as: shutdown(wait, cancel_futures)
#include <cstddef>      // std::size_t
#include <memory>       // the engine and this executor's share of it
#include <optional>     // the root's executor in a CommExecutor
#include <ranges>       // map() inputs
#include <type_traits>  // std::is_void_v
#include <utility>      // std::forward, std::move
#include <vector>       // encoded calls, chunks

#include "tandem/detail/future/map_results.hpp"  // MapResults, ChunkResult
#include "tandem/detail/mpi/engine.hpp"          // Engine, Client
#include "tandem/detail/mpi/remote_task.hpp"     // encode_task, encode_chunk, deliver_*
#include "tandem/errors.hpp"                     // RuntimeError, ValueError
#include "tandem/executor.hpp"                   // MapOptions, ShutdownOptions
#include "tandem/future.hpp"                     // Future

namespace tandem::mpi {

/// Call first thing in main(), on every rank of a program started with
/// mpirun, with main's arguments, instead of tandem::init() (which it
/// calls: process pools keep working on the root). Initializes MPI with
/// MPI_THREAD_SERIALIZED and checks, on all ranks together, that they run
/// the same build of the program.
///
/// On rank 0 it returns; PoolExecutors may then be made, and when the
/// program exits (return from main, exit()), the remaining tasks finish,
/// the serving ranks are released and MPI is finalized. On every other
/// rank it never returns: the rank serves tasks until rank 0 exits, then
/// exits with status 0 (the program's main goes no further there).
///
/// If the ranks run different builds, or MPI lacks MPI_THREAD_SERIALIZED,
/// rank 0 prints which ranks differ (host, pid, build ids) and every rank
/// exits with status 1. Throws RuntimeError if MPI was already initialized
/// (a program that initializes MPI itself uses CommExecutor). Calling it
/// again on rank 0 does nothing.
void init(int argc, char** argv);

/// mpi4py's MPIPoolExecutor: the executor on rank 0 of a program that called
/// mpi::init(), or the one a CommExecutor gives its root.
class PoolExecutor {
public:
    /// An executor over the ranks mpi::init() set serving. Throws
    /// RuntimeError if init() was not called, or on a rank other than 0
    /// (only under CommExecutor, where ranks return), ValueError if the job
    /// has no other rank (mpirun -np 1).
    PoolExecutor();
    PoolExecutor(PoolExecutor&&) noexcept = default;
    PoolExecutor& operator=(PoolExecutor&&) = delete;
    /// shutdown(wait = true).
    ~PoolExecutor();

    /// Schedules fn(args...) on a serving rank and returns its Future. `fn`
    /// is a function or captureless lambda; the arguments are encoded now,
    /// converted to the parameter types. Throws RuntimeError("cannot
    /// schedule new futures after shutdown"), ValueError for a call over
    /// 2 GiB - 1 bytes, and what encoding an argument throws. The future
    /// holds the result, or the task's exception (its own type when
    /// registered or standard, else RemoteError: tandem/serialization.hpp).
    template <class F, class... Args>
    auto submit(const F& fn, const Args&... args) -> Future<detail::mpi::TaskResult<F>> {
        using R = detail::mpi::TaskResult<F>;
        if (!engine_) throw RuntimeError("cannot schedule new futures after shutdown");
        return submit_to<R>(*engine_, client_, &detail::mpi::deliver_result<R>, detail::mpi::encode_task(fn, args...));
    }

    /// Executor.map: fn(x) for each x of `inputs` on the serving ranks,
    /// results in input order; each chunk of `chunksize` inputs is one task.
    /// By default every chunk is submitted before map() returns, as in
    /// Python, so the results stay readable after shutdown() and after the
    /// executor is gone; with `buffersize`, at most that many chunks are in
    /// flight and the input is read lazily (MapOptions, tandem/executor.hpp).
    /// Iterating rethrows a call's exception at its position, TimeoutError
    /// past `options.timeout` (counted from this call). `inputs` passed as an
    /// lvalue must outlive the range.
    template <class F, std::ranges::input_range Inputs>
    auto map(const F& fn, Inputs&& inputs, MapOptions options = {}) {
        using Input = std::ranges::range_value_t<Inputs>;
        using R = detail::mpi::TaskResult<F>;
        static_assert(!std::is_void_v<R>, "map() needs a function that returns a value; use submit() otherwise");
        detail::check_map_options(options);
        if (!engine_) throw RuntimeError("cannot schedule new futures after shutdown");
        const detail::FunctionId function = detail::function_entry_id(fn);
        // The range holds the engine and this executor's client, not the
        // executor: a lazy map may outlive it (the client is closed then).
        auto submit_chunk = [engine = engine_, client = client_, function](std::vector<Input> chunk) {
            return submit_to<detail::ChunkResult<R>>(*engine, client, &detail::mpi::deliver_chunk<R>,
                                                     detail::mpi::encode_chunk<F, Input>(function, chunk));
        };
        return detail::MapResults<R, std::views::all_t<Inputs>, decltype(submit_chunk)>(
            std::views::all(std::forward<Inputs>(inputs)), std::move(submit_chunk), options);
    }

    /// Stops accepting work from this executor. With `cancel_futures`,
    /// cancels its tasks no rank has been given. With `wait`, returns once
    /// its other tasks have finished. The serving ranks stay up for other
    /// executors until the program ends (or the CommExecutor does).
    /// Calling it again is harmless. `shutdown({.cancel_futures = true})`.
    void shutdown(ShutdownOptions options = {});
    /// shutdown(wait, cancel_futures), positionally (both bool).
    template <std::same_as<bool> Bool>
    void shutdown(Bool wait, bool cancel_futures = false) {
        shutdown(ShutdownOptions{.wait = wait, .cancel_futures = cancel_futures});
    }

    /// The number of serving ranks (every rank but the root).
    std::size_t max_workers() const noexcept { return engine_->workers(); }

private:
    friend class CommExecutor;
    explicit PoolExecutor(std::shared_ptr<detail::mpi::Engine> engine);

    template <class R>
    static Future<R> submit_to(detail::mpi::Engine& engine, const std::shared_ptr<detail::mpi::Client>& client,
                               detail::mpi::Deliver deliver, std::vector<std::byte> call) {
        Future<R> future;
        future.state()->retain();
        engine.submit(client, detail::StatePtr<detail::FutureStateBase>::adopt(future.state()), deliver,
                      std::move(call));
        return future;
    }

    std::shared_ptr<detail::mpi::Engine> engine_;
    std::shared_ptr<detail::mpi::Client> client_;
};

/// mpi4py's MPICommExecutor: a collective call over `comm` for programs that
/// run their own code on every rank. Rank `root` gets a PoolExecutor over
/// the others; every other rank serves its tasks inside the constructor and
/// returns when the root's CommExecutor is destroyed, with no executor.
/// Afterwards all ranks carry on with the program.
///
///     MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
///     {
///         tandem::mpi::CommExecutor comm_executor(MPI_COMM_WORLD, 0);
///         if (tandem::mpi::PoolExecutor* executor = comm_executor.executor()) {
///             auto f = executor->submit(&std::labs, -42L);   // root only
///             f.result();                                     // 42
///         }
///     }                                    // the root releases the other ranks
///     MPI_Finalize();
///
/// While it lives, the root's other threads must not call MPI unless MPI
/// provides MPI_THREAD_MULTIPLE.
class CommExecutor {
public:
    /// Collective over `comm`. Throws ValueError for MPI_COMM_NULL, an
    /// intercommunicator, a root out of range, or a communicator of one
    /// rank (mpi4py would run the tasks in a thread: use a
    /// ThreadPoolExecutor); RuntimeError if MPI is not initialized (or is
    /// finalized), or if mpi::init() is in use; ProcessError on every rank if
    /// the ranks run different builds or the root lacks
    /// MPI_THREAD_SERIALIZED, naming why.
    explicit CommExecutor(MPI_Comm comm = MPI_COMM_WORLD, int root = 0);
    CommExecutor(const CommExecutor&) = delete;
    CommExecutor& operator=(const CommExecutor&) = delete;
    /// On the root: shuts the executor down (waiting for its tasks),
    /// releases the serving ranks and frees the executor's communicator.
    ~CommExecutor();

    /// The root's executor; nullptr on the other ranks.
    PoolExecutor* executor() noexcept { return executor_ ? &*executor_ : nullptr; }
    /// True on the root.
    explicit operator bool() const noexcept { return executor_.has_value(); }

private:
    std::shared_ptr<detail::mpi::Engine> engine_;
    std::optional<PoolExecutor> executor_;
};

}  // namespace tandem::mpi

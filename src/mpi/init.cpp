// mpi::init(): every rank's entry, the serving ranks' whole life, and the
// root's program-wide pool. See tandem/mpi/pool_executor.hpp.
#include <cstdio>   // the start-up problem, on rank 0
#include <cstdlib>  // std::exit, std::atexit
#include <mutex>    // guards the world engine
#include <string>   // messages

#include "tandem/detail/mpi/engine.hpp"         // Engine
#include "tandem/detail/mpi/fatal_signals.hpp"  // FatalSignalReporter
#include "tandem/detail/mpi/protocol.hpp"       // abort_job
#include "tandem/detail/mpi/server.hpp"         // serve
#include "tandem/detail/mpi/startup.hpp"        // exchange_identities, startup_problem
#include "tandem/detail/mpi/world.hpp"          // the declarations
#include "tandem/errors.hpp"                    // RuntimeError
#include "tandem/init.hpp"                      // tandem::init
#include "tandem/mpi/pool_executor.hpp"         // mpi::init

namespace tandem {
namespace detail::mpi {
namespace {

constexpr int kRoot = 0;
// A start-up problem (builds differ, no MPI_THREAD_SERIALIZED) ends every rank with it.
constexpr int kStartupFailedStatus = 1;

std::mutex world_mutex;
std::shared_ptr<Engine> world;  // guarded by world_mutex
bool initialized = false;       // guarded by world_mutex

// At exit on rank 0, after every executor made since init() is gone: the
// remaining tasks finish, the serving ranks are released, MPI is finalized.
void finish_world() {
    std::shared_ptr<Engine> engine;
    {
        std::lock_guard lock(world_mutex);
        engine = std::move(world);
    }
    if (engine) engine->stop();
    MPI_Finalize();
}

}  // namespace

std::shared_ptr<Engine> world_engine() {
    std::lock_guard lock(world_mutex);
    return world;
}

bool world_initialized() noexcept {
    std::lock_guard lock(world_mutex);
    return initialized;
}

}  // namespace detail::mpi

void mpi::init(int argc, char** argv) {
    namespace impl = detail::mpi;
    // Spawned and forkserver children of a process pool on rank 0
    // re-execute this program: they become those children here, before MPI.
    tandem::init(argc, argv);
    std::unique_lock lock(impl::world_mutex);
    if (impl::initialized) return;
    int already = 0;
    MPI_Initialized(&already);
    if (already != 0) {
        throw RuntimeError(
            "tandem::mpi::init: MPI is already initialized; a program that initializes MPI itself uses "
            "tandem::mpi::CommExecutor instead");
    }
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    impl::initialized = true;
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    int rank = 0;
    int size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    const std::string problem = impl::startup_problem(impl::exchange_identities(comm), impl::kRoot);
    if (!problem.empty()) {
        if (rank == impl::kRoot) std::fprintf(stderr, "tandem::mpi::init: %s\n", problem.c_str());
        MPI_Comm_free(&comm);
        MPI_Finalize();
        std::exit(impl::kStartupFailedStatus);
    }
    if (rank != impl::kRoot) {
        lock.unlock();
        {
            impl::FatalSignalReporter reporter(rank, size);
            impl::serve(comm, impl::kRoot);
        }
        MPI_Comm_free(&comm);
        MPI_Finalize();
        std::exit(0);
    }
    if (size > 1) {
        try {
            impl::world = std::make_shared<impl::Engine>(comm, impl::kRoot);
        } catch (const std::exception& e) {
            // The other ranks already serve: without the engine nobody would
            // ever release them.
            impl::abort_job(comm, std::string("rank 0 cannot start its communication thread: ") + e.what());
        }
    } else {
        MPI_Comm_free(&comm);
    }
    std::atexit(&impl::finish_world);
}

}  // namespace tandem

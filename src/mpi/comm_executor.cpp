// mpi::CommExecutor: see tandem/mpi/pool_executor.hpp.
#include <string>   // messages
#include <utility>  // std::move

#include "tandem/detail/mpi/engine.hpp"         // Engine
#include "tandem/detail/mpi/fatal_signals.hpp"  // FatalSignalReporter
#include "tandem/detail/mpi/protocol.hpp"       // abort_job
#include "tandem/detail/mpi/server.hpp"         // serve
#include "tandem/detail/mpi/startup.hpp"        // exchange_identities, startup_problem
#include "tandem/detail/mpi/world.hpp"          // world_initialized
#include "tandem/errors.hpp"                    // ValueError, RuntimeError, ProcessError
#include "tandem/mpi/pool_executor.hpp"         // the declarations

namespace tandem::mpi {

CommExecutor::CommExecutor(MPI_Comm comm, int root) {
    int initialized = 0;
    int finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized == 0 || finalized != 0) {
        throw RuntimeError("tandem::mpi::CommExecutor: MPI is not initialized (call MPI_Init_thread first)");
    }
    if (detail::mpi::world_initialized()) {
        throw RuntimeError(
            "tandem::mpi::CommExecutor: this program called tandem::mpi::init(), where only rank 0 runs main; use "
            "tandem::mpi::PoolExecutor there");
    }
    if (comm == MPI_COMM_NULL) throw ValueError("tandem::mpi::CommExecutor: the communicator is MPI_COMM_NULL");
    int inter = 0;
    MPI_Comm_test_inter(comm, &inter);
    if (inter != 0) throw ValueError("tandem::mpi::CommExecutor: an intercommunicator cannot be split into a root and workers");
    int rank = 0;
    int size = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (root < 0 || root >= size) {
        throw ValueError("tandem::mpi::CommExecutor: root " + std::to_string(root) + " is not a rank of a communicator of " +
                         std::to_string(size));
    }
    if (size < 2) {
        throw ValueError(
            "tandem::mpi::CommExecutor: a communicator of one rank has nobody to serve tasks; use a "
            "ThreadPoolExecutor or ProcessPoolExecutor on one process");
    }

    // The executor's own communicator: its messages never meet the program's.
    MPI_Comm own = MPI_COMM_NULL;
    MPI_Comm_dup(comm, &own);
    const std::string problem =
        detail::mpi::startup_problem(detail::mpi::exchange_identities(own), root);
    if (!problem.empty()) {
        MPI_Comm_free(&own);
        throw ProcessError("tandem::mpi::CommExecutor: " + problem);
    }
    if (rank == root) {
        try {
            engine_ = std::make_shared<detail::mpi::Engine>(own, root);
            executor_.emplace(PoolExecutor(engine_));
        } catch (const std::exception& e) {
            // The other ranks already serve: without the engine nobody would
            // ever release them.
            detail::mpi::abort_job(own, std::string("the root cannot start its communication thread: ") + e.what());
        }
        return;
    }
    {
        detail::mpi::FatalSignalReporter reporter(rank, size);
        detail::mpi::serve(own, root);
    }
    MPI_Comm_free(&own);
}

CommExecutor::~CommExecutor() {
    if (!engine_) return;
    executor_.reset();  // shutdown(wait = true)
    engine_->stop();
}

}  // namespace tandem::mpi

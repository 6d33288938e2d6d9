// mpi::PoolExecutor's non-template members: see tandem/mpi/pool_executor.hpp.
#include "tandem/mpi/pool_executor.hpp"

#include <utility>  // std::move

#include "tandem/detail/mpi/world.hpp"  // world_engine, world_initialized

namespace tandem::mpi {

PoolExecutor::PoolExecutor() {
    if (!detail::mpi::world_initialized()) {
        throw RuntimeError(
            "tandem::mpi::PoolExecutor needs tandem::mpi::init(argc, argv) first thing in main (or use "
            "tandem::mpi::CommExecutor in a program that initializes MPI itself)");
    }
    engine_ = detail::mpi::world_engine();
    if (!engine_) {
        throw ValueError(
            "tandem::mpi::PoolExecutor: no rank serves tasks; start the program with mpirun -np N, N >= 2 (one "
            "root and N - 1 serving ranks)");
    }
    client_ = engine_->attach();
}

PoolExecutor::PoolExecutor(std::shared_ptr<detail::mpi::Engine> engine)
    : engine_(std::move(engine)), client_(engine_->attach()) {}

PoolExecutor::~PoolExecutor() { shutdown(); }

void PoolExecutor::shutdown(ShutdownOptions options) {
    if (engine_) engine_->shutdown(*client_, options.wait, options.cancel_futures);
}

}  // namespace tandem::mpi

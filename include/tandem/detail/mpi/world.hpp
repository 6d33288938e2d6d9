// Internal: the program-wide pool mpi::init() sets up on rank 0, shared by
// every PoolExecutor made there (see tandem/mpi/pool_executor.hpp).
#pragma once

#include <memory>  // the engine

#include "tandem/detail/mpi/engine.hpp"  // Engine

namespace tandem::detail::mpi {

/// The engine over MPI_COMM_WORLD's other ranks, or nullptr when this
/// process is not rank 0 of a program that called mpi::init() (or the
/// program is exiting).
std::shared_ptr<Engine> world_engine();

/// True once mpi::init() has initialized MPI in this process.
bool world_initialized() noexcept;

}  // namespace tandem::detail::mpi

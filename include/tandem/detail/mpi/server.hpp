// Internal: a serving rank's loop — what every rank but the root of an
// mpi::PoolExecutor does until the root says stop.
//
// It waits for a message from the root with MPI_Improbe (never a blocking
// receive, which spins inside Open MPI: see backoff.hpp), receives a call
// into a buffer of the probed size (kept for the next call while it stays
// small), runs it with run_task, and sends the encoded outcome straight from
// the buffer the trampoline returned. Tasks run on this thread, one at a
// time, in the order they came; the fatal-signal reporter (fatal_signals.hpp)
// is told while one runs, so a crash names the rank and says so.
#pragma once

#include <mpi.h>  // MPI_Comm

namespace tandem::detail::mpi {

/// Serves the root `root` of `comm` until it sends kStopTag. A message the
/// protocol does not allow (protocol.hpp) ends the job with abort_job.
void serve(MPI_Comm comm, int root);

}  // namespace tandem::detail::mpi

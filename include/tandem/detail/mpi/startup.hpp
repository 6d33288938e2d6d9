// Internal: what every rank of an mpi::PoolExecutor checks before the first
// task, together, so that all of them reach the same verdict.
//
// A FunctionId only means something between processes of the same build
// (detail/wire/function_id.hpp), and under mpirun the ranks are started
// independently, possibly from different copies of the program on
// different hosts. So each rank contributes its build_id(), its host and
// pid, and the MPI thread level it has; every rank gathers all of them
// (two MPI_Allgather calls, each length bounded before anything is
// allocated) and computes the same verdict: the ranks whose build differs
// from the root's, or a root without MPI_THREAD_SERIALIZED (the root's
// communication thread is not the thread that initialized MPI).
#pragma once

#include <mpi.h>        // MPI_Comm
#include <sys/types.h>  // pid_t

#include <cstddef>  // std::byte
#include <string>   // hosts, the verdict
#include <vector>   // ranks, build ids

namespace tandem::detail::mpi {

/// What one rank said about itself.
struct RankIdentity {
    int rank = 0;
    pid_t pid = 0;
    int thread_level = 0;  // MPI_Query_thread
    std::string host;
    std::vector<std::byte> build_id;
};

/// Collective over `comm`: every rank's identity, in rank order. A length
/// a peer claims beyond what a build id or host name can be ends the job
/// (abort_job): that peer does not speak this protocol.
std::vector<RankIdentity> exchange_identities(MPI_Comm comm);

/// The reason the ranks cannot work together with `root` as the root, as a
/// sentence naming each rank that runs a different build (host, pid, both
/// build ids), or the root's thread level; empty if they can. The same on
/// every rank.
std::string startup_problem(const std::vector<RankIdentity>& ranks, int root);

}  // namespace tandem::detail::mpi

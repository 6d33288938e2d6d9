// The start-up check every rank makes: see tandem/detail/mpi/startup.hpp.
#include "tandem/detail/mpi/startup.hpp"

#include <unistd.h>  // getpid

#include <cstdint>  // std::uint32_t
#include <span>     // build ids
#include <string>   // messages

#include "tandem/detail/mpi/protocol.hpp"      // abort_job
#include "tandem/detail/wire/function_id.hpp"  // build_id, to_hex

namespace tandem::detail::mpi {
namespace {

// Marks the layout below, so that a rank of an older tandem fails the check
// instead of being misread.
constexpr std::uint32_t kIdentityVersion = 0x746d7031;  // "tmp1"
// GNU build ids are 16 or 20 bytes, a file digest 24: far more is a lie.
constexpr int kMaxBuildIdBytes = 1024;

struct FixedIdentity {
    std::uint32_t version;
    std::int32_t pid;
    std::int32_t thread_level;
    std::int32_t build_id_size;
    char host[MPI_MAX_PROCESSOR_NAME + 1];
};

const char* thread_level_name(int level) {
    switch (level) {
        case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
        case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
        case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
        case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
        default: return "an unknown thread level";
    }
}

}  // namespace

std::vector<RankIdentity> exchange_identities(MPI_Comm comm) {
    int size = 0;
    MPI_Comm_size(comm, &size);
    const std::span<const std::byte> own_build = build_id();

    FixedIdentity own{};
    own.version = kIdentityVersion;
    own.pid = static_cast<std::int32_t>(::getpid());
    MPI_Query_thread(&own.thread_level);
    own.build_id_size = static_cast<std::int32_t>(own_build.size());
    int host_length = 0;
    MPI_Get_processor_name(own.host, &host_length);
    own.host[MPI_MAX_PROCESSOR_NAME] = '\0';

    std::vector<FixedIdentity> fixed(static_cast<std::size_t>(size));
    MPI_Allgather(&own, sizeof own, MPI_BYTE, fixed.data(), sizeof own, MPI_BYTE, comm);

    std::vector<int> counts(static_cast<std::size_t>(size));
    std::vector<int> offsets(static_cast<std::size_t>(size));
    int total = 0;
    for (int rank = 0; rank < size; ++rank) {
        const FixedIdentity& peer = fixed[static_cast<std::size_t>(rank)];
        if (peer.version != kIdentityVersion || peer.build_id_size < 0 || peer.build_id_size > kMaxBuildIdBytes) {
            abort_job(comm, "rank " + std::to_string(rank) +
                                " does not speak this version of tandem's start-up check (a different build of the "
                                "program or of tandem)");
        }
        counts[static_cast<std::size_t>(rank)] = peer.build_id_size;
        offsets[static_cast<std::size_t>(rank)] = total;
        total += peer.build_id_size;  // at most size * kMaxBuildIdBytes
    }
    std::vector<std::byte> builds(static_cast<std::size_t>(total));
    MPI_Allgatherv(own_build.data(), own.build_id_size, MPI_BYTE, builds.data(), counts.data(), offsets.data(),
                   MPI_BYTE, comm);

    std::vector<RankIdentity> ranks(static_cast<std::size_t>(size));
    for (int rank = 0; rank < size; ++rank) {
        const auto index = static_cast<std::size_t>(rank);
        FixedIdentity& peer = fixed[index];
        peer.host[MPI_MAX_PROCESSOR_NAME] = '\0';
        RankIdentity& identity = ranks[index];
        identity.rank = rank;
        identity.pid = static_cast<pid_t>(peer.pid);
        identity.thread_level = peer.thread_level;
        identity.host = peer.host;
        const auto first = builds.begin() + offsets[index];
        identity.build_id.assign(first, first + counts[index]);
    }
    return ranks;
}

std::string startup_problem(const std::vector<RankIdentity>& ranks, int root) {
    const RankIdentity& reference = ranks.at(static_cast<std::size_t>(root));
    std::string problem;
    for (const RankIdentity& peer : ranks) {
        if (peer.build_id == reference.build_id) continue;
        problem += "rank " + std::to_string(peer.rank) + " (pid " + std::to_string(peer.pid) + " on " + peer.host +
                   ") runs a different build of the program than rank " + std::to_string(root) + " (pid " +
                   std::to_string(reference.pid) + " on " + reference.host + "): build id " + to_hex(peer.build_id) + " there, " + to_hex(reference.build_id) +
                   " on rank " + std::to_string(root) + ". ";
    }
    if (!problem.empty()) {
        return problem + "Tasks name functions by their place in the program, so every rank must run the same "
                         "executable: rebuild once and start that file on every host";
    }
    if (reference.thread_level < MPI_THREAD_SERIALIZED) {
        return "MPI gives the root (rank " + std::to_string(root) + ") only " +
               thread_level_name(reference.thread_level) +
               ", and tandem talks to the other ranks from a thread of its own: initialize MPI with "
               "MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided)";
    }
    return {};
}

}  // namespace tandem::detail::mpi

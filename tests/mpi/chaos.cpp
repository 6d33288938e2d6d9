// Crash scenarios for mpi::PoolExecutor, each an MPI job that must *end*,
// within seconds and with a message naming the rank and the cause: Open MPI
// is not fault tolerant, so the one unacceptable outcome is a hang. Run by
// expect_job_end.sh, which times the end from the "chaos:" line and checks
// the messages (tests/mpi/CMakeLists.txt):
//   test_mpi_chaos kill    rank 2 is killed with SIGKILL in the middle of a map
//   test_mpi_chaos segv    a task dereferences a wild pointer
//   test_mpi_chaos abort   a task calls std::abort()
//   test_mpi_chaos exit    a task calls std::exit(3)
// In each case the map below can never finish: it waits for a rank that is
// gone. If the job is not ended for it, expect_job_end.sh kills it and fails.
//   test_mpi_chaos exit_in_callback   rank 0 calls std::exit(0) from a
//                          done-callback while large results are on their way:
//                          the job must still end, with status 0.
#include <signal.h>  // kill, SIGKILL
#include <unistd.h>  // getpid

#include <chrono>   // a task's workload
#include <cstddef>  // std::byte, std::size_t
#include <cstdint>  // std::uintptr_t
#include <cstdio>   // printf
#include <cstdlib>  // std::abort, std::exit
#include <ranges>   // std::views::iota
#include <string>   // the scenario
#include <thread>   // sleep_for: a task's workload
#include <utility>  // std::pair
#include <vector>   // large results

#include <mpi.h>  // MPI_Comm_rank inside tasks

#include "tandem/mpi/pool_executor.hpp"  // mpi::init, mpi::PoolExecutor

namespace {

// Read through a volatile, so the compiler cannot see the wild write coming.
volatile std::uintptr_t wild_address = 8;

// The rank and pid that ran one input of the map; takes 20 ms.
std::pair<int, int> where(int /*input*/) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return {rank, static_cast<int>(::getpid())};
}
// The 8th input of a map crashes its rank, each in its own way.
int segfault_at_seven(int x) {
    if (x == 7) *reinterpret_cast<volatile int*>(wild_address) = 1;
    return x;
}
int abort_at_seven(int x) {
    if (x == 7) std::abort();
    return x;
}
int exit_at_seven(int x) {
    if (x == 7) std::exit(3);
    return x;
}

// A slow task with an 8 MiB result: MPI hands it over only when the root
// takes it (a rendezvous), so a root that stopped taking answers would
// leave its rank waiting for ever.
std::vector<std::byte> large_result(int /*input*/) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return std::vector<std::byte>(std::size_t{8} << 20, std::byte{1});
}
int quick(int x) { return x; }

int exit_in_callback(tandem::mpi::PoolExecutor& pool) {
    std::printf("chaos: exit(0) from a done-callback while large results are on their way\n");
    std::fflush(stdout);
    tandem::Future<int> first = pool.submit(quick, 1);
    std::vector<tandem::Future<std::vector<std::byte>>> large;
    for (int i = 0; i < 4; ++i) large.push_back(pool.submit(large_result, i));
    first.add_done_callback([] { std::exit(0); });
    for (auto& future : large) static_cast<void>(future.result());
    return 3;
}

int kill_mid_map(tandem::mpi::PoolExecutor& pool) {
    bool killed = false;
    for (const auto& [rank, pid] : pool.map(where, std::views::iota(0, 2000))) {
        if (rank == 2 && !killed) {
            std::printf("chaos: killing rank 2 (pid %d) with SIGKILL in the middle of a map\n", pid);
            std::fflush(stdout);
            ::kill(pid, SIGKILL);
            killed = true;
        }
    }
    return 3;
}

int crash_mid_map(tandem::mpi::PoolExecutor& pool, int (*task)(int), const char* what) {
    std::printf("chaos: a map whose 8th task %s\n", what);
    std::fflush(stdout);
    for (int value : pool.map(task, std::views::iota(0, 40))) static_cast<void>(value);
    return 3;
}

}  // namespace

int main(int argc, char** argv) {
    tandem::mpi::init(argc, argv);
    tandem::mpi::PoolExecutor pool;
    const std::string scenario = argc > 1 ? argv[1] : "";
    int status = 2;
    if (scenario == "kill") status = kill_mid_map(pool);
    if (scenario == "segv") status = crash_mid_map(pool, &segfault_at_seven, "writes through a wild pointer");
    if (scenario == "abort") status = crash_mid_map(pool, &abort_at_seven, "calls std::abort()");
    if (scenario == "exit") status = crash_mid_map(pool, &exit_at_seven, "calls std::exit(3)");
    if (scenario == "exit_in_callback") status = exit_in_callback(pool);
    std::printf("chaos: the job went on after '%s', which it cannot\n", scenario.c_str());
    return status;
}

// mpi::CommExecutor (mpi4py's MPICommExecutor) in a program that runs its
// own code on every rank and initializes MPI itself. Every rank runs these
// tests: each one is collective, the root checks the executor, the others
// check that they served and came back without one. Run by CTest as
//   scripts/mpirun.sh -np 3 test_mpi_comm_executor
// and, for the thread-level check, with --thread-single on 2 ranks.
#include <gtest/gtest.h>  // TEST, EXPECT_*
#include <mpi.h>          // MPI_Init_thread, communicators

#include <cstdio>   // failures of other ranks
#include <cstring>  // std::strcmp
#include <ranges>   // std::views::iota
#include <set>      // ranks that ran tasks
#include <vector>   // results

#include "tandem/errors.hpp"             // ValueError, RuntimeError, ProcessError
#include "tandem/mpi/pool_executor.hpp"  // CommExecutor, PoolExecutor

namespace {

using tandem::mpi::CommExecutor;
using tandem::mpi::PoolExecutor;

int world_rank() {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}
int world_size() {
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}
int square(int x) { return x * x; }
int rank_here() { return world_rank(); }

// mpi4py.futures: MPICommExecutor(comm, root) gives the root an executor and
// None to the others, which serve until the root leaves the with-block; then
// every rank carries on.
TEST(MpiCommExecutor, RootGetsAnExecutorTheOthersServe) {
    std::set<int> ranks;
    {
        CommExecutor comm_executor(MPI_COMM_WORLD, 0);
        if (world_rank() == 0) {
            ASSERT_TRUE(comm_executor);
            PoolExecutor* executor = comm_executor.executor();
            ASSERT_NE(executor, nullptr);
            EXPECT_EQ(executor->max_workers(), static_cast<std::size_t>(world_size() - 1));
            EXPECT_EQ(executor->submit(square, 9).result(), 81);
            long sum = 0;
            for (int value : executor->map(square, std::views::iota(0, 100), {.chunksize = 10})) sum += value;
            EXPECT_EQ(sum, 328350);
            std::vector<tandem::Future<int>> where;
            for (int i = 0; i < 50; ++i) where.push_back(executor->submit(rank_here));
            for (auto& future : where) ranks.insert(future.result());
            EXPECT_EQ(ranks.count(0), 0U);
        } else {
            EXPECT_FALSE(comm_executor);
            EXPECT_EQ(comm_executor.executor(), nullptr);
        }
    }
    // Every rank is back: a collective of the program's own completes.
    int one = 1;
    int total = 0;
    MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    EXPECT_EQ(total, world_size());
}

// mpi4py.futures: any rank may be the root.
TEST(MpiCommExecutor, TheLastRankAsRoot) {
    const int root = world_size() - 1;
    CommExecutor comm_executor(MPI_COMM_WORLD, root);
    if (world_rank() == root) {
        ASSERT_NE(comm_executor.executor(), nullptr);
        EXPECT_NE(comm_executor.executor()->submit(rank_here).result(), root);
    } else {
        EXPECT_EQ(comm_executor.executor(), nullptr);
    }
}

// mpi4py.futures: the communicator may be any intracommunicator; one of a
// single rank has nobody to serve (tandem refuses it: see the header).
TEST(MpiCommExecutor, SplitCommunicators) {
    // Ranks 0 and 1 together; rank 2 (and beyond) alone each.
    const int rank = world_rank();
    MPI_Comm part = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : rank, rank, &part);
    if (rank < 2) {
        CommExecutor comm_executor(part, 1);
        if (rank == 1) {
            ASSERT_NE(comm_executor.executor(), nullptr);
            EXPECT_EQ(comm_executor.executor()->submit(rank_here).result(), 0);
        }
    } else {
        EXPECT_THROW(CommExecutor(part, 0), tandem::ValueError);
    }
    MPI_Comm_free(&part);
}

// Sequential executors on the same communicator each start and end cleanly.
TEST(MpiCommExecutor, OneAfterAnother) {
    for (int round = 0; round < 3; ++round) {
        CommExecutor comm_executor(MPI_COMM_WORLD, 0);
        if (PoolExecutor* executor = comm_executor.executor()) {
            EXPECT_EQ(executor->submit(square, round).result(), round * round);
        }
    }
}

// Bad arguments are refused on every rank alike, before any collective.
TEST(MpiCommExecutor, RejectsBadArguments) {
    EXPECT_THROW(CommExecutor(MPI_COMM_WORLD, world_size()), tandem::ValueError);
    EXPECT_THROW(CommExecutor(MPI_COMM_WORLD, -1), tandem::ValueError);
    EXPECT_THROW(CommExecutor(MPI_COMM_NULL, 0), tandem::ValueError);
    EXPECT_THROW(CommExecutor(MPI_COMM_SELF, 0), tandem::ValueError);
}

// mpi::PoolExecutor belongs to programs started through mpi::init(); here it
// says so instead of hanging.
TEST(MpiCommExecutor, PoolExecutorWithoutInitIsAnError) {
    EXPECT_THROW(PoolExecutor(), tandem::RuntimeError);
}

// With MPI at MPI_THREAD_SINGLE (this program run with --thread-single),
// every rank refuses to start, with the reason, rather than letting two
// threads of the root call MPI (mpi4py only warns).
TEST(MpiCommExecutorThreadLevel, NeedsThreadSerialized) {
    int provided = -1;
    MPI_Query_thread(&provided);
    ASSERT_LT(provided, MPI_THREAD_SERIALIZED) << "run with --thread-single";
    try {
        CommExecutor comm_executor(MPI_COMM_WORLD, 0);
        FAIL() << "no exception";
    } catch (const tandem::ProcessError& e) {
        EXPECT_NE(std::string(e.what()).find("MPI_THREAD_SERIALIZED"), std::string::npos) << e.what();
    }
}

// Failures of the ranks other than 0, which print nothing else: one line each.
class RankFailurePrinter : public testing::EmptyTestEventListener {
public:
    explicit RankFailurePrinter(int rank) : rank_(rank) {}
    void OnTestPartResult(const testing::TestPartResult& result) override {
        if (!result.failed()) return;
        std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank_, result.file_name() ? result.file_name() : "?",
                     result.line_number(), result.message());
    }

private:
    int rank_;
};

}  // namespace

// Every rank runs main and all the tests. --thread-single initializes MPI
// at MPI_THREAD_SINGLE and runs only the thread-level test; otherwise that
// one is left out.
int main(int argc, char** argv) {
    bool thread_single = false;
    for (int i = 1; i < argc; ++i) thread_single = thread_single || std::strcmp(argv[i], "--thread-single") == 0;
    int provided = 0;
    if (thread_single) {
        MPI_Init(&argc, &argv);
    } else {
        MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    }
    testing::GTEST_FLAG(filter) = thread_single ? "MpiCommExecutorThreadLevel.*" : "-MpiCommExecutorThreadLevel.*";
    testing::InitGoogleTest(&argc, argv);
    if (world_rank() != 0) {
        testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
        delete listeners.Release(listeners.default_result_printer());
        listeners.Append(new RankFailurePrinter(world_rank()));
    }
    const int status = RUN_ALL_TESTS();
    MPI_Finalize();
    return status;
}

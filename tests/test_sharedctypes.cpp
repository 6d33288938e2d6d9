// Tests for tandem/multiprocessing/sharedctypes.hpp: Python's
// multiprocessing.Value, Array, RawValue and RawArray (ported from CPython's
// _TestValue and _TestArray), shared with children made by fork().
#include "tandem/multiprocessing/sharedctypes.hpp"

#include "tandem/errors.hpp"  // ValueError

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "support/child_process.hpp"  // fork_child, join_child, open_fd_count

#include <cerrno>      // errno
#include <chrono>      // the bound on a child's life
#include <csignal>     // SIGKILL
#include <cstring>     // std::strerror
#include <mutex>       // std::lock_guard
#include <numeric>     // std::accumulate
#include <sched.h>     // sched_yield
#include <sys/wait.h>  // waitpid
#include <thread>      // sleep_for while polling a child
#include <unistd.h>    // fork, _exit
#include <vector>      // children, source data

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;

namespace {

using tandem_test::fork_child;
using tandem_test::join_child;

struct Point {
    int x;
    double y;
};

}  // namespace

// ============================== Value / RawValue ==============================

// multiprocessing: Value(typecode) starts at zero; Value(typecode, v) holds v; .value reads and writes it.
TEST(MpValue, InitialValueAndAssignment) {
    mp::Value<int> zero;
    EXPECT_EQ(zero.value(), 0);
    mp::Value<double> number(3.25);
    EXPECT_EQ(number.value(), 3.25);
    number.value(-1.5);
    EXPECT_EQ(number.value(), -1.5);
    mp::Value<Point> point(Point{1, 2.5});
    EXPECT_EQ(point.value().x, 1);
    EXPECT_EQ(point.value().y, 2.5);
    mp::RawValue<char> raw('a');
    EXPECT_EQ(raw.value(), 'a');
    raw.value('z');
    EXPECT_EQ(raw.value(), 'z');
}

// multiprocessing: get_lock() is an RLock, so reading .value while holding it does not deadlock; get_obj() is the raw value underneath.
TEST(MpValue, GetLockIsRecursiveAndGetObjShares) {
    mp::Value<long> value(5);
    {
        std::lock_guard guard(value.get_lock());
        value.value(value.value() + 1);  // each access takes the lock again
        EXPECT_TRUE(value.get_lock().locked());
    }
    EXPECT_FALSE(value.get_lock().locked());
    value.get_obj().value(40);
    EXPECT_EQ(value.value(), 40);
    // Copies share the memory and the lock.
    mp::Value<long> copy = value;
    copy.value(41);
    EXPECT_EQ(value.value(), 41);
    std::lock_guard guard(copy.get_lock());
    EXPECT_TRUE(value.get_lock().locked());
}

// multiprocessing: Value(typecode, v, lock=l) uses the given lock, which can guard several values.
TEST(MpValue, SharedLock) {
    mp::RLock lock;
    mp::Value<int> a(1, lock);
    mp::Value<int> b(2, lock);
    std::lock_guard guard(a.get_lock());
    EXPECT_TRUE(b.get_lock().locked());
    EXPECT_EQ(a.value() + b.value(), 3);
}

// multiprocessing (test_value): children increment a Value under get_lock(); the total is exact.
TEST(MpValue, IncrementsAcrossProcessesUnderLock) {
    constexpr int processes = 4;
    constexpr int increments = 1000;
    mp::Value<long> counter(0);
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        children.push_back(fork_child([&] {
            for (int i = 0; i < increments; ++i) {
                std::lock_guard guard(counter.get_lock());
                const long seen = counter.value();
                if (i % 64 == 0) sched_yield();  // widen the race window the lock must close
                counter.value(seen + 1);
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(counter.value(), long{processes} * increments);
}

// multiprocessing: a RawValue written by a child is seen by the parent.
TEST(MpValue, RawValueSharedWithChild) {
    mp::RawValue<Point> point(Point{0, 0.0});
    const pid_t child = fork_child([&] {
        point.value(Point{7, 0.5});
        return 0;
    });
    ASSERT_EQ(join_child(child), 0);
    EXPECT_EQ(point.value().x, 7);
    EXPECT_EQ(point.value().y, 0.5);
}

// ============================== Array / RawArray ==============================

// multiprocessing: Array(typecode, size) is zero-filled; Array(typecode, sequence) copies it; len() and indexing work.
TEST(MpArray, ConstructionAndIndexing) {
    mp::Array<int> zeros(10);
    EXPECT_EQ(zeros.size(), 10u);
    EXPECT_EQ(std::accumulate(zeros.begin(), zeros.end(), 0), 0);
    mp::Array<int> listed{1, 2, 3, 4};
    EXPECT_EQ(listed.size(), 4u);
    EXPECT_EQ(std::accumulate(listed.begin(), listed.end(), 0), 10);
    listed[2] = 30;
    EXPECT_EQ(listed.get_obj()[2], 30);
    const std::vector<double> source{0.5, 1.5};
    mp::RawArray<double> copied{std::span<const double>(source)};
    EXPECT_EQ(copied.size(), 2u);
    EXPECT_EQ(copied[1], 1.5);
    EXPECT_EQ(copied.data(), &copied[0]);
    mp::RawArray<Point> points(3);
    EXPECT_EQ(points[2].x, 0);
}

// multiprocessing: an empty array has length 0.
TEST(MpArray, Empty) {
    mp::RawArray<int> empty(0);
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_EQ(empty.begin(), empty.end());
    mp::Array<int> locked_empty(std::size_t{0});
    EXPECT_EQ(locked_empty.size(), 0u);
}

// tandem: an array whose byte size cannot exist raises ValueError instead of wrapping around.
TEST(MpArray, AbsurdSizeRaises) {
    // volatile keeps g++ 12 from propagating the constant into the memset
    // that the check makes unreachable, and warning about it (-Wstringop-overflow).
    const volatile std::size_t absurd = static_cast<std::size_t>(-1) / 2;
    EXPECT_THROW({ const mp::RawArray<double> array(absurd); }, tandem::ValueError);
}

// multiprocessing (test_array): children update every element under get_lock(); the parent sees exact totals.
TEST(MpArray, UpdatesAcrossProcessesUnderLock) {
    constexpr int processes = 3;
    constexpr int rounds = 300;
    mp::Array<long> totals(4);
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        children.push_back(fork_child([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard guard(totals.get_lock());
                for (long& element : totals) element += 1;
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    for (const long total : totals) EXPECT_EQ(total, long{processes} * rounds);
}

// multiprocessing: Array(..., lock=l) uses the given RLock.
TEST(MpArray, SharedLock) {
    mp::RLock lock;
    mp::Array<int> array(3, lock);
    std::lock_guard guard(lock);
    EXPECT_TRUE(array.get_lock().locked());
    EXPECT_EQ(array.size(), 3u);
}

// tandem internals: a RawArray re-attached from its descriptor (as a spawned process would) sees the same elements and its size; the wrong type is refused.
TEST(MpArray, AttachFromDescriptor) {
    using Access = tandem::detail::SharedObjectAccess;
    using tandem::detail::Placement;
    using tandem::detail::SharedRegion;
    mp::Array<int> array{5, 6, 7};
    const auto& raw = array.get_obj();
    const auto& region = Access::region(raw);
    auto attached_region =
        std::make_shared<SharedRegion>(SharedRegion::from_fd(::dup(region->fd()), region->size()));
    auto attached = Access::make<mp::RawArray<int>>(attached_region, Access::offset(raw), Placement::attach);
    EXPECT_EQ(attached.size(), 3u);
    EXPECT_EQ(attached[2], 7);
    attached[0] = 50;
    EXPECT_EQ(array[0], 50);
    // The lock lives in the same region, so one descriptor carries both.
    const auto& lock = array.get_lock();
    EXPECT_EQ(Access::region(lock), region);
    auto attached_lock = Access::make<mp::RLock>(attached_region, Access::offset(lock), Placement::attach);
    auto rebuilt = Access::make<mp::Array<int>>(std::move(attached), std::move(attached_lock));
    std::lock_guard guard(array.get_lock());
    EXPECT_TRUE(rebuilt.get_lock().locked());
    EXPECT_EQ(rebuilt[0], 50);
    EXPECT_THROW(Access::make<mp::RawArray<double>>(attached_region, Access::offset(raw), Placement::attach),
                 tandem::ValueError);
    EXPECT_THROW(Access::make<mp::RawValue<int>>(attached_region, Access::offset(raw), Placement::attach),
                 tandem::ValueError);
}

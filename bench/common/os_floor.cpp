// The raw OS floors: see os_floor.hpp.
#include "os_floor.hpp"

#include <linux/futex.h>  // FUTEX_WAIT, FUTEX_WAKE
#include <sys/mman.h>     // shared memory for the futex word
#include <sys/syscall.h>  // SYS_futex
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, pipe, read, write

#include <algorithm>  // std::nth_element
#include <atomic>     // the futex word
#include <chrono>     // timing
#include <cstdlib>    // std::abort
#include <cstring>    // std::memcpy
#include <vector>     // samples and buffers

namespace tandem_bench {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> samples) {
    auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
    std::nth_element(samples.begin(), middle, samples.end());
    return *middle;
}

double micros_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

void check(bool ok) {
    if (!ok) std::abort();  // a benchmark of system calls that fail measures nothing
}

void wait_child(pid_t pid) {
    int status = 0;
    check(::waitpid(pid, &status, 0) == pid);
}

long futex(std::atomic<int>* word, int op, int value) {
    return ::syscall(SYS_futex, reinterpret_cast<int*>(word), op, value, nullptr, nullptr, 0);
}

// Waits until *word == expected: spins a little, then sleeps on the futex.
void await_value(std::atomic<int>* word, int expected) {
    for (int spin = 0; spin < 2000; ++spin) {
        if (word->load(std::memory_order_acquire) == expected) return;
    }
    for (int seen; (seen = word->load(std::memory_order_acquire)) != expected;) futex(word, FUTEX_WAIT, seen);
}

void store_and_wake(std::atomic<int>* word, int value) {
    word->store(value, std::memory_order_release);
    futex(word, FUTEX_WAKE, 1);
}

}  // namespace

double pipe_ping_pong_us(std::size_t round_trips) {
    int to_child[2], to_parent[2];
    check(::pipe(to_child) == 0 && ::pipe(to_parent) == 0);
    const pid_t pid = ::fork();
    check(pid >= 0);
    if (pid == 0) {
        char byte;
        for (std::size_t i = 0; i < round_trips; ++i) {
            if (::read(to_child[0], &byte, 1) != 1 || ::write(to_parent[1], &byte, 1) != 1) ::_exit(1);
        }
        ::_exit(0);
    }
    std::vector<double> samples(round_trips);
    char byte = 'x';
    for (auto& sample : samples) {
        const auto start = Clock::now();
        check(::write(to_child[1], &byte, 1) == 1 && ::read(to_parent[0], &byte, 1) == 1);
        sample = micros_since(start);
    }
    wait_child(pid);
    for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) ::close(fd);
    return median(std::move(samples));
}

double futex_ping_pong_us(std::size_t round_trips) {
    void* memory = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check(memory != MAP_FAILED);
    auto* words = new (memory) std::atomic<int>[2]{0, 0};  // [0]: to child, [1]: to parent
    const pid_t pid = ::fork();
    check(pid >= 0);
    if (pid == 0) {
        for (int i = 1; i <= static_cast<int>(round_trips); ++i) {
            await_value(&words[0], i);
            store_and_wake(&words[1], i);
        }
        ::_exit(0);
    }
    std::vector<double> samples(round_trips);
    for (std::size_t i = 0; i < round_trips; ++i) {
        const auto start = Clock::now();
        store_and_wake(&words[0], static_cast<int>(i + 1));
        await_value(&words[1], static_cast<int>(i + 1));
        samples[i] = micros_since(start);
    }
    wait_child(pid);
    ::munmap(memory, 4096);
    return median(std::move(samples));
}

double memcpy_gib_per_s(std::size_t bytes, int reps) {
    std::vector<char> from(bytes, 'a'), to(bytes, 'b');  // both touched: no page faults timed
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        std::memcpy(to.data(), from.data(), bytes);
        const double seconds = micros_since(start) / 1e6;
        samples.push_back(static_cast<double>(bytes) / seconds / (1024.0 * 1024.0 * 1024.0));
        from[static_cast<std::size_t>(rep) % bytes] = to[0];  // keep the copies observable
    }
    return median(std::move(samples));
}

double fork_wait_us(int reps) {
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        const pid_t pid = ::fork();
        check(pid >= 0);
        if (pid == 0) ::_exit(0);
        wait_child(pid);
        samples.push_back(micros_since(start));
    }
    return median(std::move(samples));
}

}  // namespace tandem_bench

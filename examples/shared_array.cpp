// Processes sharing memory on purpose: four processes each fill their quarter
// of a shared Array and add to a shared total under its lock
// (multiprocessing.Array and Value, as in Python).
//
//     example_shared_array [size]           (default 1000000)
#include <cstdio>   // std::printf
#include <cstdlib>  // std::atol
#include <mutex>    // std::lock_guard on the Value's lock
#include <vector>   // the processes

#include "tandem/init.hpp"                          // tandem::init
#include "tandem/multiprocessing/process.hpp"       // Process
#include "tandem/multiprocessing/sharedctypes.hpp"  // Array, Value

using tandem::multiprocessing::Array;
using tandem::multiprocessing::Value;

namespace {

constexpr std::size_t kWorkers = 4;

// Worker `part`: squares its quarter of `data` and adds its sum to `total`.
void fill(Array<long long> data, Value<long long> total, std::size_t part) {
    const std::size_t begin = data.size() * part / kWorkers;
    const std::size_t end = data.size() * (part + 1) / kWorkers;
    long long sum = 0;
    for (std::size_t i = begin; i < end; ++i) sum += data[i] = static_cast<long long>(i * i);
    std::lock_guard guard(total.get_lock());  // read, add, write: one step for the others
    total.value(total.value() + sum);
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    const std::size_t size = argc > 1 ? static_cast<std::size_t>(std::atol(argv[1])) : 1'000'000;
    Array<long long> data(size);  // shared memory, zero-filled
    Value<long long> total(0);
    std::vector<tandem::multiprocessing::Process> workers;
    for (std::size_t part = 0; part < kWorkers; ++part) workers.emplace_back(&fill, data, total, part);
    for (auto& worker : workers) worker.start();
    for (auto& worker : workers) worker.join();

    long long expected = 0;
    for (std::size_t i = 0; i < size; ++i) expected += static_cast<long long>(i * i);
    std::printf("%zu processes filled %zu shared numbers; total %lld (expected %lld)\n", kWorkers, size,
                total.value(), expected);
    return total.value() == expected && data[size - 1] == static_cast<long long>((size - 1) * (size - 1)) ? 0 : 1;
}

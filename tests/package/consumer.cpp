// A user's program: threads, a process pool under spawn (which re-executes
// this program, so tandem::init comes first) and a queue. Exits 0 when every
// result is right.
#include <tandem/init.hpp>
#include <tandem/process_pool_executor.hpp>
#include <tandem/thread_pool_executor.hpp>
#include <tandem/threading/queue.hpp>

#include <cstdio>
#include <string>

int square(int x) { return x * x; }

int main(int argc, char** argv) {
    tandem::init(argc, argv);

    tandem::ThreadPoolExecutor threads({.max_workers = 2});
    int thread_sum = 0;
    for (int value : threads.map(square, std::vector<int>{1, 2, 3})) thread_sum += value;

    tandem::ProcessPoolExecutor processes({.max_workers = 2, .start_method = tandem::multiprocessing::StartMethod::spawn});
    const int remote = processes.submit(square, 7).result();

    tandem::threading::Queue<std::string> queue;
    queue.put("done");

    const bool ok = thread_sum == 14 && remote == 49 && queue.get() == "done";
    std::printf("consumer: thread map %d, process pool %d: %s\n", thread_sum, remote, ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}

// Compiled, not run: every public header, and the calls a user writes most,
// under the strictest warnings a user may turn on (-Wextra included, with
// -Werror). tandem's own sources allow designated initializers that leave
// members out; a header must not make a user's build warn for that.
#include "tandem/errors.hpp"
#include "tandem/executor.hpp"
#include "tandem/future.hpp"
#include "tandem/init.hpp"
#include "tandem/initializer.hpp"
#include "tandem/interpreter_lock.hpp"
#include "tandem/multiprocessing/async_result.hpp"
#include "tandem/multiprocessing/connection.hpp"
#include "tandem/multiprocessing/context.hpp"
#include "tandem/multiprocessing/imap_iterator.hpp"
#include "tandem/multiprocessing/pool.hpp"
#include "tandem/multiprocessing/process.hpp"
#include "tandem/multiprocessing/queues.hpp"
#include "tandem/multiprocessing/shared_memory.hpp"
#include "tandem/multiprocessing/sharedctypes.hpp"
#include "tandem/multiprocessing/synchronize.hpp"
#include "tandem/process_pool_executor.hpp"
#include "tandem/progress.hpp"
#include "tandem/serialization.hpp"
#include "tandem/thread_pool_executor.hpp"
#include "tandem/threading.hpp"
#include "tandem/wait.hpp"

#include <string>  // set_up's parameter
#include <vector>  // map inputs

namespace {

int square(int x) { return x * x; }
void nothing() {}
void set_up(int, std::string) {}

int generic(tandem::Executor auto& executor) {
    int sum = executor.submit(&square, 2).result();
    for (int y : executor.map(&square, std::vector<int>{1, 2, 3}, {.chunksize = 2})) sum += y;
    executor.shutdown({.cancel_futures = true});
    executor.shutdown(true, false);
    return sum;
}

[[maybe_unused]] int typical_use() {
    tandem::ThreadPoolExecutor threads({.max_workers = 2, .initializer = {set_up, 1, "two"}});
    tandem::ProcessPoolExecutor processes({.mp_context = tandem::multiprocessing::get_context("spawn"),
                                           .initializer = {set_up, 1, "two"}});
    tandem::multiprocessing::Pool pool({.processes = 2, .context = tandem::multiprocessing::get_context("fork")});
    tandem::multiprocessing::ThreadPool thread_pool(2, [] {});
    tandem::multiprocessing::Process process(&nothing);
    const auto context = tandem::multiprocessing::get_context(tandem::multiprocessing::StartMethod::spawn);
    tandem::multiprocessing::Process spawned = context.Process(&nothing);
    spawned.interrupt();
    tandem::InterpreterLock gil;
    {
        tandem::InterpreterLock::Holder held(gil);
        gil.checkpoint();
        tandem::InterpreterLock::AllowThreads released(gil);
    }
    tandem::ProgressOptions options;
    options.total = 3;
    tandem::ProgressBar bar(options);
    bar.update();
    return threads.submit(&square, 2).result() + processes.submit(&square, 3).result() + pool.apply(&square, 4) +
           thread_pool.apply(&square, 5) + generic(threads) + generic(processes);
}

}  // namespace

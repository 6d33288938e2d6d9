// Compiled, not run: every public header, and the calls a user writes most,
// under the strictest warnings a user may turn on (-Wextra included, with
// -Werror). tandem's own sources allow designated initializers that leave
// members out; a header must not make a user's build warn for that.
#include "tandem/errors.hpp"
#include "tandem/future.hpp"
#include "tandem/init.hpp"
#include "tandem/interpreter_lock.hpp"
#include "tandem/multiprocessing/connection.hpp"
#include "tandem/multiprocessing/context.hpp"
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

namespace {

int square(int x) { return x * x; }
void nothing() {}

[[maybe_unused]] int typical_use() {
    tandem::ThreadPoolExecutor threads(2);
    tandem::ProcessPoolExecutor processes(2);
    tandem::multiprocessing::Pool pool(2);
    tandem::multiprocessing::Process process(&nothing);
    const auto context = tandem::multiprocessing::get_context(tandem::multiprocessing::StartMethod::spawn);
    tandem::multiprocessing::Process spawned = context.Process(&nothing);
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
    return threads.submit(&square, 2).result() + processes.submit(&square, 3).result() + pool.apply(&square, 4);
}

}  // namespace

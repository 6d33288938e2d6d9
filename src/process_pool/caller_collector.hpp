// Private to the library: a thread that waits for a future collects a process pool's
// replies meanwhile, instead of waiting for the pool's collector thread.
//
// On two cores a round trip through a collector thread is three hand-offs
// (caller -> worker -> collector -> caller), each a wake-up or a spin that
// competes for a core. A caller that spins in result() can read the reply
// rings itself: then it is two. So, as oneTBB's waiter runs tasks while it
// waits, a thread that submitted to a ProcessPoolExecutor gets, as its
// WaitHelper (future_state.hpp), the pool's collect_while_waiting(): while it
// waits for any future it collects that pool's replies (its own and other
// callers'), through the same checked reader as the collector thread
// (engine_impl.hpp), for about 50 µs; then it sleeps until the future (or wait()'s
// condition) wakes it, and the collector thread takes over.
//
// A thread that already has a helper (a ThreadPoolExecutor worker, which
// runs its pool's tasks while it waits) keeps it. The last pool a thread
// submitted to is the one it collects for; the thread holds it weakly, so a
// pool that is gone is simply not helped.
//
//     tandem::ProcessPoolExecutor pool(2);
//     auto f = pool.submit(square, 7);   // this thread now collects for `pool`
//     f.result();                        // ... and here reads its own reply
#pragma once

#include "engine_impl.hpp"  // EngineImpl

namespace tandem::detail::process_pool {

/// Makes the calling thread collect `engine`'s replies whenever it waits for
/// a future, unless it already has another kind of wait helper.
void collect_while_waiting_here(EngineImpl& engine);

}  // namespace tandem::detail::process_pool

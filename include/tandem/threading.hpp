// tandem/threading.hpp — Python's threading and queue modules in one include.
//
// Everything in namespace tandem::threading: Thread and the module functions
// (current_thread, main_thread, enumerate, get_ident, excepthook), Lock, RLock,
// Condition, Semaphore, BoundedSemaphore, Event, Barrier, Timer, and the
// queues Queue, LifoQueue, PriorityQueue and SimpleQueue. Each lives in its
// own header under tandem/threading/, which can be included alone.
//
//     #include "tandem/threading.hpp"
//     tandem::threading::Queue<int> jobs(16);
//     tandem::threading::Event done;
//     tandem::threading::Thread worker([&] { jobs.get(); done.set(); });
//     worker.start();
//     jobs.put(1);
//     done.wait(std::chrono::seconds(1));
//     worker.join();
#pragma once

#include "tandem/threading/barrier.hpp"    // Barrier
#include "tandem/threading/condition.hpp"  // Condition
#include "tandem/threading/event.hpp"      // Event
#include "tandem/threading/lock.hpp"       // Lock, RLock
#include "tandem/threading/queue.hpp"      // Queue, LifoQueue, PriorityQueue, SimpleQueue
#include "tandem/threading/semaphore.hpp"  // Semaphore, BoundedSemaphore
#include "tandem/threading/thread.hpp"     // Thread, current_thread, excepthook...
#include "tandem/threading/timer.hpp"      // Timer

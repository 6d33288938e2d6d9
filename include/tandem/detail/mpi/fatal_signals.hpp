// Internal: the line a serving rank writes when it dies.
//
// Open MPI is not fault tolerant: when a rank dies, mpirun ends the whole
// job and prints which rank died of which signal. That message comes from
// mpirun, after the fact, and does not say what the rank was doing. While a
// FatalSignalReporter lives, a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGABRT) or an exit() on this rank first writes one line to stderr, with
// write(2) only (async-signal-safe):
//
//   tandem::mpi: rank 2 of 3 (pid 4711 on node7) died of signal 11 (SIGSEGV) while running a task; the MPI job ends
//
// then hands the signal to whoever handled it before (Open MPI's backtrace
// printer, a sanitizer) and finally dies of it with the default action, so
// mpirun still sees the signal. The handler runs on an alternate stack, so a
// task that overflowed its stack is reported too. SIGKILL cannot be caught:
// mpirun's own "process rank N ... exited on signal 9" names that rank.
#pragma once

namespace tandem::detail::mpi {

class FatalSignalReporter {
public:
    /// Installs the handlers for this rank (`rank` of `size` in the
    /// executor's communicator). One reporter at a time per process.
    FatalSignalReporter(int rank, int size) noexcept;
    FatalSignalReporter(const FatalSignalReporter&) = delete;
    FatalSignalReporter& operator=(const FatalSignalReporter&) = delete;
    /// Puts the previous handlers and alternate stack back.
    ~FatalSignalReporter();

    /// Brackets each task, for the line's "while running a task".
    static void task_started() noexcept;
    static void task_finished() noexcept;
};

}  // namespace tandem::detail::mpi

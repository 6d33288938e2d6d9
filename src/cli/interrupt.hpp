// tandem bench: Ctrl-C (SIGINT) and SIGTERM stop a run promptly and cleanly.
//
// The handler only raises a flag and makes a descriptor readable; the bench
// checks the flag between repetitions and in its loops, and polls the
// descriptor while it waits for a child (Python, gnuplot). Stopping is an
// exception (Interrupted), so every temporary folder, pool, server and child
// is released by the destructors on the way out. A second signal ends the
// program at once (the default action).
#pragma once

#include <stdexcept>  // std::runtime_error

namespace tandem::cli {

/// Thrown where the bench notices that it was interrupted.
class Interrupted : public std::runtime_error {
public:
    explicit Interrupted(int signal_number);
    /// The signal that stopped the run (SIGINT or SIGTERM).
    int signal_number() const noexcept { return signal_number_; }

private:
    int signal_number_;
};

/// Installs the handler for SIGINT and SIGTERM. Throws std::system_error if
/// the OS refuses.
void install_interrupt_handler();

/// The signal received so far, or 0.
int interrupt_signal() noexcept;

/// A descriptor that becomes readable once a signal arrived (for poll), or
/// -1 before install_interrupt_handler().
int interrupt_fd() noexcept;

/// Throws Interrupted if a signal arrived.
void check_interrupt();

}  // namespace tandem::cli

// Internal: a process-pool task whose stdout and stderr are kept for its
// future (SubmitOptions::capture_output) instead of reaching the parent's.
//
// The call is wrapped: the worker runs run_captured(inner call), which points
// descriptors 1 and 2 at two memfds for the length of the call (stdio flushed
// before and after), puts them back, and returns the call's outcome beside
// what was written (each stream cut at kMaxCapturedBytes). The wrapper is an
// ordinary task to the engine, so capturing needs nothing of the transport.
// The parent completes the caller's future, a CapturedState holding the text,
// from the wrapper's reply.
//
//     auto wrapped = submit(engine, &run_captured, inner_bytes);      // the reply: CapturedReply
//     state->output = TaskOutput{reply.out, reply.err};                 // then the result or exception
#pragma once

#include <cstddef>  // std::byte, std::size_t
#include <string>   // the captured text
#include <tuple>    // the reply
#include <vector>   // the inner call

#include "tandem/detail/future/future_state.hpp"  // FutureState: the caller's future, with the text

namespace tandem {

/// What a task captured with SubmitOptions::capture_output wrote.
struct TaskOutput {
    std::string out;  ///< its stdout
    std::string err;  ///< its stderr
};

}  // namespace tandem

namespace tandem::detail::process_pool {

/// Bytes kept of each captured stream; the rest is cut.
inline constexpr std::size_t kMaxCapturedBytes = 1 << 20;

/// What run_captured returns: raised?, the encoded result or exception, stdout, stderr.
using CapturedReply = std::tuple<bool, std::vector<std::byte>, std::string, std::string>;

/// In the worker: runs the encoded call `inner` (remote_call.hpp) with its
/// output captured.
CapturedReply run_captured(std::vector<std::byte> inner);

/// The caller's future of a captured task: its state also holds the output,
/// and the wrapper task's future, which stop() acts on.
template <class R>
class CapturedState final : public FutureState<R> {
public:
    TaskOutput output;                  // written before the future completes
    StatePtr<FutureStateBase> wrapper;  // the wrapper task's; set before the future is handed out
};

}  // namespace tandem::detail::process_pool

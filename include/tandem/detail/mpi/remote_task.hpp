// Internal: a task for another MPI rank, as bytes and back — the one place
// where mpi::PoolExecutor uses the process pool's function transport.
//
// The caller encodes fn(args...) with encode_call, exactly as
// ProcessPoolExecutor does, and a map chunk as a call of the process pool's
// own run_map_chunk; the serving rank runs the bytes with run_call; the
// root turns the reply into the future's value or exception with
// take_result. Nothing here is MPI-specific but one rule: an argument that
// is *handed off* (a Connection, Queue, Lock, Value: descriptors and shared
// memory, detail/wire/handoff.hpp) cannot reach another rank, which may be
// another machine, so such a parameter does not compile.
//
//     std::vector<std::byte> call = encode_task(&add, 2, 3);     // on the root
//     CallOutcome outcome = run_task(call);                      // on a serving rank
//     deliver_result<int>(future, outcome);                      // on the root: 5
#pragma once

#include <cstddef>      // std::byte
#include <exception>    // std::current_exception
#include <span>         // received calls
#include <tuple>        // parameter lists
#include <type_traits>  // std::bool_constant
#include <utility>      // std::move, std::pair
#include <vector>       // encoded bytes, chunks

#include "tandem/detail/future/future_state.hpp"  // FutureStateBase, FutureState
#include "tandem/detail/future/map_results.hpp"   // ChunkResult
#include "tandem/detail/wire/function_id.hpp"     // FunctionId
#include "tandem/detail/wire/handoff.hpp"         // HandoffWriter, HandedOff
#include "tandem/detail/wire/remote_call.hpp"     // encode_call, run_call, take_result, CallOutcome
#include "tandem/errors.hpp"                      // ValueError
#include "tandem/process_pool_executor.hpp"       // process_pool::SubmitResult, run_map_chunk, deliver
#include "tandem/serialization.hpp"               // decode_exception

namespace tandem::detail::mpi {

/// What calling F on another rank gives back.
template <class F>
using TaskResult = typename process_pool::SubmitResult<F>::type;

/// Completes a future from a serving rank's reply; may take over the
/// caller's reference with the value (leaving `future` empty).
using Deliver = void (*)(StatePtr<FutureStateBase>& future, CallOutcome& outcome) noexcept;

template <class Parameters>
struct HandsOffNothing;
template <class... P>
struct HandsOffNothing<std::tuple<P...>> : std::bool_constant<!(is_handed_off_parameter_v<P> || ...)> {};

/// True unless F takes a handed-off parameter (then a static_assert says
/// why). What else cannot travel, encode_call reports itself.
template <class F>
consteval bool check_rank_task() {
    if constexpr (RemoteCallable<F>) {
        constexpr bool fits = HandsOffNothing<typename FunctionPointerTraits<remote_pointer_t<F>>::parameters>::value;
        static_assert(fits,
                      "tandem::mpi: a Connection, Queue, Lock, Value or other object that owns descriptors or shared "
                      "memory cannot be sent to another MPI rank (it may run on another machine). Send the data "
                      "itself, or use a ProcessPoolExecutor on this machine");
        return fits;
    } else {
        return true;
    }
}

/// fn(args...) as the bytes of one call (encode_call's layout). Compile-time
/// errors as ProcessPoolExecutor::submit, plus check_rank_task. Throws
/// what encode_call throws.
template <class F, class... Args>
std::vector<std::byte> encode_task(const F& fn, const Args&... args) {
    if constexpr (check_rank_task<F>()) {
        HandoffWriter call;
        encode_call(call, fn, args...);
        // Unreachable after check_rank_task; kept so that a type that hands
        // off descriptors some other way fails here rather than on the rank.
        if (!call.fds().empty()) throw ValueError("tandem::mpi: a task's arguments carry descriptors");
        return std::move(call.byte_buffer());
    } else {
        return {};
    }
}

/// One map chunk of `fn` (whose FunctionId is `function`, found once per
/// map) as the call ProcessPoolExecutor::map makes of it.
template <class F, class Input>
std::vector<std::byte> encode_chunk(FunctionId function, const std::vector<Input>& chunk) {
    using Pointer = remote_pointer_t<F>;
    return encode_task(&process_pool::run_map_chunk<Pointer, Input, TaskResult<F>>, function, chunk);
}

/// Runs one encoded call on this rank. Never throws: a call that does not
/// decode, and whatever the task throws, come back as a raised outcome.
CallOutcome run_task(std::span<const std::byte> call) noexcept;

/// Completes a Future<R>'s state from a reply (a Deliver): as the process
/// pool does.
template <class R>
void deliver_result(StatePtr<FutureStateBase>& future, CallOutcome& outcome) noexcept {
    process_pool::deliver<R>(future, outcome.raised, outcome.payload);
}

/// Completes a map chunk's Future<ChunkResult<R>> from the reply of
/// run_map_chunk: the values, and the exception that stopped the chunk.
template <class R>
void deliver_chunk(StatePtr<FutureStateBase>& future, CallOutcome& outcome) noexcept {
    auto& state = static_cast<FutureState<ChunkResult<R>>&>(*future);
    try {
        auto [values, error] = take_result<std::pair<std::vector<R>, std::vector<std::byte>>>(outcome);
        ChunkResult<R> chunk{std::move(values), nullptr};
        if (!error.empty()) chunk.error = decode_exception(error);
        state.try_set_result(std::move(chunk));
    } catch (...) {
        state.try_set_exception(std::current_exception());
    }
}

}  // namespace tandem::detail::mpi

// Internal: "call fn(args...)" as a message, for a process that runs the
// same program at other addresses (a spawn or forkserver child, a pool
// worker), and its outcome as a message back.
//
// The caller encodes the call with encode_call(); the worker runs it with
// run_call() and sends the CallOutcome back; the caller turns that into the
// result or the exception with take_result<R>(). What may be called is
// decided at compile time (RemoteCallable): a free or static member function,
// or a lambda without captures. Its address is sent as a FunctionId (see
// function_id.hpp), and so is the address of a *trampoline*,
// Trampoline<R (*)(P...)>::entry, instantiated by encode_call for the
// function's signature: the worker cannot know the signature of an address,
// so it jumps to the trampoline, which knows how to decode the arguments,
// call, and encode the result. A captureless lambda travels as
// ClosureEntry<Closure, R (*)(P...)>::entry, a function generated for its
// closure type that calls it.
//
// A message names code; the worker jumps only to code tandem generated.
// encode_call records every trampoline and closure entry it instantiates in
// its module's entry table at compile time (entry_table.hpp), and run_call
// resolves the trampoline only to a recorded trampoline and the function only
// to a recorded entry or the start of a function in a module built with
// tandem (resolve_function): a message naming anything else is a FrameError,
// never a jump. A function pointer given at run time is checked the same way
// by the sender, which throws ProcessError instead of sending what the
// worker would refuse (a C library's function: call it from one of yours).
//
// Arguments are sent as the function's parameter types (an argument that
// converts, like "text" for a std::string parameter, is converted by the
// caller). A parameter type with a Handoff specialisation (Connection, Queue,
// Lock, Value, ...: detail/wire/handoff.hpp) is handed off with its descriptors;
// all the others are encoded together as one tuple by detail::encode, so
// shared_ptr identity holds across them as it does within one pickle. A
// parameter taken by non-const reference (T&) is refused unless T is handed
// off: the worker would change only its own copy. Results must be
// Serializable; void is fine.
//
// Wire layout (what HandoffWriter receives, in order):
//   CallHeader     the trampoline's and the function's FunctionIds, 32 bytes
//   module paths   for each of the two that lives in a shared library, the
//                  library's path (write_bytes), for the worker's message if
//                  that library is not loaded there
//   handed-off     each handed-off parameter's Handoff<T>::send, in order
//   encoded        write_bytes(encode(tuple of the other parameters)), if any
// The outer layers provide the message boundaries (the process pool's ring
// slots, a Connection's frames, MPI's messages), the build check (the ids are
// only meaningful between processes running the same build: see
// check_same_build) and the check that the peer is this program's own parent
// (launcher.hpp); run_call still trusts no id it reads.
//
// Compared with Python: pickle sends functions by qualified name and fails
// at run time for lambdas and closures; here they are sent by address, a
// captureless lambda works, and a capturing one does not compile.
//
//     // parent
//     HandoffWriter call;
//     encode_call(call, &add, 2, 3);                 // int add(int, int)
//     send_with_fds(socket, call.bytes(), call.fds());
//     // worker
//     ReceivedMessage message = receive_with_fds(socket, limit);
//     HandoffReader in(message.bytes, std::move(message.fds));
//     CallOutcome outcome = run_call(in);            // outcome.payload = encode(5)
//     // ... outcome travels back ...
//     int five = take_result<int>(outcome);          // or rethrows what add threw
#pragma once

#include <array>        // compile-time parameter layout
#include <cstddef>      // std::byte, std::size_t
#include <cstring>      // std::memcpy of the encoded block's size
#include <exception>    // std::current_exception
#include <span>         // span parameters, read in place
#include <tuple>        // argument tuples
#include <type_traits>  // signature analysis, std::invoke_result_t
#include <utility>      // std::move, index sequences
#include <vector>       // the outcome's bytes

#include "tandem/detail/wire/encoding.hpp"     // detail::encode / decode, EncodableCheck, DecodableCheck
#include "tandem/detail/wire/entry_table.hpp"  // record_entry: the compile-time entry records
#include "tandem/detail/wire/function_id.hpp"  // FunctionId, function_id, sendable_function_id, resolve_*
#include "tandem/detail/wire/handoff.hpp"      // HandoffWriter / HandoffReader, Handoff<T>, HandedOff
#include "tandem/errors.hpp"                   // FrameError, ProcessError
#include "tandem/serialization.hpp"            // Serializable, encode_exception, rethrow_remote

namespace tandem::detail {

// --- what may be called -------------------------------------------------------------

/// Describes a plain function pointer type: its result and parameters.
/// `value` is false for anything else (member pointers, variadic C
/// functions, non-pointers).
template <class T>
struct FunctionPointerTraits : std::false_type {};
template <class R, class... P>
struct FunctionPointerTraits<R (*)(P...)> : std::true_type {
    using result = R;
    using parameters = std::tuple<P...>;
};
template <class R, class... P>
struct FunctionPointerTraits<R (*)(P...) noexcept> : std::true_type {
    using result = R;
    using parameters = std::tuple<P...>;
};

/// True for what can be run in another process from its address alone: a
/// function (or pointer to one: free functions, static member functions) and
/// a lambda without captures (or another empty class convertible to a
/// function pointer, which unary + yields). Generic lambdas are not: convert
/// one to the pointer type first, e.g. static_cast<int (*)(int)>(fn).
template <class F>
concept RemoteCallable =
    FunctionPointerTraits<std::decay_t<F>>::value ||
    (std::is_class_v<std::remove_cvref_t<F>> && std::is_empty_v<std::remove_cvref_t<F>> &&
     requires(const std::remove_cvref_t<F>& fn) { requires FunctionPointerTraits<decltype(+fn)>::value; });

/// The function pointer a RemoteCallable stands for.
template <RemoteCallable F>
auto as_function_pointer(const F& fn) noexcept {
    if constexpr (std::is_class_v<F>) {
        return +fn;
    } else {
        return static_cast<std::decay_t<F>>(fn);
    }
}

template <RemoteCallable F>
using remote_pointer_t = decltype(as_function_pointer(std::declval<const std::remove_cvref_t<F>&>()));

/// A captureless lambda (or another empty class) that can be made at compile
/// time and converted to its function pointer there: its closure type alone
/// says what to call, so tandem generates and records an entry for it.
template <class F>
concept ConstantClosure = std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> &&
                          requires { typename std::bool_constant<(+F{} != nullptr)>; };

/// The entry a captureless lambda travels as: a function with the lambda's
/// signature that calls what the closure converts to (the function sent
/// before entries existed). Generated per closure type, recorded in the
/// module's entry table by function_entry_id().
template <class Closure, class Pointer>
struct ClosureEntry;
template <class Closure, class R, class... P>
struct ClosureEntry<Closure, R (*)(P...)> {
    static R entry(P... args) { return (+Closure{})(static_cast<P&&>(args)...); }
};
template <class Closure, class R, class... P>
struct ClosureEntry<Closure, R (*)(P...) noexcept> {
    static R entry(P... args) noexcept { return (+Closure{})(static_cast<P&&>(args)...); }
};

/// The FunctionId a message carries for `fn`: for a captureless lambda, its
/// ClosureEntry, recorded at compile time and looked up once; for a function
/// pointer, whatever it points to, checked (sendable_function_id). Throws
/// ProcessError for a function a worker would refuse to call.
template <RemoteCallable F>
FunctionId function_entry_id(const F& fn) {
    using Callable = std::remove_cvref_t<F>;
    if constexpr (ConstantClosure<Callable>) {
        using Entry = ClosureEntry<Callable, remote_pointer_t<F>>;
        record_entry<Entry, EntryKind::function>();
        static const FunctionId id = function_id(&Entry::entry);
        return id;
    } else {
        return sendable_function_id(reinterpret_cast<std::uintptr_t>(as_function_pointer(fn)));
    }
}

/// What the caller gets back from calling F with Args in another process.
template <class F, class... Args>
using remote_result_t = std::decay_t<std::invoke_result_t<F, Args...>>;

/// What the worker sends back for one call. `payload` is the encoded result
/// (empty for void) if `raised` is false, else the exception's
/// tandem::encode_exception bytes.
struct CallOutcome {
    bool raised = false;
    std::vector<std::byte> payload;
    /// Non-zero: the result's encoding, this many bytes, was written in
    /// place (ResultPlace) and `payload` is empty.
    std::size_t placed = 0;
};

/// Where the call running on this thread may write its encoded result in
/// place: a process-pool worker's reply buffer, so that a large result is
/// copied once, straight where the parent reads it. Set by the worker
/// around each task, null everywhere else (current_result_place).
class ResultPlace {
public:
    /// `size` bytes to write the result at, or null: too small to be worth
    /// it, no buffer free, asked twice, or asked in a child the task forked.
    virtual std::byte* reserve(std::size_t size) noexcept = 0;

protected:
    ~ResultPlace() = default;
};

/// This thread's ResultPlace (see above).
ResultPlace*& current_result_place() noexcept;

/// The first 32 bytes of an encoded call.
struct CallHeader {
    FunctionId trampoline;
    FunctionId function;
};

// --- compile-time checks with messages ------------------------------------------------

template <class T>
inline constexpr bool always_false_v = false;

/// A std::span<const T> parameter of raw elements: sent as the range it
/// views, read by the task in place in the received message (ReceivedSpan).
template <class P>
inline constexpr bool is_span_parameter_v = false;
template <class T>
inline constexpr bool is_span_parameter_v<std::span<const T>> = codec_of<T>() == Codec::raw;

/// How the worker holds a parameter of type P until the call: as P, or for a
/// span parameter as the ReceivedSpan it views.
template <class P>
struct Received {
    using type = P;
};
template <class T>
    requires is_span_parameter_v<std::span<const T>>
struct Received<std::span<const T>> {
    using type = ReceivedSpan<T>;
};

template <class P>
inline constexpr bool is_handed_off_parameter_v = HandedOff<std::decay_t<P>>;

template <class P, class Arg>
consteval bool check_argument() {
    using Parameter = std::decay_t<P>;
    if constexpr (HandedOff<Parameter>) {
        static_assert(std::is_same_v<std::remove_cvref_t<Arg>, Parameter>,
                      "tandem: an object handed to another process (Connection, Queue, Lock, Value, ...) must be "
                      "passed as exactly the parameter's type: it is rebuilt there as that type");
        return std::is_same_v<std::remove_cvref_t<Arg>, Parameter>;
    } else if constexpr (std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>) {
        static_assert(always_false_v<P>,
                      "tandem: a function run in another process cannot take a parameter by non-const reference "
                      "(T&): it would change the worker's copy only. Take it by value or const reference and "
                      "return what the function computes");
        return false;
    } else if constexpr (is_span_parameter_v<Parameter>) {
        constexpr bool fits = std::is_convertible_v<const Arg&, Parameter>;
        static_assert(fits, "tandem: an argument does not convert to the span the function takes");
        return fits;
    } else if constexpr (!DecodableCheck<Parameter>::value) {
        // DecodableCheck's own static_assert has said why, naming the type.
        return false;
    } else {
        // An argument of the parameter's own type is encoded where it is (so
        // a move-only one works); another is converted first.
        constexpr bool fits = std::is_same_v<std::remove_cvref_t<Arg>, Parameter> ||
                              std::is_convertible_v<const Arg&, Parameter>;
        static_assert(fits, "tandem: an argument does not convert to the type of the function's parameter");
        return fits;
    }
}

template <class R>
consteval bool check_result() {
    if constexpr (std::is_void_v<R>) {
        return true;
    } else {
        using Result = std::decay_t<R>;
        if constexpr (HandedOff<Result> && !Serializable<Result>) {
            static_assert(always_false_v<R>,
                          "tandem: a function run in another process cannot return an object that owns "
                          "descriptors or shared memory (Connection, Queue, Lock, ...): create it in the parent "
                          "and pass it as an argument instead");
            return false;
        } else {
            // DecodableCheck's static_assert names a result type that cannot travel.
            return DecodableCheck<Result>::value;
        }
    }
}

template <class Parameters, class... Args>
struct ArgumentsCheck;
template <class... P, class... Args>
struct ArgumentsCheck<std::tuple<P...>, Args...> {
    static consteval bool run() {
        if constexpr (sizeof...(P) != sizeof...(Args)) {
            static_assert(sizeof...(P) == sizeof...(Args),
                          "tandem: the number of arguments does not match the function's parameters");
            return false;
        } else {
            return (check_argument<P, Args>() && ...);
        }
    }
};

/// True if fn(args...) can be encoded with encode_call; otherwise a
/// static_assert says why (a stateful callable, a member function, an
/// argument or result type that cannot travel, a mismatch).
template <class F, class... Args>
consteval bool check_remote_call() {
    using Fn = std::remove_cvref_t<F>;
    if constexpr (std::is_member_pointer_v<Fn>) {
        static_assert(always_false_v<F>,
                      "tandem: a member function cannot be run in another process by itself: it needs an object "
                      "there. Use a static member function or a free function that takes the object (serializable) "
                      "as an argument");
        return false;
    } else if constexpr (!RemoteCallable<F>) {
        static_assert(always_false_v<F>,
                      "tandem: this callable cannot cross a process boundary: a capturing lambda or a function "
                      "object carries state, and only a function's address can be found again in another process. "
                      "Pass the captured values as arguments and use a lambda without captures or a plain "
                      "function (convert a generic lambda first: static_cast<int (*)(int)>(fn)), or use "
                      "multiprocessing::ForkProcess, which runs any callable under fork");
        return false;
    } else {
        using Traits = FunctionPointerTraits<remote_pointer_t<F>>;
        return ArgumentsCheck<typename Traits::parameters, Args...>::run() &&
               check_result<typename Traits::result>();
    }
}

/// Whether an argument of type Arg can be sent for a parameter of type Q:
/// check_argument's rules, without its diagnostics.
template <class Q, class Arg>
inline constexpr bool argument_fits_v = [] {
    using Parameter = std::decay_t<Q>;
    if constexpr (HandedOff<Parameter>) {
        return std::is_same_v<std::remove_cvref_t<Arg>, Parameter>;
    } else {
        return !(std::is_lvalue_reference_v<Q> && !std::is_const_v<std::remove_reference_t<Q>>) &&
               (Serializable<Parameter> || is_span_parameter_v<Parameter>) &&
               (std::is_same_v<std::remove_cvref_t<Arg>, Parameter> || std::is_convertible_v<const Arg&, Parameter>);
    }
}();

template <class Parameters, class... Args>
inline constexpr bool arguments_fit_v = false;
template <class... P, class... Args>
    requires(sizeof...(P) == sizeof...(Args))
inline constexpr bool arguments_fit_v<std::tuple<P...>, Args...> = (argument_fits_v<P, Args> && ...);

template <class R>
inline constexpr bool result_fits_v = std::is_void_v<R> || Serializable<std::decay_t<R>>;

/// The non-diagnosing form of check_remote_call, for constraints:
/// fn(args...) is RemoteCallable, every argument matches its parameter, and
/// every parameter and the result can travel.
template <class F, class... Args>
concept RemoteInvocable =
    RemoteCallable<F> &&
    arguments_fit_v<typename FunctionPointerTraits<remote_pointer_t<F>>::parameters, Args...> &&
    result_fits_v<typename FunctionPointerTraits<remote_pointer_t<F>>::result>;

// --- the parameters' two groups ---------------------------------------------------------

/// Where parameter `position` of P... lives on the wire: among the handed-off
/// ones or in the encoded tuple, and its index within that group.
template <class... P>
struct ParameterLayout {
    static constexpr std::array<bool, sizeof...(P)> handed{is_handed_off_parameter_v<P>...};
    static constexpr std::size_t index_in_group(std::size_t position) {
        std::size_t index = 0;
        for (std::size_t i = 0; i < position; ++i) {
            if (handed[i] == handed[position]) ++index;
        }
        return index;
    }
    using HandedTuple = decltype(std::tuple_cat(
        std::declval<std::conditional_t<is_handed_off_parameter_v<P>, std::tuple<std::decay_t<P>>,
                                        std::tuple<>>>()...));
    using EncodedTuple = decltype(std::tuple_cat(
        std::declval<std::conditional_t<is_handed_off_parameter_v<P>, std::tuple<>,
                                        std::tuple<std::decay_t<P>>>>()...));
    /// EncodedTuple as the worker decodes it (spans as ReceivedSpan).
    using DecodedTuple = decltype(std::tuple_cat(
        std::declval<std::conditional_t<is_handed_off_parameter_v<P>, std::tuple<>,
                                        std::tuple<typename Received<std::decay_t<P>>::type>>>()...));
    static constexpr bool any_encoded = std::tuple_size_v<EncodedTuple> != 0;
    static constexpr bool any_handed = std::tuple_size_v<HandedTuple> != 0;
};

/// The part of the encoded tuple one argument contributes: nothing if it is
/// handed off, a reference if it already has the parameter's type, else the
/// argument converted to that type.
template <class P, class Arg>
auto encoded_part(const Arg& argument) {
    using Parameter = std::decay_t<P>;
    if constexpr (is_handed_off_parameter_v<P>) {
        return std::tuple<>();
    } else if constexpr (std::is_same_v<std::remove_cvref_t<Arg>, Parameter>) {
        return std::tuple<const Parameter&>(argument);
    } else {
        return std::tuple<Parameter>(argument);
    }
}

template <class P, class Arg>
void send_if_handed_off(HandoffWriter& out, const Arg& argument) {
    if constexpr (is_handed_off_parameter_v<P>) Handoff<std::decay_t<P>>::send(out, argument);
}

/// Writes CallHeader and the module paths (out of line: it looks paths up
/// only for functions in shared libraries).
void write_call_header(HandoffWriter& out, const FunctionId& trampoline, const FunctionId& function);

/// The handed-off parameters, received in order (a braced list is evaluated
/// left to right).
template <class Tuple>
struct HandedOffReceiver;
template <class... H>
struct HandedOffReceiver<std::tuple<H...>> {
    static std::tuple<H...> receive([[maybe_unused]] HandoffReader& in) {
        return std::tuple<H...>{Handoff<H>::receive(in)...};
    }
};

/// `value` as the parameter type Q receives it: an lvalue for a reference
/// parameter, an rvalue (moved from) for a value or rvalue-reference one.
template <class Q, class T>
decltype(auto) pass_as(T& value) noexcept {
    if constexpr (std::is_lvalue_reference_v<Q>) {
        return (value);
    } else {
        return std::move(value);
    }
}

/// The CallOutcome of an exception (tandem::encode_exception).
CallOutcome raised_outcome(std::exception_ptr error);

/// Both halves of a call for one signature: what the caller sends, and what
/// the worker's trampoline does with it.
template <class Pointer>
struct Signature;
template <class R, class... P>
struct Signature<R (*)(P...)> {
    using Layout = ParameterLayout<P...>;
    using HandedTuple = typename Layout::HandedTuple;
    using DecodedTuple = typename Layout::DecodedTuple;

    /// Appends the whole call: header, handed-off arguments, encoded ones,
    /// with at most one allocation for a call whose arguments are raw values
    /// or ranges (the buffer is reserved from the encoded size, and the
    /// arguments are encoded in place).
    template <class... Args>
    static void send_call(HandoffWriter& out, const FunctionId& trampoline, const FunctionId& function,
                          const Args&... args) {
        std::vector<std::byte>& bytes = out.byte_buffer();
        if constexpr (Layout::any_encoded) {
            // Arguments of the parameter's type are referenced, converted
            // ones held by value: all alive until encoded below.
            const auto values = encoded_values(args...);
            reserve_fresh(bytes, bytes.size() + sizeof(CallHeader) + sizeof(std::size_t) + encoded_size_hint(values));
            write_call_header(out, trampoline, function);
            (send_if_handed_off<P>(out, args), ...);
            // The same layout as HandoffWriter::write_bytes: a size, then the bytes.
            const std::size_t size_at = bytes.size();
            bytes.resize(size_at + sizeof(std::size_t));
            encode_into(bytes, values);
            const std::size_t block = bytes.size() - size_at - sizeof(std::size_t);
            std::memcpy(bytes.data() + size_at, &block, sizeof block);
        } else {
            bytes.reserve(bytes.size() + sizeof(CallHeader));
            write_call_header(out, trampoline, function);
            (send_if_handed_off<P>(out, args), ...);
        }
    }

    /// True when the whole call can be sized before it is written
    /// (PlacedCall): nothing is handed off, every argument is exactly sized.
    static constexpr bool placeable = !Layout::any_handed && exactly_sized_v<typename Layout::EncodedTuple>;

    /// The arguments as send_call encodes them (references to those of the
    /// parameter's type, conversions of the others).
    template <class... Args>
    static auto encoded_values(const Args&... args) {
        return std::tuple_cat(encoded_part<P>(args)...);
    }

    /// Reads the arguments from `in` and calls `fn` with them. `decoded` is
    /// set once every argument is read, so that the trampoline can tell a
    /// malformed message from a FrameError the function itself throws.
    template <class Pointer>
    static CallOutcome receive_and_call(Pointer fn, HandoffReader& in, bool& decoded) {
        HandedTuple handed = HandedOffReceiver<HandedTuple>::receive(in);
        DecodedTuple encoded = [&in] {
            if constexpr (Layout::any_encoded) {
                return decode<DecodedTuple>(in.read_bytes());
            } else {
                static_cast<void>(in);
                return DecodedTuple();
            }
        }();
        decoded = true;
        return call(fn, handed, encoded, std::index_sequence_for<P...>());
    }

private:
    template <std::size_t I>
    static decltype(auto) argument([[maybe_unused]] HandedTuple& handed,
                                   [[maybe_unused]] DecodedTuple& encoded) noexcept {
        using Q = std::tuple_element_t<I, std::tuple<P...>>;
        constexpr std::size_t index = Layout::index_in_group(I);
        if constexpr (Layout::handed[I]) {
            return pass_as<Q>(std::get<index>(handed));
        } else if constexpr (is_received_span_v<std::tuple_element_t<index, DecodedTuple>>) {
            return std::get<index>(encoded).view();
        } else {
            return pass_as<Q>(std::get<index>(encoded));
        }
    }

    template <class Pointer, std::size_t... I>
    static CallOutcome call(Pointer fn, HandedTuple& handed, DecodedTuple& encoded, std::index_sequence<I...>) {
        if constexpr (std::is_void_v<R>) {
            fn(argument<I>(handed, encoded)...);
            return CallOutcome();
        } else {
            return result_outcome(fn(argument<I>(handed, encoded)...));
        }
    }

    // The result encoded in place when the worker offers a place for it
    // and its size is known first; else in a buffer of its own.
    template <class Result>
    static CallOutcome result_outcome(const Result& result) {
        if constexpr (exactly_sized_v<Result>) {
            if (ResultPlace* place = current_result_place()) {
                const std::size_t size = encoded_size_hint(result);
                if (std::byte* out = place->reserve(size)) {
                    encode_exact(out, result);
                    return CallOutcome{false, {}, size};
                }
            }
        }
        return CallOutcome{false, encode(result)};
    }
};
template <class R, class... P>
struct Signature<R (*)(P...) noexcept> : Signature<R (*)(P...)> {};

/// The trampoline a call of signature Pointer jumps to in the worker: its
/// entry decodes, calls the function at `address` and encodes the outcome.
/// Only FrameError (a malformed message) escapes; everything else thrown
/// while decoding (a user type's load()), calling or encoding the result
/// becomes a raised outcome.
template <class Pointer>
struct Trampoline {
    static CallOutcome entry(void* address, HandoffReader& in) {
        const auto fn = reinterpret_cast<Pointer>(address);
        bool decoded = false;
        try {
            return Signature<Pointer>::receive_and_call(fn, in, decoded);
        } catch (const FrameError&) {
            if (!decoded) throw;
            return raised_outcome(std::current_exception());
        } catch (...) {
            return raised_outcome(std::current_exception());
        }
    }
};

using TrampolinePointer = CallOutcome (*)(void* address, HandoffReader& in);

// --- the API ---------------------------------------------------------------------------

/// The id of F's trampoline, recorded in this module's entry table; the same
/// for every call of a signature, so looked up once.
template <class F>
const FunctionId& trampoline_id() {
    using Pointer = remote_pointer_t<F>;
    record_entry<Trampoline<Pointer>, EntryKind::trampoline>();
    static const FunctionId id = function_id(&Trampoline<Pointer>::entry);
    return id;
}

/// Appends "call fn(args...)" to `out` (layout in the file comment). `fn` is
/// a function, function pointer or captureless lambda; anything else, and
/// arguments or a result that cannot travel, fail to compile with a message
/// saying why. Handed-off arguments' descriptors are added to out.fds() and
/// must stay open until the message is sent. Throws ProcessError if `fn` is
/// a function pointer a worker would refuse (function_entry_id), ValueError
/// for a value nested too deeply, and whatever an argument's own
/// serialize()/save() throws; `out` then holds part of a message and must be
/// discarded.
template <class F, class... Args>
void encode_call(HandoffWriter& out, const F& fn, const Args&... args) {
    if constexpr (check_remote_call<F, Args...>()) {
        Signature<remote_pointer_t<F>>::send_call(out, trampoline_id<F>(), function_entry_id(fn), args...);
    }
}

/// True when PlacedCall can write fn(args...) (see there).
template <class F, class... Args>
inline constexpr bool placeable_call_v = [] {
    if constexpr (RemoteCallable<F>) {
        return Signature<remote_pointer_t<F>>::placeable;
    } else {
        return false;
    }
}();

/// encode_call's bytes for a call whose size is known before it is written
/// (placeable_call_v: nothing handed off, raw values and ranges only), so
/// that a large call can be written once, straight into a process pool's
/// shared buffer: size() first, then write() at a place of that size.
/// Holds references to `args`, which must outlive it. Throws as encode_call.
template <class F, class... Args>
    requires placeable_call_v<F, Args...>
class PlacedCall {
    using Call = Signature<remote_pointer_t<F>>;
    using Values = decltype(Call::encoded_values(std::declval<const Args&>()...));

public:
    PlacedCall(const F& fn, const Args&... args)
        : values_(Call::encoded_values(args...)), values_size_(encoded_size_hint(values_)) {
        write_call_header(head_, trampoline_id<F>(), function_entry_id(fn));
    }

    /// The arguments' part of size(), found without building anything
    /// else (to decide whether a call is large enough to be placed).
    static std::size_t arguments_size(const Args&... args) {
        return encoded_size_hint(Call::encoded_values(args...));
    }

    std::size_t size() const noexcept { return head_.bytes().size() + sizeof(std::size_t) + values_size_; }

    /// Writes the size() bytes send_call would have written at `out`.
    void write(std::byte* out) const noexcept {
        const std::span<const std::byte> head = head_.bytes();
        std::memcpy(out, head.data(), head.size());
        out += head.size();
        std::memcpy(out, &values_size_, sizeof values_size_);  // as HandoffWriter::write_bytes
        encode_exact(out + sizeof values_size_, values_);
    }

private:
    HandoffWriter head_;  // the call header (and module paths)
    Values values_;
    std::size_t values_size_;
};

/// Runs the call encode_call wrote, read from `in`, in this process: resolves
/// the trampoline and the function, receives the arguments, calls, and
/// returns the encoded result or the encoded exception the function threw
/// (never letting it escape). A function or trampoline whose shared library
/// is not loaded here is a raised ProcessError naming the library. Throws
/// FrameError if the message is malformed (truncated, or arguments that do
/// not decode) or names code that is not a recorded trampoline or a function
/// tandem may call (resolve_trampoline, resolve_function), before anything
/// is called; the caller should then drop the connection it came from. Only
/// call it for a message from a process whose build was checked with
/// check_same_build.
CallOutcome run_call(HandoffReader& in);

/// The caller's end: the result of the call (decoded as R, nothing for
/// void), or, if it raised, its exception rethrown as tandem::rethrow_remote
/// does (standard and tandem types as themselves, registered types too,
/// anything else as RemoteError). Throws FrameError if the payload does not
/// decode as R (or is not empty for void).
template <class R>
R take_result(bool raised, std::span<const std::byte> payload) {
    if (raised) rethrow_remote(payload);
    if constexpr (std::is_void_v<R>) {
        if (!payload.empty()) throw FrameError("call outcome: a void result carries bytes");
    } else {
        return decode<R>(payload);
    }
}
template <class R>
R take_result(const CallOutcome& outcome) {
    return take_result<R>(outcome.raised, outcome.payload);
}

}  // namespace tandem::detail

// tandem/serialization.hpp — making values and exceptions travel between processes.
//
// Arguments, results and queue items that cross a process boundary are
// encoded by their type, chosen at compile time (Python pickles at run time and
// fails late; here a type that cannot travel does not compile):
//   - trivially copyable types (int, double, plain structs, std::array of
//     them) travel as their bytes; so do std::vector / std::string of them;
//   - std::tuple and std::pair travel element by element;
//   - everything else goes through cereal: give your type a `serialize`
//     function (or save/load), and std containers, optional, variant, maps and
//     smart pointers work out of the box.
// Raw pointers and capturing lambdas are compile-time errors that say why.
// A trivially copyable struct travels as its bytes, so it must not hold
// pointers, unless it has its own cereal serialize/save member, which is then
// used instead. Received bytes are trusted no further than they reach: a
// container's count must fit the bytes left, and a message's containers may
// allocate at most 32 MiB plus 16 times its size in all (a FrameError
// otherwise; pickle has no such limit).
//
// Exceptions thrown in a worker come back with their type name and message.
// The standard exception types and tandem's own are rethrown as themselves;
// register your own types to get the same, anything else arrives as
// tandem::RemoteError carrying the original type name and message. One
// thrown by a process-pool task also brings the stack where it was thrown
// (Python's remote traceback): remote_traceback(error) returns it.
//
//     struct Order {                                 // travels through cereal
//         std::string customer;
//         std::vector<double> prices;
//         template <class Archive>
//         void serialize(Archive& archive) { archive(customer, prices); }
//     };
//     static_assert(tandem::Serializable<Order>);
//
//     struct PricingError : std::runtime_error {
//         using std::runtime_error::runtime_error;   // constructible from a string
//     };
//     int main() {
//         tandem::register_exception<PricingError>();  // rethrown as PricingError
//     }
#pragma once

#include <concepts>     // std::derived_from, std::constructible_from
#include <cstddef>      // std::byte
#include <exception>    // std::exception_ptr, std::nested_exception: the remote traceback
#include <span>         // received payloads
#include <string>       // exception messages
#include <type_traits>  // std::remove_cvref_t
#include <typeinfo>     // typeid for registration by type name
#include <utility>      // std::move
#include <vector>       // encoded bytes

#include "tandem/detail/wire/encoding.hpp"  // the codecs behind Serializable
#include "tandem/errors.hpp"                // RemoteTraceback

namespace tandem {

/// True when a T can be encoded in one process and decoded in another:
/// trivially copyable (no pointers), a vector/string of such, a tuple or pair
/// of Serializable types, or a default-constructible type cereal can
/// serialize. False for raw pointers, capturing lambdas and spans (which can
/// be sent but not received: receive a std::vector).
template <class T>
concept Serializable = detail::IsEncodable<std::remove_cvref_t<T>>::value &&
                       detail::IsDecodable<std::remove_cvref_t<T>>::value;

namespace detail {
using ExceptionFactory = std::exception_ptr (*)(const std::string& message);
/// True while decode_exception builds an exception that carries a remote
/// traceback (the exception being handled is then that RemoteTraceback).
bool decoding_with_traceback() noexcept;

/// `error` as an exception_ptr; while decoding one with a remote traceback,
/// with that RemoteTraceback nested in it (std::throw_with_nested).
template <class E>
std::exception_ptr with_remote_cause(E error) {
    if (!decoding_with_traceback()) return std::make_exception_ptr(std::move(error));
    try {
        std::throw_with_nested(std::move(error));
    } catch (...) {
        return std::current_exception();
    }
}

/// Adds (or replaces) the factory for exceptions whose demangled type name is `type_name`.
void register_exception_factory(std::string type_name, ExceptionFactory factory);
}  // namespace detail

/// Makes an exception of dynamic type E thrown in another process come back
/// as an E with the same message (instead of RemoteError). Call it in the
/// process that receives the exception, typically at the top of main() (which
/// also covers forked workers). Thread-safe; registering twice is harmless.
template <class E>
void register_exception() {
    static_assert(std::derived_from<E, std::exception>,
                  "tandem::register_exception: the type must derive from std::exception");
    static_assert(std::constructible_from<E, std::string>,
                  "tandem::register_exception: the type must be constructible from its message (a std::string)");
    detail::register_exception_factory(detail::demangle(typeid(E).name()), [](const std::string& message) {
        return detail::with_remote_cause(E(message));
    });
}

/// The stack where `error` was thrown, if a process pool rethrew it from a
/// worker (Python's remote traceback): one line per frame, innermost
/// first, "#0 parse(std::string const&) at parse.cpp:12". Empty for any other
/// exception, or one whose throw site was not recorded (thrown inside a
/// shared library built without tandem's throw hook).
inline std::string remote_traceback(const std::exception& error) {
    const auto* nested = dynamic_cast<const std::nested_exception*>(&error);
    if (nested == nullptr || !nested->nested_ptr()) return {};
    try {
        std::rethrow_exception(nested->nested_ptr());
    } catch (const RemoteTraceback& traceback) {
        return traceback.what();
    } catch (...) {
    }
    return {};
}

/// Encodes the exception in `error` for another process: its dynamic type's
/// demangled name, what(), and in a pool worker the stack where it was
/// thrown. A RemoteError keeps the type name and message it arrived with,
/// and a forwarded exception its remote traceback. An exception not derived
/// from std::exception (`throw 42`) is sent with the type name "unknown".
/// Throws ValueError if `error` is null.
std::vector<std::byte> encode_exception(std::exception_ptr error);

/// Rebuilds an exception encoded by encode_exception: the standard exception
/// types (runtime_error, logic_error and their subclasses, bad_alloc,
/// exception), tandem's errors with a message constructor and registered
/// types as themselves; anything else as RemoteError(type name, message);
/// with the remote traceback nested in it when there is one. Throws
/// FrameError if the payload is malformed.
std::exception_ptr decode_exception(std::span<const std::byte> payload);

/// Throws the exception decode_exception(payload) rebuilds (or its FrameError).
[[noreturn]] void rethrow_remote(std::span<const std::byte> payload);

}  // namespace tandem

// Exceptions across processes: encode_exception, decode_exception and the
// registry of types rebuilt as themselves (see tandem/serialization.hpp).
#include <cxxabi.h>  // abi::__cxa_current_exception_type for non-std exceptions

#include <mutex>          // the registry's lock
#include <new>            // std::bad_alloc
#include <stdexcept>      // the standard exception types
#include <string>         // type names, messages
#include <tuple>          // the payload: (type name, message)
#include <unordered_map>  // type name -> factory
#include <utility>        // std::move

#include "tandem/errors.hpp"         // tandem's errors, RemoteError
#include "tandem/serialization.hpp"  // the declarations

namespace tandem {

namespace detail {
namespace {

constexpr const char* kUnknownType = "unknown";

template <class E>
std::exception_ptr make_with_message(const std::string& message) {
    return std::make_exception_ptr(E(message));
}

// bad_alloc and exception have no message constructor; their what() is fixed.
template <class E>
std::exception_ptr make_without_message(const std::string&) {
    return std::make_exception_ptr(E());
}

class ExceptionRegistry {
public:
    ExceptionRegistry() {
        add<std::exception>(&make_without_message<std::exception>);
        add<std::bad_alloc>(&make_without_message<std::bad_alloc>);
        add_with_message<std::runtime_error, std::logic_error, std::invalid_argument, std::out_of_range,
                         std::length_error, std::domain_error, std::range_error, std::overflow_error,
                         std::underflow_error>();
        // RemoteError is rebuilt from its own fields; WorkerCrashed has no
        // message constructor and arrives as RemoteError.
        add_with_message<Error, CancelledError, TimeoutError, InvalidStateError, BrokenExecutor, BrokenThreadPool,
                         BrokenProcessPool, RuntimeError, ValueError, Empty, Full, ShutDown, BrokenBarrierError,
                         ProcessError, FrameError>();
    }

    void set(std::string type_name, ExceptionFactory factory) {
        const std::lock_guard lock(mutex_);
        factories_[std::move(type_name)] = factory;
    }

    ExceptionFactory find(const std::string& type_name) {
        const std::lock_guard lock(mutex_);
        const auto found = factories_.find(type_name);
        return found == factories_.end() ? nullptr : found->second;
    }

private:
    template <class E>
    void add(ExceptionFactory factory) {
        factories_.emplace(demangle(typeid(E).name()), factory);
    }
    template <class... Es>
    void add_with_message() {
        (add<Es>(&make_with_message<Es>), ...);
    }

    std::mutex mutex_;
    std::unordered_map<std::string, ExceptionFactory> factories_;
};

ExceptionRegistry& registry() {
    static ExceptionRegistry instance;
    return instance;
}

}  // namespace

void register_exception_factory(std::string type_name, ExceptionFactory factory) {
    registry().set(std::move(type_name), factory);
}

}  // namespace detail

std::vector<std::byte> encode_exception(std::exception_ptr error) {
    if (!error) throw ValueError("encode_exception: the exception_ptr is null");
    std::string type_name;
    std::string message;
    try {
        std::rethrow_exception(error);
    } catch (const RemoteError& e) {
        type_name = e.type_name();
        message = e.message();
    } catch (const std::exception& e) {
        type_name = detail::demangle(typeid(e).name());
        message = e.what();
    } catch (...) {
        type_name = detail::kUnknownType;
        const std::type_info* thrown = abi::__cxa_current_exception_type();
        message = "an exception of type " + (thrown ? detail::demangle(thrown->name()) : std::string("?")) +
                  ", not derived from std::exception";
    }
    return detail::encode(std::tuple<const std::string&, const std::string&>(type_name, message));
}

std::exception_ptr decode_exception(std::span<const std::byte> payload) {
    auto [type_name, message] = detail::decode<std::tuple<std::string, std::string>>(payload);
    if (const detail::ExceptionFactory factory = detail::registry().find(type_name)) return factory(message);
    return std::make_exception_ptr(RemoteError(std::move(type_name), std::move(message)));
}

void rethrow_remote(std::span<const std::byte> payload) { std::rethrow_exception(decode_exception(payload)); }

}  // namespace tandem

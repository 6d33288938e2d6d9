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

#include "tandem/detail/os/throw_site.hpp"  // throw_site_stack: where a task's exception was thrown
#include "tandem/errors.hpp"                // tandem's errors, RemoteError, RemoteTraceback
#include "tandem/serialization.hpp"         // the declarations

namespace tandem {

namespace detail {
namespace {

constexpr const char* kUnknownType = "unknown";

// Set while decode_exception builds an exception with a remote traceback.
thread_local bool with_traceback = false;

// A stack longer than this is cut (its innermost frames say where).
constexpr std::size_t kMaxTracebackBytes = 16384;

template <class E>
std::exception_ptr make_with_message(const std::string& message) {
    return with_remote_cause(E(message));
}

// bad_alloc and exception have no message constructor; their what() is fixed.
template <class E>
std::exception_ptr make_without_message(const std::string&) {
    return with_remote_cause(E());
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
                         BrokenProcessPool, RuntimeError, ValueError, MemoryError, Empty, Full, ShutDown, BrokenBarrierError,
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

bool decoding_with_traceback() noexcept { return with_traceback; }

void register_exception_factory(std::string type_name, ExceptionFactory factory) {
    registry().set(std::move(type_name), factory);
}

}  // namespace detail

std::vector<std::byte> encode_exception(std::exception_ptr error) {
    if (!error) throw ValueError("encode_exception: the exception_ptr is null");
    std::string type_name;
    std::string message;
    // Recorded where it was thrown (in a pool worker), else the one it came with.
    std::string traceback = detail::throw_site_stack(error);
    try {
        std::rethrow_exception(error);
    } catch (const RemoteError& e) {
        type_name = e.type_name();
        message = e.message();
        if (traceback.empty()) traceback = remote_traceback(e);
    } catch (const std::exception& e) {
        type_name = detail::demangle(typeid(e).name());
        message = e.what();
        if (traceback.empty()) traceback = remote_traceback(e);
    } catch (...) {
        type_name = detail::kUnknownType;
        const std::type_info* thrown = abi::__cxa_current_exception_type();
        message = "an exception of type " + (thrown ? detail::demangle(thrown->name()) : std::string("?")) +
                  ", not derived from std::exception";
    }
    if (traceback.size() > detail::kMaxTracebackBytes) traceback.resize(detail::kMaxTracebackBytes);
    return detail::encode(
        std::tuple<const std::string&, const std::string&, const std::string&>(type_name, message, traceback));
}

std::exception_ptr decode_exception(std::span<const std::byte> payload) {
    // Named references, not a structured binding: the lambda below captures them.
    auto decoded = detail::decode<std::tuple<std::string, std::string, std::string>>(payload);
    std::string& type_name = std::get<0>(decoded);
    std::string& message = std::get<1>(decoded);
    const std::string& traceback = std::get<2>(decoded);
    const detail::ExceptionFactory factory = detail::registry().find(type_name);
    const auto build = [&] {
        return factory != nullptr ? factory(message)
                                  : detail::with_remote_cause(RemoteError(std::move(type_name), std::move(message)));
    };
    if (traceback.empty()) return build();
    // The factories nest the exception being handled: this traceback.
    try {
        throw RemoteTraceback(traceback);
    } catch (const RemoteTraceback&) {
        detail::with_traceback = true;
        struct Reset {
            ~Reset() { detail::with_traceback = false; }
        } reset;
        return build();
    }
}

void rethrow_remote(std::span<const std::byte> payload) { std::rethrow_exception(decode_exception(payload)); }

}  // namespace tandem

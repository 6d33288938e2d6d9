// Start methods and contexts: get_context, set_start_method, get_start_method,
// get_all_start_methods, and how the default start method is chosen (see
// multiprocessing/context.hpp).
#include "tandem/multiprocessing/context.hpp"  // the declarations

#include <pthread.h>  // pthread_atfork

#include <mutex>  // the default context's lock

#include "tandem/detail/launch/fork.hpp"    // user_thread_count
#include "tandem/detail/launch/reexec.hpp"  // require_init
#include "tandem/errors.hpp"                // ValueError, RuntimeError, ProcessError
#include "tandem/init.hpp"                  // tandem::initialized

namespace tandem::multiprocessing {
namespace {

// Python's _default_context: the method set explicitly, and whether the
// default is fixed (set, asked for, or used).
struct DefaultContext {
    std::mutex mutex;
    std::optional<StartMethod> explicit_method;
    bool fixed = false;

    static DefaultContext& get() {
        static DefaultContext* context = [] {
            auto* created = new DefaultContext;  // never destroyed: used until exit
            pthread_atfork([] { get().mutex.lock(); }, [] { get().mutex.unlock(); }, [] { get().mutex.unlock(); });
            return created;
        }();
        return *context;
    }
};

void require_method_available(StartMethod method) {
    if (method != StartMethod::fork) detail::require_init(start_method_name(method).data());
}

// The default's method name when nothing was set explicitly.
std::string implicit_method_name() { return tandem::initialized() ? "forkserver" : "fork"; }

}  // namespace

std::string_view start_method_name(StartMethod method) noexcept {
    switch (method) {
        case StartMethod::fork:
            return "fork";
        case StartMethod::forkserver:
            return "forkserver";
        case StartMethod::spawn:
            return "spawn";
    }
    return "unknown";
}

StartMethod parse_start_method(std::string_view name) {
    if (name == "fork") return StartMethod::fork;
    if (name == "forkserver") return StartMethod::forkserver;
    if (name == "spawn") return StartMethod::spawn;
    throw ValueError("cannot find context for '" + std::string(name) + "'");
}

std::optional<std::string> Context::get_start_method(bool allow_none) const {
    if (method_) return std::string(start_method_name(*method_));
    return multiprocessing::get_start_method(allow_none);
}

Context get_context(std::optional<StartMethod> method) {
    if (method) require_method_available(*method);
    return Context(method);
}

Context get_context(std::string_view method) { return get_context(parse_start_method(method)); }

void set_start_method(std::optional<StartMethod> method, bool force) {
    if (method) require_method_available(*method);
    DefaultContext& context = DefaultContext::get();
    const std::lock_guard guard(context.mutex);
    if (context.fixed && !force) throw RuntimeError("context has already been set");
    context.explicit_method = method;
    // set_start_method(None, force=True) unfixes the default, as Python.
    context.fixed = method.has_value() || !force;
}

void set_start_method(std::string_view method, bool force) { set_start_method(parse_start_method(method), force); }

std::optional<std::string> get_start_method(bool allow_none) {
    DefaultContext& context = DefaultContext::get();
    const std::lock_guard guard(context.mutex);
    if (!context.fixed) {
        if (allow_none) return std::nullopt;
        context.fixed = true;
    }
    if (context.explicit_method) return std::string(start_method_name(*context.explicit_method));
    return implicit_method_name();
}

std::vector<std::string> get_all_start_methods() {
    if (tandem::initialized()) return {"forkserver", "fork", "spawn"};
    return {"fork"};
}

}  // namespace tandem::multiprocessing

namespace tandem::detail {

multiprocessing::StartMethod resolve_default_start_method() {
    using multiprocessing::StartMethod;
    auto& context = multiprocessing::DefaultContext::get();
    {
        const std::lock_guard guard(context.mutex);
        context.fixed = true;
        if (context.explicit_method) return *context.explicit_method;
    }
    if (tandem::initialized()) return StartMethod::forkserver;
    const std::size_t threads = user_thread_count();
    if (threads == 1) return StartMethod::fork;
    throw ProcessError(
        "the default start method will not fork this process: it has " + std::to_string(threads) +
        " threads, and a lock another thread holds would stay locked forever in the child (CPython gh-50970). "
        "Call tandem::init(argc, argv) at the top of main() to make forkserver the default, or choose fork "
        "explicitly (get_context(\"fork\"), ProcessOptions::start_method, ForkProcess) if you know it is safe");
}

}  // namespace tandem::detail

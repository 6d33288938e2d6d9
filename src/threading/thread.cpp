// threading::Thread, the table of live threads behind current_thread() and
// enumerate(), the excepthook, and the fork-child clean-up Python does in
// threading._after_fork.
#include "tandem/threading/thread.hpp"

#include <algorithm>    // std::find_if
#include <climits>      // INT_MAX: wake every joiner
#include <cstdio>       // the default excepthook writes to stderr
#include <cstdlib>      // std::free for the demangled name
#include <cxxabi.h>     // abi::__cxa_current_exception_type, abi::__cxa_demangle
#include <mutex>        // the registry mutex
#include <pthread.h>    // pthread_create, pthread_setname_np, pthread_atfork
#include <string_view>  // the OS name, a view of the name
#include <typeinfo>     // std::type_info of the escaping exception
#include <unistd.h>     // gettid

#include "tandem/threading/lock.hpp"  // detail::current_ident

namespace tandem::detail {

using threading::Thread;

namespace {
// ThreadState::phase, a futex word that only moves forward.
constexpr std::uint32_t kPhaseNew = 0;
constexpr std::uint32_t kPhaseRunning = 1;
constexpr std::uint32_t kPhaseFinished = 2;

}  // namespace

std::string os_thread_name(std::string_view name) {
    // Linux keeps 15 bytes of a thread's name plus the terminator.
    constexpr std::size_t kLimit = 15;
    if (name.size() <= kLimit) return std::string(name);
    // The end that tells threads apart: the trailing digits and the
    // separators among them ("-3_12" of "ThreadPoolExecutor-3_12"), if short.
    std::size_t tail = name.size();
    bool digits = false;
    while (tail > 0) {
        const char c = name[tail - 1];
        const bool digit = c >= '0' && c <= '9';
        if (!digit && c != '-' && c != '_' && c != '.') break;
        digits = digits || digit;
        --tail;
    }
    std::string_view suffix = name.substr(tail);
    if (!digits || suffix.size() > kLimit / 2) suffix = {};
    // The start, cut before a UTF-8 continuation byte so that no character
    // is split.
    std::size_t head = kLimit - suffix.size();
    while (head > 0 && (static_cast<unsigned char>(name[head]) & 0xC0) == 0x80) --head;
    std::string shown(name.substr(0, head));
    shown += suffix;
    return shown;
}

namespace {
void set_os_thread_name(const std::string& name) noexcept {
    try {
        pthread_setname_np(pthread_self(), os_thread_name(name).c_str());
    } catch (...) {
        // Out of memory: the OS name only serves debuggers and top.
    }
}
}  // namespace

struct ThreadState {
    enum class Kind { started, main, dummy };

    explicit ThreadState(Kind k) noexcept : kind(k) {}

    Kind kind;                      // changes only in a fork child, single-threaded
    std::string name;               // guarded by the registry mutex
    std::atomic<bool> daemon{false};
    std::atomic<std::uint64_t> ident{0};
    std::atomic<pid_t> native_id{0};
    std::atomic<std::uint32_t> phase{kPhaseNew};
    bool target_only = false;                // settled before the OS thread exists
    std::unique_ptr<ThreadTarget> target;    // consumed by run()
    std::atomic<Thread*> object{nullptr};    // what current_thread() returns
    std::unique_ptr<Thread> stand_in;        // guarded by the registry mutex

    // Waits until `phase` reaches `wanted`; false if the deadline passed first.
    bool wait_for_phase(std::uint32_t wanted, Deadline deadline) noexcept {
        for (;;) {
            const std::uint32_t seen = phase.load(std::memory_order_acquire);
            if (seen >= wanted) return true;
            if (!futex_wait(phase, seen, deadline)) return phase.load(std::memory_order_acquire) >= wanted;
        }
    }
    void advance(std::uint32_t to) noexcept {
        phase.store(to, std::memory_order_release);
        futex_wake(phase, INT_MAX);
    }
};

namespace {
// The state of the calling thread; null for a foreign thread that has not yet
// called current_thread().
thread_local ThreadState* current_state = nullptr;

// Owns the dummy Thread of a foreign thread and forgets it when that thread exits.
struct DummyHolder {
    std::unique_ptr<Thread> thread;
    ~DummyHolder();
};
thread_local DummyHolder dummy_holder;
}  // namespace

struct ThreadRegistry {
    std::mutex mutex;  // guards everything below, thread names and the excepthook
    std::vector<std::shared_ptr<ThreadState>> active;
    std::shared_ptr<ThreadState> main;
    std::uint64_t counter = 0;
    threading::ExceptHook excepthook = threading::default_excepthook;

    // Never destroyed: daemon threads may still use it while the process exits.
    static ThreadRegistry& get() {
        static ThreadRegistry* const registry = [] {
            auto* created = new ThreadRegistry;
            created->adopt_main();
            pthread_atfork([] { get().mutex.lock(); }, [] { get().mutex.unlock(); },
                           [] {
                               get().after_fork_in_child();
                               get().mutex.unlock();
                           });
            return created;
        }();
        return *registry;
    }

    std::string next_name(const char* prefix) {
        std::lock_guard guard(mutex);
        return prefix + std::to_string(++counter);
    }

    void add(std::shared_ptr<ThreadState> state) {
        std::lock_guard guard(mutex);
        active.push_back(std::move(state));
    }
    void remove_locked(const ThreadState& state) {
        const auto found =
            std::find_if(active.begin(), active.end(), [&](const auto& entry) { return entry.get() == &state; });
        if (found != active.end()) active.erase(found);
    }

    // A state for a thread tandem did not start, describing the calling thread.
    static std::shared_ptr<ThreadState> describe_caller(ThreadState::Kind kind, std::string name, bool daemon) {
        auto state = std::make_shared<ThreadState>(kind);
        state->name = std::move(name);
        state->daemon = daemon;
        state->ident = current_ident();
        state->native_id = gettid();
        state->phase = kPhaseRunning;
        current_state = state.get();
        return state;
    }
    // Called with the mutex held or before anyone else can see the registry.
    void adopt_main() {
        main = describe_caller(ThreadState::Kind::main, "MainThread", false);
        main->object = new Thread(main);  // lives as long as the process
        active.push_back(main);
    }

    Thread& adopt_dummy() {
        auto state = describe_caller(ThreadState::Kind::dummy, next_name("Dummy-"), true);
        dummy_holder.thread.reset(new Thread(state));
        state->object = dummy_holder.thread.get();
        add(std::move(state));
        return *dummy_holder.thread;
    }

    void forget_dummy(std::unique_ptr<Thread>& thread) {
        ThreadState& state = *thread->state_;
        {
            std::lock_guard guard(mutex);
            if (state.kind == ThreadState::Kind::main) {
                // This thread forked and became the child's main thread, which
                // must outlive it.
                static_cast<void>(thread.release());
                return;
            }
            remove_locked(state);
        }
        current_state = nullptr;
        state.advance(kPhaseFinished);
    }

    // The thread's run() returned: it leaves enumerate() before join() returns.
    void finish(ThreadState& state) {
        std::unique_ptr<Thread> stand_in;
        {
            std::lock_guard guard(mutex);
            remove_locked(state);
            stand_in = std::move(state.stand_in);
        }
        current_state = nullptr;
        state.advance(kPhaseFinished);
    }

    // A daemon Thread object is going away while its thread runs.
    void detach(const std::shared_ptr<ThreadState>& state) {
        std::unique_ptr<Thread> stand_in(new Thread(state));
        std::lock_guard guard(mutex);
        if (state->phase.load(std::memory_order_acquire) == kPhaseFinished) return;
        state->object.store(stand_in.get(), std::memory_order_release);
        state->stand_in = std::move(stand_in);
    }

    // Only the thread that called fork() exists in the child; the others'
    // Thread objects must read as finished, and the survivor becomes the main
    // thread (Python's threading._after_fork). Runs with the mutex held.
    void after_fork_in_child() {
        std::shared_ptr<ThreadState> survivor;
        for (auto& state : active) {
            if (state.get() == current_state) {
                survivor = state;
            } else {
                state->phase.store(kPhaseFinished, std::memory_order_release);
                // Breaks the stand-in's reference cycle; nobody in this process
                // can be using it.
                state->stand_in.reset();
            }
        }
        active.clear();
        if (survivor == nullptr) {
            adopt_main();
            return;
        }
        survivor->native_id = gettid();
        if (survivor->kind == ThreadState::Kind::dummy) {
            survivor->kind = ThreadState::Kind::main;
            survivor->name = "MainThread";
            survivor->daemon = false;
        }
        main = survivor;
        active.push_back(std::move(survivor));
    }
};

namespace {

DummyHolder::~DummyHolder() {
    if (thread) ThreadRegistry::get().forget_dummy(thread);
}

// Records the main thread while the process is still single-threaded: static
// initialisation runs in the main thread.
[[maybe_unused]] const bool main_thread_recorded = (ThreadRegistry::get(), true);

std::string demangled_current_exception_type() {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type == nullptr) return "unknown exception";
    int status = 0;
    const std::unique_ptr<char, decltype(&std::free)> demangled(
        abi::__cxa_demangle(type->name(), nullptr, nullptr, &status), &std::free);
    return status == 0 && demangled ? demangled.get() : type->name();
}

// "TYPE: MESSAGE", or "TYPE" for an exception that has no message.
std::string describe(const threading::ExceptHookArgs& args) {
    std::string text = args.exc_type;
    if (!args.exc_value) return text;
    try {
        std::rethrow_exception(args.exc_value);
    } catch (const std::exception& error) {
        text += ": ";
        text += error.what();
    } catch (...) {
    }
    return text;
}

// Must be called inside the handler that caught the exception escaping run().
void report_uncaught(ThreadState& state) noexcept {
    try {
        ThreadRegistry& registry = ThreadRegistry::get();
        threading::ExceptHookArgs args;
        args.exc_value = std::current_exception();
        args.exc_type = demangled_current_exception_type();
        args.thread = state.object.load(std::memory_order_acquire);
        args.thread_ident = state.ident.load(std::memory_order_relaxed);
        threading::ExceptHook hook;
        {
            std::lock_guard guard(registry.mutex);
            args.thread_name = state.name;
            hook = registry.excepthook;
        }
        try {
            hook(args);
        } catch (...) {
            const std::string text = "Exception in threading.excepthook:\n" + demangled_current_exception_type() + "\n";
            std::fputs(text.c_str(), stderr);
        }
    } catch (...) {
        std::fputs("Exception in thread (could not be reported: out of memory)\n", stderr);
    }
}

void run_target(ThreadState& state) {
    // Dropped when the call ends, normally or not (Python: del self._target).
    if (const std::unique_ptr<ThreadTarget> target = std::move(state.target)) target->call();
}

void* thread_entry(void* argument) noexcept {
    const std::unique_ptr<std::shared_ptr<ThreadState>> owned(static_cast<std::shared_ptr<ThreadState>*>(argument));
    ThreadState& state = **owned;
    current_state = &state;
    state.ident.store(current_ident(), std::memory_order_relaxed);
    state.native_id.store(gettid(), std::memory_order_relaxed);
    try {
        std::string name;
        {
            std::lock_guard guard(ThreadRegistry::get().mutex);
            name = state.name;
        }
        set_os_thread_name(name);
    } catch (...) {
        // Out of memory copying the name: the OS name only serves debuggers.
    }
    state.advance(kPhaseRunning);
    try {
        if (state.target_only) {
            run_target(state);
        } else {
            state.object.load(std::memory_order_acquire)->run();
        }
    } catch (...) {
        report_uncaught(state);
    }
    ThreadRegistry::get().finish(state);
    return nullptr;
}

}  // namespace
}  // namespace tandem::detail

namespace tandem::threading {

using detail::ThreadRegistry;
using detail::ThreadState;

void default_excepthook(const ExceptHookArgs& args) {
    const std::string text = "Exception in thread " + args.thread_name + ":\n" + detail::describe(args) + "\n";
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
}

ExceptHook set_excepthook(ExceptHook hook) {
    if (!hook) hook = default_excepthook;
    ThreadRegistry& registry = ThreadRegistry::get();
    std::lock_guard guard(registry.mutex);
    std::swap(hook, registry.excepthook);
    return hook;
}

Thread::Thread(ThreadOptions options) : Thread(std::move(options), nullptr, false) {}

Thread::Thread(ThreadOptions options, std::unique_ptr<detail::ThreadTarget> target, bool target_only)
    : state_(std::make_shared<ThreadState>(ThreadState::Kind::started)) {
    state_->name = options.name ? std::move(*options.name) : ThreadRegistry::get().next_name("Thread-");
    state_->daemon = options.daemon ? *options.daemon : current_thread().daemon();
    state_->target = std::move(target);
    state_->target_only = target_only;
    state_->object = this;
}

Thread::Thread(std::shared_ptr<ThreadState> state) : state_(std::move(state)), started_(true), stands_in_(true) {}

Thread::~Thread() {
    if (stands_in_ || !started_.load(std::memory_order_acquire)) return;
    if (state_->phase.load(std::memory_order_acquire) == detail::kPhaseFinished) return;
    if (!state_->daemon.load(std::memory_order_relaxed) && detail::current_state != state_.get()) {
        state_->wait_for_phase(detail::kPhaseFinished, std::nullopt);
        return;
    }
    ThreadRegistry::get().detach(state_);
}

void Thread::start() {
    if (started_.exchange(true, std::memory_order_acq_rel)) throw RuntimeError("threads can only be started once");
    // A plain Thread's run() is the target call, so its OS thread need not
    // touch this object, which may then be destroyed while it runs.
    if (typeid(*this) == typeid(Thread)) state_->target_only = true;
    ThreadRegistry& registry = ThreadRegistry::get();
    auto argument = std::make_unique<std::shared_ptr<ThreadState>>(state_);
    registry.add(state_);  // visible to enumerate() while starting, like Python's _limbo

    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t handle{};
    const int error = pthread_create(&handle, &attributes, detail::thread_entry, argument.get());
    pthread_attr_destroy(&attributes);
    if (error != 0) {
        {
            std::lock_guard guard(registry.mutex);
            registry.remove_locked(*state_);
        }
        started_.store(false, std::memory_order_release);
        throw RuntimeError("can't start new thread");
    }
    static_cast<void>(argument.release());  // now owned by the new thread
    // As Python's start() waits for _started: ident, native_id and is_alive()
    // are settled when start() returns.
    state_->wait_for_phase(detail::kPhaseRunning, std::nullopt);
}

void Thread::run() { detail::run_target(*state_); }

bool Thread::join_until(detail::Deadline deadline) {
    if (state_->phase.load(std::memory_order_acquire) == detail::kPhaseNew) {
        throw RuntimeError("cannot join thread before it is started");
    }
    if (state_->kind == ThreadState::Kind::dummy) throw RuntimeError("cannot join a dummy thread");
    if (detail::current_state == state_.get()) throw RuntimeError("cannot join current thread");
    return state_->wait_for_phase(detail::kPhaseFinished, deadline);
}

bool Thread::is_alive() const noexcept {
    return state_->phase.load(std::memory_order_acquire) == detail::kPhaseRunning;
}

std::string Thread::name() const {
    std::lock_guard guard(ThreadRegistry::get().mutex);
    return state_->name;
}

void Thread::set_name(std::string name) {
    if (detail::current_state == state_.get()) detail::set_os_thread_name(name);
    std::lock_guard guard(ThreadRegistry::get().mutex);
    state_->name = std::move(name);
}

bool Thread::daemon() const noexcept { return state_->daemon.load(std::memory_order_relaxed); }

void Thread::set_daemon(bool daemon) {
    if (started_.load(std::memory_order_acquire)) throw RuntimeError("cannot set daemon status of active thread");
    state_->daemon.store(daemon, std::memory_order_relaxed);
}

std::optional<std::uint64_t> Thread::ident() const noexcept {
    const std::uint64_t ident = state_->ident.load(std::memory_order_acquire);
    return ident != 0 ? std::optional(ident) : std::nullopt;
}

std::optional<pid_t> Thread::native_id() const noexcept {
    const pid_t id = state_->native_id.load(std::memory_order_acquire);
    return id != 0 ? std::optional(id) : std::nullopt;
}

Thread& current_thread() {
    ThreadRegistry& registry = ThreadRegistry::get();
    if (ThreadState* state = detail::current_state) return *state->object.load(std::memory_order_acquire);
    return registry.adopt_dummy();
}

Thread& main_thread() {
    ThreadRegistry& registry = ThreadRegistry::get();
    std::lock_guard guard(registry.mutex);
    return *registry.main->object.load(std::memory_order_acquire);
}

std::uint64_t get_ident() noexcept { return detail::current_ident(); }

pid_t get_native_id() noexcept { return gettid(); }

std::size_t active_count() {
    ThreadRegistry& registry = ThreadRegistry::get();
    std::lock_guard guard(registry.mutex);
    return registry.active.size();
}

std::vector<Thread*> enumerate() {
    ThreadRegistry& registry = ThreadRegistry::get();
    std::lock_guard guard(registry.mutex);
    std::vector<Thread*> threads;
    threads.reserve(registry.active.size());
    for (const auto& state : registry.active) threads.push_back(state->object.load(std::memory_order_acquire));
    return threads;
}

}  // namespace tandem::threading

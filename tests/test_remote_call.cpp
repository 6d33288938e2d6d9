// Tests for tandem/detail/wire/remote_call.hpp: "call fn(args...)" as a message
// and its outcome as a message back. The behaviours come from Python's
// multiprocessing, which pickles (function, args) for a worker and sends back
// the result or the exception: values, strings, lists, user classes, tuples
// and None travel; a worker's exception is re-raised in the caller. Where
// Python fails at run time (lambdas, closures, unpicklable arguments),
// tandem refuses at compile time (checked here with static_assert), and a
// malformed message is a FrameError, as is one naming code tandem did not
// generate (a forged trampoline, libc's unlink, the middle of a function, a
// library without an entry table: entry_table.hpp). The RemoteCallAcrossExec tests run the
// calls in a child that re-executes this test program (as spawn does), so
// the program is loaded at other addresses: ASLR does not matter.
#include "tandem/detail/wire/remote_call.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dirent.h>       // opendir, to count open descriptors
#include <dlfcn.h>        // dlopen / dlsym, for a library the child has not loaded
#include <fcntl.h>        // fcntl, F_DUPFD_CLOEXEC
#include <poll.h>         // poll, for bounded waits
#include <signal.h>       // kill, SIGKILL
#include <sys/socket.h>   // socketpair
#include <sys/syscall.h>  // SYS_pidfd_open
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, execve, pipe2, read, write

#include <atomic>      // the void call's side effect
#include <cerrno>      // errno
#include <chrono>      // steady_clock, a libstdc++ function
#include <cstdint>     // std::uintptr_t, crafted ids
#include <cstdlib>     // std::getenv, std::_Exit
#include <cstring>     // std::memcpy
#include <functional>  // std::function (not remote-callable)
#include <map>         // a cereal container argument
#include <memory>      // unique_ptr, shared_ptr through cereal
#include <span>        // byte views
#include <stdexcept>   // the standard exception types
#include <string>      // strings
#include <thread>      // concurrent calls
#include <tuple>       // tuple results
#include <utility>     // std::pair, std::move
#include <vector>      // vectors, messages

#include "support/entry_plugin.hpp"           // EntryPluginApi: a library built with tandem
#include "support/expect_error.hpp"           // expect_error
#include "tandem/detail/os/unique_fd.hpp"     // UniqueFd
#include "tandem/detail/wire/encoding.hpp"    // encode / decode of the test protocol
#include "tandem/detail/wire/fd_passing.hpp"  // send_with_fds / receive_with_fds
#include "tandem/errors.hpp"                  // FrameError, ProcessError, RemoteError, ValueError
#include "tandem/serialization.hpp"           // register_exception

extern char** environ;  // the child's environment is this one plus its socket

namespace tandem::test_remote_call {

using detail::CallOutcome;
using detail::current_result_place;
using detail::encode_call;
using detail::HandoffReader;
using detail::HandoffWriter;
using detail::placeable_call_v;
using detail::PlacedCall;
using detail::RemoteCallable;
using detail::RemoteInvocable;
using detail::remote_result_t;
using detail::ResultPlace;
using detail::run_call;
using detail::take_result;
using detail::UniqueFd;
using tandem_test::expect_error;
using Bytes = std::vector<std::byte>;

// --- functions to call --------------------------------------------------------------

int add(int a, int b) { return a + b; }
long widen(long value) { return value * 2; }
bool is_even(int value) { return value % 2 == 0; }
std::string greet(const std::string& name) { return "hello, " + name; }
std::size_t consume(std::string&& text) { return std::string(std::move(text)).size(); }
std::vector<double> scaled(std::vector<double> values, double factor) {
    for (double& value : values) value *= factor;
    return values;
}
std::tuple<int, std::string> split(const std::pair<int, std::string>& both) { return {both.first, both.second}; }
std::map<std::string, int> count_words(const std::vector<std::string>& words) {
    std::map<std::string, int> counts;
    for (const auto& word : words) ++counts[word];
    return counts;
}
int negate(int value) noexcept { return -value; }
// The sum of a span argument, and whether its elements lie inside `[first, last)` (the message).
std::tuple<double, bool> sum_inside(std::span<const double> values, std::uint64_t first, std::uint64_t last) {
    double sum = 0;
    for (double value : values) sum += value;
    const auto address = reinterpret_cast<std::uint64_t>(values.data());
    return {sum, values.empty() || (address >= first && address + values.size_bytes() <= last)};
}

std::atomic<int> recorded{0};
void record(int value) { recorded = value; }

std::unique_ptr<int> boxed(int value) { return std::make_unique<int>(value); }
int unboxed(std::unique_ptr<int> box) { return box ? *box : -1; }
bool same_object(std::shared_ptr<int> a, std::shared_ptr<int> b) { return a.get() == b.get(); }

struct Order {
    std::string customer;
    std::vector<double> prices;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(customer, prices);
    }
    friend bool operator==(const Order&, const Order&) = default;
};
double total(const Order& order) {
    double sum = 0;
    for (double price : order.prices) sum += price;
    return sum;
}
Order make_order(std::string customer, int items) {
    return Order{std::move(customer), std::vector<double>(static_cast<std::size_t>(items), 1.5)};
}

struct Geometry {
    static double area(double width, double height) { return width * height; }
};

struct PricingError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct RegisteredError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int throws_out_of_range(int) { throw std::out_of_range("index 7 is out of range"); }
int throws_value_error(int) { throw ValueError("not a positive number"); }
int throws_pricing_error(int) { throw PricingError("price is negative"); }
int throws_registered_error(int) { throw RegisteredError("registered and rebuilt"); }
int throws_int(int) { throw 42; }
int throws_frame_error(int) { throw FrameError("the function's own FrameError"); }

// A result whose encoding fails in the worker, and an argument whose decoding does.
struct Unsavable {
    int value = 0;
    template <class Archive>
    void save(Archive&) const {
        throw std::runtime_error("cannot save an Unsavable");
    }
    template <class Archive>
    void load(Archive&) {}
};
Unsavable make_unsavable() { return {}; }

struct Unloadable {
    int value = 0;
    template <class Archive>
    void save(Archive& archive) const {
        archive(value);
    }
    template <class Archive>
    void load(Archive&) {
        throw std::invalid_argument("cannot load an Unloadable");
    }
};
int take_unloadable(const Unloadable& value) { return value.value; }

// --- a handed-off type: the write end of a pipe ---------------------------------------
struct PipeEnd {
    UniqueFd fd;
};

}  // namespace tandem::test_remote_call

template <>
struct tandem::detail::Handoff<tandem::test_remote_call::PipeEnd> {
    static void send(HandoffWriter& out, const tandem::test_remote_call::PipeEnd& end) { out.write_fd(end.fd.get()); }
    static tandem::test_remote_call::PipeEnd receive(HandoffReader& in) { return {in.take_fd()}; }
};

namespace tandem::test_remote_call {
namespace {

// Writes `text` into the pipe it was handed; returns how much it wrote.
std::size_t write_to(PipeEnd end, const std::string& text) {
    const ssize_t written = ::write(end.fd.get(), text.data(), text.size());
    if (written < 0) throw std::runtime_error("write failed");
    return static_cast<std::size_t>(written);
}

// For the child: loads a library there, so that a call into it can be resolved.
bool load_library(const std::string& name) { return ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr; }
std::uintptr_t address_of_add() { return reinterpret_cast<std::uintptr_t>(&add); }
Bytes own_build_id() { return Bytes(detail::build_id().begin(), detail::build_id().end()); }
void exit_now(int code) { std::_Exit(code); }

std::chrono::steady_clock::time_point clock_now() { return std::chrono::steady_clock::now(); }
int take_path(std::string path) { return static_cast<int>(path.size()); }

// The plugin (support/entry_plugin.cpp), loaded here for good.
const EntryPluginApi& plugin() {
    static const EntryPluginApi* api = [] {
        void* handle = ::dlopen(TANDEM_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) throw std::runtime_error(::dlerror());
        return reinterpret_cast<const EntryPluginApi* (*)()>(::dlsym(handle, kEntryPluginSymbol))();
    }();
    return *api;
}

// --- compile-time contract --------------------------------------------------------------

// multiprocessing: module-level functions can be sent; tandem adds captureless lambdas.
static_assert(RemoteCallable<decltype(&add)>);
static_assert(RemoteCallable<decltype(add)>);  // a function type, as `const F&` deduces it
static_assert(RemoteCallable<decltype(&Geometry::area)>);
static_assert(RemoteCallable<decltype(&negate)>);
inline constexpr auto twice = [](int x) { return 2 * x; };
static_assert(RemoteCallable<decltype(twice)>);
// multiprocessing: a closure cannot be pickled; tandem refuses it at compile time.
inline int captured_value = 1;
inline const auto capturing = [value = captured_value](int x) { return x + value; };
static_assert(!RemoteCallable<decltype(capturing)>);
static_assert(!RemoteCallable<std::function<int(int)>>);
struct Counter {
    int next() { return ++count; }
    int count = 0;
};
static_assert(!RemoteCallable<decltype(&Counter::next)>);  // needs an object
inline constexpr auto generic = [](auto x) { return x; };
static_assert(!RemoteCallable<decltype(generic)>);
static_assert(!RemoteCallable<int>);
static_assert(!RemoteCallable<int (*)(const char*, ...)>);  // a C variadic function

// The result type the caller receives is the decayed result.
static_assert(std::is_same_v<remote_result_t<decltype(&add), int, int>, int>);
static_assert(std::is_same_v<remote_result_t<decltype(&greet), const char*>, std::string>);
inline const std::string& name_ref(int) {
    static const std::string name = "name";
    return name;
}
static_assert(std::is_same_v<remote_result_t<decltype(&name_ref), int>, std::string>);

// What must and must not be invocable remotely (pickle would fail at run time).
inline int takes_pointer(int* p) { return *p; }
inline int* returns_pointer(int) { return nullptr; }
inline void takes_mutable_ref(std::string&) {}
static_assert(RemoteInvocable<decltype(&add), int, int>);
static_assert(RemoteInvocable<decltype(&greet), const char*>);  // converted by the caller
static_assert(RemoteInvocable<decltype(twice), int>);
static_assert(RemoteInvocable<decltype(&write_to), PipeEnd, std::string>);
static_assert(!RemoteInvocable<decltype(&add), int>);                  // too few arguments
static_assert(!RemoteInvocable<decltype(&add), int, int, int>);        // too many
static_assert(!RemoteInvocable<decltype(&add), std::string, int>);     // does not convert
static_assert(!RemoteInvocable<decltype(&takes_pointer), int*>);       // an address means nothing there
static_assert(!RemoteInvocable<decltype(&returns_pointer), int>);
static_assert(!RemoteInvocable<decltype(&takes_mutable_ref), std::string>);  // changes would be lost
static_assert(!RemoteInvocable<decltype(capturing), int>);

// --- helpers ----------------------------------------------------------------------------

int count_open_fds() {
    int count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
    return count - 1;  // the directory's own descriptor
}

// Runs the call in this process: encode, copy the bytes, duplicate the
// descriptors as SCM_RIGHTS would, run_call.
template <class F, class... Args>
CallOutcome run_here(const F& fn, const Args&... args) {
    HandoffWriter out;
    encode_call(out, fn, args...);
    const Bytes bytes(out.bytes().begin(), out.bytes().end());
    std::vector<UniqueFd> fds;
    for (const int fd : out.fds()) fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    HandoffReader in(bytes, std::move(fds));
    return run_call(in);
}

template <class R, class F, class... Args>
R call_here(const F& fn, const Args&... args) {
    return take_result<R>(run_here(fn, args...));
}

// The encoded call as bytes (for tampering).
template <class F, class... Args>
Bytes encoded(const F& fn, const Args&... args) {
    HandoffWriter out;
    encode_call(out, fn, args...);
    return Bytes(out.bytes().begin(), out.bytes().end());
}

CallOutcome run_bytes(const Bytes& bytes) {
    HandoffReader in(bytes, {});
    return run_call(in);
}

// `genuine` (an encoded call of a function of this program) with its header
// replaced by `trampoline` and `function`, and the module paths a sender
// writes for them: a message as a peer could forge it.
Bytes forged(const Bytes& genuine, const detail::FunctionId& trampoline, const detail::FunctionId& function) {
    HandoffWriter out;
    detail::write_call_header(out, trampoline, function);
    Bytes bytes(out.bytes().begin(), out.bytes().end());
    bytes.insert(bytes.end(), genuine.begin() + sizeof(detail::CallHeader), genuine.end());
    return bytes;
}

detail::CallHeader header_of(const Bytes& message) {
    detail::CallHeader header;
    std::memcpy(&header, message.data(), sizeof header);
    return header;
}

// --- in-process round trips ---------------------------------------------------------

// multiprocessing: Pool.apply(f, args) returns f(*args) for ints, floats and bools.
TEST(RemoteCall, ValuesRoundTrip) {
    EXPECT_EQ(call_here<int>(&add, 2, 3), 5);
    EXPECT_EQ(call_here<int>(add, 40, 2), 42);
    EXPECT_EQ(call_here<long>(&widen, 21), 42L);  // an int argument converted to the long parameter
    EXPECT_TRUE(call_here<bool>(&is_even, 4));
    EXPECT_DOUBLE_EQ(call_here<double>(&Geometry::area, 2.5, 4.0), 10.0);
    EXPECT_EQ(call_here<int>(&negate, 5), -5);
}

// multiprocessing: strings, lists and dicts are pickled both ways.
TEST(RemoteCall, StringsVectorsAndContainersRoundTrip) {
    EXPECT_EQ(call_here<std::string>(&greet, "world"), "hello, world");
    EXPECT_EQ(call_here<std::string>(&greet, std::string("there")), "hello, there");
    EXPECT_EQ(call_here<std::size_t>(&consume, std::string("four")), 4u);
    EXPECT_EQ(call_here<std::vector<double>>(&scaled, std::vector<double>{1, 2, 3}, 2.0),
              (std::vector<double>{2, 4, 6}));
    const auto counts = call_here<std::map<std::string, int>>(&count_words, std::vector<std::string>{"a", "b", "a"});
    EXPECT_EQ(counts, (std::map<std::string, int>{{"a", 2}, {"b", 1}}));
    EXPECT_EQ(call_here<std::vector<double>>(&scaled, std::vector<double>{}, 3.0), std::vector<double>{});
}

// multiprocessing: instances of user classes are pickled both ways.
TEST(RemoteCall, CerealUserTypesRoundTrip) {
    const Order order{"ada", {1.0, 2.5, 3.5}};
    EXPECT_DOUBLE_EQ(call_here<double>(&total, order), 7.0);
    EXPECT_EQ(call_here<Order>(&make_order, "bob", 2), (Order{"bob", {1.5, 1.5}}));
}

// multiprocessing: a function returning a tuple gives the caller the tuple.
TEST(RemoteCall, TuplesRoundTrip) {
    const auto [number, text] =
        call_here<std::tuple<int, std::string>>(&split, std::pair<int, std::string>(7, "seven"));
    EXPECT_EQ(number, 7);
    EXPECT_EQ(text, "seven");
}

// multiprocessing: a function returning None gives the caller None.
TEST(RemoteCall, VoidResultRunsTheFunction) {
    recorded = 0;
    const CallOutcome outcome = run_here(&record, 17);
    EXPECT_FALSE(outcome.raised);
    EXPECT_TRUE(outcome.payload.empty());
    take_result<void>(outcome);
    EXPECT_EQ(recorded.load(), 17);
    // A void outcome that carries bytes is not one run_call made.
    EXPECT_THROW(take_result<void>(CallOutcome{false, Bytes{std::byte{1}}}), FrameError);
}

// tandem promise: move-only results and arguments travel (cereal handles unique_ptr).
TEST(RemoteCall, MoveOnlyValuesRoundTrip) {
    const std::unique_ptr<int> box = call_here<std::unique_ptr<int>>(&boxed, 9);
    ASSERT_NE(box, nullptr);
    EXPECT_EQ(*box, 9);
    EXPECT_EQ(call_here<int>(&unboxed, std::make_unique<int>(11)), 11);
}

// pickle: one object passed twice in one call arrives as one object twice.
TEST(RemoteCall, SharedPointerIdentityHoldsAcrossArguments) {
    const auto shared = std::make_shared<int>(3);
    EXPECT_TRUE(call_here<bool>(&same_object, shared, shared));
    EXPECT_FALSE(call_here<bool>(&same_object, shared, std::make_shared<int>(3)));
}

// tandem promise (beyond pickle): a captureless lambda can be sent.
TEST(RemoteCall, CapturelessLambdasRoundTrip) {
    EXPECT_EQ(call_here<int>(twice, 21), 42);
    EXPECT_EQ(call_here<std::string>([](std::string a, std::string b) { return a + b; }, "con", "cat"), "concat");
    EXPECT_EQ(call_here<int>(+[] { return 7; }), 7);
}

// multiprocessing: a worker's exception is re-raised in the caller with its type and message.
TEST(RemoteCall, StandardExceptionsComeBackAsThemselves) {
    const CallOutcome outcome = run_here(&throws_out_of_range, 1);
    EXPECT_TRUE(outcome.raised);
    expect_error<std::out_of_range>([&] { take_result<int>(outcome); }, "index 7 is out of range");
}

// tandem promise: tandem's own errors come back as themselves.
TEST(RemoteCall, TandemErrorsComeBackAsThemselves) {
    expect_error<ValueError>([] { call_here<int>(&throws_value_error, 1); }, "not a positive number");
    // A FrameError the function throws is its outcome, not a malformed message.
    CallOutcome outcome;
    EXPECT_NO_THROW(outcome = run_here(&throws_frame_error, 1));
    EXPECT_TRUE(outcome.raised);
    expect_error<FrameError>([&] { take_result<int>(outcome); }, "the function's own FrameError");
}

// tandem promise: an unregistered exception type arrives as RemoteError with its type name and message.
TEST(RemoteCall, UnregisteredExceptionsBecomeRemoteError) {
    try {
        call_here<int>(&throws_pricing_error, 1);
        ADD_FAILURE() << "nothing thrown";
    } catch (const RemoteError& e) {
        EXPECT_NE(e.type_name().find("PricingError"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "price is negative");
    }
    try {
        call_here<int>(&throws_int, 1);
        ADD_FAILURE() << "nothing thrown";
    } catch (const RemoteError& e) {
        EXPECT_EQ(e.type_name(), "unknown");
        EXPECT_NE(e.message().find("int"), std::string::npos) << e.message();
    }
}

// tandem promise: a registered exception type comes back as itself.
TEST(RemoteCall, RegisteredExceptionsComeBackAsThemselves) {
    register_exception<RegisteredError>();
    expect_error<RegisteredError>([] { call_here<int>(&throws_registered_error, 1); }, "registered and rebuilt");
}

// multiprocessing: a result that cannot be pickled fails that task (MaybeEncodingError), not the worker.
TEST(RemoteCall, ResultThatFailsToEncodeIsTheOutcome) {
    CallOutcome outcome;
    EXPECT_NO_THROW(outcome = run_here(&make_unsavable));
    EXPECT_TRUE(outcome.raised);
    expect_error<std::runtime_error>([&] { take_result<Unsavable>(outcome); }, "cannot save an Unsavable");
}

// multiprocessing: an argument that fails to unpickle in the worker fails that task.
TEST(RemoteCall, ArgumentThatFailsToDecodeIsTheOutcome) {
    CallOutcome outcome;
    EXPECT_NO_THROW(outcome = run_here(&take_unloadable, Unloadable{5}));
    EXPECT_TRUE(outcome.raised);
    expect_error<std::invalid_argument>([&] { take_result<int>(outcome); }, "cannot load an Unloadable");
}

// tandem: a std::span<const T> parameter is sent as the range it views (any
// contiguous range of T converts) and read by the function in place, inside the message.
TEST(RemoteCall, SpanParametersAreReadInPlaceInTheMessage) {
    const std::vector<double> values{1.5, 2.5, 3.0};
    // The buffer the message will be read from is made first (its size does not depend on the
    // addresses it names), then the message naming it is copied in.
    Bytes message(encoded(&sum_inside, values, std::uint64_t{0}, std::uint64_t{0}).size());
    const auto first = reinterpret_cast<std::uint64_t>(message.data());
    const Bytes bytes = encoded(&sum_inside, values, first, first + message.size());
    ASSERT_EQ(bytes.size(), message.size());
    std::memcpy(message.data(), bytes.data(), bytes.size());
    const auto [sum, inside] = take_result<std::tuple<double, bool>>(run_bytes(message));
    EXPECT_DOUBLE_EQ(sum, 7.0);
    EXPECT_TRUE(inside);
    EXPECT_DOUBLE_EQ(std::get<0>(call_here<std::tuple<double, bool>>(&sum_inside, std::vector<double>{}, 0, 0)), 0.0);
}

// A ResultPlace over a buffer of the test's, as a pool worker's reply buffer is.
class BufferPlace final : public ResultPlace {
public:
    std::byte* reserve(std::size_t size) noexcept override {
        if (size < 16 || !buffer.empty()) return nullptr;  // a small result: the ordinary way
        buffer.resize(size);
        return buffer.data();
    }
    Bytes buffer;
};

// tandem: a call of raw values and ranges can be sized first and written in place
// (a process pool writes a large one straight into shared memory): the same bytes as
// encode_call, and it runs the same. Others (cereal types, handed-off objects) cannot.
TEST(RemoteCall, APlacedCallWritesTheBytesEncodeCallWrites) {
    const std::vector<double> values{1.5, 2.5, 3.0};
    static_assert(placeable_call_v<decltype(&scaled), std::vector<double>, double>);
    static_assert(placeable_call_v<decltype(&sum_inside), std::vector<double>, int, int>);
    static_assert(!placeable_call_v<decltype(&count_words), std::vector<std::string>>);
    static_assert(!placeable_call_v<decltype(&write_to), PipeEnd, std::string>);
    const double factor = 2.0;  // named: a PlacedCall refers to its arguments until written
    const PlacedCall placed(&scaled, values, factor);
    Bytes written(placed.size());
    placed.write(written.data());
    EXPECT_EQ(written, encoded(&scaled, values, factor));
    EXPECT_EQ(take_result<std::vector<double>>(run_bytes(written)), (std::vector<double>{3.0, 5.0, 6.0}));
}

// tandem: inside a pool worker a large result of raw values or ranges is encoded straight
// into the place the worker offers (its reply buffer); a small one, or any result when no
// place is offered, travels in the outcome as before. Both decode the same.
TEST(RemoteCall, ALargeResultIsWrittenWhereTheWorkerOffers) {
    BufferPlace place;
    current_result_place() = &place;
    const CallOutcome large = run_bytes(encoded(&scaled, std::vector<double>{1.0, 2.0, 3.0}, 2.0));
    const CallOutcome small = run_bytes(encoded(&add, 1, 2));
    current_result_place() = nullptr;
    EXPECT_TRUE(large.payload.empty());
    ASSERT_EQ(large.placed, place.buffer.size());
    EXPECT_EQ(take_result<std::vector<double>>(false, place.buffer), (std::vector<double>{2.0, 4.0, 6.0}));
    EXPECT_EQ(small.placed, 0u);
    EXPECT_EQ(take_result<int>(small), 3);
    const CallOutcome unplaced = run_bytes(encoded(&scaled, std::vector<double>{1.0}, 3.0));
    EXPECT_EQ(unplaced.placed, 0u);
    EXPECT_EQ(take_result<std::vector<double>>(unplaced), std::vector<double>{3.0});
}

// tandem promise: a truncated call is a FrameError at every length, never a crash.
TEST(RemoteCall, TruncatedMessageIsFrameError) {
    for (const Bytes& whole : {encoded(&greet, "world"), encoded(&add, 1, 2), encoded(+[] { return 7; }),
                               encoded(&sum_inside, std::vector<double>{1.0, 2.0}, 0, 0)}) {
        for (std::size_t size = 0; size < whole.size(); ++size) {
            const Bytes part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(size));
            EXPECT_THROW(run_bytes(part), FrameError) << "length " << size << " of " << whole.size();
        }
        EXPECT_NO_THROW(run_bytes(whole));
    }
}

// tandem promise: arguments whose encoding is corrupted are a FrameError.
TEST(RemoteCall, CorruptedArgumentsAreFrameError) {
    Bytes message = encoded(&greet, "world");
    // After the 32-byte header: the block's u64 size, then the string's u64 count.
    Bytes inflated = message;
    const std::uint64_t huge = 1ULL << 40;
    std::memcpy(inflated.data() + 40, &huge, sizeof huge);
    EXPECT_THROW(run_bytes(inflated), FrameError);
    // A block one byte longer than its value: trailing bytes inside the block.
    Bytes trailing = message;
    std::uint64_t block = 0;
    std::memcpy(&block, trailing.data() + 32, sizeof block);
    ++block;
    std::memcpy(trailing.data() + 32, &block, sizeof block);
    trailing.push_back(std::byte{0});
    EXPECT_THROW(run_bytes(trailing), FrameError);
}

// tandem promise: a handed-off argument's descriptor reaches the function, and nothing leaks.
TEST(RemoteCall, HandedOffArgumentsTravelWithTheirDescriptors) {
    const int fds_before = count_open_fds();
    {
        int ends[2];
        ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
        const UniqueFd read_end(ends[0]);
        PipeEnd write_end{UniqueFd(ends[1])};
        EXPECT_EQ(call_here<std::size_t>(&write_to, write_end, std::string("through the pipe")), 16u);
        write_end.fd.reset();  // the worker's duplicate is already closed
        char buffer[64] = {};
        ASSERT_EQ(::read(read_end.get(), buffer, sizeof buffer), 16);
        EXPECT_EQ(std::string(buffer, 16), "through the pipe");
        EXPECT_EQ(::read(read_end.get(), buffer, sizeof buffer), 0);  // no copy of the write end is left
    }
    EXPECT_EQ(count_open_fds(), fds_before);
}

// tandem promise: a handed-off descriptor missing from the message is a FrameError.
TEST(RemoteCall, MissingDescriptorIsFrameError) {
    int ends[2];
    ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
    const UniqueFd read_end(ends[0]);
    const PipeEnd write_end{UniqueFd(ends[1])};
    const Bytes message = encoded(&write_to, write_end, std::string("lost"));
    EXPECT_THROW(run_bytes(message), FrameError);  // sent without its descriptor
}

// tandem promise: a call into a library the worker has not loaded is a ProcessError naming it.
TEST(RemoteCall, UnknownModuleIsAProcessErrorOutcome) {
    HandoffWriter call;
    plugin().encode_triple(call, 2);
    Bytes message(call.bytes().begin(), call.bytes().end());
    EXPECT_EQ(take_result<int>(run_bytes(message)), 6);
    // The function's module number is bytes 16..23; pretend the worker lacks that library.
    const std::uint64_t unknown = 0x5eed5eed5eed5eedULL;
    std::memcpy(message.data() + 16, &unknown, sizeof unknown);
    const CallOutcome outcome = run_bytes(message);
    EXPECT_TRUE(outcome.raised);
    expect_error<ProcessError>([&] { take_result<int>(outcome); }, "tandem_test_plugin");
    expect_error<ProcessError>([&] { take_result<int>(outcome); }, "not loaded");
}

// tandem promise: an offset outside the module's code is a FrameError, not a jump.
TEST(RemoteCall, OffsetOutsideTheCodeIsFrameError) {
    for (const std::size_t field : {std::size_t{8}, std::size_t{24}}) {  // trampoline, function
        Bytes message = encoded(&add, 1, 2);
        const std::uint64_t offset = 0;  // the ELF header, not code
        std::memcpy(message.data() + field, &offset, sizeof offset);
        expect_error<FrameError>([&] { run_bytes(message); }, "refused");
    }
}

// tandem promise: a function of a library built with tandem runs by pointer, its lambdas by closure.
TEST(RemoteCall, LibraryBuiltWithTandemRunsItsFunctions) {
    EXPECT_EQ(call_here<int>(plugin().triple, 4), 12);
    HandoffWriter call;
    plugin().encode_triple(call, 5);
    EXPECT_EQ(take_result<int>(run_bytes(Bytes(call.bytes().begin(), call.bytes().end()))), 15);
}

// tandem promise: a function pointer the worker would refuse fails in the
// caller, with advice (a C library's function: wrap it in one of yours).
TEST(RemoteCall, FunctionOfALibraryWithoutATableFailsToEncode) {
    HandoffWriter out;
    expect_error<ProcessError>([&] { encode_call(out, &std::chrono::steady_clock::now); },
                               "was not built with tandem");
    expect_error<ProcessError>([&] { encode_call(out, &::getpid); }, "libc");
    EXPECT_GT(call_here<std::chrono::steady_clock::time_point>(&clock_now).time_since_epoch().count(), 0);
}

// tandem promise: a pool's threads may encode and run calls at the same time.
TEST(RemoteCall, ConcurrentCallsFromManyThreads) {
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&wrong, t] {
            for (int i = 0; i < 500; ++i) {
                if (call_here<int>(&add, t, i) != t + i) wrong.fetch_add(1);
                if (call_here<std::string>(&greet, "thread") != "hello, thread") wrong.fetch_add(1);
                const auto now = [] { return std::chrono::steady_clock::now(); };
                if (call_here<std::chrono::steady_clock::time_point>(now).time_since_epoch().count() <= 0) {
                    wrong.fetch_add(1);
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
}

// --- across exec: a child that re-executes this program, as spawn does ---------------------

constexpr const char* kChildSocketVariable = "TANDEM_TEST_REMOTE_CALL_FD";
constexpr int kChildSocket = 100;  // the socket's number in the child
constexpr int kWaitMilliseconds = 10000;  // bounded waits: a bug fails the test instead of hanging it

// A child running RemoteCallChild.ServesCalls, talked to over a socketpair.
class ExecChild {
public:
    ExecChild() {
        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) throw std::runtime_error("socketpair");
        socket_.reset(ends[0]);
        UniqueFd child_end(ends[1]);
        // Everything the child needs is built before fork(): after it, only
        // async-signal-safe calls.
        std::vector<std::string> environment{std::string(kChildSocketVariable) + "=" + std::to_string(kChildSocket)};
        for (char** variable = environ; *variable != nullptr; ++variable) {
            if (std::string(*variable).rfind(kChildSocketVariable, 0) != 0) environment.emplace_back(*variable);
        }
        std::vector<char*> envp;
        for (auto& variable : environment) envp.push_back(variable.data());
        envp.push_back(nullptr);
        std::string program = "test_remote_call";
        std::string filter = "--gtest_filter=RemoteCallChild.*";
        std::string brief = "--gtest_brief=1";  // only the child's failures, if any, are printed
        char* argv[] = {program.data(), filter.data(), brief.data(), nullptr};
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            // dup2 leaves the copy without close-on-exec; on the same number it does nothing.
            const int fd = child_end.get() == kChildSocket ? ::fcntl(kChildSocket, F_SETFD, 0)
                                                           : ::dup2(child_end.get(), kChildSocket);
            if (fd >= 0) ::execve("/proc/self/exe", argv, envp.data());
            ::_exit(127);
        }
    }

    ExecChild(const ExecChild&) = delete;
    ExecChild& operator=(const ExecChild&) = delete;

    ~ExecChild() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    // Sends a call (preceded by `build`, the build id the child checks) and
    // waits, bounded, for its outcome.
    template <class F, class... Args>
    CallOutcome call_with_build(std::span<const std::byte> build, const F& fn, const Args&... args) {
        HandoffWriter out;
        out.write_bytes(build);
        encode_call(out, fn, args...);
        return send(out.bytes(), out.fds());
    }
    template <class F, class... Args>
    CallOutcome call(const F& fn, const Args&... args) {
        return call_with_build(detail::build_id(), fn, args...);
    }

    // Sends an encoded call made by hand, after the build id.
    CallOutcome send_call(const Bytes& call) {
        HandoffWriter out;
        out.write_bytes(detail::build_id());
        Bytes message(out.bytes().begin(), out.bytes().end());
        message.insert(message.end(), call.begin(), call.end());
        return send(message);
    }

    CallOutcome send(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
        detail::send_with_fds(socket_.get(), bytes, fds);
        pollfd ready{socket_.get(), POLLIN, 0};
        if (::poll(&ready, 1, kWaitMilliseconds) != 1) throw std::runtime_error("the child did not answer in time");
        const detail::ReceivedMessage reply = detail::receive_with_fds(socket_.get(), 1 << 20);
        auto [raised, payload] = detail::decode<std::tuple<bool, Bytes>>(reply.bytes);
        return CallOutcome{raised, std::move(payload)};
    }

    // Closes the socket (the child's loop ends) and reaps the child within
    // the bound. Returns its exit code, or minus the signal that killed it.
    int finish() {
        socket_.reset();
        const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
        if (!pidfd) throw std::runtime_error("pidfd_open");
        pollfd exited{pidfd.get(), POLLIN, 0};
        if (::poll(&exited, 1, kWaitMilliseconds) != 1) throw std::runtime_error("the child did not exit in time");
        int status = 0;
        ::waitpid(std::exchange(pid_, -1), &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }

private:
    UniqueFd socket_;
    pid_t pid_ = -1;
};

// The child's side: does nothing unless started by ExecChild. Serves one
// call per message until the parent closes the socket; each reply is
// encode(tuple(raised, payload)).
TEST(RemoteCallChild, ServesCalls) {
    const char* socket_number = std::getenv(kChildSocketVariable);
    if (socket_number == nullptr) return;
    const UniqueFd connection(std::stoi(socket_number));
    for (;;) {
        detail::ReceivedMessage message;
        try {
            message = detail::receive_with_fds(connection.get(), 1 << 20);
        } catch (const EOFError&) {
            break;
        }
        HandoffReader in(message.bytes, std::move(message.fds));
        CallOutcome outcome;
        try {
            detail::check_same_build(in.read_bytes());
            outcome = run_call(in);
        } catch (...) {
            outcome = detail::raised_outcome(std::current_exception());
        }
        detail::send_with_fds(connection.get(), detail::encode(std::tie(outcome.raised, outcome.payload)));
    }
}

// multiprocessing (spawn): a function runs in a fresh interpreter; here, in a fresh exec at other addresses.
TEST(RemoteCallAcrossExec, FunctionsRunWhereverTheProgramIsLoaded) {
    const int fds_before = count_open_fds();
    ExecChild child;
    EXPECT_EQ(take_result<int>(child.call(&add, 20, 22)), 42);
    EXPECT_EQ(take_result<Bytes>(child.call(&own_build_id)),
              Bytes(detail::build_id().begin(), detail::build_id().end()));
    const auto there = take_result<std::uintptr_t>(child.call(&address_of_add));
    // With ASLR on (the usual case; TSan may turn it off), the child's add is
    // elsewhere: the call above found it by offset, not by address.
    RecordProperty("add_moved", there != reinterpret_cast<std::uintptr_t>(&add) ? "yes" : "no");
    EXPECT_EQ(take_result<int>(child.call(twice, 21)), 42);
    EXPECT_EQ(take_result<double>(child.call(&Geometry::area, 3.0, 4.0)), 12.0);
    EXPECT_EQ(child.finish(), 0);
    EXPECT_EQ(count_open_fds(), fds_before);
}

// multiprocessing: arguments and results of every picklable kind, and exceptions, cross processes.
TEST(RemoteCallAcrossExec, ValuesAndExceptionsCross) {
    ExecChild child;
    EXPECT_EQ(take_result<std::string>(child.call(&greet, "child")), "hello, child");
    EXPECT_EQ(take_result<std::vector<double>>(child.call(&scaled, std::vector<double>{1, 2}, 10.0)),
              (std::vector<double>{10, 20}));
    EXPECT_EQ(take_result<Order>(child.call(&make_order, "eve", 3)), (Order{"eve", {1.5, 1.5, 1.5}}));
    EXPECT_DOUBLE_EQ(take_result<double>(child.call(&total, Order{"x", {2.0, 0.5}})), 2.5);
    EXPECT_EQ(std::get<1>(take_result<std::tuple<int, std::string>>(
                  child.call(&split, std::pair<int, std::string>(1, "one")))),
              "one");
    EXPECT_EQ(*take_result<std::unique_ptr<int>>(child.call(&boxed, 5)), 5);
    EXPECT_FALSE(take_result<bool>(child.call(&same_object, std::make_shared<int>(1), std::make_shared<int>(1))));
    take_result<void>(child.call(&record, 3));  // runs in the child: ours is untouched
    expect_error<std::out_of_range>([&] { take_result<int>(child.call(&throws_out_of_range, 0)); }, "index 7");
    expect_error<ValueError>([&] { take_result<int>(child.call(&throws_value_error, 0)); }, "not a positive");
    try {
        take_result<int>(child.call(&throws_pricing_error, 0));
        ADD_FAILURE() << "nothing thrown";
    } catch (const RemoteError& e) {
        EXPECT_NE(e.type_name().find("PricingError"), std::string::npos);
        EXPECT_EQ(e.message(), "price is negative");
    }
    EXPECT_EQ(child.finish(), 0);
}

// tandem promise: a handed-off object's descriptor reaches a spawned child with SCM_RIGHTS.
TEST(RemoteCallAcrossExec, HandedOffDescriptorsReachTheChild) {
    const int fds_before = count_open_fds();
    {
        int ends[2];
        ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
        const UniqueFd read_end(ends[0]);
        PipeEnd write_end{UniqueFd(ends[1])};
        ExecChild child;
        EXPECT_EQ(take_result<std::size_t>(child.call(&write_to, write_end, std::string("from the child"))), 14u);
        write_end.fd.reset();
        EXPECT_EQ(child.finish(), 0);
        pollfd readable{read_end.get(), POLLIN, 0};
        ASSERT_EQ(::poll(&readable, 1, kWaitMilliseconds), 1);
        char buffer[64] = {};
        ASSERT_EQ(::read(read_end.get(), buffer, sizeof buffer), 14);
        EXPECT_EQ(std::string(buffer, 14), "from the child");
        EXPECT_EQ(::read(read_end.get(), buffer, sizeof buffer), 0);  // the child's copy is closed too
    }
    EXPECT_EQ(count_open_fds(), fds_before);
}

// multiprocessing: unpickling a function of a module the worker cannot import fails; here, a library it has not loaded.
TEST(RemoteCallAcrossExec, LibraryFunctionsNeedTheLibraryInTheChild) {
    const auto triple = plugin().triple;
    ExecChild child;
    const CallOutcome missing = child.call(triple, 7);
    EXPECT_TRUE(missing.raised);
    expect_error<ProcessError>([&] { take_result<int>(missing); }, "tandem_test_plugin");
    expect_error<ProcessError>([&] { take_result<int>(missing); }, "not loaded");
    EXPECT_TRUE(take_result<bool>(child.call(&load_library, std::string(TANDEM_TEST_PLUGIN))));
    EXPECT_EQ(take_result<int>(child.call(triple, 7)), 21);
    EXPECT_EQ(child.finish(), 0);
}

// The finding that started this: a message naming libc's unlink ran it in
// the worker. tandem promise: a message naming code tandem did not generate
// is a FrameError in the worker, before any jump, and the worker goes on: a
// trampoline that is not one, a function of a library without an entry
// table (libc's unlink, libstdc++'s clock), an offset inside a function.
TEST(RemoteCallAcrossExec, CodeTandemDidNotGenerateIsRefused) {
    ExecChild child;
    const Bytes path_call = encoded(&take_path, std::string("/nonexistent/tandem-victim"));
    const Bytes clock_call = encoded(&clock_now);
    const Bytes add_call = encoded(&add, 1, 2);
    const detail::FunctionId unlink_id = detail::function_id(&::unlink);
    const detail::FunctionId now_id = detail::function_id(&std::chrono::steady_clock::now);
    const detail::FunctionId add_id = header_of(add_call).function;
    const std::vector<std::pair<Bytes, const char*>> refused{
        {forged(add_call, add_id, add_id), "decoder"},  // add named as the trampoline
        {forged(path_call, header_of(path_call).trampoline, unlink_id), "not built with tandem"},
        {forged(clock_call, header_of(clock_call).trampoline, now_id), "not built with tandem"},
        {forged(add_call, header_of(add_call).trampoline, detail::FunctionId{add_id.module, add_id.offset + 1}),
         "not the start of a function"},
    };
    for (const auto& [message, reason] : refused) {
        const CallOutcome outcome = child.send_call(message);
        EXPECT_TRUE(outcome.raised);
        expect_error<FrameError>([&] { take_result<int>(outcome); }, reason);
    }
    EXPECT_EQ(take_result<int>(child.call(&add, 20, 22)), 42);  // the child is still fine
    EXPECT_EQ(child.finish(), 0);
}

// tandem promise: a worker of another build refuses calls with a message saying so.
TEST(RemoteCallAcrossExec, DifferentBuildIsRefused) {
    ExecChild child;
    Bytes other(detail::build_id().begin(), detail::build_id().end());
    other.front() ^= std::byte{0x80};
    const CallOutcome outcome = child.call_with_build(other, &add, 1, 2);
    EXPECT_TRUE(outcome.raised);
    expect_error<ProcessError>([&] { take_result<int>(outcome); }, "different build");
    EXPECT_EQ(take_result<int>(child.call(&add, 1, 2)), 3);  // the child is still fine
    EXPECT_EQ(child.finish(), 0);
}

// tandem promise: a malformed call is a FrameError in the child, reported, not a crash.
TEST(RemoteCallAcrossExec, MalformedCallIsFrameError) {
    ExecChild child;
    HandoffWriter out;
    out.write_bytes(detail::build_id());
    encode_call(out, &greet, "truncated");
    const auto bytes = out.bytes().first(out.bytes().size() - 3);
    expect_error<FrameError>([&] { take_result<std::string>(child.send(bytes)); }, "");
    EXPECT_EQ(take_result<std::string>(child.call(&greet, "whole")), "hello, whole");
    EXPECT_EQ(child.finish(), 0);
}

// multiprocessing: a worker that exits inside a task ends the connection (EOFError), it does not hang the caller.
TEST(RemoteCallAcrossExec, ChildExitingInsideTheCallIsSeen) {
    ExecChild child;
    EXPECT_THROW(child.call(&exit_now, 3), EOFError);
    EXPECT_EQ(child.finish(), 3);
}

}  // namespace
}  // namespace tandem::test_remote_call

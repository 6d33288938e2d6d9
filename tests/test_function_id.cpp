// Tests for tandem/detail/wire/function_id.hpp: naming a function by module and
// offset so that a process running the same build can find it at its own
// load address, and telling builds apart. Python sends functions by their
// qualified name (pickle's save_global) and fails when the receiver cannot
// import them; the tandem promises tested here are the C++ counterparts:
// a FunctionId round-trips for every kind of function that can be sent, a
// bad id is an error rather than a jump into the void, and a worker of
// a different build is refused with a message saying so. What an id may
// resolve to (entry tables, function starts) is test_entry_table.cpp's.
#include "tandem/detail/wire/function_id.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dlfcn.h>   // dlopen / dlsym / dlclose for libraries loaded at run time
#include <stdlib.h>  // mkstemp
#include <unistd.h>  // write, close, unlink

#include <atomic>       // the concurrent test's stop flag
#include <chrono>       // steady_clock::now, a function in libstdc++
#include <cstdint>      // std::uintptr_t
#include <cstdio>       // std::fopen to change one byte of a file
#include <cstring>      // std::strlen
#include <string>       // messages, paths
#include <string_view>  // module paths
#include <thread>       // concurrent lookups
#include <type_traits>  // std::is_trivially_copyable_v
#include <vector>       // ids, digests

#include "tandem/detail/wire/remote_call.hpp"  // encode_call: this program records entries
#include "tandem/errors.hpp"                   // ProcessError, FrameError

namespace {

using tandem::ProcessError;
using tandem::detail::build_id;
using tandem::detail::check_same_build;
using tandem::detail::file_digest;
using tandem::detail::function_id;
using tandem::detail::function_id_of_address;
using tandem::detail::FunctionId;
using tandem::detail::kMainModule;
using tandem::detail::module_path;
using tandem::detail::resolve_function;

// Not inlined or folded: each must be a real function with an address of its own.
[[gnu::noinline]] int add(int a, int b) { return a + b; }
[[gnu::noinline]] int negate(int a) noexcept { return -a; }

struct Geometry {
    [[gnu::noinline]] static double area(double width, double height) { return width * height; }
};

int some_data = 7;

std::uintptr_t address_of(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer); }

template <class Pointer>
Pointer resolve_as(const FunctionId& id) {
    return reinterpret_cast<Pointer>(resolve_function(id));
}

// Functions of this program resolve because it is built with tandem: it
// encodes calls, which leaves it an entry table (entry_table.hpp). Kept
// (used) though nothing calls it: the records are made at compile time.
[[gnu::used]] void records_entries() {
    tandem::detail::HandoffWriter out;
    tandem::detail::encode_call(out, &add, 1, 2);
}

// A throw that the test expects, whose message must contain `needle`.
template <class Body>
void expect_process_error(Body body, const std::string& needle) {
    try {
        body();
        ADD_FAILURE() << "no ProcessError thrown";
    } catch (const ProcessError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

// tandem promise: a FunctionId is 16 plain bytes, so it travels as itself.
TEST(FunctionId, IsTriviallyCopyable) {
    static_assert(std::is_trivially_copyable_v<FunctionId>);
    static_assert(sizeof(FunctionId) == 16);
}

// pickle.dumps(module_function) round-trips a module-level function.
TEST(FunctionId, FreeFunctionRoundTrips) {
    const FunctionId id = function_id(&add);
    EXPECT_EQ(id.module, kMainModule);
    const auto resolved = resolve_as<int (*)(int, int)>(id);
    EXPECT_EQ(resolved, &add);
    EXPECT_EQ(resolved(2, 3), 5);
    EXPECT_EQ(function_id(&add), id);  // the same id every time
    EXPECT_NE(function_id(&negate), id);
}

// pickle handles staticmethods by qualified name; here they are plain functions.
TEST(FunctionId, StaticMemberAndNoexceptFunctionsRoundTrip) {
    const FunctionId area = function_id(&Geometry::area);
    EXPECT_EQ(resolve_as<double (*)(double, double)>(area)(2.0, 4.0), 8.0);
    const FunctionId negated = function_id(&negate);
    EXPECT_EQ(resolve_as<int (*)(int) noexcept>(negated)(4), -4);
}

// tandem promise (beyond pickle, which refuses lambdas): a captureless lambda has an address.
TEST(FunctionId, CapturelessLambdaRoundTrips) {
    const auto twice = [](int x) { return 2 * x; };
    const FunctionId id = function_id(+twice);
    EXPECT_EQ(id.module, kMainModule);
    EXPECT_EQ(resolve_as<int (*)(int)>(id)(21), 42);
}

// pickle names functions of imported modules; here, of loaded shared libraries
// (libstdc++, libm): the same number for the same library build. Naming is
// all: a library not built with tandem records no entries, so a receiver
// refuses to call its functions (test_entry_table.cpp).
TEST(FunctionId, SharedLibraryFunctionsAreNamedByTheirLibrary) {
    const auto now = &std::chrono::steady_clock::now;
    const FunctionId id = function_id(now);
    EXPECT_NE(id.module, kMainModule);
    EXPECT_EQ(function_id(now), id);
    EXPECT_NE(std::string(module_path(id)).find("libstdc++"), std::string::npos) << module_path(id);
    EXPECT_THROW(resolve_function(id), tandem::FrameError);

    // Looked up by name: taking &sqrt could give the compiler's builtin.
    const auto sqrt = reinterpret_cast<double (*)(double)>(::dlsym(RTLD_DEFAULT, "sqrt"));
    ASSERT_NE(sqrt, nullptr);
    const FunctionId square_root = function_id(sqrt);
    EXPECT_NE(square_root.module, kMainModule);
    EXPECT_NE(square_root.module, id.module);  // another library, another number
    EXPECT_NE(std::string(module_path(square_root)).find("libm"), std::string::npos) << module_path(square_root);
}

// tandem promise: a library loaded at run time (dlopen) is found, and stays loaded once named.
TEST(FunctionId, LibraryLoadedAtRunTimeIsFoundAndPinned) {
    void* handle = ::dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << ::dlerror();
    using Combine = unsigned long (*)(unsigned long, unsigned long, long);
    const auto combine = reinterpret_cast<Combine>(::dlsym(handle, "crc32_combine"));
    ASSERT_NE(combine, nullptr);
    const FunctionId id = function_id(combine);
    EXPECT_NE(id.module, kMainModule);
    EXPECT_NE(std::string(module_path(id)).find("libz"), std::string::npos) << module_path(id);
    // Our dlclose drops only our reference: the id's library was pinned, so its
    // load address, and the id, stay valid.
    EXPECT_EQ(::dlclose(handle), 0);
    EXPECT_NE(::dlopen("libz.so.1", RTLD_LAZY | RTLD_NOLOAD), nullptr);  // still loaded
    EXPECT_EQ(function_id(combine), id);
    EXPECT_NE(std::string(module_path(id)).find("libz"), std::string::npos) << module_path(id);
}

// tandem promise: a module that is not loaded is a ProcessError, not a crash.
TEST(FunctionId, UnknownModuleIsProcessError) {
    expect_process_error([] { resolve_function(FunctionId{0x0123456789abcdefULL, 0x1000}); }, "not loaded");
    expect_process_error([] { static_cast<void>(module_path(FunctionId{42, 0})); }, "not loaded");
}

// tandem promise: an offset outside the module's code is a FrameError, not a jump.
TEST(FunctionId, OffsetOutsideTheCodeIsFrameError) {
    const FunctionId id = function_id(&add);
    EXPECT_THROW(resolve_function(FunctionId{id.module, 0}), tandem::FrameError);
    EXPECT_THROW(resolve_function(FunctionId{id.module, ~std::uint64_t{0}}), tandem::FrameError);
    const FunctionId library = function_id(&std::chrono::steady_clock::now);
    EXPECT_THROW(resolve_function(FunctionId{library.module, ~std::uint64_t{0} / 2}), tandem::FrameError);
}

// tandem promise: only code can be named; a data address is refused at the sender.
TEST(FunctionId, DataAddressIsProcessError) {
    expect_process_error([] { function_id_of_address(address_of(&some_data)); }, "not in the code");
    expect_process_error([] { function_id_of_address(0); }, "not in the code");
    int local = 0;
    expect_process_error([&] { function_id_of_address(address_of(&local)); }, "not in the code");
}

// tandem promise: lookups stay correct while other threads load and unload libraries.
TEST(FunctionId, ConcurrentLookupsWhileLibrariesComeAndGo) {
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
        readers.emplace_back([&] {
            const auto now = &std::chrono::steady_clock::now;
            while (!stop.load(std::memory_order_relaxed)) {
                const bool ok = resolve_as<int (*)(int, int)>(function_id(&add)) == &add &&
                                std::string_view(module_path(function_id(now))).find("libstdc++") !=
                                    std::string_view::npos;
                if (!ok) failures.fetch_add(1);
            }
        });
    }
    for (int round = 0; round < 50; ++round) {
        // libcrypt is never named by an id here, so it really is unloaded,
        // and every round changes the loader's counters.
        void* handle = ::dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle, nullptr) << ::dlerror();
        const auto symbol = ::dlsym(handle, "crypt");
        ASSERT_NE(symbol, nullptr);
        EXPECT_NE(function_id_of_address(address_of(symbol)).module, kMainModule);
        ::dlclose(handle);
    }
    stop = true;
    for (auto& reader : readers) reader.join();
    EXPECT_EQ(failures.load(), 0);
}

// tandem promise: the build id is the executable's GNU build-id, stable for the process.
TEST(BuildId, IsStableAndNonEmpty) {
    const auto first = build_id();
    const auto second = build_id();
    ASSERT_FALSE(first.empty());
    EXPECT_EQ(first.data(), second.data());  // cached
    EXPECT_GE(first.size(), 8u);             // GNU ld writes 20 bytes (sha1) by default
    check_same_build(first);                 // no throw
}

// tandem promise: a peer of a different build is refused with a message naming the problem.
TEST(BuildId, DifferentBuildIsProcessError) {
    std::vector<std::byte> other(build_id().begin(), build_id().end());
    other.back() ^= std::byte{1};
    expect_process_error([&] { check_same_build(other); }, "different build");
    expect_process_error([&] { check_same_build(other); }, tandem::detail::executable_path());
    expect_process_error([&] { check_same_build({}); }, "different build");
    const std::vector<std::byte> prefix(build_id().begin(), build_id().end() - 1);
    expect_process_error([&] { check_same_build(prefix); }, "different build");
}

// tandem promise: without a build-id note, the executable's contents identify the build.
TEST(BuildId, FileDigestTellsContentsApart) {
    char path[] = "/tmp/tandem-digest-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string contents(100000, 'x');
    ASSERT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
    ::close(fd);
    const std::vector<std::byte> first = file_digest(path);
    EXPECT_EQ(first.size(), 24u);
    EXPECT_EQ(file_digest(path), first);
    std::uint64_t size = 0;
    std::memcpy(&size, first.data(), sizeof size);
    EXPECT_EQ(size, contents.size());

    // One byte changed in the middle of the file changes both hashes.
    FILE* file = std::fopen(path, "r+");
    ASSERT_NE(file, nullptr);
    std::fseek(file, 54321, SEEK_SET);
    std::fputc('y', file);
    std::fclose(file);
    const std::vector<std::byte> changed = file_digest(path);
    ::unlink(path);
    EXPECT_NE(std::vector(changed.begin() + 8, changed.begin() + 16),
              std::vector(first.begin() + 8, first.begin() + 16));
    EXPECT_NE(std::vector(changed.begin() + 16, changed.end()), std::vector(first.begin() + 16, first.end()));

    EXPECT_EQ(file_digest("/proc/self/exe"), file_digest("/proc/self/exe"));
    expect_process_error([] { file_digest("/nonexistent/tandem"); }, "/nonexistent/tandem");
}

// tandem promise: error messages show build ids as lowercase hex, two digits a byte.
TEST(BuildId, HexIsLowercaseTwoDigitsPerByte) {
    const std::byte bytes[] = {std::byte{0x00}, std::byte{0xab}, std::byte{0x7f}};
    EXPECT_EQ(tandem::detail::to_hex(bytes), "00ab7f");
    EXPECT_EQ(tandem::detail::to_hex({}), "");
}

}  // namespace

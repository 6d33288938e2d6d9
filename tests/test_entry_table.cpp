// Tests for tandem/detail/wire/entry_table.hpp and the checks that use it
// (resolve_trampoline, resolve_function, sendable_function_id in
// function_id.hpp): a message may only make a process jump to code tandem
// generated, or to the start of a function of a module built with tandem.
// Python unpickles a function by importing it by name, so a forged pickle
// can name any importable callable (os.system); the promise tested here is
// tandem's own: a libc function, the middle of a function, a trampoline
// tandem did not generate, or any function of a module without an entry
// table is refused (FrameError in the receiver, ProcessError in the sender).
// The library cases use tandem_test_plugin (support/entry_plugin.cpp).
#include "tandem/detail/wire/entry_table.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dlfcn.h>   // dlopen, dlsym, dladdr1 for the plugin
#include <link.h>    // dl_iterate_phdr, link_map: the plugin's image
#include <unistd.h>  // unlink (libc's, the function a forged message named)

#include <algorithm>   // std::max
#include <chrono>      // steady_clock::now, a libstdc++ function
#include <cstdint>     // std::uintptr_t
#include <filesystem>  // the stripped copy
#include <fstream>     // reading the stripped copy's section names
#include <iterator>    // std::istreambuf_iterator
#include <string>      // messages
#include <utility>     // std::pair of image bounds

#include "support/child_process.hpp"           // run_program
#include "support/entry_plugin.hpp"            // EntryPluginApi
#include "support/expect_error.hpp"            // expect_error
#include "tandem/detail/wire/function_id.hpp"  // function_id, resolve_*, sendable_function_id
#include "tandem/detail/wire/remote_call.hpp"  // encode_call, Trampoline, ClosureEntry, run_call
#include "tandem/errors.hpp"                   // FrameError, ProcessError

namespace {

namespace fs = std::filesystem;
using namespace tandem::detail;
using tandem::FrameError;
using tandem::ProcessError;
using tandem_test::expect_error;

// Not inlined: real functions with addresses of their own.
[[gnu::noinline]] int add(int a, int b) { return a + b; }
[[gnu::noinline]] int twice(int a) { return 2 * a; }

std::uintptr_t address_of(auto* function) { return reinterpret_cast<std::uintptr_t>(function); }

// This program records entries: it encodes calls of these signatures.
void encode_some_calls() {
    HandoffWriter out;
    encode_call(out, &add, 1, 2);
    encode_call(out, [](int x) { return x * 10; }, 3);
}

// The address range of the loaded module that holds `address`.
std::pair<std::uintptr_t, std::uintptr_t> image_of(const void* address) {
    Dl_info info{};
    link_map* map = nullptr;
    if (::dladdr1(address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 || map == nullptr) return {};
    struct Search {
        std::uintptr_t base;
        std::uintptr_t begin = 0;
        std::uintptr_t end = 0;
    } search{map->l_addr};
    ::dl_iterate_phdr(
        [](dl_phdr_info* module, std::size_t, void* state) {
            auto& found = *static_cast<Search*>(state);
            if (module->dlpi_addr != found.base) return 0;
            for (ElfW(Half) i = 0; i < module->dlpi_phnum; ++i) {
                const ElfW(Phdr)& segment = module->dlpi_phdr[i];
                if (segment.p_type != PT_LOAD) continue;
                const std::uintptr_t begin = module->dlpi_addr + segment.p_vaddr;
                if (found.begin == 0 || begin < found.begin) found.begin = begin;
                found.end = std::max<std::uintptr_t>(found.end, begin + segment.p_memsz);
            }
            return 1;
        },
        &search);
    return {search.begin, search.end};
}

const EntryPluginApi* load_plugin(void*& handle) {
    handle = ::dlopen(TANDEM_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return nullptr;
    const auto get = reinterpret_cast<const EntryPluginApi* (*)()>(::dlsym(handle, kEntryPluginSymbol));
    return get != nullptr ? get() : nullptr;
}

// --- the tables ---------------------------------------------------------------------------

// tandem: a library's table is registered while it is loaded and gone once it
// is unloaded, so its addresses are never accepted for what is mapped there
// next. First in this file: naming the plugin with an id pins it for good.
TEST(EntryTable, LibraryTableComesAndGoesWithTheLibrary) {
    void* handle = nullptr;
    const EntryPluginApi* api = load_plugin(handle);
    ASSERT_NE(api, nullptr) << ::dlerror();
    const auto [begin, end] = image_of(reinterpret_cast<const void*>(api->triple));
    ASSERT_LT(begin, end);
    EXPECT_TRUE(has_entry_table(begin, end));
    ASSERT_EQ(::dlclose(handle), 0);
    ASSERT_EQ(::dlopen(TANDEM_TEST_PLUGIN, RTLD_NOW | RTLD_NOLOAD), nullptr) << "the plugin stayed loaded";
    EXPECT_FALSE(has_entry_table(begin, end));
}

// tandem: every trampoline encode_call instantiates and every lambda it sends is recorded, each under its kind.
TEST(EntryTable, TrampolinesAndClosureEntriesAreRecorded) {
    encode_some_calls();
    const auto trampoline = address_of(&Trampoline<int (*)(int, int)>::entry);
    EXPECT_TRUE(is_recorded_entry(trampoline, EntryKind::trampoline));
    EXPECT_FALSE(is_recorded_entry(trampoline, EntryKind::function));
    // A lambda travels as the entry generated for its closure type.
    const FunctionId lambda = function_entry_id([](int x) { return x + 5; });
    const auto entry = reinterpret_cast<std::uintptr_t>(resolve_function(lambda));
    EXPECT_TRUE(is_recorded_entry(entry, EntryKind::function));
    EXPECT_FALSE(is_recorded_entry(entry, EntryKind::trampoline));
    EXPECT_EQ(reinterpret_cast<int (*)(int)>(entry)(1), 6);
    // A plain function is not recorded: it is checked against the function starts instead.
    EXPECT_FALSE(is_recorded_entry(address_of(&add), EntryKind::function));
    EXPECT_FALSE(is_recorded_entry(address_of(&add), EntryKind::trampoline));
    // The program has a table; the C library has none.
    const auto program = image_of(reinterpret_cast<const void*>(&add));
    EXPECT_TRUE(has_entry_table(program.first, program.second));
    const auto libc = image_of(reinterpret_cast<const void*>(&::unlink));
    ASSERT_LT(libc.first, libc.second);
    EXPECT_FALSE(has_entry_table(libc.first, libc.second));
}

// --- what a receiver resolves --------------------------------------------------------------

// tandem: only a recorded trampoline is one; any other code named as the decoder is a FrameError.
TEST(ResolveTrampoline, OnlyRecordedTrampolines) {
    encode_some_calls();
    const auto trampoline = &Trampoline<int (*)(int, int)>::entry;
    EXPECT_EQ(resolve_trampoline(function_id(trampoline)), reinterpret_cast<void*>(trampoline));
    expect_error<FrameError>([] { resolve_trampoline(function_id(&add)); }, "that tandem did not generate");
    const FunctionId lambda = function_entry_id([](int x) { return x + 5; });
    expect_error<FrameError>([&] { resolve_trampoline(lambda); }, "that tandem did not generate");
    const FunctionId inside{function_id(trampoline).module, function_id(trampoline).offset + 1};
    expect_error<FrameError>([&] { resolve_trampoline(inside); }, "that tandem did not generate");
    expect_error<FrameError>([] { resolve_trampoline(function_id(&::unlink)); }, "that tandem did not generate");
}

// tandem: a function of this program (which has a table) resolves at its start only.
TEST(ResolveFunction, StartsOfFunctionsOfTheProgram) {
    encode_some_calls();
    const FunctionId id = function_id(&twice);
    EXPECT_EQ(reinterpret_cast<int (*)(int)>(resolve_function(id))(21), 42);
    for (const std::uint64_t delta : {1, 4, 8}) {
        expect_error<FrameError>([&] { resolve_function(FunctionId{id.module, id.offset + delta}); },
                                 "is not the start of a function");
    }
    expect_error<FrameError>([&] { resolve_function(FunctionId{id.module, 0}); }, "outside the module's code");
    expect_error<FrameError>([&] { resolve_function(FunctionId{id.module, ~std::uint64_t{0}}); },
                             "outside the module's code");
}

// The finding that started this: a message naming libc's unlink. tandem: a
// function of a module without an entry table (libc, libstdc++) is refused
// in the receiver, and a sender refuses to name it, saying what to do.
TEST(ResolveFunction, ModulesWithoutATableAreRefused) {
    encode_some_calls();
    expect_error<FrameError>([] { resolve_function(function_id(&::unlink)); }, "was not built with tandem");
    const auto now = &std::chrono::steady_clock::now;
    expect_error<FrameError>([&] { resolve_function(function_id(now)); }, "was not built with tandem");
    expect_error<ProcessError>([] { sendable_function_id(address_of(&::unlink)); }, "Call it from a function");
    HandoffWriter out;
    expect_error<ProcessError>([&] { encode_call(out, now); }, "not built with tandem");
    // A module that is not loaded here is a ProcessError, the user's to fix.
    expect_error<ProcessError>([] { resolve_function(FunctionId{0x0123456789abcdefULL, 0x1000}); }, "not loaded");
    expect_error<ProcessError>([] { resolve_trampoline(FunctionId{0x0123456789abcdefULL, 0x1000}); }, "not loaded");
}

// tandem: a library built with tandem has its own table: its lambdas, its
// plain functions and the calls it encodes resolve here, as the program's do.
TEST(ResolveFunction, LibraryBuiltWithTandem) {
    void* handle = nullptr;
    const EntryPluginApi* api = load_plugin(handle);
    ASSERT_NE(api, nullptr) << ::dlerror();
    const FunctionId lambda = api->lambda_id();
    EXPECT_NE(lambda.module, kMainModule);
    EXPECT_EQ(reinterpret_cast<int (*)(int)>(resolve_function(lambda))(10), 9);
    const FunctionId triple = sendable_function_id(address_of(api->triple));
    EXPECT_EQ(reinterpret_cast<int (*)(int)>(resolve_function(triple))(5), 15);
    expect_error<FrameError>([&] { resolve_function(FunctionId{triple.module, triple.offset + 1}); },
                             "is not the start of a function");
    HandoffWriter call;
    api->encode_triple(call, 7);
    HandoffReader in(call.bytes(), {});
    EXPECT_EQ(take_result<int>(run_call(in)), 21);
}

// tandem: function starts come from .eh_frame_hdr, which strip keeps: a
// stripped program (no .symtab) still runs plain function pointers and
// lambdas in a spawn pool.
TEST(ResolveFunction, StrippedProgramStillWorks) {
    std::string pattern = (fs::temp_directory_path() / "tandem-strip-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    const fs::path directory = pattern;
    const std::string copy = (directory / "trust_probe").string();
    fs::copy_file(TANDEM_TRUST_PROBE, copy);
    const auto stripped = tandem_test::run_program({"/usr/bin/strip", copy});
    ASSERT_EQ(stripped.code, 0) << stripped.output;
    std::ifstream file(copy, std::ios::binary);
    const std::string contents((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    EXPECT_EQ(contents.find(std::string(".symtab\0", 8)), std::string::npos) << "strip left the symbol table";
    const auto run = tandem_test::run_program({copy, "pool"});
    EXPECT_EQ(run.code, 0) << run.output;
    EXPECT_NE(run.output.find("pool: 49 42 14"), std::string::npos) << run.output;
    fs::remove_all(directory);
}

}  // namespace

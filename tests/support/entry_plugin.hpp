// Test support: the interface of entry_plugin.cpp, a shared library built
// with tandem (it sends calls of its own functions, so it records entry
// points in a table of its own). Tests load it at run time with dlopen():
// its path is the TANDEM_TEST_PLUGIN macro, and its tandem symbols come from
// the test program, which exports them.
//
//     void* handle = ::dlopen(TANDEM_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
//     auto* api = reinterpret_cast<const EntryPluginApi* (*)()>(::dlsym(handle, "tandem_test_plugin"))();
//     api->triple(2);   // 6
#pragma once

#include "tandem/detail/wire/function_id.hpp"  // FunctionId
#include "tandem/detail/wire/handoff.hpp"      // HandoffWriter

/// What the plugin offers, all of it defined in the plugin.
struct EntryPluginApi {
    /// A plain function of the plugin: 3 * x.
    int (*triple)(int x);
    /// The FunctionId of a lambda of the plugin (x - 1), recorded in its table.
    tandem::detail::FunctionId (*lambda_id)();
    /// Appends "call triple(x)" (encode_call in the plugin) to `out`.
    void (*encode_triple)(tandem::detail::HandoffWriter& out, int x);
};

/// The symbol to dlsym: `const EntryPluginApi* tandem_test_plugin()`.
inline constexpr const char* kEntryPluginSymbol = "tandem_test_plugin";

// Test support: a shared library built with tandem (see entry_plugin.hpp).
// Its encode_call and its lambda leave records in its own tandem_entries
// section, which it registers when loaded and unregisters when unloaded.
#include "support/entry_plugin.hpp"  // the interface

#include "tandem/detail/wire/remote_call.hpp"  // encode_call, function_entry_id

namespace {

int triple(int x) { return 3 * x; }

tandem::detail::FunctionId lambda_id() {
    return tandem::detail::function_entry_id([](int x) { return x - 1; });
}

void encode_triple(tandem::detail::HandoffWriter& out, int x) { tandem::detail::encode_call(out, &triple, x); }

constexpr EntryPluginApi api{&triple, &lambda_id, &encode_triple};

}  // namespace

extern "C" [[gnu::visibility("default")]] const EntryPluginApi* tandem_test_plugin() { return &api; }

// The non-template half of remote calls: the header's module paths, and the
// worker's entry point. See tandem/detail/wire/remote_call.hpp.
#include "tandem/detail/wire/remote_call.hpp"

#include <exception>    // std::exception_ptr, std::current_exception
#include <span>         // byte views of module paths
#include <string>       // messages
#include <string_view>  // module paths
#include <utility>      // std::move

namespace tandem::detail {
namespace {

std::string_view as_text(std::span<const std::byte> bytes) noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A library that is not loaded here is the user's to fix (a ProcessError
// naming the path the caller sent; the worker knows the library only by its
// number); code the entry tables do not vouch for is a FrameError.
template <class Resolve>
void* resolve_for_call(const FunctionId& id, std::string_view sent_path, const char* role, Resolve resolve) {
    if (id.module != kMainModule) {
        try {
            static_cast<void>(module_path(id));
        } catch (const ProcessError&) {
            throw ProcessError(std::string("cannot run the call: its ") + role + " is in the shared library " +
                               std::string(sent_path) +
                               ", which this process has not loaded (or has loaded in a different build). Load it "
                               "here too: link the program with it, or dlopen() it before the call arrives");
        }
    }
    return resolve(id);
}

}  // namespace

ResultPlace*& current_result_place() noexcept {
    thread_local ResultPlace* place = nullptr;
    return place;
}

void write_call_header(HandoffWriter& out, const FunctionId& trampoline, const FunctionId& function) {
    out.write(CallHeader{trampoline, function});
    for (const FunctionId* id : {&trampoline, &function}) {
        if (id->module == kMainModule) continue;
        const std::string_view path = module_path(*id);
        out.write_bytes(std::as_bytes(std::span(path.data(), path.size())));
    }
}

CallOutcome raised_outcome(std::exception_ptr error) { return CallOutcome{true, encode_exception(std::move(error))}; }

CallOutcome run_call(HandoffReader& in) {
    const auto header = in.read<CallHeader>();
    const std::string_view trampoline_path = header.trampoline.module != kMainModule ? as_text(in.read_bytes()) : "";
    const std::string_view function_path = header.function.module != kMainModule ? as_text(in.read_bytes()) : "";
    void* trampoline_address = nullptr;
    void* function_address = nullptr;
    try {
        trampoline_address =
            resolve_for_call(header.trampoline, trampoline_path, "argument decoder", &resolve_trampoline);
        function_address = resolve_for_call(header.function, function_path, "function", &resolve_function);
    } catch (const ProcessError&) {
        return raised_outcome(std::current_exception());
    }
    // A recorded Trampoline<Pointer>::entry of this process: the entry
    // tables list only those under this kind.
    const auto run = reinterpret_cast<TrampolinePointer>(trampoline_address);
    return run(function_address, in);
}

}  // namespace tandem::detail

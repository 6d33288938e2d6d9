// Internal: the entry points tandem generated, recorded per module at compile
// time, so that a process jumps only to code a tandem program meant to be
// called from a message.
//
// A call travels as two FunctionIds (remote_call.hpp): the trampoline that
// decodes the arguments, and the function. Both come from another process;
// before either becomes a jump, the receiver checks it against this table.
// Every Trampoline<Pointer> that encode_call instantiates, and the entry
// tandem generates for each captureless lambda it sends (closure types are
// known at compile time), leaves a 16-byte record in the section
// `tandem_entries` of the module (executable or shared library) whose code
// instantiated it: the kind (trampoline or function) and the address. The
// linker gathers a module's records between its __start_/__stop_ symbols;
// each module registers its own table when it is loaded (a hidden inline
// object, one per module, constructed with the module's other statics, so
// before main() for the program and its libraries, during dlopen() for a
// plugin) and unregisters it when it is unloaded, so addresses of a library
// that is gone are never accepted for whatever is mapped there next. (g++
// rarely lets such a library go: a template's static, which tandem and cereal
// have, makes it STB_GNU_UNIQUE and so never unloaded; clang builds, and
// -fno-gnu-unique, do unload.)
//
// The records are written by inline assembly under GCC: g++ 12 ignores a
// section attribute on a variable inside a template (GCC PR 88061), and a
// record must be made per template instantiation. Clang honours the
// attribute and gets an ordinary variable.
//
// Lookups read an immutable snapshot of all registered tables (sorted
// addresses, binary search) through one atomic pointer: no lock on the path
// every task takes, and safe in a child forked while another thread was
// registering a library. Snapshots are never freed (a reader may still hold
// one); one is made per library load or unload, which is rare.
//
//     record_entry<Trampoline<int (*)(int)>, EntryKind::trampoline>();  // in encode_call: a record
//     is_recorded_entry(address, EntryKind::trampoline);                 // in the worker: only those
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t, std::uintptr_t

namespace tandem::detail {

/// What a record in a module's entry table stands for.
enum class EntryKind : std::uint64_t {
    /// A Trampoline<Pointer>::entry: CallOutcome (*)(void*, HandoffReader&).
    trampoline = 0x544e444d54524d50,  // "PMRTMDNT": bytes of "TNDMTRMP" little-endian
    /// A function a message may name as the function to call (a closure's entry).
    function = 0x544e444d46554e43,    // "TNDMFUNC"
};

/// One record of a `tandem_entries` section, as the linker lays it out.
struct alignas(16) EntryRecord {
    std::uint64_t kind;
    std::uintptr_t address;
};

/// Adds the records in [begin, end) (a module's `tandem_entries` section) to
/// the entries lookups accept. Called once per module by its
/// EntryTableRegistration; records of an unknown kind are skipped. Never
/// throws but on allocation failure (then std::terminate: a static
/// initializer cannot report).
void register_entry_table(const void* begin, const void* end) noexcept;

/// Removes the table that starts at `begin` (its module is being unloaded).
void unregister_entry_table(const void* begin) noexcept;

/// True if `address` is recorded as an entry of `kind` in a registered table.
bool is_recorded_entry(std::uintptr_t address, EntryKind kind) noexcept;

/// True if a registered table lies in [begin, end): the module loaded there
/// was built with tandem (some code in it sends calls).
bool has_entry_table(std::uintptr_t begin, std::uintptr_t end) noexcept;

/// Registers the table of the module it is linked into for the module's
/// lifetime. One per module: see this_module_entries below.
class EntryTableRegistration {
public:
    EntryTableRegistration(const void* begin, const void* end) noexcept : begin_(begin) {
        register_entry_table(begin, end);
    }
    ~EntryTableRegistration() { unregister_entry_table(begin_); }
    EntryTableRegistration(const EntryTableRegistration&) = delete;
    EntryTableRegistration& operator=(const EntryTableRegistration&) = delete;

private:
    const void* begin_;
};

}  // namespace tandem::detail

// The bounds of this module's section, defined by the linker in every module
// that has the section. Hidden: a library's reference must bind to its own
// table, not the program's. Weak: a module without records has none.
extern "C" {
[[gnu::visibility("hidden"), gnu::weak]] extern const tandem::detail::EntryRecord __start_tandem_entries[];
[[gnu::visibility("hidden"), gnu::weak]] extern const tandem::detail::EntryRecord __stop_tandem_entries[];
}

namespace tandem::detail {

/// This module's registration: hidden, so every module that records entries
/// has exactly one (the copies in its translation units are merged by the
/// linker), constructed with the module's statics.
[[gnu::visibility("hidden")]] inline const EntryTableRegistration this_module_entries{__start_tandem_entries,
                                                                                      __stop_tandem_entries};

/// A record as clang lays it out from a variable (the address keeps its type).
template <class Pointer>
struct alignas(16) TypedEntryRecord {
    std::uint64_t kind;
    Pointer address;
};

/// Records `&Holder::entry` (a static member function tandem generated) as
/// an entry of `Kind` in this module's table. Emits no code: the record is
/// data the linker places.
template <class Holder, EntryKind Kind>
inline void record_entry() noexcept {
    static_cast<void>(&this_module_entries);
#if defined(__clang__)
    [[gnu::used, gnu::section("tandem_entries")]] static constexpr TypedEntryRecord<decltype(&Holder::entry)> record{
        static_cast<std::uint64_t>(Kind), &Holder::entry};
    static_cast<void>(&record);
#else
    // "X" hands the asm the function's symbol, which %p prints as a plain
    // address: the linker writes (and the loader relocates) it like a pointer
    // in data. The kinds are spelt out: an operand cannot hold 64 bits here.
    if constexpr (Kind == EntryKind::trampoline) {
        asm(".pushsection tandem_entries,\"aw\"\n\t.balign 16\n\t.quad 0x544e444d54524d50\n\t.quad %p0\n\t.popsection"
            :
            : "X"(&Holder::entry));
    } else {
        asm(".pushsection tandem_entries,\"aw\"\n\t.balign 16\n\t.quad 0x544e444d46554e43\n\t.quad %p0\n\t.popsection"
            :
            : "X"(&Holder::entry));
    }
#endif
}

}  // namespace tandem::detail

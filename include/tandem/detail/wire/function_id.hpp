// Internal: naming a function so that another process running the same
// program can find it again.
//
// A process started by spawn (an exec of /proc/self/exe) or forked from the
// forkserver lays the program and its shared libraries out at addresses of
// its own (PIE + ASLR), so a raw function pointer from the parent means
// nothing there. What stays the same is where the function sits inside its
// module (the executable or a shared library): a FunctionId is that module
// plus the offset from the module's load address, and the receiver adds its
// own load address back. Function pointers are only ever made this way from
// ids the sender produced, so both sides must run the same build: the start
// methods exchange build_id() and call check_same_build() before any id is
// resolved.
//
// Modules are named without strings, so that a FunctionId is 16 trivially
// copyable bytes: 0 is the main executable; a shared library is a 64-bit
// digest of its GNU build-id (of its path if it has none). A library with
// the same build-id is the same code in every process, wherever it is
// loaded; a different version of it is simply "not loaded" for the receiver.
//
// A FunctionId read from a message is a claim, not a fact: before it becomes
// an address to jump to, resolve_trampoline and resolve_function check it
// against the entry points tandem generated (entry_table.hpp) and, for a
// function pointer passed at run time (`pool.submit(&square, 3)`), against
// the starts of functions in modules built with tandem. Everything else is a
// FrameError; the sender checks the same with sendable_function_id, so that
// a function that cannot be sent fails in the caller, with advice.
//
// Speed: neither side calls dladdr per function (glibc's dladdr scans the
// module's symbol table). Both look the address or the module up in a table
// of the loaded modules and their executable segments, built with
// dl_iterate_phdr on first use and again only after a library was loaded or
// unloaded. The lookup reads that table without locks, so it is also safe in
// a child forked while another thread was refreshing it. A library once used
// in a FunctionId is pinned (dlopen RTLD_NOLOAD, never closed) so that its
// cached load address stays true for the life of the process.
//
//     // sender
//     FunctionId id = function_id(&add);            // {0, offset of add in the executable}
//     // receiver (same build, any load address; the program records tandem entries)
//     auto* add_here = reinterpret_cast<int (*)(int, int)>(resolve_function(id));
//     add_here(2, 3);                               // 5
#pragma once

#include <cstddef>      // std::byte
#include <cstdint>      // std::uint64_t, std::uintptr_t
#include <span>         // build ids as byte views
#include <string>       // exe path, digests
#include <string_view>  // module paths
#include <vector>       // file digests

namespace tandem::detail {

/// Where a function lives: its module and the offset from that module's load
/// address. Trivially copyable, so it travels in a message as its bytes.
struct FunctionId {
    /// kMainModule for the main executable, otherwise a digest of the shared
    /// library's identity (see the file comment). Never 0 for a library.
    std::uint64_t module = 0;
    /// Offset from the module's load address (dl_iterate_phdr's dlpi_addr).
    std::uint64_t offset = 0;

    friend bool operator==(const FunctionId&, const FunctionId&) = default;
};

/// The module number of the main executable in a FunctionId.
inline constexpr std::uint64_t kMainModule = 0;

/// The running executable's identity: the bytes of its GNU build-id note
/// (NT_GNU_BUILD_ID, found via dl_iterate_phdr); for a binary linked without
/// one, file_digest("/proc/self/exe"), computed once. Cached for the life of
/// the process; never empty. Throws ProcessError only in the fallback case,
/// if /proc/self/exe cannot be read.
std::span<const std::byte> build_id();

/// Throws ProcessError, naming the executable and both ids in hex, unless
/// `peer_build_id` equals build_id(): the other process runs a different
/// build of the program (it was rebuilt or replaced on disk after the parent
/// started), so no FunctionId may be exchanged with it.
void check_same_build(std::span<const std::byte> peer_build_id);

/// A 24-byte digest of the file at `path` (its size, then two independent
/// 64-bit hashes of its contents): the identity of an executable that has no
/// build-id note. Not cryptographic: it tells builds apart, it does not
/// resist forgery. Throws ProcessError if the file cannot be read.
std::vector<std::byte> file_digest(const char* path);

/// The path of the running executable (readlink of /proc/self/exe, cached),
/// for messages.
const std::string& executable_path();

/// The FunctionId of the code at `address` (a function's entry point) in this
/// process. Throws ProcessError if no loaded module has executable code
/// there (a pointer to data, or to code generated at run time).
FunctionId function_id_of_address(std::uintptr_t address);

/// The FunctionId of `fn`, a free or static member function or a captureless
/// lambda converted to a function pointer (+lambda). Throws like
/// function_id_of_address.
template <class R, class... A>
FunctionId function_id(R (*fn)(A...)) {
    // A function pointer converts to an integer on every platform tandem
    // supports; to void* only "conditionally".
    return function_id_of_address(reinterpret_cast<std::uintptr_t>(fn));
}

/// The FunctionId of `address`, a function pointer given at run time that a
/// message is to carry, checked as resolve_function will check it in the
/// receiver. Throws ProcessError, saying what can be sent instead, unless
/// the address is an entry tandem recorded or the start of a function in a
/// module built with tandem (see resolve_function).
FunctionId sendable_function_id(std::uintptr_t address);

/// The address of the trampoline `id` names, in this process. Throws
/// ProcessError if the module is not loaded here (or is a different build of
/// the library), FrameError unless the address is a trampoline recorded in a
/// tandem entry table (entry_table.hpp): anything else is never jumped to.
void* resolve_trampoline(const FunctionId& id);

/// The address of the function `id` names, in this process: a function
/// entry recorded in a tandem entry table (a captureless lambda's), or the
/// start of a function (per the module's .eh_frame_hdr) in a module that
/// has a tandem entry table: the program, or a library built with tandem.
/// Throws ProcessError like resolve_trampoline, FrameError for anything else
/// (a C library's function, an offset inside a function, a module that
/// records no entries). Does not call dladdr: the module comes from the
/// cached table (the main executable's with no lookup at all), the checks
/// are binary searches.
void* resolve_function(const FunctionId& id);

/// The file of the module `id` lives in, in this process: executable_path()
/// for the main executable, the library's path otherwise. The view stays
/// valid for the life of the process. Throws ProcessError like
/// resolve_function if the module is not loaded.
std::string_view module_path(const FunctionId& id);

/// `bytes` as lowercase hex, for messages.
std::string to_hex(std::span<const std::byte> bytes);

}  // namespace tandem::detail

// Functions named by module + offset, what such a name may resolve to, and
// the running build's identity: see tandem/detail/wire/function_id.hpp.
#include "tandem/detail/wire/function_id.hpp"

#include <dlfcn.h>   // dlopen (RTLD_NOLOAD pinning), dlinfo, dlerror
#include <elf.h>     // Elf64_Nhdr, NT_GNU_BUILD_ID, PT_*, PF_X
#include <fcntl.h>   // open
#include <link.h>    // dl_iterate_phdr, dl_phdr_info, link_map
#include <unistd.h>  // read, readlink

#include <algorithm>  // std::min, std::max
#include <array>      // read buffers
#include <atomic>     // the lock-free module table
#include <cerrno>     // errno, EINTR
#include <cstddef>    // offsetof
#include <cstring>    // std::memcpy, std::memmove, std::strerror
#include <exception>  // std::exception_ptr out of the dl_iterate_phdr callback
#include <limits>     // the 32-bit range of unwind-table offsets
#include <memory>     // std::unique_ptr while building a table
#include <utility>    // std::move

#include "tandem/detail/os/unique_fd.hpp"      // detail::UniqueFd for the digested file
#include "tandem/detail/wire/entry_table.hpp"  // is_recorded_entry, has_entry_table
#include "tandem/errors.hpp"                   // ProcessError, FrameError

namespace tandem::detail {
namespace {

// --- hashing --------------------------------------------------------------------

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t hash = kFnvOffset) noexcept {
    for (const std::byte b : bytes) {
        hash ^= static_cast<std::uint64_t>(b);
        hash *= kFnvPrime;
    }
    return hash;
}

std::span<const std::byte> as_bytes(std::string_view text) noexcept {
    return std::as_bytes(std::span(text.data(), text.size()));
}

std::string hex_number(std::uint64_t value) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text = "0x";
    for (int shift = 60; shift >= 0; shift -= 4) text.push_back(digits[(value >> shift) & 0xF]);
    return text;
}

// --- ELF notes --------------------------------------------------------------------

// The GNU build-id note among the PT_NOTE segments of a loaded module, or an
// empty span. Notes are read from the mapped image, which the loader keeps for
// every module (PT_NOTE lies inside a PT_LOAD segment).
std::span<const std::byte> find_build_id(const dl_phdr_info& info) noexcept {
    for (ElfW(Half) i = 0; i < info.dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info.dlpi_phdr[i];
        if (segment.p_type != PT_NOTE) continue;
        // Notes are 4-byte aligned, or 8-byte in a segment aligned to 8
        // (gABI; .note.gnu.property is such a segment).
        const std::size_t align = segment.p_align == 8 ? 8 : 4;
        const auto* cursor = reinterpret_cast<const std::byte*>(info.dlpi_addr + segment.p_vaddr);
        std::size_t left = segment.p_filesz;
        const auto padded = [align](std::size_t size) { return (size + align - 1) / align * align; };
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) header;
            std::memcpy(&header, cursor, sizeof header);
            const std::size_t name_size = padded(header.n_namesz);
            const std::size_t desc_size = padded(header.n_descsz);
            if (name_size > left - sizeof header || desc_size > left - sizeof header - name_size) break;
            const std::byte* name = cursor + sizeof header;
            const std::byte* desc = name + name_size;
            if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
                header.n_descsz != 0) {
                return {desc, header.n_descsz};
            }
            cursor = desc + desc_size;
            left -= sizeof header + name_size + desc_size;
        }
    }
    return {};
}

// --- the module table ---------------------------------------------------------------

struct Segment {
    std::uint64_t begin;  // offsets from the module's load address
    std::uint64_t end;
};

// The sorted table of function starts the linker writes into
// .eh_frame_hdr (PT_GNU_EH_FRAME) for the unwinder's binary search: pairs of
// 32-bit offsets from the header, (function start, its FDE). It is mapped
// with the module and survives `strip`, which removes .symtab; .dynsym would
// list only exported functions, and a program exports none.
struct FunctionStarts {
    std::uintptr_t origin = 0;  // the header's address: entries are relative to it
    const std::byte* table = nullptr;
    std::size_t count = 0;

    bool contains(std::uintptr_t address) const noexcept {
        if (table == nullptr) return false;
        const auto relative = static_cast<std::int64_t>(address - origin);
        if (relative < std::numeric_limits<std::int32_t>::min() ||
            relative > std::numeric_limits<std::int32_t>::max()) {
            return false;
        }
        std::size_t low = 0;
        std::size_t high = count;
        while (low < high) {
            const std::size_t middle = low + (high - low) / 2;
            std::int32_t start;
            std::memcpy(&start, table + middle * 8, sizeof start);
            if (start == relative) return true;
            if (start < relative) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return false;
    }
};

// The DWARF pointer encodings (DW_EH_PE_*) a linker uses in .eh_frame_hdr.
constexpr std::uint8_t kEncodingOmit = 0xff;
constexpr std::uint8_t kEncodingUdata4 = 0x03;
constexpr std::uint8_t kEncodingSdata4 = 0x0b;
constexpr std::uint8_t kEncodingDatarelSdata4 = 0x3b;  // what GNU ld, gold and lld write

// The function-start table of a module, or none: without one, no function
// of the module can be named at run time (a rare linker, or
// --no-eh-frame-hdr); its recorded entries still resolve.
FunctionStarts find_function_starts(const dl_phdr_info& info) noexcept {
    for (ElfW(Half) i = 0; i < info.dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info.dlpi_phdr[i];
        if (segment.p_type != PT_GNU_EH_FRAME || segment.p_memsz < 12) continue;
        const auto* header = reinterpret_cast<const std::byte*>(info.dlpi_addr + segment.p_vaddr);
        const auto version = static_cast<std::uint8_t>(header[0]);
        const auto frame_pointer_encoding = static_cast<std::uint8_t>(header[1]);
        const auto count_encoding = static_cast<std::uint8_t>(header[2]);
        const auto table_encoding = static_cast<std::uint8_t>(header[3]);
        const std::uint8_t four_byte = frame_pointer_encoding & 0x0f;
        if (version != 1 || table_encoding != kEncodingDatarelSdata4 || count_encoding == kEncodingOmit ||
            (count_encoding & 0x0f) != kEncodingUdata4 || (four_byte != kEncodingUdata4 && four_byte != kEncodingSdata4)) {
            return {};
        }
        std::uint32_t count = 0;
        std::memcpy(&count, header + 8, sizeof count);
        if (std::size_t{12} + std::size_t{count} * 8 > segment.p_memsz) return {};
        return {reinterpret_cast<std::uintptr_t>(header), header + 12, count};
    }
    return {};
}

// One loaded module. Created once, never freed (tables that were replaced
// may still be read by another thread), and shared by the tables that list
// it while it stays loaded at the same address.
struct Module {
    std::uint64_t key = kMainModule;
    std::uintptr_t base = 0;
    std::vector<Segment> code;  // the executable PT_LOAD segments
    Segment image{};            // from the first PT_LOAD segment's start to the last one's end
    FunctionStarts starts;
    std::string path;
    std::vector<std::byte> build_id;
    mutable std::atomic<bool> pinned{false};

    bool contains(std::uint64_t offset) const noexcept {
        for (const Segment& segment : code) {
            if (offset >= segment.begin && offset < segment.end) return true;
        }
        return false;
    }
};

// What dl_iterate_phdr reported for one module, before it becomes a Module.
void describe(const dl_phdr_info& info, Module& module) {
    module.base = info.dlpi_addr;
    module.path = info.dlpi_name != nullptr ? info.dlpi_name : "";
    bool first_load = true;
    for (ElfW(Half) i = 0; i < info.dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info.dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || segment.p_memsz == 0) continue;
        const Segment extent{segment.p_vaddr, segment.p_vaddr + segment.p_memsz};
        module.image = first_load ? extent : Segment{std::min(module.image.begin, extent.begin),
                                                     std::max(module.image.end, extent.end)};
        first_load = false;
        if ((segment.p_flags & PF_X) != 0) module.code.push_back(extent);
    }
    module.starts = find_function_starts(info);
    const std::span<const std::byte> id = find_build_id(info);
    module.build_id.assign(id.begin(), id.end());
}

// A library's number in a FunctionId: the same build of a library gets the
// same number in every process; the tag keeps build-ids and paths apart.
std::uint64_t library_key(const Module& module) noexcept {
    const std::uint64_t hash = module.build_id.empty()
                                   ? fnv1a(as_bytes(module.path), fnv1a(as_bytes("path:")))
                                   : fnv1a(module.build_id, fnv1a(as_bytes("build-id:")));
    return hash == kMainModule ? 1 : hash;
}

// The loaded shared libraries at one moment, identified by the loader's
// load/unload counters. Never freed: each table keeps the one it replaced
// reachable, so a reader holding an old pointer stays valid.
struct ModuleTable {
    unsigned long long adds = 0;
    unsigned long long subs = 0;
    std::vector<const Module*> libraries;
    const ModuleTable* previous = nullptr;
};

std::atomic<const ModuleTable*> current_table{nullptr};

const Module& main_module() {
    static const Module* const main = [] {
        auto module = std::make_unique<Module>();
        struct Out {
            Module* module;
            std::exception_ptr failure;  // an exception must not unwind through the loader
        } out{module.get(), nullptr};
        // The first module dl_iterate_phdr reports is always the program.
        ::dl_iterate_phdr(
            [](dl_phdr_info* info, std::size_t, void* state) {
                auto& found = *static_cast<Out*>(state);
                try {
                    describe(*info, *found.module);
                } catch (...) {
                    found.failure = std::current_exception();
                }
                return 1;
            },
            &out);
        if (out.failure) std::rethrow_exception(out.failure);
        module->path = executable_path();
        module->pinned = true;  // the program cannot be unloaded
        return module.release();
    }();
    return *main;
}

struct Scan {
    unsigned long long adds = 0;
    unsigned long long subs = 0;
    bool first = true;
    std::vector<std::unique_ptr<Module>> libraries;
    std::exception_ptr failure;  // an exception must not unwind through the loader
};

// Lists the loaded libraries now. Returns nullptr if the loader's counters say
// nothing was loaded or unloaded since `known` was built.
std::unique_ptr<ModuleTable> scan_libraries(const ModuleTable* known, std::vector<std::unique_ptr<Module>>& created) {
    Scan scan;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t size, void* out) {
            auto& state = *static_cast<Scan*>(out);
            if (state.first) {
                state.first = false;
                // dlpi_adds/dlpi_subs exist in every glibc tandem supports,
                // but the size argument is the documented way to check.
                if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
                    state.adds = info->dlpi_adds;
                    state.subs = info->dlpi_subs;
                }
                return 0;  // the program itself is main_module()
            }
            try {
                auto module = std::make_unique<Module>();
                describe(*info, *module);
                module->key = library_key(*module);
                state.libraries.push_back(std::move(module));
                return 0;
            } catch (...) {
                state.failure = std::current_exception();
                return 1;
            }
        },
        &scan);
    if (scan.failure) std::rethrow_exception(scan.failure);
    if (known != nullptr && known->adds == scan.adds && known->subs == scan.subs) return nullptr;

    auto table = std::make_unique<ModuleTable>();
    table->adds = scan.adds;
    table->subs = scan.subs;
    table->previous = known;
    for (auto& fresh : scan.libraries) {
        const Module* reused = nullptr;
        if (known != nullptr) {
            for (const Module* old : known->libraries) {
                if (old->key == fresh->key && old->base == fresh->base && old->path == fresh->path) reused = old;
            }
        }
        if (reused != nullptr) {
            table->libraries.push_back(reused);
        } else {
            table->libraries.push_back(fresh.get());
            created.push_back(std::move(fresh));
        }
    }
    return table;
}

// Publishes a newer table if libraries were loaded or unloaded since the
// current one was built; returns the current table either way.
const ModuleTable* refresh_table() {
    for (;;) {
        const ModuleTable* known = current_table.load(std::memory_order_acquire);
        std::vector<std::unique_ptr<Module>> created;
        std::unique_ptr<ModuleTable> table = scan_libraries(known, created);
        if (!table) return known;
        if (current_table.compare_exchange_strong(known, table.get(), std::memory_order_acq_rel)) {
            for (auto& module : created) static_cast<void>(module.release());  // now owned by the table
            return table.release();
        }
        // Another thread published first: its table may already be what we
        // need; the scan we made was never visible, so it is simply dropped.
    }
}

// Makes sure `module` is still loaded at the address the table recorded, and
// stays so: the dlopen reference taken here is never released.
bool pin(const Module& module) {
    if (module.pinned.load(std::memory_order_acquire)) return true;
    if (module.path.empty()) return false;
    void* handle = ::dlopen(module.path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) return false;
    link_map* map = nullptr;
    if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_addr != module.base) {
        // Unloaded and replaced by another file under that name; the handle
        // now pins the new one, which a fresher table will list.
        return false;
    }
    module.pinned.store(true, std::memory_order_release);
    return true;
}

template <class Match>
const Module* find_library(Match match) {
    const ModuleTable* table = current_table.load(std::memory_order_acquire);
    // Two refreshes at most: one for a library loaded since the last scan, one
    // more if a library was unloaded while it was being pinned.
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (table != nullptr) {
            for (const Module* module : table->libraries) {
                if (match(*module)) {
                    if (pin(*module)) return module;
                    break;
                }
            }
        }
        const ModuleTable* fresher = refresh_table();
        if (fresher == table) return nullptr;
        table = fresher;
    }
    return nullptr;
}

[[noreturn]] void throw_not_loaded(std::uint64_t key) {
    throw ProcessError("no shared library with module id " + hex_number(key) +
                       " is loaded in this process: the library is not loaded here, or a different build of it is");
}

const Module& module_of(const FunctionId& id) {
    if (id.module == kMainModule) return main_module();
    const Module* module = find_library([key = id.module](const Module& m) { return m.key == key; });
    if (module == nullptr) throw_not_loaded(id.module);
    return *module;
}

std::string read_link(const char* path) {
    std::string target(256, '\0');
    for (;;) {
        const ssize_t size = ::readlink(path, target.data(), target.size());
        if (size < 0) return std::string(path);
        if (static_cast<std::size_t>(size) < target.size()) {
            target.resize(static_cast<std::size_t>(size));
            return target;
        }
        target.resize(target.size() * 2);
    }
}

}  // namespace

std::string to_hex(std::span<const std::byte> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (const std::byte b : bytes) {
        text.push_back(digits[static_cast<unsigned>(b) >> 4]);
        text.push_back(digits[static_cast<unsigned>(b) & 0xF]);
    }
    return text;
}

const std::string& executable_path() {
    static const std::string path = read_link("/proc/self/exe");
    return path;
}

std::vector<std::byte> file_digest(const char* path) {
    const UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw ProcessError(std::string("cannot read ") + path + " to identify the build: " + std::strerror(errno));
    }
    // Two unrelated hashes, so that a collision needs both to collide: FNV-1a
    // over the bytes, and a multiply-rotate mix over 8-byte words.
    std::uint64_t size = 0;
    std::uint64_t bytewise = kFnvOffset;
    std::uint64_t wordwise = 0x9e3779b97f4a7c15ULL;
    std::array<std::byte, 1 << 16> buffer;
    std::size_t pending = 0;  // bytes carried to the next read to complete a word
    for (;;) {
        const ssize_t got = ::read(fd.get(), buffer.data() + pending, buffer.size() - pending);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw ProcessError(std::string("cannot read ") + path + " to identify the build: " + std::strerror(errno));
        }
        const auto received = static_cast<std::size_t>(got);
        bytewise = fnv1a(std::span(buffer).subspan(pending, received), bytewise);
        size += received;
        const std::size_t available = pending + received;
        const bool end = received == 0;
        const std::size_t words = end ? (available + 7) / 8 : available / 8;
        for (std::size_t i = 0; i < words; ++i) {
            std::uint64_t word = 0;
            std::memcpy(&word, buffer.data() + i * 8, std::min<std::size_t>(8, available - i * 8));
            wordwise ^= word * 0xff51afd7ed558ccdULL;
            wordwise = ((wordwise << 31) | (wordwise >> 33)) * 0xc4ceb9fe1a85ec53ULL;
        }
        if (end) break;
        pending = available - words * 8;
        std::memmove(buffer.data(), buffer.data() + words * 8, pending);
    }
    std::vector<std::byte> digest(3 * sizeof(std::uint64_t));
    std::memcpy(digest.data(), &size, sizeof size);
    std::memcpy(digest.data() + 8, &bytewise, sizeof bytewise);
    std::memcpy(digest.data() + 16, &wordwise, sizeof wordwise);
    return digest;
}

std::span<const std::byte> build_id() {
    static const std::vector<std::byte> id = [] {
        const Module& program = main_module();
        return program.build_id.empty() ? file_digest("/proc/self/exe") : program.build_id;
    }();
    return id;
}

void check_same_build(std::span<const std::byte> peer_build_id) {
    const std::span<const std::byte> own = build_id();
    if (peer_build_id.size() == own.size() && std::memcmp(peer_build_id.data(), own.data(), own.size()) == 0) return;
    throw ProcessError("worker runs a different build of " + executable_path() + " than its parent (build id " +
                       to_hex(own) + " here, " + (peer_build_id.empty() ? "none" : to_hex(peer_build_id)) +
                       " in the other process): the executable was rebuilt or replaced after the parent "
                       "started; restart the program");
}

FunctionId function_id_of_address(std::uintptr_t address) {
    const Module& program = main_module();
    if (address >= program.base && program.contains(address - program.base)) {
        return {kMainModule, address - program.base};
    }
    const Module* library = find_library(
        [address](const Module& m) { return address >= m.base && m.contains(address - m.base); });
    if (library == nullptr) {
        throw ProcessError("function_id: address " + hex_number(address) +
                           " is not in the code of any loaded module (code generated at run time cannot be "
                           "named in another process)");
    }
    return {library->key, address - library->base};
}

namespace {

std::string name_of(const Module& module) {
    return module.path.empty() ? std::string("an unnamed module") : module.path;
}

bool carries_entry_table(const Module& module) noexcept {
    return has_entry_table(module.base + module.image.begin, module.base + module.image.end);
}

// Why the function at `offset` of `module` may not be called from a
// message, or nullptr if it may: a recorded entry, or the start of a
// function (per the module's own unwind table) in a module built with tandem.
const char* refusal(const Module& module, std::uint64_t offset) noexcept {
    if (!module.contains(offset)) return "lies outside the module's code";
    const std::uintptr_t address = module.base + offset;
    if (is_recorded_entry(address, EntryKind::function)) return nullptr;
    if (!carries_entry_table(module)) {
        return "is in a module that was not built with tandem (it records no entry points, so none of its "
               "functions may be called from a message)";
    }
    if (!module.starts.contains(address)) return "is not the start of a function";
    return nullptr;
}

}  // namespace

void* resolve_trampoline(const FunctionId& id) {
    const Module& module = module_of(id);
    if (!module.contains(id.offset) || !is_recorded_entry(module.base + id.offset, EntryKind::trampoline)) {
        throw FrameError("the call names a decoder at offset " + hex_number(id.offset) + " of " + name_of(module) +
                         " that tandem did not generate: refused");
    }
    return reinterpret_cast<void*>(module.base + id.offset);
}

void* resolve_function(const FunctionId& id) {
    const Module& module = module_of(id);
    if (const char* why = refusal(module, id.offset)) {
        throw FrameError("the call names a function at offset " + hex_number(id.offset) + " of " + name_of(module) +
                         ", which " + why + ": refused");
    }
    return reinterpret_cast<void*>(module.base + id.offset);
}

FunctionId sendable_function_id(std::uintptr_t address) {
    const FunctionId id = function_id_of_address(address);
    const Module& module = module_of(id);
    if (const char* why = refusal(module, id.offset)) {
        throw ProcessError("cannot send the function at " + hex_number(address) + " in " + name_of(module) +
                           " to another process: it " + why +
                           ". Call it from a function or a lambda of your program and send that");
    }
    return id;
}

std::string_view module_path(const FunctionId& id) { return module_of(id).path; }

}  // namespace tandem::detail

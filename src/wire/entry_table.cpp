// The registered entry tables and the lookups run_call makes in them: see
// tandem/detail/wire/entry_table.hpp.
#include "tandem/detail/wire/entry_table.hpp"

#include <algorithm>  // std::sort, std::unique, std::binary_search, std::lower_bound
#include <atomic>     // the published snapshot
#include <cstring>    // std::memcpy of records
#include <memory>     // std::unique_ptr while building a snapshot
#include <vector>     // tables and sorted addresses

namespace tandem::detail {
namespace {

struct Table {
    std::uintptr_t begin;
    std::vector<EntryRecord> records;
};

// Every registered table at one moment, with their addresses merged and
// sorted for lookups. Never freed: each keeps the one it replaced reachable,
// so a reader holding an old pointer stays valid.
struct Snapshot {
    std::vector<Table> tables;
    std::vector<std::uintptr_t> trampolines;
    std::vector<std::uintptr_t> functions;
    std::vector<std::uintptr_t> table_starts;
    const Snapshot* previous = nullptr;
};

// Constant-initialised: libraries register from their static initialisers,
// which may run before this file's.
constinit std::atomic<const Snapshot*> current{nullptr};

void sort_unique(std::vector<std::uintptr_t>& addresses) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
}

std::unique_ptr<Snapshot> merged(std::vector<Table> tables, const Snapshot* previous) {
    auto snapshot = std::make_unique<Snapshot>();
    for (const Table& table : tables) {
        snapshot->table_starts.push_back(table.begin);
        for (const EntryRecord& record : table.records) {
            if (record.kind == static_cast<std::uint64_t>(EntryKind::trampoline)) {
                snapshot->trampolines.push_back(record.address);
            } else {
                snapshot->functions.push_back(record.address);
            }
        }
    }
    sort_unique(snapshot->trampolines);
    sort_unique(snapshot->functions);
    sort_unique(snapshot->table_starts);
    snapshot->tables = std::move(tables);
    snapshot->previous = previous;
    return snapshot;
}

// Publishes the snapshot `change` makes of the current tables. Lock-free, so
// that a child forked while another thread was here can still register.
template <class Change>
void publish(Change change) {
    for (;;) {
        const Snapshot* known = current.load(std::memory_order_acquire);
        std::vector<Table> tables = known != nullptr ? known->tables : std::vector<Table>();
        change(tables);
        std::unique_ptr<Snapshot> fresh = merged(std::move(tables), known);
        if (current.compare_exchange_strong(known, fresh.get(), std::memory_order_acq_rel)) {
            static_cast<void>(fresh.release());  // reachable from `current` from now on
            return;
        }
    }
}

}  // namespace

void register_entry_table(const void* begin, const void* end) noexcept {
    if (begin == nullptr || end == nullptr || end <= begin) return;
    Table table{reinterpret_cast<std::uintptr_t>(begin), {}};
    const auto* bytes = static_cast<const unsigned char*>(begin);
    const auto size = static_cast<std::size_t>(static_cast<const unsigned char*>(end) - bytes);
    // Read as bytes, whatever padding the linker put between records.
    for (std::size_t at = 0; at + sizeof(EntryRecord) <= size; at += sizeof(EntryRecord)) {
        EntryRecord record;
        std::memcpy(&record, bytes + at, sizeof record);
        const bool known = record.kind == static_cast<std::uint64_t>(EntryKind::trampoline) ||
                           record.kind == static_cast<std::uint64_t>(EntryKind::function);
        if (known && record.address != 0) table.records.push_back(record);
    }
    publish([&table](std::vector<Table>& tables) { tables.push_back(std::move(table)); });
}

void unregister_entry_table(const void* begin) noexcept {
    if (begin == nullptr) return;
    const auto start = reinterpret_cast<std::uintptr_t>(begin);
    publish([start](std::vector<Table>& tables) {
        std::erase_if(tables, [start](const Table& table) { return table.begin == start; });
    });
}

bool is_recorded_entry(std::uintptr_t address, EntryKind kind) noexcept {
    const Snapshot* snapshot = current.load(std::memory_order_acquire);
    if (snapshot == nullptr) return false;
    const auto& addresses = kind == EntryKind::trampoline ? snapshot->trampolines : snapshot->functions;
    return std::binary_search(addresses.begin(), addresses.end(), address);
}

bool has_entry_table(std::uintptr_t begin, std::uintptr_t end) noexcept {
    const Snapshot* snapshot = current.load(std::memory_order_acquire);
    if (snapshot == nullptr) return false;
    const auto first = std::lower_bound(snapshot->table_starts.begin(), snapshot->table_starts.end(), begin);
    return first != snapshot->table_starts.end() && *first < end;
}

}  // namespace tandem::detail

// libFuzzer target for the worker-to-parent ring reader: ReplyReader, and
// through it read_message, SpillReader and the control socket, exactly as the
// collector calls them (detail/process_pool/reply_reader.hpp), with ASan+UBSan
// (scripts/fuzz.sh). A hostile worker controls all of its area and what it
// sends on its control socket; here the input does.
//
// Input layout (missing bytes read as zero):
//   count     the ring's published count (its `head`); the parent's
//             consumed count starts at 0
//   count     the ring's consumed count (its `tail`)
//             a count is 1 byte: below 0x80 the count itself, else 8 more
//             bytes hold it (a count run far ahead, or gone backwards)
//   1 byte    how many socket messages follow (at most 8), each:
//               1 byte   kind: bits 0-1  0 raw bytes, 1 a memfd, 2 two
//                                        memfds, 3 a message with no descriptor
//                              bit 2     the memfds are sealed as tandem seals
//                              bit 3     and carry a write seal too
//               2 bytes  the memfds' size, or the raw bytes' count
//               raw:     that many bytes
//   8 bytes   the ids the parent expects, one byte each (0: none in flight)
//   the rest  the slots, in order, each: 2 bytes, how many of its kSlotBytes
//             follow (the rest of the slot is zeros), then those bytes
// fuzz/seeds/ring_reader_fuzzer/ holds a few inputs that reach each carrier
// (scripts/fuzz.sh starts from them): a reply in its slot, a sealed memfd
// message, two fresh spill buffers, an unsealed memfd.
// Properties checked beyond "no crash, no leak, no UB": next() throws nothing
// but ProtocolError; a reply it returns is for the task expected; its bytes
// lie inside its slot's payload or inside a mapping it holds (every byte is
// read); no descriptor stays open once the reader is gone.
#include <dirent.h>      // counting this process's descriptors
#include <fcntl.h>       // F_ADD_SEALS
#include <sys/mman.h>    // memfd_create
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // ftruncate, write, close

#include <algorithm>  // std::min
#include <cstddef>    // std::byte
#include <cstdint>    // libFuzzer's signature
#include <cstring>    // std::memcpy
#include <memory>     // the area
#include <new>        // placement of a fresh Ring
#include <optional>   // a reply or none
#include <span>       // input views
#include <vector>     // descriptors

#include "tandem/detail/os/unique_fd.hpp"               // UniqueFd
#include "tandem/detail/process_pool/reply_reader.hpp"  // ReplyReader, ProtocolError
#include "tandem/detail/process_pool/task_ring.hpp"     // Ring, kSlotBytes
#include "tandem/detail/wire/fd_passing.hpp"            // send_with_fds: a whole message

namespace {

using namespace tandem::detail;
using namespace tandem::detail::process_pool;

[[noreturn]] void property_failed() { __builtin_trap(); }

// Reads the input front to back; past its end, zeros.
class Input {
public:
    explicit Input(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
    std::uint64_t take_count() {
        const auto small = take<std::uint8_t>();
        return small < 0x80 ? small : take<std::uint64_t>();
    }
    template <class T>
    T take() {
        T value{};
        const std::size_t n = std::min(sizeof value, bytes_.size());
        std::memcpy(&value, bytes_.data(), n);
        bytes_ = bytes_.subspan(n);
        return value;
    }
    std::span<const std::uint8_t> take_bytes(std::size_t count) {
        const std::size_t n = std::min(count, bytes_.size());
        const auto taken = bytes_.first(n);
        bytes_ = bytes_.subspan(n);
        return taken;
    }

private:
    std::span<const std::uint8_t> bytes_;
};

std::size_t open_fds() {
    std::size_t count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    while (::readdir(directory) != nullptr) ++count;
    ::closedir(directory);
    return count;
}

UniqueFd make_memfd(std::size_t size, bool sealed, bool write_sealed) {
    UniqueFd fd(::memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) property_failed();
    if (sealed) {
        const int seals = F_SEAL_SHRINK | F_SEAL_GROW | (write_sealed ? F_SEAL_WRITE : 0) | F_SEAL_SEAL;
        if (::fcntl(fd.get(), F_ADD_SEALS, seals) != 0) property_failed();
    }
    return fd;
}

// What a hostile worker writes on its control socket.
void send_messages(Input& in, int socket) {
    const unsigned count = std::min<unsigned>(in.take<std::uint8_t>(), 8);
    for (unsigned i = 0; i < count; ++i) {
        const auto kind = in.take<std::uint8_t>();
        const std::size_t size = in.take<std::uint16_t>();
        const bool sealed = (kind & 4) != 0;
        const bool write_sealed = (kind & 8) != 0;
        switch (kind & 3) {
            case 0: {  // raw bytes: half a length prefix, a bogus length, ...
                const auto raw = in.take_bytes(size);
                if (!raw.empty() && ::write(socket, raw.data(), raw.size()) < 0) property_failed();
                break;
            }
            case 1:
            case 2: {
                std::vector<UniqueFd> memfds;
                std::vector<int> numbers;
                for (int m = 0; m < (kind & 3); ++m) {
                    memfds.push_back(make_memfd(size, sealed, write_sealed));
                    numbers.push_back(memfds.back().get());
                }
                send_with_fds(socket, {}, numbers);
                break;
            }
            default:
                send_with_fds(socket, {}, {});
                break;
        }
    }
}

bool inside(std::span<const std::byte> bytes, const std::byte* begin, std::size_t size) {
    return bytes.data() >= begin && bytes.data() + bytes.size() <= begin + size;
}

bool overlaps(std::span<const std::byte> bytes, const std::byte* begin, std::size_t size) {
    return !bytes.empty() && bytes.data() < begin + size && begin < bytes.data() + bytes.size();
}

void run(std::span<const std::uint8_t> data) {
    static const std::unique_ptr<Ring> ring = std::make_unique<Ring>();
    new (ring.get()) Ring;
    Input in(data);
    ring->head.store(in.take_count());
    ring->tail.store(in.take_count());

    const std::size_t fds_before = open_fds();
    {
        int pair[2];
        // The parent's end is non-blocking, as the engine makes it.
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) property_failed();
        const UniqueFd worker_end(pair[0]);
        const UniqueFd parent_end(pair[1]);
        if (::fcntl(parent_end.get(), F_SETFL, O_NONBLOCK) != 0) property_failed();
        send_messages(in, worker_end.get());

        std::uint8_t expected_ids[8];
        for (auto& id : expected_ids) id = in.take<std::uint8_t>();
        for (auto& slot : ring->slots) {
            const auto bytes = in.take_bytes(std::min<std::size_t>(in.take<std::uint16_t>(), kSlotBytes));
            std::memcpy(slot, bytes.data(), bytes.size());
        }

        ReplyReader reader(*ring);
        SpillReader spills;
        std::size_t consumed = 0;
        for (std::uint8_t expected : expected_ids) {
            std::optional<Reply> reply;
            try {
                reply = reader.next(expected, spills, parent_end.get());
            } catch (const ProtocolError&) {
                break;  // the collector kills the worker here
            }
            if (!reply) break;
            if (expected == 0 || reply->task_id != expected) property_failed();
            // Bytes in the ring lie in this reply's own slot, after its header;
            // others lie in a mapping the reader holds (reading them all shows it).
            const std::span<const std::byte> bytes = reply->message.bytes;
            const std::byte* payload = ring->slots[consumed % kRingSlots] + sizeof(SlotHeader);
            if (overlaps(bytes, ring->slots[0], sizeof ring->slots) && !inside(bytes, payload, kSlotPayload)) {
                property_failed();
            }
            unsigned sum = 0;
            for (std::byte b : bytes) sum += static_cast<unsigned>(b);  // faults if not mapped
            asm volatile("" : : "r"(sum));                                // keeps the reads
            if (!reply->message.fds.empty()) property_failed();  // replies bring none
            reply.reset();
            reader.consume();
            ++consumed;
        }
    }
    if (open_fds() != fds_before) property_failed();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    run({data, size});
    return 0;
}

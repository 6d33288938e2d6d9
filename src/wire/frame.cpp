// The wire frame: header encoding and validation, CRC-32C, and the
// incremental FrameDecoder (see tandem/detail/wire/frame.hpp).
#include "tandem/detail/wire/frame.hpp"

#include <algorithm>  // std::max
#include <array>      // the CRC tables
#include <cstring>    // std::memcpy, std::memmove
#include <utility>    // std::move

#include "tandem/errors.hpp"  // FrameError, ValueError, RuntimeError

#if defined(__x86_64__)
#include <nmmintrin.h>  // _mm_crc32_u8/_u64 (SSE4.2)
#endif

namespace tandem::detail {

namespace {

constexpr std::array<std::byte, 4> kMagic{std::byte{'T'}, std::byte{'N'}, std::byte{'D'}, std::byte{'M'}};
constexpr std::size_t kHeaderChecksumOffset = 20;
constexpr std::uint8_t kLastKnownKind = static_cast<std::uint8_t>(FrameKind::message);
constexpr std::size_t kMinCapacity = 4096;

// --- CRC-32C --------------------------------------------------------------

// Reflected Castagnoli polynomial.
constexpr std::uint32_t kCrcPolynomial = 0x82F6'3B78u;

// Slicing-by-8: table[k][b] is the CRC contribution of byte b followed by k
// zero bytes, so eight bytes are folded in with eight independent lookups.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
    std::array<std::array<std::uint32_t, 256>, 8> tables{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t crc = b;
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kCrcPolynomial : 0u);
        tables[0][b] = crc;
    }
    for (std::size_t k = 1; k < 8; ++k) {
        for (std::size_t b = 0; b < 256; ++b) {
            const std::uint32_t prev = tables[k - 1][b];
            tables[k][b] = (prev >> 8) ^ tables[0][prev & 0xFFu];
        }
    }
    return tables;
}
constexpr auto kCrcTables = make_crc_tables();

std::uint32_t load_le32(const std::byte* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void store_le32(std::byte* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}

std::uint32_t crc_portable_raw(const std::byte* p, std::size_t n, std::uint32_t crc) noexcept {
    const auto& t = kCrcTables;
    while (n >= 8) {
        const std::uint32_t lo = crc ^ load_le32(p);
        const std::uint32_t hi = load_le32(p + 4);
        crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
              t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ t[0][(crc ^ static_cast<std::uint32_t>(*p++)) & 0xFFu];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42_raw(const std::byte* p, std::size_t n,
                                                             std::uint32_t crc) noexcept {
    // One dependent chain runs at ~8 GB/s, as fast as a pipe or memcpy feeds
    // it; interleaved streams would not make a frame arrive sooner.
    std::uint64_t c = crc;
    while (n >= 8) {
        std::uint64_t word;
        std::memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    auto c32 = static_cast<std::uint32_t>(c);
    while (n--) c32 = _mm_crc32_u8(c32, static_cast<std::uint8_t>(*p++));
    return c32;
}

bool cpu_has_sse42() noexcept {
    static const bool has = __builtin_cpu_supports("sse4.2");
    return has;
}
#endif

// --- header fields --------------------------------------------------------

std::string describe_size(std::size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

std::uint32_t crc32c_portable(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
    return ~crc_portable_raw(bytes.data(), bytes.size(), ~crc);
}

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
#if defined(__x86_64__)
    if (cpu_has_sse42()) return ~crc_sse42_raw(bytes.data(), bytes.size(), ~crc);
#endif
    return crc32c_portable(bytes, crc);
}

void encode_frame_header(std::span<std::byte, kFrameHeaderSize> out, FrameKind kind, std::uint16_t flags,
                         std::span<const std::byte> payload, std::size_t max_payload) {
    const std::size_t limit = std::min(max_payload, kMaxPayloadLimit);
    if (payload.size() > limit) {
        throw FrameError("frame payload of " + describe_size(payload.size()) + " exceeds the limit of " +
                         describe_size(limit));
    }
    std::byte* h = out.data();
    std::memcpy(h, kMagic.data(), kMagic.size());
    h[4] = std::byte{kFrameVersion};
    h[5] = static_cast<std::byte>(kind);
    h[6] = static_cast<std::byte>(flags & 0xFFu);
    h[7] = static_cast<std::byte>(flags >> 8);
    store_le32(h + 8, static_cast<std::uint32_t>(payload.size()));
    store_le32(h + 12, crc32c(payload));
    store_le32(h + 16, 0);
    store_le32(h + kHeaderChecksumOffset, crc32c(out.first(kHeaderChecksumOffset)));
}

void append_frame(std::vector<std::byte>& out, FrameKind kind, std::uint16_t flags,
                  std::span<const std::byte> payload, std::size_t max_payload) {
    const std::size_t start = out.size();
    out.resize(start + kFrameHeaderSize);
    // Validate (and checksum) before copying, so a rejected payload leaves `out` as it was.
    try {
        encode_frame_header(std::span<std::byte, kFrameHeaderSize>(out.data() + start, kFrameHeaderSize), kind,
                            flags, payload, max_payload);
    } catch (...) {
        out.resize(start);
        throw;
    }
    out.insert(out.end(), payload.begin(), payload.end());
}

FrameHeader decode_frame_header(std::span<const std::byte> bytes, std::size_t max_payload) {
    if (bytes.size() < kFrameHeaderSize) {
        throw FrameError("truncated frame: " + describe_size(bytes.size()) + " of a " +
                         describe_size(kFrameHeaderSize) + " header");
    }
    const std::byte* h = bytes.data();
    if (std::memcmp(h, kMagic.data(), kMagic.size()) != 0) throw FrameError("bad frame magic: not a tandem frame");
    if (h[4] != std::byte{kFrameVersion}) {
        throw FrameError("bad frame version " + std::to_string(static_cast<unsigned>(h[4])) + " (expected " +
                         std::to_string(kFrameVersion) + ")");
    }
    if (crc32c(bytes.first(kHeaderChecksumOffset)) != load_le32(h + kHeaderChecksumOffset)) {
        throw FrameError("frame header checksum mismatch: the header is corrupted");
    }
    if (load_le32(h + 16) != 0) throw FrameError("frame header reserved bytes are not zero");
    const auto kind = static_cast<std::uint8_t>(h[5]);
    if (kind == 0 || kind > kLastKnownKind) throw FrameError("unknown frame kind " + std::to_string(kind));
    const std::uint32_t size = load_le32(h + 8);
    const std::size_t limit = std::min(max_payload, kMaxPayloadLimit);
    if (size > limit) {
        throw FrameError("frame payload of " + describe_size(size) + " exceeds the limit of " +
                         describe_size(limit));
    }
    return FrameHeader{static_cast<FrameKind>(kind),
                       static_cast<std::uint16_t>(static_cast<unsigned>(h[6]) | static_cast<unsigned>(h[7]) << 8),
                       size, load_le32(h + 12)};
}

namespace {
Frame checked_frame(const FrameHeader& header, std::span<const std::byte> payload) {
    if (crc32c(payload) != header.payload_checksum) {
        throw FrameError("frame payload checksum mismatch: the payload is corrupted");
    }
    return Frame{header.kind, header.flags, payload};
}
}  // namespace

Frame decode_frame(std::span<const std::byte> bytes, std::size_t max_payload) {
    const FrameHeader header = decode_frame_header(bytes, max_payload);
    const std::size_t total = kFrameHeaderSize + header.payload_size;
    if (bytes.size() < total) {
        throw FrameError("truncated frame: " + describe_size(bytes.size()) + " of a " + describe_size(total) +
                         " frame");
    }
    if (bytes.size() > total) {
        throw FrameError("trailing bytes after frame: " + describe_size(bytes.size() - total) + " beyond its " +
                         describe_size(total));
    }
    return checked_frame(header, bytes.subspan(kFrameHeaderSize));
}

// --- FrameDecoder -----------------------------------------------------------

FrameDecoder::FrameDecoder(std::size_t max_payload) : max_payload_(max_payload) {
    if (max_payload > kMaxPayloadLimit) {
        throw ValueError("FrameDecoder: max_payload " + std::to_string(max_payload) + " exceeds the 32-bit limit " +
                         std::to_string(kMaxPayloadLimit));
    }
}

void FrameDecoder::throw_if_failed() const {
    if (!failure_.empty()) throw FrameError(failure_);
}

void FrameDecoder::fail(std::string message) {
    failure_ = std::move(message);
    throw FrameError(failure_);
}

void FrameDecoder::feed(std::span<const std::byte> bytes) {
    throw_if_failed();
    if (bytes.empty()) return;
    std::memcpy(prepare(bytes.size()).data(), bytes.data(), bytes.size());
    commit(bytes.size());
}

std::span<std::byte> FrameDecoder::prepare(std::size_t min_size) {
    throw_if_failed();
    const std::size_t unread = end_ - begin_;
    if (capacity_ - end_ < min_size) {
        if (unread + min_size <= capacity_ && begin_ >= unread) {
            // Enough room once the consumed prefix is dropped, and the move
            // is no larger than what was consumed: amortised O(1) per byte.
            std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
        } else {
            const std::size_t wanted = std::max({unread + min_size, capacity_ + capacity_ / 2, kMinCapacity});
            // new[] without () leaves the bytes uninitialised: a large frame
            // is not zero-filled before being overwritten.
            std::unique_ptr<std::byte[]> grown(new std::byte[wanted]);
            if (unread != 0) std::memcpy(grown.get(), buffer_.get() + begin_, unread);
            buffer_ = std::move(grown);
            capacity_ = wanted;
        }
        begin_ = 0;
        end_ = unread;
    }
    prepared_ = capacity_ - end_;
    return {buffer_.get() + end_, prepared_};
}

void FrameDecoder::commit(std::size_t size) {
    throw_if_failed();
    if (size > prepared_) {
        throw ValueError("FrameDecoder::commit(" + std::to_string(size) + "): only " + std::to_string(prepared_) +
                         " bytes were prepared");
    }
    end_ += size;
    prepared_ -= size;
}

const FrameHeader* FrameDecoder::current_header() {
    throw_if_failed();
    if (!header_ && end_ - begin_ >= kFrameHeaderSize) {
        try {
            header_ = decode_frame_header({buffer_.get() + begin_, kFrameHeaderSize}, max_payload_);
        } catch (const FrameError& e) {
            fail(e.what());
        }
    }
    return header_ ? &*header_ : nullptr;
}

std::optional<Frame> FrameDecoder::next() {
    const FrameHeader* header = current_header();
    if (header == nullptr) return std::nullopt;
    const std::size_t total = kFrameHeaderSize + header->payload_size;
    if (end_ - begin_ < total) return std::nullopt;
    std::optional<Frame> frame;
    try {
        frame = checked_frame(*header, {buffer_.get() + begin_ + kFrameHeaderSize, header->payload_size});
    } catch (const FrameError& e) {
        fail(e.what());
    }
    begin_ += total;
    header_.reset();
    return frame;
}

std::size_t FrameDecoder::bytes_needed() {
    const FrameHeader* header = current_header();
    const std::size_t unread = end_ - begin_;
    const std::size_t total = header ? kFrameHeaderSize + header->payload_size : kFrameHeaderSize;
    return total > unread ? total - unread : 0;
}

void FrameDecoder::finish() const {
    throw_if_failed();
    const std::size_t unread = end_ - begin_;
    if (unread == 0) return;
    if (unread < kFrameHeaderSize) {
        throw FrameError("truncated frame: the stream ended " + describe_size(unread) + " into a " +
                         describe_size(kFrameHeaderSize) + " header");
    }
    // The header may not have been validated yet if next() was not called;
    // a corrupted header is reported as such rather than as a truncation.
    const FrameHeader header = decode_frame_header({buffer_.get() + begin_, kFrameHeaderSize}, max_payload_);
    const std::size_t total = kFrameHeaderSize + header.payload_size;
    if (unread < total) {
        throw FrameError("truncated frame: the stream ended " + describe_size(unread) + " into a " +
                         describe_size(total) + " frame");
    }
    throw RuntimeError("FrameDecoder::finish() with a complete frame still buffered: call next() until it returns nullopt");
}

}  // namespace tandem::detail

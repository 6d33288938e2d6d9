// libFuzzer target for the wire format: FrameDecoder, decode_frame, value
// decoding and exception decoding, with ASan+UBSan (scripts/fuzz.sh).
//
// Input layout: byte 0 chooses how the rest is used.
//   bit 0    0: the rest is fed to the decoder as a raw stream;
//            1: the rest is cut into payloads that are framed correctly, so
//               that the fuzzer reaches past the checksums into payload decoding
//   bit 1    (framed streams) corrupt one byte, chosen by the last input byte
//   bits 2-3 the decoder's payload limit (default, 0, 16, 4096 bytes)
//   bits 4-7 seed of the random chunking; for raw streams also the type the
//            rest is decoded as (framed payloads use their flags for that)
// Properties checked beyond "no crash, no leak, no UB, no exception other
// than FrameError": every chunking (feed and prepare/commit) yields the same
// frames and the same error as feeding the stream at once; decode_frame agrees
// with the decoder on single-frame streams; and values that decode re-encode to
// the same bytes where the encoding is canonical.
#include <algorithm>      // std::min, std::equal
#include <array>          // Heavy's bytes
#include <cstddef>        // std::byte
#include <cstdint>        // libFuzzer's signature
#include <cstring>        // std::memcpy
#include <deque>          // decoded types
#include <forward_list>   // decoded types
#include <list>           // decoded types
#include <map>            // decoded types
#include <memory>         // decoded types
#include <optional>       // the outcome's error
#include <random>         // chunk sizes
#include <set>            // decoded types
#include <span>           // byte views
#include <string>         // decoded types, error messages
#include <tuple>          // decoded types
#include <unordered_map>  // decoded types
#include <variant>        // decoded types
#include <vector>         // buffers

#include "tandem/detail/wire/encoding.hpp"  // decode<T>
#include "tandem/detail/wire/frame.hpp"     // FrameDecoder, decode_frame
#include "tandem/errors.hpp"                // FrameError
#include "tandem/serialization.hpp"         // decode_exception

namespace {

using tandem::FrameError;
using namespace tandem::detail;
using Bytes = std::vector<std::byte>;

struct Item {
    std::string name;
    std::vector<std::int64_t> values;
    std::optional<std::variant<int, std::string>> extra;
    std::unique_ptr<Item> next;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(name, values, extra, next);
    }
};

// Large in memory, one byte on the wire: only the decoding budget bounds how
// many a count may claim (a few thousand bytes of input can claim 64 MiB).
struct Heavy {
    char tag = 0;
    std::array<char, 16384> scratch{};
    template <class Archive>
    void serialize(Archive& archive) {
        archive(tag);
    }
};

struct Tree {
    int value = 0;
    std::vector<Tree> children;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(value, children);
    }
};

[[noreturn]] void property_failed() { __builtin_trap(); }

struct Outcome {
    std::vector<std::tuple<FrameKind, std::uint16_t, Bytes>> frames;
    std::optional<std::string> error;
    bool operator==(const Outcome&) const = default;
};

void drain(FrameDecoder& decoder, Outcome& outcome) {
    while (auto frame = decoder.next()) {
        outcome.frames.emplace_back(frame->kind, frame->flags, Bytes(frame->payload.begin(), frame->payload.end()));
    }
}

// Feeds `stream` in pieces whose sizes come from `chunk` (0 = all at once).
template <class Chunk>
Outcome run_decoder(std::span<const std::byte> stream, std::size_t limit, bool use_prepare, Chunk chunk) {
    Outcome outcome;
    FrameDecoder decoder(limit);
    try {
        std::size_t position = 0;
        while (position < stream.size()) {
            const std::size_t n = std::min(chunk(), stream.size() - position);
            if (use_prepare) {
                const auto space = decoder.prepare(n);
                if (space.size() < n) property_failed();
                std::memcpy(space.data(), stream.data() + position, n);
                decoder.commit(n);
            } else {
                decoder.feed(stream.subspan(position, n));
            }
            position += n;
            drain(decoder, outcome);
        }
        decoder.finish();
    } catch (const FrameError& e) {
        outcome.error = e.what();
    }
    return outcome;
}

// Decodes `bytes` as T; if it decodes and T's encoding is canonical, the
// value must re-encode to exactly the same bytes.
template <class T, bool canonical = false>
void try_decode(std::span<const std::byte> bytes) {
    try {
        T value = decode<T>(bytes);
        if constexpr (canonical) {
            const Bytes again = encode(value);
            if (again.size() != bytes.size() || std::memcmp(again.data(), bytes.data(), bytes.size()) != 0) {
                property_failed();
            }
        }
    } catch (const FrameError&) {
    }
}

// Decodes `bytes` as a task's arguments with a span parameter, as a worker
// does: the view must lie within `bytes` when read in place, and hold the
// values re-encoding gives back either way.
void try_decode_span(std::span<const std::byte> bytes) {
    using tandem::detail::ReceivedSpan;
    try {
        auto [first, values, last] = decode<std::tuple<int, ReceivedSpan<double>, std::uint8_t>>(bytes);
        const std::span<const double> view = values.view();
        if (values.in_place() && !view.empty()) {
            const auto* begin = reinterpret_cast<const std::byte*>(view.data());
            if (begin < bytes.data() || begin + view.size_bytes() > bytes.data() + bytes.size()) property_failed();
        }
        const Bytes again = encode(std::tuple<int, std::span<const double>, std::uint8_t>(first, view, last));
        if (again.size() != bytes.size() || std::memcmp(again.data(), bytes.data(), bytes.size()) != 0) {
            property_failed();
        }
    } catch (const FrameError&) {
    }
}

// Decodes `bytes` as one of the types, chosen by `selector`: one decode per
// input keeps the executions per second up.
void decode_value_as(unsigned selector, std::span<const std::byte> bytes) {
    switch (selector % 18) {
        case 0: return try_decode<int, true>(bytes);
        case 1: return try_decode<bool, true>(bytes);
        case 2: return try_decode<std::string, true>(bytes);
        case 3: return try_decode<std::vector<double>, true>(bytes);
        case 4: return try_decode<std::tuple<int, std::string, double>, true>(bytes);
        case 5: return try_decode<std::vector<std::string>, true>(bytes);
        case 6: return try_decode<std::optional<std::string>, true>(bytes);
        case 7: return try_decode<std::variant<int, std::string, std::vector<std::string>>, true>(bytes);
        case 8: return try_decode<std::map<std::string, std::vector<int>>>(bytes);
        case 9: return try_decode<std::unordered_map<int, std::list<std::string>>>(bytes);
        case 10: return try_decode<Item>(bytes);
        case 11: return try_decode<Tree>(bytes);
        // Counts checked against each element's minimum size and the budget.
        case 12: return try_decode<std::list<std::vector<int>>>(bytes);
        case 13: return try_decode<std::deque<std::set<std::string>>>(bytes);
        case 14: return try_decode<std::forward_list<std::pair<std::int64_t, std::string>>>(bytes);
        case 15: return try_decode<std::vector<Heavy>>(bytes);
        case 16: return try_decode_span(bytes);
        default:
            try {
                (void)tandem::decode_exception(bytes);
            } catch (const FrameError&) {
            }
    }
}

// Cuts `body` into payloads: [kind byte][length byte][length bytes]...
Bytes assemble_frames(std::span<const std::byte> body) {
    Bytes stream;
    std::size_t position = 0;
    while (position + 2 <= body.size()) {
        const auto kind = static_cast<FrameKind>(1 + static_cast<unsigned>(body[position]) % 5);
        const auto flags = static_cast<std::uint16_t>(body[position]);
        const std::size_t length = std::min<std::size_t>(static_cast<std::size_t>(body[position + 1]),
                                                         body.size() - position - 2);
        append_frame(stream, kind, flags, body.subspan(position + 2, length));
        position += 2 + length;
    }
    return stream;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
    const auto control = static_cast<unsigned>(input[0]);
    const auto body = input.subspan(1);

    Bytes stream;
    if ((control & 1u) != 0) {
        stream = assemble_frames(body);
        if ((control & 2u) != 0 && !stream.empty()) {
            const auto last = static_cast<std::size_t>(input[size - 1]);
            stream[(last * 131) % stream.size()] ^= static_cast<std::byte>(1 + last % 255);
        }
    } else {
        stream.assign(body.begin(), body.end());
    }
    constexpr std::size_t kLimits[] = {kDefaultMaxPayload, 0, 16, 4096};
    const std::size_t limit = kLimits[(control >> 2) & 3u];

    const Outcome whole = run_decoder(stream, limit, false, [] { return ~std::size_t{0}; });
    std::minstd_rand random(control >> 4);
    for (const bool use_prepare : {false, true}) {
        const Outcome chunked = run_decoder(stream, limit, use_prepare, [&] { return 1 + random() % 29; });
        if (!(chunked == whole)) property_failed();
    }

    // A stream holding exactly one good frame decodes the same way in one shot.
    try {
        const Frame frame = decode_frame(stream, limit);
        if (whole.error || whole.frames.size() != 1) property_failed();
        const auto& [kind, flags, payload] = whole.frames.front();
        if (frame.kind != kind || frame.flags != flags ||
            !std::equal(frame.payload.begin(), frame.payload.end(), payload.begin(), payload.end())) {
            property_failed();
        }
    } catch (const FrameError&) {
        if (!whole.error && whole.frames.size() == 1) property_failed();
    }

    // Raw streams: the body is a value. Framed streams: each payload is one,
    // its type chosen by the frame's flags.
    if ((control & 1u) == 0) {
        decode_value_as(control >> 4, body);
    } else {
        for (const auto& frame : whole.frames) decode_value_as(std::get<1>(frame), std::get<2>(frame));
    }
    return 0;
}

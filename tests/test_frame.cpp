// Tests for tandem/detail/wire/frame.hpp: the wire frame, CRC-32C and the
// incremental FrameDecoder. Python's multiprocessing.connection frames messages
// with a bare length prefix: it raises EOFError on a truncated stream and
// OSError("bad message length") past recv_bytes(maxlength), and otherwise
// trusts the bytes. tandem keeps those two behaviours (as FrameError) and adds
// magic, version and checksums, so each corruption below is caught too.
#include "tandem/detail/wire/frame.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <algorithm>  // std::equal, std::find, std::min
#include <array>      // header buffers
#include <cstddef>    // std::byte
#include <cstdint>    // header fields
#include <cstring>    // std::memcpy
#include <random>     // seeded random streams and chunkings
#include <span>       // pieces of a stream
#include <string>     // error messages
#include <vector>     // byte buffers

#include "tandem/errors.hpp"  // FrameError, ValueError, RuntimeError

namespace {

using tandem::FrameError;
using tandem::detail::append_frame;
using tandem::detail::crc32c;
using tandem::detail::crc32c_portable;
using tandem::detail::decode_frame;
using tandem::detail::decode_frame_header;
using tandem::detail::encode_frame_header;
using tandem::detail::Frame;
using tandem::detail::FrameDecoder;
using tandem::detail::FrameKind;
using tandem::detail::kFrameHeaderSize;

using Bytes = std::vector<std::byte>;

Bytes bytes_of(const std::string& text) {
    Bytes out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

Bytes frame_of(FrameKind kind, std::uint16_t flags, const Bytes& payload) {
    Bytes out;
    append_frame(out, kind, flags, payload);
    return out;
}

// A frame as the test sees it, owning its payload.
struct Received {
    FrameKind kind;
    std::uint16_t flags;
    Bytes payload;
    bool operator==(const Received&) const = default;
};

void drain(FrameDecoder& decoder, std::vector<Received>& into) {
    while (auto frame = decoder.next()) {
        into.push_back({frame->kind, frame->flags, Bytes(frame->payload.begin(), frame->payload.end())});
    }
}

// Three frames, one with an empty payload, and what they should decode to.
struct Stream {
    Bytes wire;
    std::vector<Received> frames;
};

Stream sample_stream() {
    Stream s;
    s.frames = {{FrameKind::task, 0x0102, bytes_of("hello, worker")},
                {FrameKind::control, 0, {}},
                {FrameKind::message, 0xFFFF, bytes_of("0123456789abcdef!")}};
    for (const auto& f : s.frames) append_frame(s.wire, f.kind, f.flags, f.payload);
    return s;
}

// Rewrites a header field and recomputes the header checksum, so that only
// the field itself is wrong: the check that follows the checksum must fire.
void patch_header(Bytes& frame, std::size_t offset, std::uint32_t value, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) frame[offset + i] = static_cast<std::byte>(value >> (8 * i));
    const std::uint32_t crc = crc32c(std::span(frame).first(20));
    for (std::size_t i = 0; i < 4; ++i) frame[20 + i] = static_cast<std::byte>(crc >> (8 * i));
}

std::string frame_error_of(const Bytes& wire, std::size_t max_payload = tandem::detail::kDefaultMaxPayload) {
    try {
        decode_frame(wire, max_payload);
    } catch (const FrameError& e) {
        return e.what();
    }
    return "no error";
}

// --- CRC-32C --------------------------------------------------------------------

// tandem (beyond Python): the checksum is the standard CRC-32C (RFC 3720 test vectors).
TEST(Crc32c, MatchesPublishedCheckValues) {
    EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283u);
    EXPECT_EQ(crc32c(Bytes(32, std::byte{0})), 0x8A9136AAu);
    EXPECT_EQ(crc32c(Bytes(32, std::byte{0xFF})), 0x62A8AB43u);
    Bytes ascending(32);
    for (std::size_t i = 0; i < 32; ++i) ascending[i] = static_cast<std::byte>(i);
    EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
    EXPECT_EQ(crc32c({}), 0u);
}

// tandem (beyond Python): the hardware and table implementations agree at
// every length and alignment, and a CRC can be continued over a second piece.
TEST(Crc32c, HardwareAndPortableAgreeAndCompose) {
    std::mt19937 random(7);
    Bytes data(1100);
    for (auto& b : data) b = static_cast<std::byte>(random());
    for (std::size_t offset = 0; offset < 8; ++offset) {
        for (std::size_t length = 0; length + offset <= data.size(); length += 37) {
            const auto piece = std::span(data).subspan(offset, length);
            ASSERT_EQ(crc32c(piece), crc32c_portable(piece)) << offset << "+" << length;
        }
    }
    const auto all = std::span<const std::byte>(data);
    for (std::size_t split : {0u, 1u, 9u, 500u, 1100u}) {
        EXPECT_EQ(crc32c(all.subspan(split), crc32c(all.first(split))), crc32c(all));
        EXPECT_EQ(crc32c_portable(all.subspan(split), crc32c_portable(all.first(split))), crc32c(all));
    }
}

// --- encoding and one-shot decoding ----------------------------------------------

// tandem (beyond Python): the header layout is fixed and documented.
TEST(Frame, HeaderLayoutIsAsDocumented) {
    const Bytes payload = bytes_of("abc");
    std::array<std::byte, kFrameHeaderSize> header{};
    encode_frame_header(header, FrameKind::result, 0xBEEF, payload);
    EXPECT_EQ(std::memcmp(header.data(), "TNDM", 4), 0);
    EXPECT_EQ(header[4], std::byte{tandem::detail::kFrameVersion});
    EXPECT_EQ(header[5], std::byte{2});
    EXPECT_EQ(header[6], std::byte{0xEF});
    EXPECT_EQ(header[7], std::byte{0xBE});
    EXPECT_EQ(header[8], std::byte{3});
    EXPECT_EQ(header[9], std::byte{0});
    std::uint32_t payload_crc = 0;
    for (int i = 3; i >= 0; --i) payload_crc = payload_crc << 8 | static_cast<std::uint32_t>(header[12 + static_cast<std::size_t>(i)]);
    EXPECT_EQ(payload_crc, crc32c(payload));
    for (std::size_t i = 16; i < 20; ++i) EXPECT_EQ(header[i], std::byte{0});
}

// multiprocessing.connection: send_bytes/recv_bytes round-trip any payload,
// including an empty one, with the message kind and flags preserved.
TEST(Frame, RoundTripsEveryKindAndSize) {
    for (auto kind : {FrameKind::task, FrameKind::result, FrameKind::exception, FrameKind::control, FrameKind::message}) {
        for (std::size_t size : {0u, 1u, 24u, 1000u, 70000u}) {
            Bytes payload(size);
            for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>(i * 7 + size);
            const Bytes wire = frame_of(kind, static_cast<std::uint16_t>(size), payload);
            ASSERT_EQ(wire.size(), kFrameHeaderSize + size);
            const Frame frame = decode_frame(wire);
            EXPECT_EQ(frame.kind, kind);
            EXPECT_EQ(frame.flags, static_cast<std::uint16_t>(size));
            EXPECT_TRUE(std::equal(frame.payload.begin(), frame.payload.end(), payload.begin(), payload.end()));
            EXPECT_EQ(frame.payload.data(), wire.data() + kFrameHeaderSize);  // a view, no copy
        }
    }
}

// multiprocessing.connection: recv_bytes(maxlength) raises OSError("bad message
// length") for a longer message; here the sender already refuses it, and
// append_frame leaves the buffer as it was.
TEST(Frame, EncoderRefusesPayloadAboveTheLimit) {
    std::array<std::byte, kFrameHeaderSize> header{};
    const Bytes payload(11);
    EXPECT_THROW(encode_frame_header(header, FrameKind::task, 0, payload, 10), FrameError);
    EXPECT_NO_THROW(encode_frame_header(header, FrameKind::task, 0, payload, 11));
    Bytes out = bytes_of("kept");
    EXPECT_THROW(append_frame(out, FrameKind::task, 0, payload, 10), FrameError);
    EXPECT_EQ(out, bytes_of("kept"));
}

// multiprocessing.connection: a message longer than maxlength is rejected from
// its length prefix alone, before the body is read.
TEST(Frame, OversizedLengthIsRejectedFromTheHeaderAlone) {
    Bytes wire = frame_of(FrameKind::task, 0, Bytes(101));
    EXPECT_NE(frame_error_of(wire, 100).find("exceeds the limit of 100 bytes"), std::string::npos);
    EXPECT_NO_THROW(decode_frame(wire, 101));
    // A header claiming 4 GiB - 1 with only the header present: rejected by the
    // default limit, with nothing allocated for the payload.
    Bytes header(wire.begin(), wire.begin() + kFrameHeaderSize);
    patch_header(header, 8, 0xFFFF'FFFFu, 4);
    EXPECT_THROW(decode_frame_header(header), FrameError);
    FrameDecoder decoder;
    decoder.feed(header);
    try {
        decoder.next();
        FAIL() << "a 4 GiB claim was accepted";
    } catch (const FrameError& e) {
        EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
    }
    EXPECT_EQ(decoder.buffered(), kFrameHeaderSize);
}

// tandem (beyond Python): each header check has its own message.
TEST(Frame, EachHeaderCheckNamesItself) {
    const Bytes good = frame_of(FrameKind::task, 0, bytes_of("payload"));

    Bytes bad_magic = good;
    bad_magic[0] = std::byte{'X'};
    EXPECT_NE(frame_error_of(bad_magic).find("bad frame magic"), std::string::npos);

    Bytes bad_version = good;
    patch_header(bad_version, 4, 2, 1);
    EXPECT_NE(frame_error_of(bad_version).find("bad frame version 2"), std::string::npos);

    Bytes bad_kind = good;
    patch_header(bad_kind, 5, 0, 1);
    EXPECT_NE(frame_error_of(bad_kind).find("unknown frame kind 0"), std::string::npos);
    patch_header(bad_kind, 5, 6, 1);
    EXPECT_NE(frame_error_of(bad_kind).find("unknown frame kind 6"), std::string::npos);

    Bytes bad_reserved = good;
    patch_header(bad_reserved, 16, 1, 4);
    EXPECT_NE(frame_error_of(bad_reserved).find("reserved"), std::string::npos);

    Bytes bad_header_crc = good;
    bad_header_crc[8] ^= std::byte{0x01};  // the size field, without fixing the checksum
    EXPECT_NE(frame_error_of(bad_header_crc).find("header checksum"), std::string::npos);

    Bytes bad_payload = good;
    bad_payload.back() ^= std::byte{0x80};
    EXPECT_NE(frame_error_of(bad_payload).find("payload checksum"), std::string::npos);

    Bytes trailing = good;
    trailing.push_back(std::byte{0});
    EXPECT_NE(frame_error_of(trailing).find("trailing bytes"), std::string::npos);
}

// tandem (beyond Python, which would deliver a corrupted message): every single
// bit flip anywhere in a frame is caught, in one-shot and streaming decoding.
TEST(Frame, EveryBitFlipIsDetected) {
    const Bytes good = frame_of(FrameKind::result, 0x0F0F, bytes_of("the quick brown fox jumps"));
    for (std::size_t byte = 0; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            Bytes bad = good;
            bad[byte] ^= static_cast<std::byte>(1 << bit);
            EXPECT_THROW(decode_frame(bad), FrameError) << "byte " << byte << " bit " << bit;
            FrameDecoder decoder;
            decoder.feed(bad);
            EXPECT_THROW(decoder.next(), FrameError) << "byte " << byte << " bit " << bit;
        }
    }
}

// multiprocessing.connection: a stream that ends inside a message raises
// EOFError; here a one-shot decode of a truncated buffer and finish() on a
// truncated stream raise FrameError("truncated frame") at every cut.
TEST(Frame, TruncationAtEveryOffsetIsAnError) {
    const Stream stream = sample_stream();
    const Bytes first = frame_of(stream.frames[0].kind, stream.frames[0].flags, stream.frames[0].payload);
    for (std::size_t cut = 0; cut < first.size(); ++cut) {
        const Bytes part(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_NE(frame_error_of(part).find("truncated frame"), std::string::npos) << cut;
    }
    // Frame boundaries in the stream are the only cuts where the stream may end.
    std::vector<std::size_t> boundaries{0};
    for (const auto& f : stream.frames) boundaries.push_back(boundaries.back() + kFrameHeaderSize + f.payload.size());
    for (std::size_t cut = 0; cut <= stream.wire.size(); ++cut) {
        FrameDecoder decoder;
        decoder.feed(std::span(stream.wire).first(cut));
        std::vector<Received> got;
        drain(decoder, got);
        const bool at_boundary = std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
        if (at_boundary) {
            EXPECT_NO_THROW(decoder.finish()) << cut;
        } else {
            try {
                decoder.finish();
                ADD_FAILURE() << "no error for a stream cut at " << cut;
            } catch (const FrameError& e) {
                EXPECT_NE(std::string(e.what()).find("truncated frame"), std::string::npos) << e.what();
            }
        }
    }
}

// --- streaming ----------------------------------------------------------------------

// multiprocessing.connection: recv() returns whole messages however the pipe
// splits the bytes. Every split into two and into three pieces, and byte by
// byte, decodes identically.
TEST(FrameDecoder, EverySplitOfAStreamDecodesIdentically) {
    const Stream stream = sample_stream();
    const auto wire = std::span<const std::byte>(stream.wire);
    const std::size_t n = wire.size();
    for (std::size_t i = 0; i <= n; ++i) {
        for (std::size_t j = i; j <= n; ++j) {
            FrameDecoder decoder;
            std::vector<Received> got;
            decoder.feed(wire.first(i));
            drain(decoder, got);
            decoder.feed(wire.subspan(i, j - i));
            drain(decoder, got);
            decoder.feed(wire.subspan(j));
            drain(decoder, got);
            ASSERT_EQ(got, stream.frames) << "split at " << i << ", " << j;
            ASSERT_NO_THROW(decoder.finish());
        }
    }
    FrameDecoder decoder;
    std::vector<Received> got;
    for (std::size_t i = 0; i < n; ++i) {
        decoder.feed(wire.subspan(i, 1));
        drain(decoder, got);
    }
    EXPECT_EQ(got, stream.frames);
}

// tandem (beyond Python): reading straight into the decoder's buffer with
// prepare()/commit() in random-sized reads gives the same frames, for a
// stream of many frames including a large one that grows the buffer.
TEST(FrameDecoder, PrepareAndCommitInRandomReads) {
    std::mt19937 random(11);
    Bytes wire;
    std::vector<Received> sent;
    for (int i = 0; i < 200; ++i) {
        const std::size_t size = i == 100 ? (3u << 20) : random() % 300;
        Bytes payload(size);
        for (auto& b : payload) b = static_cast<std::byte>(random());
        sent.push_back({FrameKind::message, static_cast<std::uint16_t>(i), payload});
        append_frame(wire, FrameKind::message, static_cast<std::uint16_t>(i), payload);
    }
    FrameDecoder decoder;
    std::vector<Received> got;
    std::size_t position = 0;
    while (position < wire.size()) {
        const std::size_t want = 1 + random() % 5000;
        const auto space = decoder.prepare(want);
        ASSERT_GE(space.size(), want);
        const std::size_t n = std::min({space.size(), wire.size() - position, want});
        std::memcpy(space.data(), wire.data() + position, n);
        decoder.commit(n);
        position += n;
        drain(decoder, got);
    }
    decoder.finish();
    EXPECT_EQ(got, sent);
}

// tandem (beyond Python): bytes_needed() tells a reader how much of the
// current frame is missing, once the header says so.
TEST(FrameDecoder, BytesNeededFollowsTheFrameInProgress) {
    const Bytes wire = frame_of(FrameKind::task, 0, Bytes(1000));
    FrameDecoder decoder;
    EXPECT_EQ(decoder.bytes_needed(), kFrameHeaderSize);
    decoder.feed(std::span(wire).first(10));
    EXPECT_EQ(decoder.bytes_needed(), kFrameHeaderSize - 10);
    decoder.feed(std::span(wire).subspan(10, 20));
    EXPECT_EQ(decoder.bytes_needed(), wire.size() - 30);
    EXPECT_FALSE(decoder.next().has_value());
    decoder.feed(std::span(wire).subspan(30));
    EXPECT_EQ(decoder.bytes_needed(), 0u);
    EXPECT_TRUE(decoder.next().has_value());
    EXPECT_EQ(decoder.bytes_needed(), kFrameHeaderSize);
    EXPECT_EQ(decoder.buffered(), 0u);
}

// tandem (beyond Python): payload views from next() stay valid until the next
// feed, so a batch of frames can be processed without copying.
TEST(FrameDecoder, PayloadViewsSurviveLaterNextCalls) {
    const Stream stream = sample_stream();
    FrameDecoder decoder;
    decoder.feed(stream.wire);
    std::vector<Frame> frames;
    while (auto frame = decoder.next()) frames.push_back(*frame);
    ASSERT_EQ(frames.size(), stream.frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        EXPECT_TRUE(std::equal(frames[i].payload.begin(), frames[i].payload.end(), stream.frames[i].payload.begin(),
                               stream.frames[i].payload.end()));
    }
}

// tandem (beyond Python): a framing error cannot be resynchronised, so the
// decoder stays broken and repeats the same error; frames before the bad one
// are still delivered.
TEST(FrameDecoder, StaysBrokenAfterAnError) {
    Stream stream = sample_stream();
    stream.wire[kFrameHeaderSize + stream.frames[0].payload.size() + 2] = std::byte{'Z'};  // magic of frame 2
    FrameDecoder decoder;
    decoder.feed(stream.wire);
    auto first = decoder.next();
    ASSERT_TRUE(first.has_value());
    std::string message;
    try {
        decoder.next();
    } catch (const FrameError& e) {
        message = e.what();
    }
    EXPECT_NE(message.find("bad frame magic"), std::string::npos);
    for (int i = 0; i < 2; ++i) {
        try {
            decoder.next();
            ADD_FAILURE() << "next() worked after an error";
        } catch (const FrameError& e) {
            EXPECT_EQ(message, e.what());
        }
    }
    EXPECT_THROW(decoder.feed(stream.wire), FrameError);
    EXPECT_THROW(decoder.prepare(1), FrameError);
    EXPECT_THROW(decoder.bytes_needed(), FrameError);
    EXPECT_THROW(decoder.finish(), FrameError);
}

// tandem (beyond Python): finish() reports a header that arrived but was never
// checked as corrupted, not as truncated.
TEST(FrameDecoder, FinishChecksAnUncheckedHeader) {
    Bytes wire = frame_of(FrameKind::task, 0, bytes_of("abc"));
    wire[1] = std::byte{'x'};
    FrameDecoder decoder;
    decoder.feed(std::span(wire).first(kFrameHeaderSize + 1));
    try {
        decoder.finish();
        FAIL() << "finish() accepted a corrupted header";
    } catch (const FrameError& e) {
        EXPECT_NE(std::string(e.what()).find("bad frame magic"), std::string::npos) << e.what();
    }
}

// Misuse is a programming error, not a bad stream: ValueError / RuntimeError.
TEST(FrameDecoder, MisuseIsReported) {
    EXPECT_THROW(FrameDecoder(tandem::detail::kMaxPayloadLimit + 1), tandem::ValueError);
    FrameDecoder decoder;
    const auto space = decoder.prepare(8);
    EXPECT_THROW(decoder.commit(space.size() + 1), tandem::ValueError);
    decoder.commit(0);
    decoder.feed(frame_of(FrameKind::task, 0, bytes_of("unread")));
    EXPECT_THROW(decoder.finish(), tandem::RuntimeError);
    EXPECT_TRUE(decoder.next().has_value());
    EXPECT_NO_THROW(decoder.finish());
}

// tandem (beyond Python): random bytes, fed in random pieces, yield either
// nothing or a FrameError: never a crash, a hang or another exception (the
// libFuzzer target in fuzz/ does this at scale).
TEST(FrameDecoder, RandomGarbageOnlyEverRaisesFrameError) {
    std::mt19937 random(3);
    const Bytes valid = sample_stream().wire;
    for (int round = 0; round < 2000; ++round) {
        Bytes data = valid;
        const std::size_t flips = 1 + random() % 4;
        for (std::size_t i = 0; i < flips; ++i) data[random() % data.size()] = static_cast<std::byte>(random());
        if (round % 3 == 0) data.resize(random() % data.size());
        FrameDecoder decoder(1 + random() % 64);
        std::vector<Received> got;
        try {
            std::size_t position = 0;
            while (position < data.size()) {
                const std::size_t n = std::min<std::size_t>(1 + random() % 40, data.size() - position);
                decoder.feed(std::span(data).subspan(position, n));
                position += n;
                drain(decoder, got);
            }
            decoder.finish();
        } catch (const FrameError&) {
        }
        EXPECT_LE(got.size(), 3u);
    }
}

}  // namespace

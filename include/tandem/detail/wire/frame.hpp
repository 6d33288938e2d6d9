// Internal: the wire frame every inter-process message travels in.
//
// multiprocessing's Connection (pipes, sockets) and Queue carry a stream of
// frames: a fixed 24-byte header followed by the payload (an encoded value,
// see encoding.hpp). The process pool's rings do not: their slots have a
// header of their own, and what a worker writes there is checked by the
// parent's reply reader (process_pool/reply_reader.hpp), not by a checksum.
// The header is checked completely before anything is allocated for the
// payload or any payload byte is decoded, so a truncated, oversized or
// corrupted message becomes one documented exception, tandem::FrameError,
// whose message names the check that failed. It is never a crash, a hang or a
// huge allocation (cereal, which decodes payloads, trusts lengths: cereal#103).
//
// Header layout (multi-byte fields little-endian):
//
//   offset  size  field
//        0     4  magic "TNDM"
//        4     1  version (kFrameVersion)
//        5     1  kind (FrameKind)
//        6     2  flags (meaning chosen by the layer that sends the frame)
//        8     4  payload size in bytes
//       12     4  CRC-32C of the payload
//       16     4  reserved, zero
//       20     4  CRC-32C of bytes 0..19, so a corrupted size is caught before
//                 it is believed
//
// 24 bytes keep a payload that follows an 8-byte aligned header 8-byte
// aligned. CRC-32C (Castagnoli) detects every burst error up to 32
// bits and all 1-3 bit errors at these sizes, and x86-64 computes it with the
// SSE4.2 crc32 instruction (a portable slicing-by-8 table is the fallback).
//
//     std::vector<std::byte> wire;
//     tandem::detail::append_frame(wire, FrameKind::task, 0, payload);
//     tandem::detail::FrameDecoder decoder;
//     decoder.feed(std::span(wire).first(10));   // any split works
//     decoder.feed(std::span(wire).subspan(10));
//     while (auto frame = decoder.next()) handle(frame->kind, frame->payload);
//     decoder.finish();                          // FrameError if mid-frame
#pragma once

#include <cstddef>   // std::byte, std::size_t
#include <cstdint>   // fixed-width header fields
#include <memory>    // the decoder's buffer
#include <optional>  // "no complete frame yet"
#include <span>      // byte views
#include <string>    // the decoder's remembered failure
#include <vector>    // append_frame's output

namespace tandem::detail {

inline constexpr std::size_t kFrameHeaderSize = 24;
inline constexpr std::uint8_t kFrameVersion = 1;
/// The default hard limit on one payload; each decoder may set its own.
inline constexpr std::size_t kDefaultMaxPayload = std::size_t{1} << 30;
/// The largest limit a decoder accepts: the header's size field is 32 bits.
inline constexpr std::size_t kMaxPayloadLimit = 0xFFFF'FFFFu;

/// What a frame carries. Values 6..255 are free for later versions; a
/// version-1 decoder rejects them.
enum class FrameKind : std::uint8_t {
    task = 1,       // a function and its encoded arguments, parent -> worker
    result = 2,     // the encoded return value of a task, worker -> parent
    exception = 3,  // an exception thrown by a task (encode_exception)
    control = 4,    // process-management messages (hello, shutdown, ...)
    message = 5,    // a user object sent through a Pipe or Queue
};

/// A validated header.
struct FrameHeader {
    FrameKind kind;
    std::uint16_t flags;
    std::uint32_t payload_size;
    std::uint32_t payload_checksum;
};

/// A validated frame. `payload` views memory owned by whoever produced it: the
/// span given to decode_frame, or the FrameDecoder (see next()).
struct Frame {
    FrameKind kind;
    std::uint16_t flags;
    std::span<const std::byte> payload;
};

/// CRC-32C (Castagnoli) of `bytes`; pass a previous result as `crc` to
/// continue over a second piece. Uses SSE4.2 when the CPU has it.
std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;

/// CRC-32C without the hardware instruction; equal to crc32c() (tested).
std::uint32_t crc32c_portable(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;

/// Writes the header for `payload` into `out` (no allocation). Throws
/// FrameError if the payload is larger than `max_payload`, the limit the
/// receiving decoder will apply, so an oversized message fails at the sender.
void encode_frame_header(std::span<std::byte, kFrameHeaderSize> out, FrameKind kind, std::uint16_t flags,
                         std::span<const std::byte> payload, std::size_t max_payload = kDefaultMaxPayload);

/// Appends a complete frame (header + copy of `payload`) to `out`. Throws
/// FrameError like encode_frame_header.
void append_frame(std::vector<std::byte>& out, FrameKind kind, std::uint16_t flags,
                  std::span<const std::byte> payload, std::size_t max_payload = kDefaultMaxPayload);

/// Validates the header at the start of `bytes` (magic, version, header
/// checksum, reserved bytes, kind, size limit) without looking at the payload.
/// Throws FrameError naming the failed check, or "truncated frame" when fewer
/// than kFrameHeaderSize bytes are given.
FrameHeader decode_frame_header(std::span<const std::byte> bytes, std::size_t max_payload = kDefaultMaxPayload);

/// Decodes a buffer that holds exactly one frame, such as a shared-memory
/// slot. Throws FrameError if the header is invalid, the payload is short
/// ("truncated frame"), bytes follow the frame ("trailing bytes") or the
/// payload checksum does not match. The payload views `bytes`.
Frame decode_frame(std::span<const std::byte> bytes, std::size_t max_payload = kDefaultMaxPayload);

/// Reassembles frames from a byte stream that arrives in arbitrary pieces
/// (partial reads from a pipe): any split of a stream yields the same frames.
/// The buffer grows with the bytes actually received, never with the size a
/// header claims. After a FrameError the stream cannot be resynchronised:
/// every later call throws the same error again.
class FrameDecoder {
public:
    /// A decoder rejecting payloads above `max_payload` bytes. Throws
    /// ValueError if `max_payload` exceeds kMaxPayloadLimit.
    explicit FrameDecoder(std::size_t max_payload = kDefaultMaxPayload);

    FrameDecoder(const FrameDecoder&) = delete;
    FrameDecoder& operator=(const FrameDecoder&) = delete;
    FrameDecoder(FrameDecoder&&) noexcept = default;
    FrameDecoder& operator=(FrameDecoder&&) noexcept = default;
    ~FrameDecoder() = default;

    /// Appends received bytes (copied). Throws FrameError after an earlier
    /// failure. Invalidates the payloads returned by next().
    void feed(std::span<const std::byte> bytes);

    /// Returns writable space of at least `min_size` bytes at the end of the
    /// buffer, for reading straight into it (`read(fd, span.data(), span.size())`);
    /// follow with commit(). Invalidates the payloads returned by next().
    std::span<std::byte> prepare(std::size_t min_size);

    /// Marks `size` bytes written into the span from prepare() as received.
    /// Throws ValueError if `size` exceeds that span.
    void commit(std::size_t size);

    /// The next complete frame, or nullopt if more bytes are needed. Its
    /// payload stays valid until the next feed() or prepare(). Throws
    /// FrameError for an invalid header (as soon as the header is complete)
    /// or a payload checksum mismatch.
    std::optional<Frame> next();

    /// Bytes still missing before next() can return the frame in progress
    /// (the header's bytes until the header is complete). Throws FrameError
    /// for an invalid header, like next(). Lets a reader size one read for a
    /// large frame.
    std::size_t bytes_needed();

    /// Bytes received but not yet returned as frames.
    std::size_t buffered() const noexcept { return end_ - begin_; }

    /// Declares the end of the stream. Throws FrameError ("truncated frame")
    /// if it ended inside a frame, or the earlier failure; RuntimeError if a
    /// complete frame was left unread (call next() until it returns nullopt).
    void finish() const;

private:
    const FrameHeader* current_header();
    [[noreturn]] void fail(std::string message);
    void throw_if_failed() const;

    std::size_t max_payload_;
    std::unique_ptr<std::byte[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;  // first byte not yet returned in a frame
    std::size_t end_ = 0;    // one past the last received byte
    std::size_t prepared_ = 0;
    std::optional<FrameHeader> header_;  // the validated header at begin_
    std::string failure_;                // non-empty once the stream is broken
};

}  // namespace tandem::detail

// tandem internals: how a process-pool message travels (detail/process_pool/spill.hpp):
// in its ring slot, in a reused spill buffer, or in a memfd of its own, and
// what a malformed slot gives (FrameError, never a crash or a huge mapping),
// an unsealed memfd (FrameError, never a SIGBUS) or half a message on the
// control socket (ProtocolError at once, never a wait).
// Writer and reader are in one process here; the pool tests cover the same
// code across processes under every start method.
#include <gtest/gtest.h>

#include <fcntl.h>       // O_CLOEXEC, F_GET_SEALS, O_NONBLOCK
#include <sys/mman.h>    // memfd_create
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pipe, write, read, ftruncate

#include <cerrno>   // EPERM
#include <chrono>   // bounding a read that must not wait
#include <cstring>  // std::memcpy
#include <memory>   // the ring
#include <vector>   // messages

#include "support/hostile_task.hpp"           // fds_linked_to
#include "tandem/detail/process_pool/spill.hpp"
#include "tandem/detail/wire/fd_passing.hpp"  // send_with_fds, receive_with_fds: playing either side by hand
#include "tandem/errors.hpp"                  // FrameError

namespace {

using namespace tandem::detail;
using namespace tandem::detail::process_pool;

class SpillTest : public testing::Test {
protected:
    void SetUp() override {
        int pair[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        writer_socket_.reset(pair[0]);
        reader_socket_.reset(pair[1]);
    }

    // Writes `bytes` as the ring's next slot and publishes it.
    const SlotHeader& send(const std::vector<std::byte>& bytes, std::span<const int> fds = {}) {
        SlotHeader* slot = producer_.slot();
        slot->task_id = 1;
        slot->kind = MessageKind::result;
        write_message(*slot, bytes, fds, writer_, producer_, writer_socket_.get());
        producer_.publish();
        return *slot;
    }

    SlotMessage receive(std::size_t max_fds = 1) {
        return read_message(copy_header(consumer_.slot()), payload_of(consumer_.slot()), reader_,
                            reader_socket_.get(), max_fds);
    }

    // The slot the reader looks at next, to forge.
    SlotHeader* next_slot() { return reinterpret_cast<SlotHeader*>(ring_->slots[0]); }

    static std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
        std::vector<std::byte> bytes(size);
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed) % 251);
        return bytes;
    }

    // Announces, in the next slot, a memfd message of `size` bytes.
    void announce_memfd(std::uint64_t size) {
        SlotHeader* slot = next_slot();
        slot->carrier = Carrier::memfd;
        slot->size = sizeof size;
        std::memcpy(slot + 1, &size, sizeof size);
    }

    // A memfd of `size` bytes made as a peer might: unsealed.
    static UniqueFd unsealed_memfd(std::size_t size) {
        UniqueFd fd(::memfd_create("forged", MFD_CLOEXEC));
        EXPECT_TRUE(fd);
        EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
        return fd;
    }

    static SpillRef spill_ref(const SlotHeader& slot) {
        SpillRef ref;
        std::memcpy(&ref, &slot + 1, sizeof ref);
        return ref;
    }

    std::unique_ptr<Ring> ring_ = std::make_unique<Ring>();
    RingWriter producer_{*ring_};
    RingReader consumer_{*ring_};
    SpillWriter writer_;
    SpillReader reader_;
    UniqueFd writer_socket_;
    UniqueFd reader_socket_;
};

TEST_F(SpillTest, SmallMessagesTravelInTheSlot) {
    const auto bytes = pattern(100, 1);
    EXPECT_EQ(send(bytes).carrier, Carrier::slot);
    const SlotMessage message = receive();
    EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), bytes.begin(), bytes.end()));
}

TEST_F(SpillTest, LargeMessagesReuseASpillBuffer) {
    for (unsigned round = 0; round < 4; ++round) {
        const auto bytes = pattern(kSlotPayload + 1000, round);
        const SlotHeader& slot = send(bytes);
        ASSERT_EQ(slot.carrier, Carrier::spill);
        EXPECT_EQ(spill_ref(slot).fresh, round == 0 ? 1u : 0u) << "only the first message makes a buffer";
        const SlotMessage message = receive();
        EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), bytes.begin(), bytes.end()));
        consumer_.consume();  // frees the buffer for the next round
    }
}

TEST_F(SpillTest, ALargerMessageGetsALargerBuffer) {
    send(pattern(kSlotPayload + 1, 1));
    receive();
    consumer_.consume();
    const auto big = pattern(kMinSpillBytes * 3, 2);
    const SlotHeader& slot = send(big);
    EXPECT_EQ(spill_ref(slot).fresh, 1u);
    EXPECT_GE(spill_ref(slot).capacity, big.size());
    const SlotMessage message = receive();
    EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), big.begin(), big.end()));
}

TEST_F(SpillTest, WhenEveryBufferIsBusyAMessageGetsItsOwnMemfd) {
    std::vector<std::vector<std::byte>> sent;
    for (unsigned i = 0; i < kSpillBuffers + 1; ++i) {
        sent.push_back(pattern(kSlotPayload + 10 * i + 1, i));
        const SlotHeader& slot = send(sent.back());
        EXPECT_EQ(slot.carrier, i < kSpillBuffers ? Carrier::spill : Carrier::memfd);
    }
    for (const auto& bytes : sent) {
        const SlotMessage message = receive();
        EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), bytes.begin(), bytes.end()));
        consumer_.consume();
    }
}

TEST_F(SpillTest, DescriptorsTravelWithTheirMessage) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    const auto bytes = pattern(10, 3);
    const int fd = write_end.get();
    EXPECT_EQ(send(bytes, std::span(&fd, 1)).carrier, Carrier::memfd);
    SlotMessage message = receive();
    ASSERT_EQ(message.fds.size(), 1u);
    EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), bytes.begin(), bytes.end()));
    ASSERT_EQ(::write(message.fds[0].get(), "x", 1), 1);  // the received end is the pipe's
    char c = 0;
    ASSERT_EQ(::read(read_end.get(), &c, 1), 1);
    EXPECT_EQ(c, 'x');
}

TEST_F(SpillTest, MalformedSlotsAreFrameErrors) {
    SlotHeader* slot = next_slot();
    slot->carrier = static_cast<Carrier>(99);
    slot->size = 0;
    EXPECT_THROW(receive(), tandem::FrameError);

    slot->carrier = Carrier::slot;
    slot->size = static_cast<std::uint32_t>(kSlotPayload + 1);
    EXPECT_THROW(receive(), tandem::FrameError);

    const auto write_ref = [slot](SpillRef ref) {
        slot->carrier = Carrier::spill;
        slot->size = sizeof ref;
        std::memcpy(slot + 1, &ref, sizeof ref);
    };
    write_ref({.size = 10, .capacity = kMinSpillBytes, .buffer = kSpillBuffers, .fresh = 0});
    EXPECT_THROW(receive(), tandem::FrameError) << "no such buffer";
    write_ref({.size = 10, .capacity = kMinSpillBytes, .buffer = 0, .fresh = 0});
    EXPECT_THROW(receive(), tandem::FrameError) << "a buffer never received";

    // A real buffer, then a reference past its end.
    send(pattern(kSlotPayload + 1, 4));
    receive();
    write_ref({.size = kMinSpillBytes + 1, .capacity = kMinSpillBytes, .buffer = 0, .fresh = 0});
    EXPECT_THROW(receive(), tandem::FrameError) << "past the buffer";

    slot->carrier = Carrier::memfd;
    slot->size = 3;
    EXPECT_THROW(receive(), tandem::FrameError) << "a memfd message's payload is its size";

    // Descriptors announced but never sent: an error at once, not a reader hung on the socket.
    const std::uint64_t size = 10;
    slot->size = sizeof size;
    std::memcpy(slot + 1, &size, sizeof size);
    EXPECT_THROW(receive(), tandem::FrameError) << "a memfd that never came";
    write_ref({.size = 10, .capacity = kMinSpillBytes, .buffer = 1, .fresh = 1});
    EXPECT_THROW(receive(), tandem::FrameError) << "a new buffer that never came";
}

// tandem: whatever memfd a writer makes is sealed at its size before the reader gets
// it, so a peer holding it cannot shrink it under the other side's mapping.
TEST_F(SpillTest, WhatAWriterSendsIsSealed) {
    send(pattern(kSlotPayload + 1, 5));  // a new spill buffer
    const int any = reader_socket_.get();
    send(pattern(10, 6), std::span(&any, 1));  // a descriptor: a memfd message
    for (int message = 0; message < 2; ++message) {
        ReceivedMessage received = receive_with_fds(reader_socket_.get(), 0);
        ASSERT_FALSE(received.fds.empty());
        const int memfd = received.fds.front().get();
        EXPECT_EQ(::fcntl(memfd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        EXPECT_EQ(::ftruncate(memfd, 0), -1);
        EXPECT_EQ(errno, EPERM);
    }
    EXPECT_TRUE(tandem_test::fds_linked_to("memfd:tandem:pool-").empty()) << "the writer keeps no descriptor";
}

// tandem: a memfd a peer made without seals is refused before it is mapped (it could
// shrink under the mapping: a SIGBUS for the reader), and the socket stays in step.
TEST_F(SpillTest, AnUnsealedMemfdIsAFrameError) {
    const UniqueFd forged = unsealed_memfd(4096);
    const int fd = forged.get();
    send_with_fds(writer_socket_.get(), {}, std::span(&fd, 1));
    announce_memfd(4096);
    try {
        const SlotMessage message = receive();
        ASSERT_EQ(::ftruncate(fd, 0), 0);
        [[maybe_unused]] const volatile std::byte first = message.bytes[0];  // SIGBUS if it was mapped
        ADD_FAILURE() << "an unsealed memfd was mapped";
    } catch (const tandem::FrameError& error) {
        EXPECT_NE(std::string(error.what()).find("sealed"), std::string::npos) << error.what();
    }
    // A fresh spill buffer made the same way, and a sealed one smaller than it claims.
    send_with_fds(writer_socket_.get(), {}, std::span(&fd, 1));
    SlotHeader* slot = next_slot();
    const SpillRef ref{.size = 10, .capacity = kMinSpillBytes, .buffer = 0, .fresh = 1};
    slot->carrier = Carrier::spill;
    slot->size = sizeof ref;
    std::memcpy(slot + 1, &ref, sizeof ref);
    EXPECT_THROW(receive(), tandem::FrameError);
    SharedRegion small(4096);
    const int small_fd = small.fd();
    send_with_fds(writer_socket_.get(), {}, std::span(&small_fd, 1));
    announce_memfd(1 << 20);
    EXPECT_THROW(receive(), tandem::FrameError);
    // Every message was taken off the socket: the next one reads as it should.
    const auto bytes = pattern(kSlotPayload + 7, 8);
    send(bytes, std::span(&small_fd, 1));
    const SlotMessage message = receive();
    EXPECT_TRUE(std::equal(message.bytes.begin(), message.bytes.end(), bytes.begin(), bytes.end()));
}

// tandem: a reply brings no descriptors but its memfd; more are a FrameError, and none
// of them stays open in the reader.
TEST_F(SpillTest, DescriptorsBeyondTheLimitAreRefused) {
    const int fds[] = {reader_socket_.get(), writer_socket_.get()};
    send(pattern(10, 9), fds);
    const std::size_t before = tandem_test::fds_linked_to("socket:").size();
    EXPECT_THROW(receive(0), tandem::FrameError);
    EXPECT_EQ(tandem_test::fds_linked_to("socket:").size(), before);
}

// tandem: half a message on a non-blocking socket (the parent's end of a control
// socket) is a ProtocolError at once: the reader never waits for a peer to finish.
TEST_F(SpillTest, HalfAMessageIsAProtocolErrorAtOnce) {
    ASSERT_EQ(::fcntl(reader_socket_.get(), F_SETFL, O_NONBLOCK), 0);
    const char half[2] = {};
    ASSERT_EQ(::write(writer_socket_.get(), half, sizeof half), 2);
    announce_memfd(10);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(receive(), ProtocolError);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    // Announced but never sent, and a peer that closed: the same.
    EXPECT_THROW(receive(), ProtocolError);
    writer_socket_.reset();
    EXPECT_THROW(receive(), ProtocolError);
}

}  // namespace

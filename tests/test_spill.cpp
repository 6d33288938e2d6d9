// tandem internals: how a process-pool message travels (detail/process_pool/spill.hpp):
// in its ring slot, in a reused spill buffer, or in a memfd of its own, and
// what a malformed slot gives (FrameError, never a crash or a huge mapping).
// Writer and reader are in one process here; the pool tests cover the same
// code across processes under every start method.
#include <gtest/gtest.h>

#include <fcntl.h>       // O_CLOEXEC
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pipe, write, read

#include <cstring>  // std::memcpy
#include <memory>   // the ring
#include <vector>   // messages

#include "tandem/detail/process_pool/spill.hpp"
#include "tandem/errors.hpp"  // FrameError

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
        SlotHeader* slot = ring_->producer_slot();
        slot->task_id = 1;
        slot->kind = MessageKind::result;
        write_message(*slot, bytes, fds, writer_, *ring_, writer_socket_.get());
        ring_->publish();
        return *slot;
    }

    SlotMessage receive() { return read_message(*ring_->consumer_slot(), reader_, reader_socket_.get()); }

    static std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
        std::vector<std::byte> bytes(size);
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed) % 251);
        return bytes;
    }

    static SpillRef spill_ref(const SlotHeader& slot) {
        SpillRef ref;
        std::memcpy(&ref, &slot + 1, sizeof ref);
        return ref;
    }

    std::unique_ptr<Ring> ring_ = std::make_unique<Ring>();
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
        ring_->consume();  // frees the buffer for the next round
    }
}

TEST_F(SpillTest, ALargerMessageGetsALargerBuffer) {
    send(pattern(kSlotPayload + 1, 1));
    receive();
    ring_->consume();
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
        ring_->consume();
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
    SlotHeader* slot = ring_->producer_slot();
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

}  // namespace

// tandem internals: how the parent reads a worker's reply ring
// (detail/process_pool/reply_reader.hpp). Replies come in order, for the task
// the parent expects; a ring whose counts were written over, a reply for
// another task or of an unknown kind is a ProtocolError (the worker is then
// killed); a malformed message fails only its own reply and the ring goes on.
// Writer and reader are in one process here; chaos/test_process_pool_trust.cpp
// plays a hostile worker across processes.
#include <gtest/gtest.h>

#include <sys/socket.h>  // socketpair

#include <cstring>  // std::memcpy
#include <memory>   // the ring
#include <vector>   // payloads

#include "tandem/detail/process_pool/reply_reader.hpp"
#include "tandem/errors.hpp"  // FrameError

namespace {

using namespace tandem::detail;
using namespace tandem::detail::process_pool;

class ReplyReaderTest : public testing::Test {
protected:
    void SetUp() override {
        int pair[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair), 0);
        worker_socket_.reset(pair[0]);
        parent_socket_.reset(pair[1]);
    }

    // Publishes a reply as a worker does.
    void reply(std::uint64_t id, MessageKind kind, std::vector<std::byte> bytes) {
        SlotHeader* slot = worker_.slot();
        slot->task_id = id;
        slot->kind = kind;
        write_message(*slot, bytes, {}, spills_out_, worker_, worker_socket_.get());
        worker_.publish();
    }

    std::optional<Reply> next(std::uint64_t expected) {
        return reader_.next(expected, spills_in_, parent_socket_.get());
    }

    static std::vector<std::byte> bytes(std::size_t size, unsigned char value) {
        return std::vector<std::byte>(size, std::byte{value});
    }

    std::unique_ptr<Ring> ring_ = std::make_unique<Ring>();
    RingWriter worker_{*ring_};
    ReplyReader reader_{*ring_};
    SpillWriter spills_out_;
    SpillReader spills_in_;
    UniqueFd worker_socket_;
    UniqueFd parent_socket_;
};

TEST_F(ReplyReaderTest, RepliesComeInOrder) {
    EXPECT_FALSE(reader_.waiting());
    EXPECT_FALSE(next(1).has_value());
    reply(1, MessageKind::result, bytes(10, 1));
    reply(2, MessageKind::raised, bytes(kSlotPayload + 100, 2));  // in a spill buffer
    ASSERT_TRUE(reader_.waiting());
    std::optional<Reply> first = next(1);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->task_id, 1u);
    EXPECT_FALSE(first->raised);
    EXPECT_FALSE(first->error);
    EXPECT_EQ(first->message.bytes.size(), 10u);
    reader_.consume();
    std::optional<Reply> second = next(2);
    ASSERT_TRUE(second.has_value());
    EXPECT_TRUE(second->raised);
    EXPECT_EQ(second->message.bytes.size(), kSlotPayload + 100);
    EXPECT_EQ(second->message.bytes[kSlotPayload + 99], std::byte{2});
    reader_.consume();
    EXPECT_FALSE(reader_.waiting());
}

// tandem: a reply for a task the worker was not running, or when it runs none, or of
// a kind that is not a reply, breaks the protocol.
TEST_F(ReplyReaderTest, AReplyForAnotherTaskIsAProtocolError) {
    reply(7, MessageKind::result, bytes(4, 0));
    EXPECT_THROW(next(6), ProtocolError);
    EXPECT_THROW(next(0), ProtocolError);
    EXPECT_NO_THROW(next(7));
    reader_.consume();
    reply(8, MessageKind::call, bytes(4, 0));
    EXPECT_THROW(next(8), ProtocolError);
}

// tandem: the parent counts what it consumed in its own memory: a published count run
// ahead by more than the ring holds, gone backwards, or a consumed count moved by the worker, is
// a ProtocolError, never a slot read out of turn.
TEST_F(ReplyReaderTest, RingCountsWrittenOverAreAProtocolError) {
    reply(1, MessageKind::result, bytes(4, 0));
    ring_->head.store(1 + kRingSlots);
    EXPECT_THROW(next(1), ProtocolError);
    ring_->head.store(1);
    ASSERT_TRUE(next(1).has_value());
    reader_.consume();
    ring_->head.store(0);  // backwards
    EXPECT_THROW(next(2), ProtocolError);
    ring_->head.store(1);
    ring_->tail.store(0);  // the parent's own count, moved
    reply(2, MessageKind::result, bytes(4, 0));
    EXPECT_THROW(next(2), ProtocolError);
}

// tandem: a malformed message fails its own reply with FrameError; the next reply reads.
TEST_F(ReplyReaderTest, AMalformedMessageFailsOnlyItsReply) {
    SlotHeader* slot = worker_.slot();
    slot->task_id = 1;
    slot->kind = MessageKind::result;
    slot->carrier = Carrier::slot;
    slot->size = static_cast<std::uint32_t>(kSlotPayload + 1);
    worker_.publish();
    reply(2, MessageKind::result, bytes(3, 9));
    std::optional<Reply> bad = next(1);
    ASSERT_TRUE(bad.has_value());
    ASSERT_TRUE(bad->error);
    EXPECT_THROW(std::rethrow_exception(bad->error), tandem::FrameError);
    reader_.consume();
    std::optional<Reply> good = next(2);
    ASSERT_TRUE(good.has_value());
    EXPECT_FALSE(good->error);
    EXPECT_EQ(good->message.bytes.size(), 3u);
}

}  // namespace

// Tests for tandem/multiprocessing/connection.hpp: Python's multiprocessing.Pipe,
// Connection and multiprocessing.connection.wait (ported in spirit from
// CPython's _TestConnection and _TestWait), plus what tandem promises beyond
// Python: frames checked before decoding, corrupted or truncated input as
// FrameError, no SIGPIPE, no descriptor leaks.
#include "tandem/multiprocessing/connection.hpp"

#include "tandem/detail/wire/encoding.hpp"    // detail::encode, the bytes send() writes
#include "tandem/detail/wire/fd_passing.hpp"  // send_with_fds / receive_with_fds, for the handoff test
#include "tandem/detail/wire/frame.hpp"       // crc32c and the header layout, to forge frames
#include "tandem/errors.hpp"                  // EOFError, FrameError, ValueError, BufferTooShort

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "support/child_process.hpp"  // fork_child, join_child, open_fd_count
#include "support/peak_rss.hpp"       // peak_rss_kib

#include <array>          // raw headers
#include <atomic>         // the EINTR test's flag
#include <cerrno>         // errno, EMSGSIZE, EPIPE
#include <chrono>         // timeouts
#include <csignal>        // SIGUSR1, SIGKILL
#include <cstdint>        // fixed-width fields
#include <cstring>        // std::memcpy, std::strerror
#include <dirent.h>       // counting /proc/self/fd
#include <fcntl.h>        // FD_CLOEXEC
#include <fstream>        // /proc files
#include <map>            // a cereal-encoded type
#include <optional>       // std::nullopt
#include <poll.h>         // poll, for bounded waits on children
#include <pthread.h>      // pthread_kill
#include <string>         // messages
#include <sys/mman.h>     // an untouched mapping for the size limit
#include <sys/socket.h>   // socketpair
#include <sys/syscall.h>  // SYS_pidfd_open, SYS_gettid, SYS_read
#include <sys/wait.h>     // waitpid
#include <system_error>   // std::system_error
#include <thread>         // the EINTR test's receiver
#include <tuple>          // tuples of values
#include <unistd.h>       // fork, _exit, write, close
#include <utility>        // std::move
#include <variant>        // a cereal-encoded type
#include <vector>         // messages

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;

namespace {

using tandem_test::fork_child;
using tandem_test::join_child;
using tandem_test::open_fd_count;
using tandem_test::peak_rss_kib;
using tandem_test::pidfd_open;

constexpr auto long_wait = 10s;  // for waits that should succeed: a bug fails instead of hanging

struct Point {  // travels as raw bytes
    int x;
    double y;
    bool operator==(const Point&) const = default;
};

struct Order {  // travels through cereal
    std::string customer;
    std::vector<double> prices;
    std::map<std::string, int> counts;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(customer, prices, counts);
    }
    bool operator==(const Order&) const = default;
};

struct Unencodable {  // its serialize() fails, as an unpicklable object in Python
    int value = 0;
    template <class Archive>
    void serialize(Archive&) {
        throw std::runtime_error("cannot encode this");
    }
};

// Forges a frame header (detail/wire/frame.hpp's layout) with any size and kind.
std::array<std::byte, 24> forged_header(std::uint32_t payload_size, std::uint32_t payload_crc,
                                        std::uint8_t kind = 5) {
    std::array<std::byte, 24> header{};
    std::memcpy(header.data(), "TNDM", 4);
    header[4] = std::byte{1};
    header[5] = std::byte{kind};
    std::memcpy(header.data() + 8, &payload_size, 4);  // little-endian host
    std::memcpy(header.data() + 12, &payload_crc, 4);
    const std::uint32_t header_crc = tandem::detail::crc32c(std::span(header).first(20));
    std::memcpy(header.data() + 20, &header_crc, 4);
    return header;
}

std::span<const std::byte> bytes_of(const std::string& text) { return std::as_bytes(std::span(text)); }

std::string text_of(std::span<const std::byte> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void write_raw(int fd, std::span<const std::byte> bytes) {
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

}  // namespace

// ============================== round trips ==================================

// multiprocessing: conn.send(obj) / other.recv() round-trip any picklable object, both ways on a duplex Pipe.
TEST(Connection, RoundTripsManyTypes) {
    auto [a, b] = mp::Pipe();
    a.send(42);
    EXPECT_EQ(b.recv<int>(), 42);
    b.send(3.5);
    EXPECT_EQ(a.recv<double>(), 3.5);
    a.send(std::string("hello"));
    EXPECT_EQ(b.recv<std::string>(), "hello");
    a.send(std::string());
    EXPECT_EQ(b.recv<std::string>(), "");
    a.send(std::vector<int>{1, 2, 3});
    EXPECT_EQ(b.recv<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
    a.send(Point{7, 2.5});
    EXPECT_EQ(b.recv<Point>(), (Point{7, 2.5}));
    a.send(std::tuple(1, std::string("two"), 3.0));
    EXPECT_EQ((b.recv<std::tuple<int, std::string, double>>()), std::tuple(1, std::string("two"), 3.0));
    const Order order{"ada", {1.5, 2.5}, {{"apples", 3}}};
    b.send(order);
    EXPECT_EQ(a.recv<Order>(), order);
    a.send(std::optional<std::string>("maybe"));
    EXPECT_EQ(b.recv<std::optional<std::string>>(), std::optional<std::string>("maybe"));
    a.send(std::variant<int, std::string>(std::string("alt")));
    EXPECT_EQ((b.recv<std::variant<int, std::string>>()), (std::variant<int, std::string>(std::string("alt"))));
    EXPECT_FALSE(a.poll());
    EXPECT_FALSE(b.poll());
}

// multiprocessing: messages arrive whole and in order; one thread may send while another receives.
TEST(Connection, ManyMessagesInOrder) {
    auto [a, b] = mp::Pipe();
    std::thread sender([&, &writer = a] {
        for (int i = 0; i < 10000; ++i) writer.send(i);
    });
    bool in_order = true;
    for (int i = 0; i < 10000; ++i) in_order = in_order && b.recv<int>() == i;
    sender.join();
    EXPECT_TRUE(in_order);
}

// multiprocessing: a Connection created before fork() works in the child; objects go both ways between processes.
TEST(Connection, AcrossFork) {
    auto [parent_end, child_end] = mp::Pipe();
    const pid_t pid = fork_child([&, &child = child_end, &parent = parent_end] {
        parent.close();
        for (;;) {
            const auto job = child.recv<std::vector<double>>();
            if (job.empty()) return 0;
            double sum = 0;
            for (double x : job) sum += x;
            child.send(sum);
        }
    });
    child_end.close();
    for (int i = 1; i <= 50; ++i) {
        parent_end.send(std::vector<double>(static_cast<std::size_t>(i), 1.5));
        ASSERT_TRUE(parent_end.poll(long_wait));
        EXPECT_EQ(parent_end.recv<double>(), 1.5 * i);
    }
    parent_end.send(std::vector<double>{});
    EXPECT_EQ(join_child(pid), 0);
}

// multiprocessing: large messages (MiBs) go through whole, over a socket pair and over a pipe.
TEST(Connection, LargeMessagesAcrossFork) {
    // Built and compared with memset/memcmp, so that sanitizer builds stay fast.
    std::string data(16u << 20, 'a');  // 16 MiB
    data[12345] = 'b';
    data.back() = 'c';
    for (const bool duplex : {true, false}) {
        auto [to_child_read, to_child_write] = mp::Pipe(duplex);
        auto [to_parent_read, to_parent_write] = mp::Pipe(duplex);
        const pid_t pid = fork_child([&] {
            to_child_write.close();
            to_parent_read.close();
            auto received = to_child_read.recv<std::string>();
            received.front() = 'z';
            to_parent_write.send(received);
            return 0;
        });
        to_child_read.close();
        to_parent_write.close();
        to_child_write.send(data);
        const auto back = to_parent_read.recv<std::string>();
        ASSERT_EQ(back.size(), data.size());
        EXPECT_EQ(back.front(), 'z');
        EXPECT_EQ(back.compare(1, std::string::npos, data, 1, std::string::npos), 0) << "duplex=" << duplex;
        EXPECT_EQ(join_child(pid), 0);
    }
}

// multiprocessing: send_bytes(buf, offset, size) / recv_bytes() carry raw bytes; a zero-length message is a message.
TEST(Connection, SendBytesAndRecvBytes) {
    auto [a, b] = mp::Pipe();
    const std::string text = "abcdefghij";
    a.send_bytes(bytes_of(text));
    EXPECT_EQ(text_of(b.recv_bytes()), "abcdefghij");
    a.send_bytes(bytes_of(text), 3);
    EXPECT_EQ(text_of(b.recv_bytes()), "defghij");
    a.send_bytes(bytes_of(text), 2, 4);
    EXPECT_EQ(text_of(b.recv_bytes()), "cdef");
    a.send_bytes(bytes_of(text), 10);
    EXPECT_EQ(b.recv_bytes().size(), 0u);
    a.send_bytes({});
    EXPECT_TRUE(b.poll());
    EXPECT_EQ(b.recv_bytes().size(), 0u);
    // send() and send_bytes() share the wire, as pickle bytes and recv_bytes do in Python.
    a.send(std::string("xyz"));
    EXPECT_EQ(b.recv_bytes(), tandem::detail::encode(std::string("xyz")));
    a.send_bytes(tandem::detail::encode(std::string("xyz")));
    EXPECT_EQ(b.recv<std::string>(), "xyz");
}

// multiprocessing: send_bytes raises ValueError for an offset or size outside the buffer.
TEST(Connection, SendBytesRangeErrors) {
    auto [a, b] = mp::Pipe();
    const std::string text = "abc";
    EXPECT_THROW(a.send_bytes(bytes_of(text), 4), tandem::ValueError);
    EXPECT_THROW(a.send_bytes(bytes_of(text), 1, 3), tandem::ValueError);
    EXPECT_FALSE(b.poll());  // nothing was written
}

// multiprocessing: recv_bytes(maxlength) raises OSError('bad message length') and the end stops receiving.
TEST(Connection, RecvBytesOverMaxlength) {
    auto [a, b] = mp::Pipe();
    a.send_bytes(bytes_of("0123456789"));
    try {
        (void)b.recv_bytes(5);
        ADD_FAILURE() << "no error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EMSGSIZE);
        EXPECT_NE(std::string(e.what()).find("bad message length"), std::string::npos);
    }
    EXPECT_FALSE(b.readable());
    EXPECT_TRUE(b.writable());  // a duplex end can still send
    EXPECT_THROW((void)b.recv_bytes(), tandem::ValueError);
    b.send(1);
    EXPECT_EQ(a.recv<int>(), 1);

    // A read-only end is closed instead, as Python.
    auto [reader, writer] = mp::Pipe(false);
    writer.send_bytes(bytes_of("0123456789"));
    EXPECT_THROW((void)reader.recv_bytes(9), std::system_error);
    EXPECT_TRUE(reader.closed());
    // Exactly maxlength is fine.
    auto [c, d] = mp::Pipe();
    c.send_bytes(bytes_of("01234"));
    EXPECT_EQ(d.recv_bytes(5).size(), 5u);
}

// multiprocessing: recv_bytes_into(buf, offset) fills the buffer and returns the length; too small a buffer raises BufferTooShort holding the message.
TEST(Connection, RecvBytesInto) {
    auto [a, b] = mp::Pipe();
    std::array<std::byte, 16> buffer{};
    a.send_bytes(bytes_of("hello"));
    EXPECT_EQ(b.recv_bytes_into(buffer), 5u);
    EXPECT_EQ(text_of(std::span(buffer).first(5)), "hello");
    a.send_bytes(bytes_of("world"));
    EXPECT_EQ(b.recv_bytes_into(buffer, 8), 5u);
    EXPECT_EQ(text_of(std::span(buffer).subspan(8, 5)), "world");
    a.send_bytes(bytes_of("this message is too long"));
    try {
        (void)b.recv_bytes_into(buffer, 4);
        ADD_FAILURE() << "no error";
    } catch (const tandem::BufferTooShort& e) {
        EXPECT_EQ(text_of(e.message()), "this message is too long");
    }
    // The stream is still in step.
    a.send(7);
    EXPECT_EQ(b.recv<int>(), 7);
    EXPECT_THROW((void)b.recv_bytes_into(buffer, 17), tandem::ValueError);
}

// ============================== misuse and closing ============================

// multiprocessing: Pipe(duplex=False) returns (read-only end, write-only end); the wrong direction is an error.
TEST(Connection, OneWayPipeDirections) {
    auto [reader, writer] = mp::Pipe(false);
    EXPECT_TRUE(reader.readable());
    EXPECT_FALSE(reader.writable());
    EXPECT_FALSE(writer.readable());
    EXPECT_TRUE(writer.writable());
    EXPECT_THROW(reader.send(1), tandem::ValueError);
    EXPECT_THROW((void)writer.recv<int>(), tandem::ValueError);
    EXPECT_THROW((void)writer.poll(), tandem::ValueError);
    writer.send(5);
    EXPECT_EQ(reader.recv<int>(), 5);
}

// multiprocessing: using a closed Connection raises (OSError 'handle is closed' in Python; ValueError here); close() twice is harmless.
TEST(Connection, ClosedConnection) {
    auto [a, b] = mp::Pipe();
    EXPECT_FALSE(a.closed());
    a.close();
    a.close();
    EXPECT_TRUE(a.closed());
    EXPECT_FALSE(a.readable());
    EXPECT_FALSE(a.writable());
    EXPECT_THROW(a.send(1), tandem::ValueError);
    EXPECT_THROW((void)a.recv<int>(), tandem::ValueError);
    EXPECT_THROW((void)a.recv_bytes(), tandem::ValueError);
    EXPECT_THROW((void)a.poll(), tandem::ValueError);
    EXPECT_THROW((void)a.fileno(), tandem::ValueError);
    mp::Connection moved = std::move(b);
    EXPECT_TRUE(b.closed());  // NOLINT(bugprone-use-after-move): a moved-from Connection is closed
    EXPECT_FALSE(moved.closed());
    mp::Connection empty;
    EXPECT_TRUE(empty.closed());
}

// multiprocessing: Connection(handle) rejects an invalid handle and a connection with no direction.
TEST(Connection, ConstructorChecks) {
    EXPECT_THROW(mp::Connection(-1), tandem::ValueError);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    EXPECT_THROW(mp::Connection(fds[0], false, false), tandem::ValueError);
    mp::Connection a(fds[0]);  // takes ownership
    mp::Connection b(fds[1]);
    a.send(std::string("owned"));
    EXPECT_EQ(b.recv<std::string>(), "owned");
    EXPECT_EQ(a.fileno(), fds[0]);
}

// multiprocessing: recv() on a Connection whose peer closed with nothing left raises EOFError; what was sent first still arrives.
TEST(Connection, EofAfterPeerClose) {
    for (const bool duplex : {true, false}) {
        auto [reader, writer] = mp::Pipe(duplex);
        writer.send(1);
        writer.send(2);
        writer.close();
        EXPECT_EQ(reader.recv<int>(), 1);
        EXPECT_EQ(reader.recv<int>(), 2);
        EXPECT_TRUE(reader.poll());  // end of file is "ready", as Python's poll()
        EXPECT_THROW((void)reader.recv<int>(), tandem::EOFError);
        EXPECT_THROW((void)reader.recv_bytes(), tandem::EOFError);
    }
}

// multiprocessing: a child that exits closes its end; the parent then gets EOFError instead of hanging.
TEST(Connection, EofWhenChildExits) {
    auto [parent_end, child_end] = mp::Pipe();
    const pid_t pid = fork_child([&, &child = child_end] {
        child.send(std::string("bye"));
        return 0;
    });
    child_end.close();
    EXPECT_EQ(parent_end.recv<std::string>(), "bye");
    EXPECT_THROW((void)parent_end.recv<std::string>(), tandem::EOFError);
    EXPECT_EQ(join_child(pid), 0);
}

// tandem: sending to a peer that is gone raises EPIPE as std::system_error (Python's BrokenPipeError); SIGPIPE never kills the process.
TEST(Connection, BrokenPipeIsAnErrorNotASignal) {
    for (const bool duplex : {true, false}) {
        auto [reader, writer] = mp::Pipe(duplex);
        reader.close();
        try {
            writer.send(std::string("nobody listens"));
            ADD_FAILURE() << "no error";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), EPIPE);
        }
        sigset_t pending;
        sigpending(&pending);
        EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
    }
}

// tandem: an item that cannot be encoded fails in send() and nothing reaches the peer.
TEST(Connection, UnencodableFailsInSend) {
    auto [a, b] = mp::Pipe();
    EXPECT_THROW(a.send(Unencodable{}), std::runtime_error);
    EXPECT_FALSE(b.poll());
    a.send(1);
    EXPECT_EQ(b.recv<int>(), 1);
}

// tandem: a message that is not the requested type throws FrameError; that message is lost but the connection stays in step.
TEST(Connection, WrongTypeLosesOnlyThatMessage) {
    auto [a, b] = mp::Pipe();
    a.send(std::string("not an int"));
    EXPECT_THROW((void)b.recv<int>(), tandem::FrameError);
    a.send(3);
    EXPECT_EQ(b.recv<int>(), 3);
}

// ============================== corrupted input ===============================

// tandem: a frame with a corrupted header raises FrameError, and so does every later receive (the stream cannot be resynchronised).
TEST(Connection, CorruptedHeaderIsFrameError) {
    auto [a, b] = mp::Pipe();
    auto header = forged_header(4, 0);
    header[0] = std::byte{'X'};  // bad magic
    write_raw(a.fileno(), header);
    EXPECT_THROW((void)b.recv<int>(), tandem::FrameError);
    a.send(1);
    EXPECT_THROW((void)b.recv<int>(), tandem::FrameError);
    // Sending on the duplex end still works.
    b.send(2);
    EXPECT_EQ(a.recv<int>(), 2);
}

// tandem: a payload that does not match its checksum raises FrameError.
TEST(Connection, CorruptedPayloadIsFrameError) {
    auto [a, b] = mp::Pipe();
    const std::int32_t value = 1234;
    const auto payload = std::as_bytes(std::span(&value, 1));
    const auto header = forged_header(4, tandem::detail::crc32c(payload) ^ 1u);
    write_raw(a.fileno(), header);
    write_raw(a.fileno(), payload);
    try {
        (void)b.recv<std::int32_t>();
        ADD_FAILURE() << "no error";
    } catch (const tandem::FrameError& e) {
        EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
    }
}

// tandem: a frame of another kind than a message is rejected on a Connection.
TEST(Connection, WrongFrameKindIsFrameError) {
    auto [a, b] = mp::Pipe();
    write_raw(a.fileno(), forged_header(0, 0, 1));  // a task frame
    EXPECT_THROW((void)b.recv_bytes(), tandem::FrameError);
}

// tandem: a frame cut short by the peer closing (in the header or in the payload) is FrameError('truncated frame'), not EOFError.
TEST(Connection, TruncatedFramesAreFrameErrors) {
    {
        auto [a, b] = mp::Pipe();
        const auto header = forged_header(100, 0);
        write_raw(a.fileno(), std::span(header).first(10));
        a.close();
        try {
            (void)b.recv_bytes();
            ADD_FAILURE() << "no error";
        } catch (const tandem::FrameError& e) {
            EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
        }
    }
    {
        auto [a, b] = mp::Pipe(false);
        write_raw(b.fileno(), forged_header(100, 0));
        write_raw(b.fileno(), std::vector<std::byte>(40));
        b.close();
        EXPECT_THROW((void)a.recv_bytes(), tandem::FrameError);
    }
}

// tandem: a header announcing more than the 1 GiB limit is rejected before any allocation; one announcing 512 MiB that never arrive costs no 512 MiB.
TEST(Connection, OversizedHeaderAllocatesNothing) {
    {
        auto [a, b] = mp::Pipe();
        write_raw(a.fileno(), forged_header(0xFFFF'FFFFu, 0));
        EXPECT_THROW((void)b.recv_bytes(), tandem::FrameError);
    }
    // Measured in a fresh child, whose peak RSS starts at its size at fork().
    const pid_t pid = fork_child([] {
        auto [reader, writer] = mp::Pipe();
        const long before = peak_rss_kib();
        const auto header = forged_header(512u << 20, 0);
        if (::write(writer.fileno(), header.data(), header.size()) != 24) return 2;
        writer.close();
        try {
            (void)reader.recv_bytes();
            return 3;
        } catch (const tandem::FrameError&) {
        }
        const long grown = peak_rss_kib() - before;
        return grown < 64 * 1024 ? 0 : 4;
    });
    EXPECT_EQ(join_child(pid), 0);
}

// multiprocessing: recv_bytes_into() with a message longer than the buffer
// raises BufferTooShort holding the whole message; tandem: a header claiming
// 512 MiB that never arrive costs no 512 MiB there either.
TEST(Connection, RecvBytesIntoOversizedClaimAllocatesWithTheBytes) {
    const pid_t pid = fork_child([] {
        auto [reader, writer] = mp::Pipe();
        const long before = peak_rss_kib();
        const auto header = forged_header(512u << 20, 0);
        if (::write(writer.fileno(), header.data(), header.size()) != 24) return 2;
        if (::write(writer.fileno(), "abc", 3) != 3) return 2;
        writer.close();
        std::array<std::byte, 16> buffer{};
        try {
            (void)reader.recv_bytes_into(buffer);
            return 3;
        } catch (const tandem::FrameError& e) {
            if (std::string(e.what()).find("truncated") == std::string::npos) return 5;
        }
        const long grown = peak_rss_kib() - before;
        return grown < 16 * 1024 ? 0 : 4;
    });
    EXPECT_EQ(join_child(pid), 0);
    // A long message that does arrive is still handed over whole.
    auto [a, b] = mp::Pipe();
    const std::vector<std::byte> long_message(3 << 20, std::byte{7});
    std::thread sender([&a, &long_message] { a.send_bytes(long_message); });
    std::array<std::byte, 16> small{};
    try {
        (void)b.recv_bytes_into(small);
        ADD_FAILURE() << "no BufferTooShort";
    } catch (const tandem::BufferTooShort& e) {
        EXPECT_EQ(e.message(), long_message);
    }
    sender.join();
}

// tandem: sending more than the 1 GiB payload limit fails in send() with FrameError and writes nothing.
TEST(Connection, PayloadLimitOnSend) {
    auto [a, b] = mp::Pipe();
    // A span over a mapping that is never touched: no memory is used.
    const std::size_t too_big = (std::size_t{1} << 30) + 1;
    void* memory = ::mmap(nullptr, too_big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(memory, MAP_FAILED);
    EXPECT_THROW(a.send_bytes(std::span(static_cast<const std::byte*>(memory), too_big)), tandem::FrameError);
    ::munmap(memory, too_big);
    EXPECT_FALSE(b.poll());
}

// ============================== poll and wait =================================

// multiprocessing: poll() does not block; poll(timeout) waits at most that long; poll(None) waits for data.
TEST(Connection, PollTimeouts) {
    auto [a, b] = mp::Pipe();
    EXPECT_FALSE(b.poll());
    EXPECT_FALSE(b.poll(0s));
    EXPECT_FALSE(b.poll(-1s));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(b.poll(50ms));
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 5s);
    a.send(1);
    EXPECT_TRUE(b.poll());
    EXPECT_TRUE(b.poll(std::nullopt));
    EXPECT_TRUE(b.poll(long_wait));
    EXPECT_EQ(b.recv<int>(), 1);
}

// multiprocessing: poll(timeout) returns True as soon as another process sends.
TEST(Connection, PollWakesOnSendFromChild) {
    auto [parent_end, child_end] = mp::Pipe();
    auto [go_read, go_write] = mp::Pipe(false);
    const pid_t pid = fork_child([&, &child = child_end, &go = go_read] {
        go.recv<int>();  // sent once the parent is about to poll
        child.send(9);
        return 0;
    });
    go_write.send(1);
    EXPECT_TRUE(parent_end.poll(long_wait));
    EXPECT_EQ(parent_end.recv<int>(), 9);
    EXPECT_EQ(join_child(pid), 0);
}

// tandem: a blocking recv() interrupted by a signal handler (EINTR) resumes and still returns the message.
TEST(Connection, RecvSurvivesEintr) {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: read() fails with EINTR
    struct sigaction previous {};
    ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
    auto [a, b] = mp::Pipe();
    std::atomic<pid_t> receiver_tid{0};
    std::string received;
    std::thread receiver([&, &reader = b] {
        receiver_tid = static_cast<pid_t>(::syscall(SYS_gettid));
        received = reader.recv<std::string>();
    });
    // Wait (bounded) until the receiver sleeps in read(), then interrupt it.
    const auto deadline = std::chrono::steady_clock::now() + long_wait;
    bool in_read = false;
    while (!in_read && std::chrono::steady_clock::now() < deadline) {
        const pid_t tid = receiver_tid.load();
        if (tid != 0) {
            std::ifstream syscall_file("/proc/self/task/" + std::to_string(tid) + "/syscall");
            long number = -1;
            syscall_file >> number;
            in_read = number == SYS_read;
        }
        if (!in_read) std::this_thread::yield();
    }
    EXPECT_TRUE(in_read);
    ::pthread_kill(receiver.native_handle(), SIGUSR1);
    a.send(std::string("after the signal"));
    receiver.join();
    EXPECT_EQ(received, "after the signal");
    ::sigaction(SIGUSR1, &previous, nullptr);
}

// multiprocessing.connection.wait: returns the ready connections only, in the order given.
TEST(ConnectionWait, ReturnsReadyInInputOrder) {
    auto [a1, b1] = mp::Pipe();
    auto [a2, b2] = mp::Pipe();
    auto [a3, b3] = mp::Pipe(false);
    b3.send(3);
    a1.send(1);
    auto ready = mp::wait({b1, b2, a3}, 0s);
    ASSERT_EQ(ready.size(), 2u);
    EXPECT_EQ(ready[0].connection(), &b1);
    EXPECT_EQ(ready[1].connection(), &a3);
    EXPECT_EQ(ready[0], mp::Waitable(b1));
    std::vector<mp::Waitable> objects{b2, b1};
    ready = mp::wait(objects, long_wait);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].connection(), &b1);
    EXPECT_EQ(b1.recv<int>(), 1);
    EXPECT_EQ(a3.recv<int>(), 3);
}

// multiprocessing.connection.wait(timeout): returns an empty list when nothing is ready in time.
TEST(ConnectionWait, TimesOutEmpty) {
    auto [a1, b1] = mp::Pipe();
    auto [a2, b2] = mp::Pipe();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(mp::wait({b1, b2}, 30ms).empty());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_TRUE(mp::wait({b1, b2}, 0s).empty());
}

// multiprocessing.connection.wait: waits on process sentinels (a pidfd) and connections together.
TEST(ConnectionWait, ConnectionsAndProcessSentinel) {
    auto [parent_end, child_end] = mp::Pipe();
    auto [go_read, go_write] = mp::Pipe(false);
    const pid_t pid = fork_child([&, &child = child_end, &go = go_read] {
        child.send(std::string("result"));
        return go.recv<int>();  // exits only when told, with that code
    });
    const int sentinel = pidfd_open(pid);
    ASSERT_GE(sentinel, 0);
    auto ready = mp::wait({sentinel, parent_end}, long_wait);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].connection(), &parent_end);
    EXPECT_EQ(parent_end.recv<std::string>(), "result");
    EXPECT_TRUE(mp::wait({sentinel, parent_end}, 0s).empty());
    go_write.send(7);
    ready = mp::wait({parent_end, sentinel}, long_wait);
    ASSERT_FALSE(ready.empty());
    EXPECT_EQ(ready.back(), mp::Waitable(sentinel));
    EXPECT_EQ(ready.back().connection(), nullptr);
    ::close(sentinel);
    EXPECT_EQ(join_child(pid), 7);
}

// multiprocessing.connection.wait: a closed connection or a bad descriptor is an error, not a hang.
TEST(ConnectionWait, InvalidObjects) {
    auto [a, b] = mp::Pipe();
    a.close();
    EXPECT_THROW((void)mp::wait({a}, 0s), tandem::ValueError);
    EXPECT_THROW((void)mp::wait({-1}, 0s), tandem::ValueError);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_THROW((void)mp::wait({fds[0]}, 0s), tandem::ValueError);
}

// ============================== resources and handoff ===========================

// tandem: Pipe ends are close-on-exec and the destructor closes them: no descriptor leaks.
TEST(Connection, NoDescriptorLeaks) {
    const std::size_t before = open_fd_count();
    {
        for (int i = 0; i < 20; ++i) {
            auto [a, b] = mp::Pipe(i % 2 == 0);
            EXPECT_NE(::fcntl(a.fileno(), F_GETFD) & FD_CLOEXEC, 0);
            EXPECT_NE(::fcntl(b.fileno(), F_GETFD) & FD_CLOEXEC, 0);
            if (a.writable()) a.send(i);
        }
        auto [a, b] = mp::Pipe();
        b.close();
        mp::Connection c = std::move(a);
        c = mp::Pipe().first;  // move-assignment closes the old one
    }
    EXPECT_EQ(open_fd_count(), before);
}

// tandem: a Connection handed to another process (SCM_RIGHTS) keeps its directions and its peer.
TEST(Connection, HandoffOverSocket) {
    int channel[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
    const std::size_t before = open_fd_count();
    {
        auto [reader, writer] = mp::Pipe(false);
        tandem::detail::HandoffWriter out;
        tandem::detail::Handoff<mp::Connection>::send(out, writer);
        tandem::detail::send_with_fds(channel[0], out.bytes(), out.fds());
        auto message = tandem::detail::receive_with_fds(channel[1], 1024);
        tandem::detail::HandoffReader in(message.bytes, std::move(message.fds));
        mp::Connection copy = tandem::detail::Handoff<mp::Connection>::receive(in);
        EXPECT_TRUE(in.at_end());
        EXPECT_FALSE(copy.readable());
        EXPECT_TRUE(copy.writable());
        EXPECT_NE(copy.fileno(), writer.fileno());
        copy.send(std::string("via the copy"));
        EXPECT_EQ(reader.recv<std::string>(), "via the copy");
        mp::Connection closed;
        EXPECT_THROW(tandem::detail::Handoff<mp::Connection>::send(out, closed), tandem::ValueError);
    }
    EXPECT_EQ(open_fd_count(), before);
    ::close(channel[0]);
    ::close(channel[1]);
}

// Tests for tandem/progress.hpp: ProgressBar formats its line as tqdm does,
// draws in place on a terminal (a pseudo-terminal here) and writes nothing
// to a pipe; progress(range) wraps as_completed(), map() and imap() as
// tqdm(iterable) does, and callback() counts done futures.
#include "tandem/progress.hpp"

#include <fcntl.h>        // fcntl, O_NONBLOCK
#include <gtest/gtest.h>  // TEST, EXPECT_*
#include <poll.h>         // poll: the reader thread
#include <pty.h>          // openpty
#include <unistd.h>       // pipe, read, close

#include <atomic>  // the reader's stop flag
#include <string>  // captured output
#include <thread>  // concurrent updates
#include <vector>  // threads

#include "tandem/multiprocessing/pool.hpp"  // ThreadPool.imap under a bar
#include "tandem/thread_pool_executor.hpp"  // futures and map() under a bar
#include "tandem/wait.hpp"                  // as_completed under a bar

using tandem::ProgressBar;
using tandem::ProgressOptions;

namespace {

// Everything written to `fd` so far; never blocks.
std::string drain(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got <= 0) break;
        text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
}

struct Pty {
    int master = -1;
    int slave = -1;
    Pty() {
        if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) master = slave = -1;
    }
    ~Pty() {
        if (master >= 0) ::close(master);
        if (slave >= 0) ::close(slave);
    }
};

}  // namespace

// tqdm.format_meter: percentage, bar, count/total, elapsed<remaining, rate.
TEST(ProgressBar, FormatMeterWithTotal) {
    const std::string line = ProgressBar::format_meter(45, 100, 1.5, "decode", "file", 60, true);
    EXPECT_EQ(line.size(), 60u);
    EXPECT_EQ(line.rfind("decode:  45%|", 0), 0u) << line;
    EXPECT_NE(line.find("| 45/100 [00:01<00:01, 30.0file/s]"), std::string::npos) << line;
    const auto bar_start = line.find('|') + 1;
    const auto bar = line.substr(bar_start, line.rfind('|') - bar_start);
    EXPECT_EQ(bar.find_first_not_of('#'), bar.size() * 45 / 100) << bar;  // 45% of the cells filled
}

// Without a total: count, elapsed and rate only; slow rates as seconds per step.
TEST(ProgressBar, FormatMeterWithoutTotal) {
    EXPECT_EQ(ProgressBar::format_meter(12, std::nullopt, 4, "", "it", 80, true), "12it [00:04, 3.0it/s]");
    EXPECT_EQ(ProgressBar::format_meter(2, std::nullopt, 5, "slow", "it", 80, true), "slow: 2it [00:05, 2.50s/it]");
    EXPECT_EQ(ProgressBar::format_meter(0, std::nullopt, 0, "", "it", 80, true), "0it [00:00, ?it/s]");
    EXPECT_EQ(ProgressBar::format_meter(1, std::nullopt, 3725, "", "it", 80, true), "1it [1:02:05, 3725.00s/it]");
}

// A narrow terminal drops the bar, never the figures; a full bar in Unicode.
TEST(ProgressBar, FormatMeterNarrowAndUnicode) {
    EXPECT_EQ(ProgressBar::format_meter(3, 4, 1, "x", "it", 20, true), "x:  75% 3/4 [00:01<00:00, 3.0it/s]");
    const std::string full = ProgressBar::format_meter(4, 4, 1, "", "it", 40, false);
    EXPECT_NE(full.find("100%|█"), std::string::npos) << full;
    EXPECT_EQ(full.find(' ', full.find('|')), full.find("| 4/4") + 1) << full;  // no empty cell in the bar
}

// On a terminal the bar draws at once, redraws in place ("\r") and ends its
// line at close().
TEST(ProgressBar, DrawsOnATerminal) {
    Pty pty;
    ASSERT_GE(pty.master, 0) << "openpty failed";
    {
        ProgressBar bar({.total = 10, .description = "work", .fd = pty.slave, .ascii = true,
                         .min_interval = std::chrono::milliseconds(0)});
        EXPECT_TRUE(bar.enabled());
        bar.update(4);
        EXPECT_EQ(bar.n(), 4u);
        bar.clear();
        bar.update(6);
        bar.close();
        bar.update();  // counted, not drawn
        EXPECT_EQ(bar.n(), 11u);
    }
    const std::string out = drain(pty.master);
    EXPECT_NE(out.find("work:   0%|"), std::string::npos) << out;
    EXPECT_NE(out.find("4/10"), std::string::npos) << out;
    EXPECT_NE(out.find("\r\x1b[K"), std::string::npos) << out;  // clear()
    EXPECT_NE(out.find("work: 100%|"), std::string::npos) << out;
    EXPECT_EQ(out.find("11/10"), std::string::npos) << out;
    ASSERT_FALSE(out.empty());
    // The terminal turns "\n" into "\r\n"; the last line ends there.
    EXPECT_EQ(out.back(), '\n');
}

// min_interval throttles drawing: many quick updates draw once or twice.
TEST(ProgressBar, ThrottlesRedraws) {
    Pty pty;
    ASSERT_GE(pty.master, 0) << "openpty failed";
    {
        ProgressBar bar({.total = 1000, .fd = pty.slave, .ascii = true, .min_interval = std::chrono::hours(1)});
        for (int i = 0; i < 1000; ++i) bar.update();
    }
    const std::string out = drain(pty.master);
    std::size_t draws = 0;
    for (char c : out) draws += c == '\r';
    EXPECT_LE(draws, 3u) << out;  // the first draw and close()'s (a terminal may add "\r" to "\n")
    EXPECT_NE(out.find("1000/1000"), std::string::npos) << out;
}

// leave = false (tqdm's leave=False): close() erases the bar instead of
// leaving its final state.
TEST(ProgressBar, CloseWithoutLeavingErasesTheBar) {
    Pty pty;
    ASSERT_GE(pty.master, 0) << "openpty failed";
    {
        ProgressBar bar({.total = 2, .fd = pty.slave, .ascii = true, .min_interval = std::chrono::milliseconds(0),
                         .leave = false});
        bar.update(2);
    }
    const std::string out = drain(pty.master);
    EXPECT_NE(out.find("2/2"), std::string::npos) << out;  // drawn by update()
    EXPECT_EQ(out.size() - out.rfind("\r\x1b[K"), 4u) << out;  // and erased last, no newline
}

// Output piped elsewhere stays clean: nothing is written.
TEST(ProgressBar, SilentOnAPipe) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        ProgressBar bar({.total = 5, .description = "quiet", .fd = fds[1], .min_interval = std::chrono::milliseconds(0)});
        EXPECT_FALSE(bar.enabled());
        bar.update(5);
        bar.refresh();
        bar.clear();
        EXPECT_EQ(bar.n(), 5u);
    }
    EXPECT_EQ(drain(fds[0]), "");
    ::close(fds[0]);
    ::close(fds[1]);
}

// update() from several threads at once counts every step (a pool's
// done-callbacks driving one bar).
TEST(ProgressBar, ConcurrentUpdatesCountEveryStep) {
    Pty pty;
    ASSERT_GE(pty.master, 0) << "openpty failed";
    // A reader keeps the terminal's buffer from filling while the threads draw.
    std::atomic<bool> done{false};
    std::string out;
    std::thread reader([&] {
        while (!done.load()) {
            pollfd ready{pty.master, POLLIN, 0};
            if (::poll(&ready, 1, 10) > 0) out += drain(pty.master);
        }
        out += drain(pty.master);
    });
    {
        ProgressBar bar({.total = 4000, .fd = pty.slave, .ascii = true, .min_interval = std::chrono::milliseconds(0)});
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&bar] {
                for (int i = 0; i < 1000; ++i) bar.update();
            });
        }
        for (auto& thread : threads) thread.join();
        EXPECT_EQ(bar.n(), 4000u);
    }
    done = true;
    reader.join();
    EXPECT_NE(out.find("4000/4000"), std::string::npos);
}

// --- progress(range) and callback(): tqdm(iterable) over a pool's futures and results

namespace {
int square(int x) { return x * x; }
}  // namespace

// tqdm(iterable): each element the loop moves past is one step; the total is the size.
TEST(ProgressRange, CountsEachElementOfASizedRange) {
    auto wrapped = tandem::progress(std::vector<int>{1, 2, 3, 4}, {.enabled = false});
    EXPECT_EQ(wrapped.bar().total(), std::optional<std::size_t>(4));
    int sum = 0;
    for (int x : wrapped) sum += x;
    EXPECT_EQ(sum, 10);
    EXPECT_EQ(wrapped.bar().n(), 4u);
}

// concurrent.futures.as_completed under tqdm: drawn on a terminal, to 100%.
TEST(ProgressRange, AsCompletedDrawsOnATerminal) {
    Pty pty;
    ASSERT_GE(pty.master, 0) << "openpty failed";
    tandem::ThreadPoolExecutor pool(2);
    std::vector<tandem::Future<int>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(square, i));
    int sum = 0;
    for (auto done : tandem::progress(tandem::as_completed(futures),
                                       {.total = futures.size(), .description = "tasks", .fd = pty.slave,
                                        .ascii = true, .min_interval = std::chrono::milliseconds(0)})) {
        sum += done.result();
    }
    EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 16 + 25);
    const std::string out = drain(pty.master);
    EXPECT_NE(out.find("tasks: 100%|"), std::string::npos) << out;
    EXPECT_NE(out.find("6/6"), std::string::npos) << out;
    EXPECT_EQ(out.back(), '\n');  // closed at the end of the loop
}

// Executor.map and Pool.imap under tqdm on a pipe: the results as without it, nothing written.
TEST(ProgressRange, MapAndImapAreSilentOnAPipe) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::vector<int> inputs{1, 2, 3, 4, 5, 6, 7, 8};
    {
        tandem::ThreadPoolExecutor pool(2);
        auto mapped = pool.map(square, inputs);  // map()'s results do not move: wrapped by name
        auto results = tandem::progress(mapped, {.total = inputs.size(), .fd = fds[1]});
        std::vector<int> got;
        for (int r : results) got.push_back(r);
        EXPECT_EQ(got, (std::vector<int>{1, 4, 9, 16, 25, 36, 49, 64}));
        EXPECT_EQ(results.bar().n(), inputs.size());
        EXPECT_FALSE(results.bar().enabled());
    }
    {
        tandem::multiprocessing::ThreadPool pool(2);
        auto lazy = tandem::progress(pool.imap(square, inputs, 2), {.fd = fds[1]});
        int sum = 0;
        for (int r : lazy) sum += r;
        EXPECT_EQ(sum, 204);
        EXPECT_EQ(lazy.bar().n(), inputs.size());
    }
    EXPECT_EQ(drain(fds[0]), "");
    ::close(fds[0]);
    ::close(fds[1]);
}

// The bar as a plain callback: each done future counts once, from the pool's threads.
TEST(ProgressBar, CallbackCountsDoneFutures) {
    ProgressBar bar({.total = 20, .enabled = false});
    {
        tandem::ThreadPoolExecutor pool(4);
        std::vector<tandem::Future<int>> futures;
        for (int i = 0; i < 20; ++i) {
            futures.push_back(pool.submit(square, i));
            futures.back().add_done_callback(bar.callback());
        }
        tandem::wait(futures);
    }  // the pool's threads are joined: every callback has run
    EXPECT_EQ(bar.n(), 20u);
}

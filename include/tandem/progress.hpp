// tandem/progress.hpp — a progress bar in the manner of Python's tqdm: a count,
// a bar, the rate and the time left, redrawn in place on a terminal.
//
// It draws only when its file descriptor (stderr by default) is a terminal, so
// output piped to a file or another program stays clean, and it is safe to
// update from several threads at once, so a pool's done-callbacks can drive
// it. update() is a plain call, usable wherever a callback is expected.
//
//     tandem::ProgressBar bar({.total = files.size(), .description = "decode", .unit = "file"});
//     for (auto& f : pool.map(decode, files)) { use(f); bar.update(); }
//     // decode:  45%|█████▍      | 45/100 [00:01<00:02, 31.2file/s]
//
//     auto future = pool.submit(work);
//     future.add_done_callback([&bar](const auto&) { bar.update(); });   // from a pool thread
//
//     bar.clear();                     // take the bar off the line to print something
//     std::printf("halfway\n");        // the next update() draws it again
//
// Differences from tqdm: no iterable wrapping yet (update() is the interface),
// no nested bars; the rate is the average since the start, not a moving
// average; the bar is redrawn at most every `min_interval` (tqdm's
// mininterval), plus at close().
#pragma once

#include <atomic>       // the count, updated from any thread
#include <chrono>       // elapsed time, min_interval
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t clock ticks
#include <mutex>        // one drawer at a time
#include <optional>     // an unknown total, the enabled flag
#include <string>       // description, unit, formatted lines
#include <string_view>  // format_meter arguments

namespace tandem {

/// ProgressBar's constructor arguments (tqdm's keyword arguments).
struct ProgressOptions {
    /// The expected number of steps; unset: unknown (no percentage, no ETA).
    std::optional<std::size_t> total;
    /// Text before the bar ("desc: ").
    std::string description;
    /// What a step is called in the rate ("it/s" by default, as tqdm).
    std::string unit = "it";
    /// Where to draw: stderr by default. The bar does not own it.
    int fd = 2;
    /// Draw or not; unset: draw only if `fd` is a terminal.
    std::optional<bool> enabled;
    /// Draw with ASCII '#' instead of Unicode blocks; unset: Unicode when the
    /// locale's environment (LC_ALL, LC_CTYPE, LANG) names UTF-8.
    std::optional<bool> ascii;
    /// Redraw at most this often (tqdm's mininterval, 0.1 s).
    std::chrono::milliseconds min_interval{100};
    /// At close(): leave the final bar on its line (tqdm's leave=True), or
    /// erase it.
    bool leave = true;
};

/// A thread-safe, terminal-only progress bar (Python: tqdm.tqdm).
class ProgressBar {
public:
    /// A bar at count 0, drawn at once when enabled. Throws nothing beyond
    /// allocation.
    explicit ProgressBar(ProgressOptions options = {});
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    /// close().
    ~ProgressBar();

    /// Adds `n` steps (tqdm's update(n)); redraws when min_interval has
    /// passed since the last draw. Any thread may call it; never throws.
    void update(std::size_t n = 1) noexcept;
    /// Replaces the description; shown at the next draw.
    void set_description(std::string description);
    /// Draws now, whatever min_interval says (when enabled and not closed).
    void refresh() noexcept;
    /// Erases the bar from its line so that other output can be printed;
    /// the next update() or refresh() draws it again.
    void clear() noexcept;
    /// Draws the final state and ends the line (or, with leave = false,
    /// erases the bar); later updates still count but no longer draw.
    /// Calling it again does nothing.
    void close() noexcept;

    /// The steps counted so far (tqdm's n).
    std::size_t n() const noexcept { return count_.load(std::memory_order_relaxed); }
    /// The expected total, if one was given.
    std::optional<std::size_t> total() const noexcept { return options_.total; }
    /// Whether the bar draws at all.
    bool enabled() const noexcept { return enabled_; }

    /// The line the bar draws for these figures, at most `width` columns
    /// (tqdm.format_meter): "desc:  45%|████▌     | 45/100 [00:01<00:02,
    /// 31.2it/s]" with a total, "desc: 45it [00:01, 31.2it/s]" without.
    static std::string format_meter(std::size_t n, std::optional<std::size_t> total, double elapsed_seconds,
                                    std::string_view description, std::string_view unit, std::size_t width,
                                    bool ascii);

private:
    void draw_locked(bool final) noexcept;
    void write_all(std::string_view text) noexcept;

    ProgressOptions options_;
    bool enabled_;
    bool ascii_;
    std::chrono::steady_clock::time_point start_;
    std::atomic<std::size_t> count_{0};
    // The next time update() may draw, as steady_clock ticks: read without the
    // mutex so that most updates cost an atomic add and a clock read.
    std::atomic<std::int64_t> next_draw_{0};
    std::mutex draw_mutex_;
    bool closed_ = false;
};

}  // namespace tandem

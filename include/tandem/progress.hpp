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
// progress(range) wraps any iterable as tqdm(iterable) does — futures from
// as_completed(), results of map() or imap() — counting each element as the
// loop moves past it, and closing the bar at the end; the total is the
// range's size when it has one. callback() is the bar as a done-callback:
//
//     for (auto& f : tandem::progress(tandem::as_completed(futures), {.total = futures.size()})) use(f.result());
//     auto results = pool.map(work, inputs);      // map()'s results do not move: wrap them by name
//     for (int r : tandem::progress(results, {.total = inputs.size()})) use(r);
//     future.add_done_callback(bar.callback());
//
// Differences from tqdm: no nested bars; the rate is the average since the
// start, not a moving average; the bar is redrawn at most every
// `min_interval` (tqdm's mininterval), plus at close().
#pragma once

#include <atomic>       // the count, updated from any thread
#include <chrono>       // elapsed time, min_interval
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t clock ticks
#include <iterator>     // std::begin, std::end, std::size, std::default_sentinel_t
#include <memory>       // the bar of a ProgressRange
#include <mutex>        // one drawer at a time
#include <optional>     // an unknown total, the enabled flag
#include <string>       // description, unit, formatted lines
#include <string_view>  // format_meter arguments
#include <type_traits>  // std::remove_reference_t
#include <utility>      // std::move, std::forward

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

    /// The bar as a callback: a callable that does update(1) whatever it is
    /// passed (a future's done-callback, a pool's per-result hook). The bar
    /// must outlive it.
    auto callback() noexcept {
        return [this](auto&&...) noexcept { update(); };
    }

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

/// An iterable with a ProgressBar (Python: tqdm(iterable)): iterating it
/// iterates the wrapped iterable and counts one step each time the loop
/// moves past an element; the bar closes when the end is reached or the
/// wrapper is destroyed. Made by progress(); `Iterable` is the wrapped
/// type, or a reference to it when it was passed as an lvalue.
template <class Iterable>
class ProgressRange {
    using Base = std::remove_reference_t<Iterable>;
    using BaseIterator = decltype(std::begin(std::declval<Base&>()));
    using BaseSentinel = decltype(std::end(std::declval<Base&>()));

public:
    ProgressRange(Iterable&& iterable, ProgressOptions options) : iterable_(std::forward<Iterable>(iterable)) {
        if (!options.total) {
            if constexpr (requires(const Base& sized) { std::size(sized); }) {
                options.total = static_cast<std::size_t>(std::size(iterable_));
            }
        }
        bar_ = std::make_unique<ProgressBar>(std::move(options));
    }

    class iterator {
    public:
        decltype(auto) operator*() const { return *current_; }
        iterator& operator++() {
            ++current_;
            bar_->update();
            if (current_ == end_) bar_->close();
            return *this;
        }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.current_ == it.end_; }

    private:
        friend class ProgressRange;
        iterator(ProgressBar* bar, BaseIterator current, BaseSentinel end)
            : bar_(bar), current_(std::move(current)), end_(std::move(end)) {}
        ProgressBar* bar_;
        BaseIterator current_;
        BaseSentinel end_;
    };

    /// Starts the wrapped iteration (once: it may be a one-pass range).
    iterator begin() { return iterator(bar_.get(), std::begin(iterable_), std::end(iterable_)); }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// The bar, for its count or to close it early.
    ProgressBar& bar() noexcept { return *bar_; }

private:
    Iterable iterable_;
    std::unique_ptr<ProgressBar> bar_;  // a ProgressBar does not move; the wrapper may
};

/// Wraps `iterable` (anything a range-for loop takes: as_completed(), map(),
/// imap(), a container) in a progress bar; `options.total` defaults to its
/// size when it has one. A temporary is moved in (so it must be movable:
/// map()'s results are not, and are passed by name); an lvalue is referred
/// to and must outlive the wrapper.
template <class Iterable>
ProgressRange<Iterable> progress(Iterable&& iterable, ProgressOptions options = {}) {
    return ProgressRange<Iterable>(std::forward<Iterable>(iterable), std::move(options));
}

}  // namespace tandem

// ProgressBar: formatting the meter line and drawing it in place on a terminal.
#include "tandem/progress.hpp"

#include <sys/ioctl.h>  // TIOCGWINSZ: the terminal's width
#include <unistd.h>     // isatty, write

#include <algorithm>  // std::clamp, std::min
#include <cerrno>     // EINTR
#include <cmath>      // std::floor
#include <cstdio>     // std::snprintf
#include <cstdlib>    // std::getenv

namespace tandem {

namespace {

constexpr std::size_t kDefaultWidth = 80;

// "MM:SS", or "H:MM:SS" past an hour, as tqdm.format_interval.
std::string format_interval(double seconds) {
    const long total = static_cast<long>(seconds < 0 ? 0 : seconds);
    char text[32];
    if (total >= 3600) {
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    } else {
        std::snprintf(text, sizeof text, "%02ld:%02ld", total / 60, total % 60);
    }
    return text;
}

// "31.2it/s", or "2.50s/it" when slower than one step a second.
std::string format_rate(std::size_t n, double elapsed, std::string_view unit) {
    char text[64];
    const std::string name(unit);
    if (elapsed <= 0 || n == 0) {
        std::snprintf(text, sizeof text, "?%s/s", name.c_str());
    } else if (const double rate = static_cast<double>(n) / elapsed; rate >= 1) {
        std::snprintf(text, sizeof text, "%.1f%s/s", rate, name.c_str());
    } else {
        std::snprintf(text, sizeof text, "%.2fs/%s", 1 / rate, name.c_str());
    }
    return text;
}

// A bar of `width` cells filled to `fraction`, with eighths of a cell in
// Unicode or whole cells of '#' in ASCII.
std::string format_bar(double fraction, std::size_t width, bool ascii) {
    static constexpr const char* kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    fraction = std::clamp(fraction, 0.0, 1.0);
    const double cells = fraction * static_cast<double>(width);
    std::size_t full = static_cast<std::size_t>(std::floor(cells));
    std::string bar;
    for (std::size_t i = 0; i < full; ++i) bar += ascii ? "#" : "█";
    if (full < width && !ascii) {
        const auto eighth = static_cast<std::size_t>((cells - static_cast<double>(full)) * 8);
        if (eighth > 0) {
            bar += kEighths[eighth];
            ++full;
        }
    }
    bar.append(width - full, ' ');
    return bar;
}

bool locale_is_utf8() {
    for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
        const char* value = std::getenv(name);
        if (value == nullptr || *value == '\0') continue;
        const std::string text(value);
        return text.find("UTF-8") != std::string::npos || text.find("utf8") != std::string::npos ||
               text.find("UTF8") != std::string::npos || text.find("utf-8") != std::string::npos;
    }
    return false;
}

std::size_t terminal_width(int fd) {
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return kDefaultWidth;
}

std::int64_t ticks(std::chrono::steady_clock::time_point time) { return time.time_since_epoch().count(); }

}  // namespace

ProgressBar::ProgressBar(ProgressOptions options)
    : options_(std::move(options)),
      enabled_(options_.enabled.value_or(::isatty(options_.fd) == 1)),
      ascii_(options_.ascii.value_or(!locale_is_utf8())),
      start_(std::chrono::steady_clock::now()) {
    refresh();
}

ProgressBar::~ProgressBar() { close(); }

std::string ProgressBar::format_meter(std::size_t n, std::optional<std::size_t> total, double elapsed_seconds,
                                      std::string_view description, std::string_view unit, std::size_t width,
                                      bool ascii) {
    std::string prefix = description.empty() ? std::string() : std::string(description) + ": ";
    const std::string elapsed = format_interval(elapsed_seconds);
    const std::string rate = format_rate(n, elapsed_seconds, unit);
    if (!total) return prefix + std::to_string(n) + std::string(unit) + " [" + elapsed + ", " + rate + "]";

    const double fraction = *total == 0 ? 1.0 : static_cast<double>(n) / static_cast<double>(*total);
    char percent[16];
    std::snprintf(percent, sizeof percent, "%3.0f%%", std::min(fraction, 1.0) * 100);
    std::string remaining = "?";
    if (n > 0 && elapsed_seconds > 0) {
        const double left = n >= *total ? 0 : static_cast<double>(*total - n) * elapsed_seconds / static_cast<double>(n);
        remaining = format_interval(left);
    }
    const std::string left_part = prefix + percent + "|";
    const std::string right_part =
        "| " + std::to_string(n) + "/" + std::to_string(*total) + " [" + elapsed + "<" + remaining + ", " + rate + "]";
    const std::size_t used = left_part.size() + right_part.size();
    if (used + 1 > width) return prefix + percent + " " + right_part.substr(2);  // too narrow for a bar
    return left_part + format_bar(fraction, width - used, ascii) + right_part;
}

void ProgressBar::update(std::size_t n) noexcept {
    count_.fetch_add(n, std::memory_order_relaxed);
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (ticks(now) < next_draw_.load(std::memory_order_relaxed)) return;
    // Another thread drawing now will show this count or a later one.
    std::unique_lock lock(draw_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    draw_locked(false);
}

void ProgressBar::set_description(std::string description) {
    std::lock_guard lock(draw_mutex_);
    options_.description = std::move(description);
}

void ProgressBar::refresh() noexcept {
    if (!enabled_) return;
    std::lock_guard lock(draw_mutex_);
    draw_locked(false);
}

void ProgressBar::clear() noexcept {
    if (!enabled_) return;
    std::lock_guard lock(draw_mutex_);
    if (closed_) return;
    write_all("\r\x1b[K");
    next_draw_.store(0, std::memory_order_relaxed);  // draw again at the next update
}

void ProgressBar::close() noexcept {
    if (!enabled_) return;
    std::lock_guard lock(draw_mutex_);
    if (closed_) return;
    if (options_.leave) {
        draw_locked(true);
    } else {
        write_all("\r\x1b[K");
    }
    closed_ = true;
}

void ProgressBar::draw_locked(bool final) noexcept {
    if (closed_) return;
    const auto now = std::chrono::steady_clock::now();
    next_draw_.store(ticks(now + options_.min_interval), std::memory_order_relaxed);
    try {
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        // One column short of the width: a line that fills the terminal
        // exactly wraps on some terminals.
        const std::size_t width = terminal_width(options_.fd) - 1;
        std::string line = "\r";
        line += format_meter(n(), options_.total, elapsed, options_.description, options_.unit, width, ascii_);
        line += "\x1b[K";
        if (final) line += "\n";
        write_all(line);
    } catch (...) {
        // Out of memory while formatting: skip this draw, as drawing is best effort.
    }
}

void ProgressBar::write_all(std::string_view text) noexcept {
    while (!text.empty()) {
        const ssize_t written = ::write(options_.fd, text.data(), text.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // the terminal went away: drawing is best effort
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace tandem

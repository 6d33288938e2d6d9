// bench_thread_pool — tandem's ThreadPoolExecutor side by side with oneTBB,
// boost::asio::thread_pool and a textbook mutex + condition_variable pool, in
// one process, on these workloads:
//
//   (a) empty tasks from one submitter    (b) ~1 us tasks, efficiency vs ideal
//   (c) one-task round trip, median/p99   (d) chunked parallel map
//   (e) CPU burned by an idle pool        (f) recursive fork-join (tandem, TBB)
//   (g) empty tasks from 4 submitters
//
// and the classic fork-join workloads (fork_join.hpp), each
// parent task waiting for its children inside the pool (tandem, TBB):
//
//   (h) nqueens   (i) skynet, 10-way fan-out   (j) blocked matmul
//
//     bench_thread_pool [--threads N] [--reps N] [--quick] [--only LETTERS] [--peers NAMES] [--json FILE]
//
// Every figure is the median of --reps repetitions (pooled samples for (c)).
// Repetitions interleave the peers, starting with a different one each time,
// with a short pause before each measurement so that one pool's spinning
// workers do not eat into the next one's time.
#include <fcntl.h>   // open() for /proc reads
#include <unistd.h>  // read(), close()

#include <algorithm>   // sort, rotate, nth_element
#include <charconv>    // parsing numbers from /proc and the command line
#include <chrono>      // timing
#include <cmath>       // llround
#include <cstdio>      // printf, file output
#include <cstdlib>     // getloadavg, exit codes
#include <cstring>     // strcmp
#include <filesystem>  // listing /proc/self/task
#include <functional>  // peer factories
#include <limits>      // NaN fill for matmul
#include <optional>    // figures a peer does not offer
#include <set>         // thread ids
#include <string>      // titles, notes
#include <thread>      // hardware_concurrency, sleeping
#include <utility>     // std::pair
#include <vector>      // samples

#include "peer.hpp"  // the workloads and the peers

namespace tandem_bench {

// Aligned to a cache line, so that the loop's place relative to the
// instruction fetch is the same in every build.
[[gnu::noinline, gnu::aligned(64)]] void spin(std::uint64_t iterations) noexcept {
    for (std::uint64_t i = 0; i < iterations; ++i) asm volatile("" ::: "memory");
}

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Options and sizes

struct Options {
    std::size_t threads = std::max(1U, std::thread::hardware_concurrency());
    int reps = 5;
    bool quick = false;
    std::string only = "abcdefghij";
    std::string peers;  // empty: every peer built in
    std::string json;
};

struct Sizes {
    std::size_t tasks;        // (a), (b), (g)
    std::size_t round_trips;  // (c), over all repetitions
    std::size_t map_elements;
    std::size_t map_chunk;
    std::size_t submitters;   // (g)
    int fib_n;
    int fib_cutoff;
    int queens;
    std::uint64_t skynet_leaves;  // a power of ten
    std::size_t matmul_n;         // a power of two
};

constexpr Sizes full_sizes{1'000'000, 100'000, 10'000'000, 10'000, 4, 35, 12, 13, 10'000'000, 1024};
constexpr Sizes quick_sizes{200'000, 20'000, 2'000'000, 10'000, 4, 32, 12, 11, 1'000'000, 512};

constexpr std::size_t warm_tasks = 20'000;         // ~1 us each: a pool's warm-up, and its work before (e)
constexpr auto settle_time = std::chrono::milliseconds(10);
constexpr auto idle_window = std::chrono::seconds(1);

[[noreturn]] void usage(int status) {
    std::fprintf(status == 0 ? stdout : stderr,
                 "usage: bench_thread_pool [--threads N] [--reps N] [--quick] [--only LETTERS] [--peers NAMES]\n"
                 "                         [--json FILE]\n"
                 "  --threads N    workers in every pool (default: hardware threads)\n"
                 "  --reps N       repetitions per workload, median reported (default 5; --quick: 3)\n"
                 "  --quick        smaller sizes for a CI-sized run (200k tasks instead of 1M)\n"
                 "  --only LETTERS run only these workloads, e.g. --only ace\n"
                 "  --peers NAMES  run only these peers, e.g. --peers tandem,tbb (ratios need tandem)\n"
                 "  --json FILE    also write the results as JSON\n");
    std::exit(status);
}

std::size_t parse_count(const char* text) {
    std::size_t value = 0;
    const char* end = text + std::strlen(text);
    const auto [last, error] = std::from_chars(text, end, value);
    if (error != std::errc() || last != end || value == 0) {
        std::fprintf(stderr, "bench_thread_pool: expected a positive number, got '%s'\n", text);
        usage(2);
    }
    return value;
}

Options parse(int argc, char** argv) {
    Options options;
    bool reps_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (arg == "--threads") {
            options.threads = parse_count(value());
        } else if (arg == "--reps") {
            options.reps = static_cast<int>(parse_count(value()));
            reps_given = true;
        } else if (arg == "--quick") {
            options.quick = true;
        } else if (arg == "--only") {
            options.only = value();
        } else if (arg == "--peers") {
            options.peers = value();
        } else if (arg == "--json") {
            options.json = value();
        } else if (arg == "--help" || arg == "-h") {
            usage(0);
        } else {
            std::fprintf(stderr, "bench_thread_pool: unknown argument '%s'\n", argv[i]);
            usage(2);
        }
    }
    if (options.quick && !reps_given) options.reps = 3;
    return options;
}

// ---------------------------------------------------------------------------
// Measuring

template <class Fn>
double seconds(Fn&& fn) {
    const auto start = Clock::now();
    fn();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    if (values.size() % 2 == 1) return *middle;
    return (*middle + *std::max_element(values.begin(), middle)) / 2;
}

double percentile(std::vector<double> values, double fraction) {
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
    return values[index];
}

/// Loop turns of spin() per microsecond: the fastest of many short probes.
/// Other processes only ever make a probe slower, and a probe of ~50 us
/// usually fits in one time slice even on a loaded machine.
// Loop turns per microsecond, measured on `threads` threads spinning at once,
// as (b)'s tasks run: on a VM whose two cores may be one physical core's two
// hardware threads, the loop runs up to twice as fast while the other is idle,
// and a calibration on one thread set (b)'s "ideal" from 45% to 100% of what
// the tasks could reach. The mean of each thread's best of 200 tries.
std::uint64_t calibrate_spin(std::size_t threads) {
    constexpr std::uint64_t probe = 100'000;
    std::vector<double> best(threads, 1e9);
    on_threads_at_once(threads, [&best](std::size_t index) {
        for (int i = 0; i < 200; ++i) best[index] = std::min(best[index], seconds([] { spin(probe); }));
    });
    double mean = 0;
    for (double seconds_each : best) mean += seconds_each / static_cast<double>(threads);
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(static_cast<double>(probe) / (mean * 1e6))));
}

/// The 1-minute load average; -1 if unknown.
double load_average() {
    double load = -1;
    return getloadavg(&load, 1) == 1 ? load : -1;
}

std::set<int> thread_ids() {
    std::set<int> ids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
        ids.insert(std::stoi(entry.path().filename().string()));
    return ids;
}

/// CPU time the thread has run, in ns: the first field of its schedstat (the
/// scheduler's exact sum, unlike /proc/.../stat's 10 ms ticks). 0 if gone.
std::uint64_t thread_cpu_ns(int tid) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/schedstat";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buffer[128];
    const ssize_t length = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    std::uint64_t ns = 0;
    if (length > 0) std::from_chars(buffer, buffer + length, ns);
    return ns;
}

std::uint64_t cpu_ns(const std::vector<int>& tids) {
    std::uint64_t total = 0;
    for (int tid : tids) total += thread_cpu_ns(tid);
    return total;
}

// ---------------------------------------------------------------------------
// Results

enum class Unit { rate, microseconds, milliseconds, percent };

struct Figure {
    double value = 0;             // the median
    std::vector<double> samples;  // one per repetition
    std::string note;             // printed after the value
    std::vector<std::pair<std::string, double>> extra;  // written to the JSON too
};

struct Row {
    char id;
    std::string title;
    Unit unit;
    std::vector<std::optional<Figure>> figures;  // per peer; empty where not offered
};

const char* unit_name(Unit unit) {
    switch (unit) {
        case Unit::rate: return "per_second";
        case Unit::microseconds: return "microseconds";
        case Unit::milliseconds: return "milliseconds";
        case Unit::percent: return "percent_of_one_core";
    }
    return "";
}

std::string format_value(Unit unit, double value) {
    char text[64];
    switch (unit) {
        case Unit::rate: std::snprintf(text, sizeof text, "%.2f M/s", value / 1e6); break;
        case Unit::microseconds: std::snprintf(text, sizeof text, "%.2f us", value); break;
        case Unit::milliseconds: std::snprintf(text, sizeof text, "%.1f ms", value); break;
        case Unit::percent: std::snprintf(text, sizeof text, "%.3f%%", value); break;
    }
    return text;
}

/// How many times better tandem is than `peer`: above 1, tandem is ahead.
/// None for idle CPU, where both are near zero and a ratio means nothing.
std::optional<double> advantage(Unit unit, double tandem, double peer) {
    if (unit == Unit::percent || tandem <= 0 || peer <= 0) return std::nullopt;
    return unit == Unit::rate ? tandem / peer : peer / tandem;
}

struct PeerEntry {
    const char* name;
    std::unique_ptr<Peer> (*make)(std::size_t threads);
    std::unique_ptr<Peer> peer;
};

/// Peers are compared with tandem, which comes first when it runs at all.
bool has_tandem(const std::vector<PeerEntry>& peers) {
    return !peers.empty() && std::strcmp(peers[0].name, "tandem") == 0;
}

void print_row(const Row& row, const std::vector<PeerEntry>& peers) {
    char label[64];
    std::snprintf(label, sizeof label, "(%c) %s", row.id, row.title.c_str());
    std::printf("%-44s", label);
    const std::optional<Figure>& tandem = has_tandem(peers) ? row.figures[0] : std::nullopt;
    for (std::size_t k = 0; k < peers.size(); ++k) {
        std::printf("%s%s ", k == 0 ? "" : " | ", peers[k].name);
        const std::optional<Figure>& figure = row.figures[k];
        if (!figure) {
            std::printf("n/a");
            continue;
        }
        std::printf("%s", format_value(row.unit, figure->value).c_str());
        if (!figure->note.empty()) std::printf(" %s", figure->note.c_str());
        if (k == 0 || !tandem) continue;
        if (auto ratio = advantage(row.unit, tandem->value, figure->value)) std::printf(" (%.3gx)", *ratio);
    }
    std::printf("\n");
}

void write_json(const std::string& path, const Options& options, const Sizes& sizes, std::uint64_t spin_per_us,
                std::pair<double, double> load, const std::vector<PeerEntry>& peers, const std::vector<Row>& rows) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out == nullptr) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fprintf(out, "{\n  \"threads\": %zu,\n  \"hardware_threads\": %u,\n  \"reps\": %d,\n  \"quick\": %s,\n",
                 options.threads, std::thread::hardware_concurrency(), options.reps, options.quick ? "true" : "false");
    std::fprintf(out, "  \"load_average\": {\"start\": %.2f, \"end\": %.2f},\n", load.first, load.second);
    std::fprintf(out, "  \"spin_iterations_per_us\": %llu,\n", static_cast<unsigned long long>(spin_per_us));
    std::fprintf(out,
                 "  \"sizes\": {\"tasks\": %zu, \"round_trips\": %zu, \"map_elements\": %zu, \"map_chunk\": %zu, "
                 "\"submitters\": %zu, \"fib_n\": %d, \"fib_cutoff\": %d},\n",
                 sizes.tasks, sizes.round_trips, sizes.map_elements, sizes.map_chunk, sizes.submitters, sizes.fib_n,
                 sizes.fib_cutoff);
    std::fprintf(out, "  \"await\": {");
    for (std::size_t k = 0; k < peers.size(); ++k)
        std::fprintf(out, "%s\"%s\": \"%s\"", k ? ", " : "", peers[k].name, peers[k].peer ? peers[k].peer->await_style() : "");
    std::fprintf(out, "},\n  \"workloads\": [\n");
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const Row& row = rows[r];
        std::fprintf(out, "    {\"id\": \"%c\", \"title\": \"%s\", \"unit\": \"%s\", \"results\": {", row.id,
                     row.title.c_str(), unit_name(row.unit));
        for (std::size_t k = 0; k < peers.size(); ++k) {
            std::fprintf(out, "%s\"%s\": ", k ? ", " : "", peers[k].name);
            const std::optional<Figure>& figure = row.figures[k];
            if (!figure) {
                std::fprintf(out, "null");
                continue;
            }
            std::fprintf(out, "{\"median\": %.6g, \"samples\": [", figure->value);
            for (std::size_t i = 0; i < figure->samples.size(); ++i)
                std::fprintf(out, "%s%.6g", i ? ", " : "", figure->samples[i]);
            std::fprintf(out, "]");
            for (const auto& [key, value] : figure->extra) std::fprintf(out, ", \"%s\": %.6g", key.c_str(), value);
            const bool compared = has_tandem(peers) && row.figures[0];
            const auto ratio = advantage(row.unit, compared ? row.figures[0]->value : 0, figure->value);
            if (k > 0 && ratio) std::fprintf(out, ", \"tandem_advantage\": %.4g", *ratio);
            std::fprintf(out, "}");
        }
        std::fprintf(out, "}}%s\n", r + 1 < rows.size() ? "," : "");
    }
    std::fprintf(out, "  ]\n}\n");
    std::fclose(out);
}

// ---------------------------------------------------------------------------
// The runs

/// Calls `measure(peer, k)` --reps times for every peer that offers the
/// workload, rotating which peer goes first; returns each peer's samples.
template <class Measure>
std::vector<std::vector<double>> repeat(std::vector<PeerEntry>& peers, int reps, Measure measure) {
    std::vector<std::vector<double>> samples(peers.size());
    for (int rep = 0; rep < reps; ++rep) {
        for (std::size_t i = 0; i < peers.size(); ++i) {
            const std::size_t k = (i + static_cast<std::size_t>(rep)) % peers.size();
            std::this_thread::sleep_for(settle_time);
            if (auto sample = measure(*peers[k].peer, k)) samples[k].push_back(*sample);
        }
    }
    return samples;
}

std::vector<std::optional<Figure>> figures_of(const std::vector<std::vector<double>>& samples) {
    std::vector<std::optional<Figure>> figures;
    for (const auto& mine : samples) {
        if (mine.empty()) {
            figures.emplace_back();
        } else {
            figures.emplace_back(Figure{.value = median(mine), .samples = mine});
        }
    }
    return figures;
}

/// A fork-join workload timed in ms: `run(peer)` returns the peer's result, or
/// nothing if the peer does not offer the workload; `check(result)` must hold,
/// or the run stops, naming `what` was wrong.
template <class Run, class Check>
std::vector<std::optional<Figure>> time_fork_join(std::vector<PeerEntry>& peers, int reps, const char* what, Run run,
                                                  Check check) {
    return figures_of(repeat(peers, reps, [&](Peer& peer, std::size_t k) -> std::optional<double> {
        const auto start = Clock::now();
        const auto result = run(peer);
        const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!result) return std::nullopt;
        if (!check(*result)) {
            std::fprintf(stderr, "\n%s: wrong %s result\n", peers[k].name, what);
            std::exit(1);
        }
        return elapsed;
    }));
}

/// (e): each peer gets a fresh pool, alone in the process but for TBB's global
/// workers (asleep), does ~20 ms of work, then sits idle; the CPU time of its
/// own threads — those that appeared when it was made — over the next second.
Row idle_cpu(std::vector<PeerEntry>& peers, const Options& options, std::uint64_t spin_per_us) {
    Row row{'e', "idle pool, CPU over 1 s", Unit::percent, {}};
    for (PeerEntry& entry : peers) {
        std::fprintf(stderr, ".");
        const std::set<int> before = thread_ids();
        std::unique_ptr<Peer> peer = entry.make(options.threads);
        peer->run_tasks(warm_tasks, spin_per_us);
        std::vector<int> pool_threads;
        for (int tid : thread_ids())
            if (!before.contains(tid)) pool_threads.push_back(tid);
        std::vector<double> samples;
        for (int rep = 0; rep < options.reps; ++rep) {
            peer->run_tasks(warm_tasks, spin_per_us);
            const std::uint64_t cpu_before = cpu_ns(pool_threads);
            const auto start = Clock::now();
            std::this_thread::sleep_for(idle_window);
            const std::uint64_t cpu_after = cpu_ns(pool_threads);
            const double wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
            samples.push_back(100.0 * static_cast<double>(cpu_after - cpu_before) / wall_ns);
        }
        Figure figure{.value = median(samples), .samples = samples};
        char note[32];
        std::snprintf(note, sizeof note, "(%zu thr)", pool_threads.size());
        figure.note = note;
        figure.extra.emplace_back("threads_measured", static_cast<double>(pool_threads.size()));
        row.figures.emplace_back(std::move(figure));
    }
    return row;
}

int run(const Options& options) {
    const Sizes sizes = options.quick ? quick_sizes : full_sizes;
    const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
    const std::uint64_t spin_per_us = calibrate_spin(std::min(options.threads, cores));
    // Peers not found at configure time are left out (bench/CMakeLists.txt says which).
    std::vector<PeerEntry> peers;
    peers.push_back({"tandem", make_tandem_peer, nullptr});
#if TANDEM_BENCH_HAVE_TBB
    peers.push_back({"tbb", make_tbb_peer, nullptr});
#endif
#if TANDEM_BENCH_HAVE_ASIO
    peers.push_back({"asio", make_asio_peer, nullptr});
#endif
    peers.push_back({"textbook", make_textbook_peer, nullptr});
    if (!options.peers.empty()) {
        std::erase_if(peers, [&](const PeerEntry& entry) {
            const std::string list = "," + options.peers + ",";
            return list.find("," + std::string(entry.name) + ",") == std::string::npos;
        });
        if (peers.empty()) {
            std::fprintf(stderr, "bench_thread_pool: --peers %s names no peer built here\n", options.peers.c_str());
            return 2;
        }
    }
    const auto wanted = [&](char id) { return options.only.find(id) != std::string::npos; };
    const auto progress = [](char id) { std::fprintf(stderr, " %c", id); };

    const double load_at_start = load_average();
    std::printf("tandem ThreadPoolExecutor vs peers: %zu worker threads per pool, %zu hardware threads, "
                "median of %d reps%s\n",
                options.threads, cores, options.reps, options.quick ? " (quick sizes)" : "");
    std::printf("load average %.2f at start (other processes share these cores: figures vary between runs)\n",
                load_at_start);
    std::printf("spin work: %llu loop turns = 1 us\n", static_cast<unsigned long long>(spin_per_us));
    std::fflush(stdout);
    std::fprintf(stderr, "running:");

    std::vector<Row> rows;
    // Idle CPU first, with fresh pools, before the other peers' threads exist.
    if (wanted('e')) {
        progress('e');
        rows.push_back(idle_cpu(peers, options, spin_per_us));
    }

    for (PeerEntry& entry : peers) {
        entry.peer = entry.make(options.threads);
        entry.peer->run_tasks(warm_tasks, spin_per_us);  // starts lazily created threads
    }

    const double tasks = static_cast<double>(sizes.tasks);
    if (wanted('a')) {
        progress('a');
        auto samples = repeat(peers, options.reps, [&](Peer& peer, std::size_t) -> std::optional<double> {
            return tasks / seconds([&] { peer.run_tasks(sizes.tasks, 0); });
        });
        rows.push_back({'a', "empty tasks, 1 submitter", Unit::rate, figures_of(samples)});
    }
    if (wanted('b')) {
        progress('b');
        auto samples = repeat(peers, options.reps, [&](Peer& peer, std::size_t) -> std::optional<double> {
            return tasks / seconds([&] { peer.run_tasks(sizes.tasks, spin_per_us); });
        });
        Row row{'b', "1 us tasks, 1 submitter", Unit::rate, figures_of(samples)};
        const double ideal = static_cast<double>(std::min(options.threads, cores)) * 1e6;
        for (auto& figure : row.figures) {
            const double efficiency = figure->value / ideal;
            char note[32];
            std::snprintf(note, sizeof note, "%.0f%%", 100 * efficiency);
            figure->note = note;
            figure->extra.emplace_back("efficiency", efficiency);
        }
        rows.push_back(std::move(row));
    }
    if (wanted('c')) {
        progress('c');
        // The round trips are split over the repetitions; median and p99 are
        // taken over all of them.
        const std::size_t per_rep = std::max<std::size_t>(1, sizes.round_trips / static_cast<std::size_t>(options.reps));
        std::vector<std::vector<double>> all(peers.size());
        auto samples = repeat(peers, options.reps, [&](Peer& peer, std::size_t k) -> std::optional<double> {
            std::vector<double> ns(per_rep);
            if (peer.round_trips(ns) != per_rep * (per_rep - 1) / 2) {
                std::fprintf(stderr, "\n%s: wrong round-trip results\n", peers[k].name);
                std::exit(1);
            }
            for (double& sample : ns) sample /= 1000;
            all[k].insert(all[k].end(), ns.begin(), ns.end());
            return median(std::move(ns));
        });
        Row row{'c', "round trip, 1 task at a time", Unit::microseconds, figures_of(samples)};
        for (std::size_t k = 0; k < peers.size(); ++k) {
            Figure& figure = *row.figures[k];
            figure.value = median(all[k]);
            const double p99 = percentile(all[k], 0.99);
            char note[32];
            std::snprintf(note, sizeof note, "p99 %.1f", p99);
            figure.note = note;
            figure.extra.emplace_back("p99_us", p99);
        }
        rows.push_back(std::move(row));
    }
    if (wanted('d')) {
        progress('d');
        std::vector<std::uint64_t> expected(sizes.map_elements);
        for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = mix(i);
        std::vector<std::uint64_t> out(sizes.map_elements);
        auto samples = repeat(peers, options.reps, [&](Peer& peer, std::size_t k) -> std::optional<double> {
            std::fill(out.begin(), out.end(), 0);
            const double elapsed = seconds([&] { peer.map(out, sizes.map_chunk); });
            if (out != expected) {
                std::fprintf(stderr, "\n%s: wrong map results\n", peers[k].name);
                std::exit(1);
            }
            return static_cast<double>(sizes.map_elements) / elapsed;
        });
        char title[64];
        std::snprintf(title, sizeof title, "map %zuM elements, chunks of %zuk", sizes.map_elements / 1'000'000,
                      sizes.map_chunk / 1000);
        rows.push_back({'d', title, Unit::rate, figures_of(samples)});
    }
    if (wanted('f')) {
        progress('f');
        const std::uint64_t expected = serial_fib(sizes.fib_n);
        auto figures = time_fork_join(
            peers, options.reps, "Fibonacci", [&](Peer& peer) { return peer.fib(sizes.fib_n, sizes.fib_cutoff); },
            [&](std::uint64_t result) { return result == expected; });
        // Tasks: one per call at or above the cutoff.
        std::vector<std::uint64_t> calls(static_cast<std::size_t>(sizes.fib_n) + 1, 0);
        for (int n = sizes.fib_cutoff; n <= sizes.fib_n; ++n)
            calls[static_cast<std::size_t>(n)] = 1 + calls[static_cast<std::size_t>(n - 1)] + calls[static_cast<std::size_t>(n - 2)];
        char title[64];
        std::snprintf(title, sizeof title, "fork-join fib(%d), %lluk tasks", sizes.fib_n,
                      static_cast<unsigned long long>(calls.back() / 1000));
        rows.push_back({'f', title, Unit::milliseconds, std::move(figures)});
    }
    if (wanted('g')) {
        progress('g');
        auto samples = repeat(peers, options.reps, [&](Peer& peer, std::size_t) -> std::optional<double> {
            return tasks / seconds([&] { peer.run_tasks_from_threads(sizes.submitters, sizes.tasks); });
        });
        char title[64];
        std::snprintf(title, sizeof title, "empty tasks, %zu submitters", sizes.submitters);
        rows.push_back({'g', title, Unit::rate, figures_of(samples)});
    }
    if (wanted('h')) {
        progress('h');
        auto figures = time_fork_join(
            peers, options.reps, "nqueens", [&](Peer& peer) { return peer.nqueens(sizes.queens); },
            [&](std::uint64_t result) { return result == nqueens_expected(sizes.queens); });
        char title[64];
        std::snprintf(title, sizeof title, "fork-join nqueens(%d), %.2fM tasks", sizes.queens,
                      static_cast<double>(nqueens_tasks(sizes.queens)) / 1e6);
        rows.push_back({'h', title, Unit::milliseconds, std::move(figures)});
    }
    if (wanted('i')) {
        progress('i');
        auto figures = time_fork_join(
            peers, options.reps, "skynet", [&](Peer& peer) { return peer.skynet(sizes.skynet_leaves); },
            [&](std::uint64_t result) { return result == skynet_expected(sizes.skynet_leaves); });
        char title[64];
        std::snprintf(title, sizeof title, "fork-join skynet, %.1fM tasks, %llu-way",
                      static_cast<double>(skynet_tasks(sizes.skynet_leaves)) / 1e6,
                      static_cast<unsigned long long>(kSkynetFanOut));
        rows.push_back({'i', title, Unit::milliseconds, std::move(figures)});
    }
    if (wanted('j')) {
        progress('j');
        const std::size_t n = sizes.matmul_n;
        std::vector<float> a = matmul_input(n, 1);
        std::vector<float> b = matmul_input(n, 3);
        const std::vector<float> expected = matmul_expected(a, b, n);
        // Filled with NaN before each run, so that a peer cannot pass on the
        // previous one's product.
        std::vector<float> c(n * n, std::numeric_limits<float>::quiet_NaN());
        auto figures = time_fork_join(
            peers, options.reps, "matmul",
            [&](Peer& peer) {
                return peer.matmul({a.data(), n, n}, {b.data(), n, n}, {c.data(), n, n}) ? std::optional(true)
                                                                                        : std::nullopt;
            },
            [&](bool) {
                const bool right = c == expected;
                std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
                return right;
            });
        char title[64];
        std::snprintf(title, sizeof title, "fork-join matmul %zux%zu, %lluk tasks", n, n,
                      static_cast<unsigned long long>(matmul_tasks(n) / 1000));
        rows.push_back({'j', title, Unit::milliseconds, std::move(figures)});
    }
    std::fprintf(stderr, "\n");

    std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.id < y.id; });
    std::printf("waiting for all tasks:");
    for (const PeerEntry& entry : peers) std::printf(" %s: %s;", entry.name, entry.peer->await_style());
    std::printf("\n(N.NNx) = tandem's advantage: tandem/peer for rates, peer/tandem for times; above 1: tandem ahead\n\n");
    for (const Row& row : rows) print_row(row, peers);
    const double load_at_end = load_average();
    std::printf("\nload average %.2f at the end\n", load_at_end);
    if (!options.json.empty())
        write_json(options.json, options, sizes, spin_per_us, {load_at_start, load_at_end}, peers, rows);
    return 0;
}

}  // namespace
}  // namespace tandem_bench

int main(int argc, char** argv) { return tandem_bench::run(tandem_bench::parse(argc, argv)); }

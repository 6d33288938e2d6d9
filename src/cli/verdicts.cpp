// tandem bench: one function per claim of the lecture, each reading the
// figures it needs from the report and saying what they show.
#include "verdicts.hpp"

#include <fmt/core.h>  // fmt::format

#include <algorithm>  // std::min, std::max
#include <cmath>      // std::abs
#include <optional>   // figures that may be missing
#include <string>     // texts

#include "table.hpp"  // format_seconds

namespace tandem::cli {

namespace {

// The lecture's short name for a workload, used in verdict texts.
std::string short_name(const WorkloadResult& workload) {
    if (workload.name == "cpu_crunch") return "crunching numbers";
    if (workload.name == "audio_preprocess") return "preprocessing audio";
    if (workload.name == "http_fetch") return "HTTP GETs";
    if (workload.name == "files_waits") return "files and waits";
    return workload.name;
}

std::optional<double> speedup_of(const WorkloadResult& workload, std::string_view mode) {
    const ModeResult* found = workload.find(mode);
    return found ? found->speedup : std::nullopt;
}

std::string times(std::optional<double> speedup) { return speedup ? fmt::format("{:.2f}x", *speedup) : "-"; }

std::vector<const WorkloadResult*> of_kind(const Report& report, WorkloadKind kind) {
    std::vector<const WorkloadResult*> found;
    for (const WorkloadResult& workload : report.workloads) {
        if (workload.kind == kind) found.push_back(&workload);
    }
    return found;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty()) out += separator;
        out += part;
    }
    return out;
}

// When the machine could not run even a trivially parallel loop `threshold`
// times as fast on its CPUs, the reason a speedup claim fails is not the
// claim: say so.
std::string capacity_note(const Report& report, double threshold) {
    const double capacity = report.machine.parallel_capacity;
    if (capacity <= 0 || capacity >= threshold) return "";
    return fmt::format(". But when the run began, {} threads of a trivially parallel loop ran only {:.2f}x as fast "
                       "as one: other programs hold this machine's CPUs, so no parallel speedup could reach {:.2f}x "
                       "here now",
                       report.jobs, capacity, threshold);
}

// --- CPU-bound ---------------------------------------------------------------

void processes_speed_up_cpu_work(const Report& report, std::vector<Verdict>& out) {
    const auto workloads = of_kind(report, WorkloadKind::cpu);
    if (workloads.empty()) return;
    bool holds = true;
    double threshold = 0;
    std::size_t workers = 0;
    std::vector<std::string> parts;
    for (const WorkloadResult* workload : workloads) {
        std::vector<std::string> figures;
        for (const char* mode : {"processes", "python_processes"}) {
            const ModeResult* found = workload->find(mode);
            if (found == nullptr || !found->speedup) continue;
            workers = found->workers;
            threshold = parallel_gain_threshold(found->workers, report.machine.cpus);
            holds = holds && *found->speedup >= threshold;
            figures.push_back(fmt::format("{} {}", mode_label(mode), times(found->speedup)));
        }
        parts.push_back(short_name(*workload) + ": " + join(figures, ", "));
    }
    std::string text = join(parts, "; ");
    if (std::min(workers, report.machine.cpus) < 2) {
        holds = false;
        text += fmt::format(" — with {} worker(s) on {} usable CPU(s) no parallel speedup is possible here",
                            workers, report.machine.cpus);
    } else {
        text += fmt::format(" ({} workers on {} CPUs; a speedup counts from {:.2f}x)", workers, report.machine.cpus,
                            threshold);
        if (!holds) text += capacity_note(report, threshold);
    }
    out.push_back({"processes_speed_up_cpu_work",
                   "Processes give a significant performance boost on CPU-bound work (crunching data, data "
                   "preprocessing)",
                   holds, text});
}

void gil_serialises_threads(const Report& report, std::vector<Verdict>& out) {
    const auto workloads = of_kind(report, WorkloadKind::cpu);
    if (workloads.empty()) return;
    bool holds = true;
    bool any = false;
    std::vector<std::string> parts;
    for (const WorkloadResult* workload : workloads) {
        const auto python = speedup_of(*workload, "python_threads");
        const auto emulated = speedup_of(*workload, "threads_gil");
        // CPython is the real thing; the emulation decides only without it.
        if (const auto judged = python ? python : emulated) {
            any = true;
            holds = holds && *judged < kNoSpeedupCeiling;
        }
        parts.push_back(fmt::format("{}: CPython threads {}, C++ threads under the emulated GIL {}",
                                    short_name(*workload), times(python), times(emulated)));
    }
    if (!any) return;
    out.push_back({"gil_serialises_threads",
                   "The GIL makes threads run CPU-bound work serially: threads give no speedup",
                   holds, join(parts, "; ") + fmt::format(" (no speedup means below {:.1f}x)", kNoSpeedupCeiling)});
}

void cpp_threads_need_no_processes(const Report& report, std::vector<Verdict>& out) {
    const auto workloads = of_kind(report, WorkloadKind::cpu);
    if (workloads.empty()) return;
    bool holds = true;
    bool any = false;
    std::vector<std::string> parts;
    for (const WorkloadResult* workload : workloads) {
        const ModeResult* threads = workload->find("threads");
        if (threads == nullptr || !threads->speedup) continue;
        any = true;
        const double threshold = parallel_gain_threshold(threads->workers, report.machine.cpus);
        holds = holds && *threads->speedup < threshold;
        parts.push_back(fmt::format("{}: C++ threads {} (processes {})", short_name(*workload),
                                    times(threads->speedup), times(speedup_of(*workload, "processes"))));
    }
    if (!any) return;
    std::string text = join(parts, "; ");
    text += holds ? " — C++ threads did not speed this up here either" +
                        capacity_note(report, parallel_gain_threshold(report.jobs, report.machine.cpus))
                  : " — C++ has no GIL: threads speed up CPU-bound work as processes do, without their start-up "
                    "cost and copies; in Python use processes, in C++ threads are enough";
    out.push_back({"threads_do_not_speed_up_cpu_work",
                   "Threads do not speed up CPU-bound work, so it needs processes (true of CPython; C++ has no GIL)",
                   holds, text});
}

void gil_emulation_matches_cpython(const Report& report, std::vector<Verdict>& out) {
    bool holds = true;
    std::vector<std::string> parts;
    for (const WorkloadResult* workload : of_kind(report, WorkloadKind::cpu)) {
        const auto python = speedup_of(*workload, "python_threads");
        const auto emulated = speedup_of(*workload, "threads_gil");
        if (!python || !emulated) continue;
        const double difference = std::abs(*emulated / *python - 1);
        holds = holds && difference <= kGilFidelity;
        parts.push_back(fmt::format("{}: emulated {} vs CPython {} ({:.0f}% apart)", short_name(*workload),
                                    times(emulated), times(python), difference * 100));
    }
    if (parts.empty()) return;
    out.push_back({"gil_emulation_matches_cpython",
                   "tandem's InterpreterLock behaves like CPython's GIL on CPU-bound threads (speedups within 25%)",
                   holds, join(parts, "; ")});
}

// --- I/O-bound ---------------------------------------------------------------

void threads_speed_up_io(const Report& report, std::vector<Verdict>& out) {
    const auto workloads = of_kind(report, WorkloadKind::io);
    if (workloads.empty()) return;
    bool holds = true;
    std::size_t workers = 0;
    std::vector<std::string> parts;
    for (const WorkloadResult* workload : workloads) {
        std::vector<std::string> figures;
        for (const char* mode : {"threads", "threads_gil", "python_threads"}) {
            const ModeResult* found = workload->find(mode);
            if (found == nullptr || !found->speedup) continue;
            workers = found->workers;
            holds = holds && *found->speedup >= kIoGain;
            figures.push_back(fmt::format("{} {}", mode_label(mode), times(found->speedup)));
        }
        for (const char* mode : {"processes", "python_processes"}) {
            if (const auto speedup = speedup_of(*workload, mode))
                figures.push_back(fmt::format("{} {}", mode_label(mode), times(speedup)));
        }
        parts.push_back(short_name(*workload) + ": " + join(figures, ", "));
    }
    out.push_back({"threads_speed_up_io", "Threads speed up I/O-bound work (network access, files, waits)", holds,
                   join(parts, "; ") +
                       fmt::format(" ({} workers; a speedup counts from {:.0f}x). Waiting releases the GIL, so "
                                   "CPython's threads overlap their waits too.",
                                   workers, kIoGain)});
}

// --- overheads ---------------------------------------------------------------

std::optional<double> seconds_of(const WorkloadResult& workload, std::string_view mode) {
    const ModeResult* found = workload.find(mode);
    return found ? std::optional<double>(found->seconds) : std::nullopt;
}

std::string duration_or_dash(std::optional<double> seconds) { return seconds ? format_seconds(*seconds) : "-"; }

// The cheapest process start + join measured with `prefix` ("" or "python_").
std::optional<double> cheapest_process_start(const WorkloadResult& workload, const std::string& prefix) {
    std::optional<double> cheapest;
    for (const char* method : {"fork", "forkserver", "spawn"}) {
        if (const auto start = seconds_of(workload, prefix + "process_start_" + method))
            cheapest = cheapest ? std::min(*cheapest, *start) : *start;
    }
    return cheapest;
}

void processes_cost_overhead(const Report& report, std::vector<Verdict>& out) {
    const WorkloadResult* workload = report.find("overheads");
    if (workload == nullptr) return;
    bool holds = true;
    bool any = false;
    std::vector<std::string> parts;
    for (const std::string prefix : {"", "python_"}) {
        const auto thread = seconds_of(*workload, prefix + "thread_start");
        const auto cheapest = cheapest_process_start(*workload, prefix);
        std::vector<std::string> starts;
        for (const char* method : {"fork", "forkserver", "spawn"}) {
            if (const auto start = seconds_of(*workload, prefix + "process_start_" + method))
                starts.push_back(fmt::format("{} {}", method, format_seconds(*start)));
        }
        if (!thread || !cheapest) continue;
        any = true;
        holds = holds && *cheapest >= kProcessStartRatio * *thread;
        parts.push_back(fmt::format("{}: thread {}, process {} ({:.0f}x a thread at best); round trip: thread pool "
                                    "{}, process pool {}",
                                    prefix.empty() ? "C++" : "CPython", format_seconds(*thread), join(starts, ", "),
                                    *cheapest / *thread,
                                    duration_or_dash(seconds_of(*workload, prefix + "thread_pool_round_trip")),
                                    duration_or_dash(seconds_of(*workload, prefix + "process_pool_round_trip"))));
    }
    if (!any) return;
    out.push_back({"processes_cost_overhead",
                   "Processes cost significant overhead to manage (start + join, passing work)", holds,
                   "start + join — " + join(parts, "; ") +
                       fmt::format(" (significant from {:.0f}x a thread's start)", kProcessStartRatio)});
}

void threads_cost_overhead(const Report& report, std::vector<Verdict>& out) {
    const WorkloadResult* workload = report.find("overheads");
    if (workload == nullptr) return;
    bool holds = true;
    bool any = false;
    std::vector<std::string> parts;
    for (const std::string prefix : {"", "python_"}) {
        const auto thread = seconds_of(*workload, prefix + "thread_start");
        const auto round_trip = seconds_of(*workload, prefix + "thread_pool_round_trip");
        if (!thread || !round_trip) continue;
        any = true;
        holds = holds && *thread >= kThreadStartRatio * *round_trip;
        const auto process = cheapest_process_start(*workload, prefix);
        parts.push_back(fmt::format("{}: a new thread {}, {:.1f}x a task on a running pool ({}){}",
                                    prefix.empty() ? "C++" : "CPython", format_seconds(*thread),
                                    *thread / *round_trip, format_seconds(*round_trip),
                                    process ? fmt::format(", 1/{:.0f} of the cheapest process start", *process / *thread)
                                            : std::string()));
    }
    if (!any) return;
    out.push_back({"threads_cost_overhead",
                   "Threads cost overhead to manage (less than processes; a pool pays it once)", holds,
                   join(parts, "; ") + fmt::format(" (an overhead from {:.0f}x a pool's round trip)", kThreadStartRatio)});
}

// --- memory ------------------------------------------------------------------

void memory_copied(const Report& report, std::vector<Verdict>& out) {
    const WorkloadResult* workload = report.find("memory_copy");
    if (workload == nullptr) return;
    for (const std::string prefix : {"", "python_"}) {
        bool holds = true;
        std::vector<std::string> parts;
        double heap = 0;
        for (const char* method : {"fork", "forkserver", "spawn"}) {
            const ModeResult* mode = workload->find(prefix + method);
            if (mode == nullptr) continue;
            heap = mode->figure("heap_mib").value_or(0);
            const double copied = mode->figure("private_mib").value_or(0);
            const bool copy = heap > 0 && copied >= kCopiedFraction * heap;
            holds = holds && copy;
            parts.push_back(fmt::format("{} {:.1f} MiB private ({})", method, copied,
                                        copy ? "a copy" : "shared copy-on-write"));
        }
        if (parts.empty()) continue;
        std::string text = fmt::format("each worker beside a {:.0f} MiB heap: ", heap) + join(parts, ", ");
        if (const ModeResult* thread = workload->find(prefix + "threads"))
            text += fmt::format("; a thread adds {:.1f} MiB", thread->figure("rss_mib").value_or(0));
        text += prefix.empty()
                    ? ". fork shares the parent's pages until written; forkserver and spawn start from a fresh "
                      "program, so the data must be sent, which copies it"
                    : ". CPython's reference counts write to every object a child reads, so even fork ends up "
                      "copying the pages it touches";
        out.push_back({prefix.empty() ? "memory_copied_cpp" : "memory_copied_python",
                       std::string("The entire memory is copied in each subprocess (") +
                           (prefix.empty() ? "C++, tandem" : "CPython") + ")",
                       holds, text});
    }
}

// --- latency -----------------------------------------------------------------

void threads_keep_responsive(const Report& report, std::vector<Verdict>& out) {
    const WorkloadResult* workload = report.find("ui_responsiveness");
    if (workload == nullptr) return;
    const ModeResult* inline_mode = workload->find("inline");
    const ModeResult* thread = workload->find("thread");
    if (inline_mode == nullptr || thread == nullptr) return;
    const double period = thread->figure("period_ms").value_or(0);
    const double limit = kResponsivePeriods * period;
    const auto worst = [](const ModeResult* mode) { return mode->figure("worst_delay_ms").value_or(0); };
    const bool holds = worst(thread) <= limit && worst(inline_mode) > limit;
    std::vector<std::string> parts;
    for (const ModeResult& mode : workload->modes) {
        parts.push_back(fmt::format("{} {:.1f} ms{}", mode_label(mode.mode), worst(&mode),
                                    worst(&mode) <= limit ? "" : " (blocked)"));
    }
    out.push_back({"threads_keep_responsive",
                   "Threads keep a program responsive: it is not blocked by slow tasks (GUI)", holds,
                   fmt::format("worst delay of a {:.0f} ms tick while slow work runs: ", period) + join(parts, ", ") +
                       fmt::format(" (responsive up to {:.0f} ms). A GIL delays the tick by up to a switch "
                                   "interval, as the lock passes between threads.",
                                   limit)});
}

void threads_serve_audio(const Report& report, std::vector<Verdict>& out) {
    const WorkloadResult* workload = report.find("audio_realtime");
    if (workload == nullptr) return;
    const ModeResult* ring = workload->find("spsc_ring");
    if (ring == nullptr) return;
    const auto missed_fraction = [](const ModeResult& mode) {
        const double blocks = mode.figure("ticks").value_or(0);
        return blocks > 0 ? mode.figure("missed").value_or(0) / blocks : 1.0;
    };
    const bool holds = missed_fraction(*ring) <= kAudioMissedFraction;
    std::vector<std::string> parts;
    for (const ModeResult& mode : workload->modes) {
        parts.push_back(fmt::format("{} {:.0f} missed of {:.0f} (worst {:.2f} ms)", mode_label(mode.mode),
                                    mode.figure("missed").value_or(0), mode.figure("ticks").value_or(0),
                                    mode.figure("worst_delay_ms").value_or(0)));
    }
    out.push_back({"threads_serve_audio", "Threads suit audio programming: blocks arrive on time", holds,
                   fmt::format("a block every {:.2f} ms with CPU-bound threads beside: ",
                               ring->figure("period_ms").value_or(0)) +
                       join(parts, "; ") +
                       fmt::format(" (on time means at most {:.0f}% missed). Under a GIL the audio thread "
                                   "waits for the lock behind the CPU-bound threads.",
                                   kAudioMissedFraction * 100)});
}

}  // namespace

double parallel_gain_threshold(std::size_t workers, std::size_t cpus) noexcept {
    const std::size_t parallel = std::max<std::size_t>(1, std::min(workers, cpus));
    return 1 + 0.5 * static_cast<double>(parallel - 1);
}

std::vector<Verdict> judge(const Report& report) {
    std::vector<Verdict> verdicts;
    processes_speed_up_cpu_work(report, verdicts);
    gil_serialises_threads(report, verdicts);
    cpp_threads_need_no_processes(report, verdicts);
    gil_emulation_matches_cpython(report, verdicts);
    threads_speed_up_io(report, verdicts);
    processes_cost_overhead(report, verdicts);
    threads_cost_overhead(report, verdicts);
    memory_copied(report, verdicts);
    threads_keep_responsive(report, verdicts);
    threads_serve_audio(report, verdicts);
    return verdicts;
}

}  // namespace tandem::cli

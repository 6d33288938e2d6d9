// Tests for tandem bench's verdicts (src/cli/verdicts.hpp): each claim of the
// lecture judged on given figures — holding, not holding, and left out when
// its figures were not measured.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <string>  // texts

#include "report_builder.hpp"  // report_on, speedup_workload, mode
#include "verdicts.hpp"        // judge, parallel_gain_threshold

using namespace tandem_test;
using tandem::cli::judge;
using tandem::cli::Verdict;

namespace {

const Verdict* find(const std::vector<Verdict>& verdicts, const std::string& id) {
    for (const Verdict& verdict : verdicts) {
        if (verdict.id == id) return &verdict;
    }
    return nullptr;
}

// The figures the lecture expects on a 2-CPU machine.
Report lecture_figures() {
    Report report = report_on(2);
    report.workloads.push_back(speedup_workload("cpu_crunch", WorkloadKind::cpu, 2,
                                                {{"threads", 1.95}, {"threads_gil", 0.98}, {"processes", 1.9},
                                                 {"python_threads", 0.97}, {"python_processes", 1.85}}));
    report.workloads.push_back(speedup_workload("http_fetch", WorkloadKind::io, 16,
                                                {{"threads", 12}, {"threads_gil", 11}, {"processes", 10},
                                                 {"python_threads", 9}, {"python_processes", 8}}));
    return report;
}

}  // namespace

TEST(BenchVerdicts, ParallelGainThreshold) {
    EXPECT_DOUBLE_EQ(tandem::cli::parallel_gain_threshold(2, 2), 1.5);
    EXPECT_DOUBLE_EQ(tandem::cli::parallel_gain_threshold(4, 2), 1.5);  // no more than the CPUs
    EXPECT_DOUBLE_EQ(tandem::cli::parallel_gain_threshold(4, 8), 2.5);
    EXPECT_DOUBLE_EQ(tandem::cli::parallel_gain_threshold(1, 8), 1.0);
}

// The lecture's picture: processes speed up CPU work, CPython's threads do
// not, C++ threads do (so that claim does not hold in C++), the emulated GIL
// matches CPython, threads speed up I/O.
TEST(BenchVerdicts, TheLecturesFigures) {
    const auto verdicts = judge(lecture_figures());
    ASSERT_NE(find(verdicts, "processes_speed_up_cpu_work"), nullptr);
    EXPECT_TRUE(find(verdicts, "processes_speed_up_cpu_work")->holds);
    EXPECT_NE(find(verdicts, "processes_speed_up_cpu_work")->text.find("C++ processes 1.90x"), std::string::npos);
    EXPECT_TRUE(find(verdicts, "gil_serialises_threads")->holds);
    EXPECT_FALSE(find(verdicts, "threads_do_not_speed_up_cpu_work")->holds);
    EXPECT_NE(find(verdicts, "threads_do_not_speed_up_cpu_work")->text.find("C++ has no GIL"), std::string::npos);
    EXPECT_TRUE(find(verdicts, "gil_emulation_matches_cpython")->holds);
    EXPECT_TRUE(find(verdicts, "threads_speed_up_io")->holds);
    // Not measured: no verdict.
    EXPECT_EQ(find(verdicts, "processes_cost_overhead"), nullptr);
    EXPECT_EQ(find(verdicts, "memory_copied_cpp"), nullptr);
    EXPECT_EQ(find(verdicts, "threads_keep_responsive"), nullptr);
    EXPECT_EQ(find(verdicts, "threads_serve_audio"), nullptr);
}

// A claim that fails on this machine says so.
TEST(BenchVerdicts, ClaimsThatDoNotHold) {
    Report report = report_on(2);
    report.workloads.push_back(speedup_workload("cpu_crunch", WorkloadKind::cpu, 2,
                                                {{"threads", 1.1}, {"threads_gil", 0.7}, {"processes", 1.3},
                                                 {"python_threads", 1.4}, {"python_processes", 1.8}}));
    report.workloads.push_back(speedup_workload("files_waits", WorkloadKind::io, 16,
                                                {{"threads", 12}, {"threads_gil", 3.5}, {"python_threads", 9}}));
    const auto verdicts = judge(report);
    EXPECT_FALSE(find(verdicts, "processes_speed_up_cpu_work")->holds);  // C++ processes 1.3x < 1.5x
    EXPECT_FALSE(find(verdicts, "gil_serialises_threads")->holds);       // CPython threads 1.4x
    EXPECT_TRUE(find(verdicts, "threads_do_not_speed_up_cpu_work")->holds);  // C++ threads 1.1x
    EXPECT_FALSE(find(verdicts, "gil_emulation_matches_cpython")->holds);    // 0.7 vs 1.4: 50% apart
    EXPECT_NE(find(verdicts, "gil_emulation_matches_cpython")->text.find("50% apart"), std::string::npos);
    EXPECT_FALSE(find(verdicts, "threads_speed_up_io")->holds);  // under the GIL 3.5x < 4x
}

// A machine whose CPUs other programs hold: the verdict says that a trivially
// parallel loop could not speed up either, rather than blame the claim.
TEST(BenchVerdicts, BusyMachineIsNamedAsTheReason) {
    Report report = report_on(2);
    report.machine.parallel_capacity = 1.05;
    report.workloads.push_back(
        speedup_workload("cpu_crunch", WorkloadKind::cpu, 2, {{"threads", 1.02}, {"processes", 1.01}}));
    auto verdicts = judge(report);
    EXPECT_FALSE(find(verdicts, "processes_speed_up_cpu_work")->holds);
    EXPECT_NE(find(verdicts, "processes_speed_up_cpu_work")->text.find("ran only 1.05x as fast as one"),
              std::string::npos)
        << find(verdicts, "processes_speed_up_cpu_work")->text;
    EXPECT_NE(find(verdicts, "threads_do_not_speed_up_cpu_work")->text.find("other programs hold"), std::string::npos);

    report.machine.parallel_capacity = 1.95;  // an idle machine: the figures speak for themselves
    verdicts = judge(report);
    EXPECT_EQ(find(verdicts, "processes_speed_up_cpu_work")->text.find("other programs"), std::string::npos);
}

// One usable CPU: no parallel speedup is possible, and the verdict says why.
TEST(BenchVerdicts, OneCpuCannotShowASpeedup) {
    Report report = report_on(1);
    report.workloads.push_back(
        speedup_workload("cpu_crunch", WorkloadKind::cpu, 1, {{"threads", 1.0}, {"processes", 1.0}}));
    const auto verdicts = judge(report);
    const Verdict* verdict = find(verdicts, "processes_speed_up_cpu_work");
    ASSERT_NE(verdict, nullptr);
    EXPECT_FALSE(verdict->holds);
    EXPECT_NE(verdict->text.find("no parallel speedup is possible here"), std::string::npos) << verdict->text;
}

// Without CPython the fidelity check is left out, and the GIL claim is judged
// on the emulation.
TEST(BenchVerdicts, WithoutPython) {
    Report report = report_on(2);
    report.python = false;
    report.workloads.push_back(speedup_workload("cpu_crunch", WorkloadKind::cpu, 2,
                                                {{"threads", 1.9}, {"threads_gil", 1.0}, {"processes", 1.9}}));
    const auto verdicts = judge(report);
    EXPECT_EQ(find(verdicts, "gil_emulation_matches_cpython"), nullptr);
    ASSERT_NE(find(verdicts, "gil_serialises_threads"), nullptr);
    EXPECT_TRUE(find(verdicts, "gil_serialises_threads")->holds);
}

// Overheads: a process start is judged against a thread start, a thread start
// against a pool's round trip.
TEST(BenchVerdicts, Overheads) {
    Report report = report_on(2);
    WorkloadResult overheads{.name = "overheads", .kind = WorkloadKind::overhead};
    overheads.modes = {mode("thread_start", 40e-6), mode("process_start_fork", 400e-6),
                       mode("process_start_forkserver", 600e-6), mode("process_start_spawn", 2e-3),
                       mode("thread_pool_round_trip", 1e-6), mode("process_pool_round_trip", 9e-6),
                       mode("python_thread_start", 100e-6), mode("python_process_start_fork", 500e-6),
                       mode("python_thread_pool_round_trip", 60e-6)};
    report.workloads.push_back(overheads);
    auto verdicts = judge(report);
    // C++: fork 10x a thread: holds; CPython: fork 5x a thread: does not.
    EXPECT_FALSE(find(verdicts, "processes_cost_overhead")->holds);
    EXPECT_NE(find(verdicts, "processes_cost_overhead")->text.find("(5x a thread at best)"), std::string::npos)
        << find(verdicts, "processes_cost_overhead")->text;
    // C++: 40x a round trip, CPython 1.7x: the second does not reach 2x.
    EXPECT_FALSE(find(verdicts, "threads_cost_overhead")->holds);

    report.workloads[0].modes.pop_back();  // no CPython round trip: judged on C++ alone
    report.workloads[0].modes[7] = mode("python_process_start_fork", 5e-3);
    verdicts = judge(report);
    EXPECT_TRUE(find(verdicts, "processes_cost_overhead")->holds);
    EXPECT_TRUE(find(verdicts, "threads_cost_overhead")->holds);
}

// Memory: copy-on-write under fork does not count as a copy; spawn's does.
TEST(BenchVerdicts, MemoryCopied) {
    Report report = report_on(2);
    WorkloadResult memory{.name = "memory_copy", .kind = WorkloadKind::memory};
    memory.modes = {mode("threads", 0.01, 1, {{"heap_mib", 64}, {"rss_mib", 0.1}, {"private_mib", 0.1}}),
                    mode("fork", 0.1, 2, {{"heap_mib", 64}, {"private_mib", 0.3}}),
                    mode("spawn", 0.5, 2, {{"heap_mib", 64}, {"private_mib", 64.5}}),
                    mode("python_fork", 0.3, 2, {{"heap_mib", 77}, {"private_mib", 60}}),
                    mode("python_spawn", 0.9, 2, {{"heap_mib", 77}, {"private_mib", 85}})};
    report.workloads.push_back(memory);
    const auto verdicts = judge(report);
    EXPECT_FALSE(find(verdicts, "memory_copied_cpp")->holds);
    EXPECT_NE(find(verdicts, "memory_copied_cpp")->text.find("fork 0.3 MiB private (shared copy-on-write)"),
              std::string::npos);
    EXPECT_NE(find(verdicts, "memory_copied_cpp")->text.find("spawn 64.5 MiB private (a copy)"), std::string::npos);
    EXPECT_TRUE(find(verdicts, "memory_copied_python")->holds);
}

// Latency: a loop is responsive up to two periods late; audio keeps up with
// at most 1% of its blocks missed.
TEST(BenchVerdicts, ResponsivenessAndAudio) {
    Report report = report_on(2);
    WorkloadResult ui{.name = "ui_responsiveness", .kind = WorkloadKind::latency};
    ui.modes = {mode("inline", 0.05, 1, {{"worst_delay_ms", 50}, {"period_ms", 10}}),
                mode("thread", 0.001, 1, {{"worst_delay_ms", 1}, {"period_ms", 10}}),
                mode("thread_gil", 0.006, 1, {{"worst_delay_ms", 25}, {"period_ms", 10}})};
    WorkloadResult audio{.name = "audio_realtime", .kind = WorkloadKind::latency};
    audio.modes = {mode("spsc_ring", 0.0002, 1, {{"ticks", 281}, {"missed", 2}, {"period_ms", 2.67}}),
                   mode("mutex_queue", 0.0003, 1, {{"ticks", 281}, {"missed", 0}, {"period_ms", 2.67}})};
    report.workloads = {ui, audio};
    auto verdicts = judge(report);
    EXPECT_TRUE(find(verdicts, "threads_keep_responsive")->holds);
    EXPECT_NE(find(verdicts, "threads_keep_responsive")->text.find("C++ thread + GIL 25.0 ms (blocked)"),
              std::string::npos);
    EXPECT_TRUE(find(verdicts, "threads_serve_audio")->holds);  // 2 of 281 < 1%

    report.workloads[0].modes[1] = mode("thread", 0.03, 1, {{"worst_delay_ms", 30}, {"period_ms", 10}});
    report.workloads[1].modes[0] = mode("spsc_ring", 0.01, 1, {{"ticks", 281}, {"missed", 3}, {"period_ms", 2.67}});
    verdicts = judge(report);
    EXPECT_FALSE(find(verdicts, "threads_keep_responsive")->holds);
    EXPECT_FALSE(find(verdicts, "threads_serve_audio")->holds);  // 3 of 281 > 1%
}

// Speedups are computed against the serial mode of the same language.
TEST(BenchVerdicts, SpeedupsPerLanguage) {
    WorkloadResult workload{.name = "cpu_crunch", .kind = WorkloadKind::cpu};
    workload.modes = {mode("serial", 2.0), mode("threads", 1.0, 2), mode("python_serial", 30.0),
                      mode("python_processes", 20.0, 2)};
    tandem::cli::compute_speedups(workload);
    EXPECT_DOUBLE_EQ(*workload.find("serial")->speedup, 1.0);
    EXPECT_DOUBLE_EQ(*workload.find("threads")->speedup, 2.0);
    EXPECT_DOUBLE_EQ(*workload.find("python_processes")->speedup, 1.5);

    WorkloadResult overheads{.name = "overheads", .kind = WorkloadKind::overhead};
    overheads.modes = {mode("thread_start", 1e-5)};
    tandem::cli::compute_speedups(overheads);
    EXPECT_FALSE(overheads.modes[0].speedup.has_value());  // no speedup for an overhead
}

// Tests for tandem bench's outputs built from given figures: the JSON report
// follows its schema (src/cli/json_report.hpp), the tables show the figures,
// and gnuplot draws a valid SVG and PNG chart of them.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <filesystem>  // the chart files
#include <fstream>     // reading them back
#include <iterator>    // std::istreambuf_iterator

#include "chart.hpp"           // chart_script, draw_chart
#include "json_report.hpp"     // to_json
#include "json_schema.hpp"     // schema_errors
#include "python_runner.hpp"   // add_python_modes
#include "report_builder.hpp"  // report_on, speedup_workload, mode
#include "table.hpp"           // format_workload, format_seconds, mode_label
#include "temp_dir.hpp"        // TempDir
#include "verdicts.hpp"        // judge

using namespace tandem_test;

namespace {

// A report with one workload of every kind.
Report every_kind() {
    Report report = report_on(2);
    report.workloads.push_back(speedup_workload("cpu_crunch", WorkloadKind::cpu, 2,
                                                {{"threads", 1.9}, {"threads_gil", 1.0}, {"processes", 1.8},
                                                 {"python_threads", 0.95}, {"python_processes", 1.7}}));
    report.workloads.back().python_work = "the same, smaller";
    WorkloadResult overheads{.name = "overheads", .kind = WorkloadKind::overhead, .title = "t", .work = "w"};
    overheads.modes = {mode("thread_start", 40e-6, 1, {{"operations", 200}}), mode("python_thread_start", 1.5e-4)};
    WorkloadResult memory{.name = "memory_copy", .kind = WorkloadKind::memory, .title = "t", .work = "w"};
    memory.modes = {mode("fork", 0.1, 2, {{"heap_mib", 64}, {"rss_mib", 66}, {"pss_mib", 22}, {"private_mib", 0.2}}),
                    mode("python_spawn", 1.0, 2, {{"heap_mib", 77}, {"private_mib", 86}})};
    WorkloadResult latency{.name = "audio_realtime", .kind = WorkloadKind::latency, .title = "t", .work = "w"};
    latency.modes = {mode("spsc_ring", 2e-4, 1,
                          {{"worst_delay_ms", 0.2}, {"p99_delay_ms", 0.1}, {"median_delay_ms", 0.02}, {"ticks", 281},
                           {"missed", 0}, {"period_ms", 2.67}})};
    report.workloads.push_back(overheads);
    report.workloads.push_back(memory);
    report.workloads.push_back(latency);
    report.verdicts = tandem::cli::judge(report);
    return report;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

}  // namespace

// The JSON has every field of the schema, with its type, for every kind.
TEST(BenchReport, JsonFollowsTheSchema) {
    const Report report = every_kind();
    const nlohmann::json json = nlohmann::json::parse(tandem::cli::to_json(report).dump());
    EXPECT_EQ(schema_errors(json), std::vector<std::string>{});
    EXPECT_EQ(json["workloads"].size(), 4u);
    const auto& crunch = json["workloads"][0];
    EXPECT_EQ(crunch["kind"], "cpu");
    EXPECT_EQ(crunch["python_work"], "the same, smaller");
    EXPECT_EQ(crunch["modes"][0]["mode"], "serial");
    EXPECT_EQ(crunch["modes"][0]["language"], "c++");
    EXPECT_DOUBLE_EQ(crunch["modes"][2]["speedup"].get<double>(), 1.9);
    EXPECT_EQ(crunch["modes"][1]["language"], "python");
    EXPECT_TRUE(json["workloads"][1]["modes"][0]["speedup"].is_null());   // overheads have none
    EXPECT_EQ(json["workloads"][1]["modes"][0]["operations"], 200);       // figures appear by name
    EXPECT_DOUBLE_EQ(json["workloads"][2]["modes"][0]["private_mib"].get<double>(), 0.2);
    EXPECT_FALSE(json["verdicts"].empty());
    EXPECT_TRUE(json["verdicts"][0]["holds"].is_boolean());
}

// The schema check itself finds what is wrong.
TEST(BenchReport, SchemaCheckFindsProblems) {
    nlohmann::json json = nlohmann::json::parse(tandem::cli::to_json(every_kind()).dump());
    json["workloads"][1]["kind"] = "gpu";
    json["workloads"][0]["modes"][0].erase("seconds");
    json["workloads"][0]["modes"][1]["speedup"] = nullptr;
    json["verdicts"][0]["holds"] = "yes";
    const auto errors = schema_errors(json);
    EXPECT_EQ(errors.size(), 4u) << nlohmann::json(errors).dump(1);
}

// Tables: each kind laid out with its own columns and the figures.
TEST(BenchReport, Tables) {
    const Report report = every_kind();
    const std::string cpu = tandem::cli::format_workload(report.workloads[0], 1, 4);
    EXPECT_NE(cpu.find("1/4 cpu_crunch"), std::string::npos) << cpu;
    EXPECT_NE(cpu.find("C++ threads + GIL"), std::string::npos) << cpu;
    EXPECT_NE(cpu.find("1.90x"), std::string::npos) << cpu;
    EXPECT_NE(cpu.find("Python: the same, smaller"), std::string::npos) << cpu;
    const std::string overhead = tandem::cli::format_workload(report.workloads[1], 2, 4);
    EXPECT_NE(overhead.find("thread start"), std::string::npos) << overhead;
    EXPECT_NE(overhead.find("40.0 µs"), std::string::npos) << overhead;
    EXPECT_NE(overhead.find("3.7x"), std::string::npos) << overhead;  // Python 150 µs / C++ 40 µs
    const std::string memory = tandem::cli::format_workload(report.workloads[2], 3, 4);
    EXPECT_NE(memory.find("0.2 MiB"), std::string::npos) << memory;
    const std::string latency = tandem::cli::format_workload(report.workloads[3], 4, 4);
    EXPECT_NE(latency.find("0 of 281"), std::string::npos) << latency;
    EXPECT_EQ(tandem::cli::format_seconds(2.5), "2.50 s");
    EXPECT_EQ(tandem::cli::format_seconds(0.0123), "12.3 ms");
    EXPECT_EQ(tandem::cli::mode_label("python_process_start_spawn"), "Python process start spawn");
}

// gnuplot draws the chart: a complete SVG document, a PNG with its signature
// and end chunk; the script carries every speedup.
TEST(BenchReport, ChartAsSvgAndPng) {
    const Report report = every_kind();
    const std::string script = tandem::cli::chart_script(report, "/x/chart.svg");
    EXPECT_NE(script.find("\"cpu_crunch\" 1 1.9 1 1.8 1 0.95 1.7"), std::string::npos) << script;
    EXPECT_NE(script.find("set terminal svg"), std::string::npos);

    const tandem::cli::TempDir folder("chart-test");
    const auto svg = folder.path() / "chart.svg";
    const auto png = folder.path() / "chart.png";
    tandem::cli::draw_chart(report, svg.string());
    tandem::cli::draw_chart(report, png.string());
    const std::string svg_text = read_file(svg);
    EXPECT_NE(svg_text.find("<svg"), std::string::npos);
    EXPECT_NE(svg_text.find("</svg>"), std::string::npos);
    EXPECT_NE(svg_text.find("cpu_crunch"), std::string::npos);
    const std::string png_bytes = read_file(png);
    ASSERT_GT(png_bytes.size(), 1000u);
    EXPECT_EQ(png_bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_NE(png_bytes.find("IEND"), std::string::npos);
    EXPECT_THROW(tandem::cli::draw_chart(report, (folder.path() / "missing" / "chart.svg").string()),
                 std::runtime_error);
}

// What a Python script prints becomes modes; output that does not follow the
// protocol is an error naming the problem, never a half-read report.
TEST(BenchReport, PythonScriptProtocol) {
    WorkloadResult workload{.name = "cpu_crunch", .kind = WorkloadKind::cpu};
    const auto output = nlohmann::json::parse(R"({"work": "the same", "checksum": 42, "modes": [
        {"mode": "python_serial", "workers": 1, "samples": [3.0, 1.0, 2.0]},
        {"mode": "python_threads", "workers": 2, "seconds": 2.5, "samples": [2.5], "figures": {"gil": 1}}]})");
    EXPECT_EQ(tandem::cli::add_python_modes(workload, output), 42u);
    ASSERT_EQ(workload.modes.size(), 2u);
    EXPECT_EQ(workload.python_work, "the same");
    EXPECT_DOUBLE_EQ(workload.modes[0].seconds, 2.0);  // the median when not given
    EXPECT_EQ(workload.modes[1].figure("gil"), 1.0);

    for (const char* bad : {R"({"modes": []})",                                                    // no "work"
                            R"({"work": "", "modes": [{"mode": "threads", "workers": 1, "samples": []}]})",  // not python_
                            R"({"work": "", "modes": [{"mode": "python_x", "samples": []}]})",               // no workers
                            R"({"work": "", "modes": [{"mode": "python_x", "workers": 1, "samples": [],
                                "figures": {"seconds": 1}}]})"}) {                                   // a reserved name
        WorkloadResult target{.name = "cpu_crunch"};
        EXPECT_THROW(tandem::cli::add_python_modes(target, nlohmann::json::parse(bad)), std::runtime_error) << bad;
    }
}

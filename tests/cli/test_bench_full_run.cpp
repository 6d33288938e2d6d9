// The acceptance run: `tandem bench --quick --json F --plot P.svg`
// exits 0; F parses, follows the schema and holds every workload and mode
// with Python, and verdicts; P is an SVG document. Nothing is left behind.
// (Figures are not asserted: speed is the bench's output, not a test's.)
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "json_schema.hpp"  // schema_errors, complete_run_modes
#include "program.hpp"      // run_program, children_left, entries_of
#include "temp_dir.hpp"     // TempDir

using namespace std::chrono_literals;
using namespace tandem_test;

TEST(TandemProgram, QuickRunIsComplete) {
    become_subreaper();
    const tandem::cli::TempDir tmp("full-run-tmp");
    const tandem::cli::TempDir out("full-run-out");
    const auto json_path = out.path() / "bench.json";
    const auto svg_path = out.path() / "bench.svg";
    const Finished run = run_program({"bench", "--quick", "--json", json_path, "--plot", svg_path},
                                     {"TMPDIR=" + tmp.path().string()}, 280s);
    ASSERT_EQ(run.status, 0) << run.err;
    std::cout << "tandem bench --quick took " << run.seconds << " s\n";

    std::ifstream file(json_path);
    const nlohmann::json report = nlohmann::json::parse(file);
    EXPECT_EQ(schema_errors(report), std::vector<std::string>{});
    std::map<std::string, std::vector<std::string>> found;
    for (const auto& workload : report["workloads"]) {
        for (const auto& mode : workload["modes"]) found[workload["name"]].push_back(mode["mode"]);
    }
    EXPECT_EQ(found, complete_run_modes());
    std::set<std::string> verdicts;
    for (const auto& verdict : report["verdicts"]) verdicts.insert(verdict["id"]);
    EXPECT_EQ(verdicts, (std::set<std::string>{"processes_speed_up_cpu_work", "gil_serialises_threads",
                                               "threads_do_not_speed_up_cpu_work", "gil_emulation_matches_cpython",
                                               "threads_speed_up_io", "processes_cost_overhead",
                                               "threads_cost_overhead", "memory_copied_cpp", "memory_copied_python",
                                               "threads_keep_responsive", "threads_serve_audio"}));

    std::ifstream chart(svg_path);
    const std::string svg{std::istreambuf_iterator<char>(chart), std::istreambuf_iterator<char>()};
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);

    EXPECT_EQ(children_left(10s), (std::vector<std::pair<pid_t, std::string>>{}));
    EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{});
}

// Tests of the tandem program as a user runs it: usage errors (a clear
// message and status 2), `tandem info`, a short bench run whose JSON follows
// the schema, and Ctrl-C (SIGINT to the process group, as a terminal sends
// it) or SIGTERM stopping a run promptly. After every run nothing is left:
// no process, no temporary file, no listening port.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <csignal>  // SIGINT, SIGTERM
#include <regex>    // the server's port in the report

#include "json_schema.hpp"  // schema_errors
#include "program.hpp"      // run_program, RunningProgram, children_left, entries_of
#include "temp_dir.hpp"     // TempDir: the run's TMPDIR

using namespace std::chrono_literals;
using namespace tandem_test;

namespace {

// Waits (bounded) until `condition` holds, sleeping a little between looks:
// the program under test needs the CPU more than this test does.
template <class Condition>
bool within(std::chrono::seconds limit, Condition condition) {
    const auto give_up = ProgramClock::now() + limit;
    while (!condition()) {
        if (ProgramClock::now() > give_up) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

// Whether the bench is running one of its Python scripts (not python3 --version).
bool python_script_running(pid_t bench) {
    for (const auto& [pid, name] : children_of(bench)) {
        std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
        const std::string text{std::istreambuf_iterator<char>(cmdline), std::istreambuf_iterator<char>()};
        if (text.find("share/tandem/bench/") != std::string::npos) return true;
    }
    return false;
}

// The bench's processes: its children, theirs, and so on.
std::size_t descendants_of(pid_t root) {
    std::size_t count = 0;
    for (const auto& [pid, name] : children_of(root)) count += 1 + descendants_of(pid);
    return count;
}

void expect_nothing_left(const tandem::cli::TempDir& tmp) {
    EXPECT_EQ(children_left(10s), (std::vector<std::pair<pid_t, std::string>>{})) << "processes left behind";
    EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{}) << "temporary files left behind";
}

}  // namespace

// Bad arguments: CLI11's message naming the problem, and status 2 (as argparse).
TEST(TandemProgram, BadArgumentsExitWithStatus2) {
    const struct {
        std::vector<std::string> args;
        std::string message;
    } cases[] = {
        {{}, "A subcommand is required"},
        {{"bench", "--bogus"}, "--bogus"},
        {{"bench", "--quick", "--full"}, "--quick excludes --full"},
        {{"bench", "--only", "nothing"}, "nothing not in"},
        {{"bench", "--jobs", "0"}, "--jobs"},
        {{"bench", "--jobs", "many"}, "--jobs"},
        {{"bench", "--plot", "chart.pdf"}, ".svg or .png"},
        {{"bench", "--json", "/no/such/folder/report.json"}, "does not exist"},
        {{"frobnicate"}, "A subcommand is required"},
    };
    for (const auto& c : cases) {
        const Finished run = run_program(c.args, {}, 60s);
        EXPECT_EQ(run.status, 2) << c.message;
        EXPECT_NE(run.err.find(c.message), std::string::npos) << "stderr: " << run.err;
        EXPECT_NE(run.err.find("--help"), std::string::npos) << run.err;
    }
    const Finished help = run_program({"bench", "--help"}, {}, 60s);
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--no-python"), std::string::npos) << help.out;
}

// tandem info: cores and affinity, start methods, compiler, library versions.
TEST(TandemProgram, Info) {
    const Finished run = run_program({"info"}, {}, 60s);
    EXPECT_EQ(run.status, 0) << run.err;
    for (const char* line : {"CPUs:", "affinity", "start methods:  forkserver, fork, spawn", "compiler:", "fmt:",
                             "CLI11:", "nlohmann-json:", "cpp-httplib:", "FFTW:", "libsndfile:", "python3:",
                             "gnuplot:"}) {
        EXPECT_NE(run.out.find(line), std::string::npos) << line << " missing from:\n" << run.out;
    }
}

// A short run with Python: exit 0, a JSON report that follows the schema with
// the workload's seven modes and a verdict, an SVG chart; and nothing left:
// no process, no file in TMPDIR, the HTTP server's port closed.
TEST(TandemProgram, ShortRunLeavesNothingBehind) {
    become_subreaper();
    const tandem::cli::TempDir tmp("cli-test");
    const tandem::cli::TempDir out("cli-out");
    const auto json_path = out.path() / "report.json";
    const auto svg_path = out.path() / "chart.svg";
    const Finished run = run_program({"bench", "--only", "http_fetch", "--json", json_path, "--plot", svg_path},
                                     {"TMPDIR=" + tmp.path().string()});
    ASSERT_EQ(run.status, 0) << run.err;
    std::ifstream file(json_path);
    const nlohmann::json report = nlohmann::json::parse(file);
    EXPECT_EQ(schema_errors(report), std::vector<std::string>{});
    ASSERT_EQ(report["workloads"].size(), 1u);
    std::vector<std::string> modes;
    for (const auto& mode : report["workloads"][0]["modes"]) modes.push_back(mode["mode"]);
    EXPECT_EQ(modes, complete_run_modes().at("http_fetch"));
    EXPECT_FALSE(report["verdicts"].empty());
    EXPECT_TRUE(report["python"].get<bool>());
    std::ifstream chart(svg_path);
    const std::string svg{std::istreambuf_iterator<char>(chart), std::istreambuf_iterator<char>()};
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_EQ(run.out.find("\r"), std::string::npos) << "a progress bar was drawn on a pipe";

    std::smatch port;
    const std::string work = report["workloads"][0]["work"];
    ASSERT_TRUE(std::regex_search(work, port, std::regex("127\\.0\\.0\\.1:([0-9]+)"))) << work;
    EXPECT_FALSE(listening_ports().contains(std::stoi(port[1].str()))) << "the HTTP server's port is still open";
    expect_nothing_left(tmp);
}

// Ctrl-C while CPython runs a workload: the bench, Python and Python's pool
// workers stop within seconds, with status 130, and leave nothing behind.
TEST(TandemProgram, CtrlCDuringPythonStopsPromptly) {
    become_subreaper();
    const tandem::cli::TempDir tmp("cli-test");
    RunningProgram bench({"bench", "--only", "http_fetch"}, {"TMPDIR=" + tmp.path().string()});
    ASSERT_TRUE(within(120s, [&] { return python_script_running(bench.pid()); })) << "Python never started";
    const auto sent = ProgramClock::now();
    bench.signal_group(SIGINT);
    const auto finished = bench.wait(20s);
    ASSERT_TRUE(finished.has_value()) << "still running 20 s after Ctrl-C";
    EXPECT_LT(ProgramClock::now() - sent, 10s);
    EXPECT_EQ(finished->status, 128 + SIGINT) << finished->err;
    EXPECT_NE(finished->err.find("interrupted"), std::string::npos) << finished->err;
    expect_nothing_left(tmp);
}

// Ctrl-C while the C++ modes run (the bench's own pools and server), and
// SIGTERM: the same prompt, clean stop.
TEST(TandemProgram, CtrlCAndSigtermDuringCppModesStopPromptly) {
    become_subreaper();
    for (const int signal_number : {SIGINT, SIGTERM}) {
        const tandem::cli::TempDir tmp("cli-test");
        RunningProgram bench({"bench", "--only", "http_fetch,files_waits", "--no-python"},
                             {"TMPDIR=" + tmp.path().string()});
        // The workload's process pool is up: the forkserver and its workers.
        ASSERT_TRUE(within(120s, [&] { return descendants_of(bench.pid()) >= 3; }));
        const auto sent = ProgramClock::now();
        if (signal_number == SIGINT) {
            bench.signal_group(SIGINT);
        } else {
            ::kill(bench.pid(), SIGTERM);
        }
        const auto finished = bench.wait(20s);
        ASSERT_TRUE(finished.has_value()) << "still running 20 s after signal " << signal_number;
        EXPECT_LT(ProgramClock::now() - sent, 10s);
        EXPECT_EQ(finished->status, 128 + signal_number) << finished->err;
        expect_nothing_left(tmp);
    }
}

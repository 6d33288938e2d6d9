// tandem's command line, declared with CLI11.
#include "arguments.hpp"

#include <CLI/CLI.hpp>  // CLI::App, validators, CLI::ParseError

#include <filesystem>  // --json / --plot folders

namespace tandem::cli {

namespace {

std::string workload_names() {
    std::string names;
    for (const Workload& workload : all_workloads()) {
        if (!names.empty()) names += ", ";
        names += workload.name;
    }
    return names;
}

// A file the bench will write: its folder must exist (checked now, not after
// a minute of measuring).
const CLI::Validator kWritableFile(
    [](std::string& path) -> std::string {
        const auto folder = std::filesystem::path(path).parent_path();
        if (folder.empty() || std::filesystem::is_directory(folder)) return "";
        return "folder " + folder.string() + " does not exist";
    },
    "FILE");

const CLI::Validator kChartFile(
    [](std::string& path) -> std::string {
        const auto extension = std::filesystem::path(path).extension();
        if (extension == ".svg" || extension == ".png") return "";
        return "the chart must be an .svg or .png file: " + path;
    },
    "FILE.svg|FILE.png");

}  // namespace

std::variant<Command, int> parse_arguments(int argc, char** argv) {
    CLI::App app("tandem: Python's concurrency model in C++20, and the lecture \"Threading and "
                 "Multiprocessing\" measured on this machine.",
                 "tandem");
    app.require_subcommand(1);
    app.set_version_flag("--version", TANDEM_VERSION);

    Command command;
    BenchOptions& bench = command.bench;
    CLI::App* bench_command = app.add_subcommand(
        "bench", "Measure the lecture's claims here: each workload serially, with threads, with threads under an "
                 "emulated GIL, with processes, and in CPython; tables, verdicts, JSON and a chart.");
    auto* quick = bench_command->add_flag("--quick")->description("Small sizes, under a minute on two cores (the default)");
    auto* full = bench_command->add_flag("--full")->description("Larger sizes and more repetitions: steadier figures");
    quick->excludes(full);
    std::vector<std::string> names;
    for (const Workload& workload : all_workloads()) names.emplace_back(workload.name);
    bench_command->add_option("--only", bench.only, "Run only these workloads (comma-separated): " + workload_names())
        ->delimiter(',')
        ->check(CLI::IsMember(names));
    bench_command->add_option("--jobs", bench.jobs, "Workers for the CPU-bound modes (default: the usable CPUs)")
        ->check(CLI::Range(1, 1024));
    bench_command->add_option("--json", bench.json_path, "Write the report as JSON to FILE")->check(kWritableFile);
    bench_command->add_option("--plot", bench.plot_path, "Draw the chart (gnuplot) into FILE.svg or FILE.png")
        ->check(kChartFile & kWritableFile);
    bench_command->add_flag("!--no-python", bench.python, "Skip the CPython modes");

    CLI::App* info_command =
        app.add_subcommand("info", "Print this machine's CPUs and affinity, start methods, compiler and library versions");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int status = app.exit(error);  // prints help, the version, or the error
        return status == 0 ? 0 : kUsageError;
    }
    if (full->count() > 0) bench.preset = Preset::full;
    command.kind = info_command->parsed() ? Command::Kind::info : Command::Kind::bench;
    return command;
}

}  // namespace tandem::cli

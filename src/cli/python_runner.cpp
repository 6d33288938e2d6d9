// tandem bench: locating and running the Python scripts, reading their output.
#include "python_runner.hpp"

#include <stdexcept>  // std::runtime_error

#include "subprocess.hpp"  // run_process, in_path
#include "temp_dir.hpp"    // TempDir: the script's TMPDIR

namespace tandem::cli {

namespace {

// A Python run that takes longer than this is stuck (the quick preset's
// longest takes a few seconds).
constexpr std::chrono::seconds kScriptTimeLimit{300};

std::string tail(const std::string& text, std::size_t lines) {
    std::size_t position = text.size();
    while (lines-- > 0 && position > 0) {
        position = text.rfind('\n', position - 1);
        if (position == std::string::npos) return text;
    }
    return text.substr(position + 1);
}

}  // namespace

std::filesystem::path bench_scripts_folder() {
    std::error_code error;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) return {};
    return exe.parent_path().parent_path() / "share" / "tandem" / "bench";
}

std::optional<PythonRunner> PythonRunner::locate(std::string& why_not) {
    if (!in_path("python3")) {
        why_not = "python3 is not in PATH (scripts/install-deps.sh installs it)";
        return std::nullopt;
    }
    const auto folder = bench_scripts_folder();
    std::error_code error;
    if (folder.empty() || !std::filesystem::is_regular_file(folder / "bench_common.py", error)) {
        why_not = "the bench's Python scripts are not in " + folder.string();
        return std::nullopt;
    }
    return PythonRunner(folder);
}

nlohmann::json PythonRunner::run(std::string_view script, const nlohmann::json& parameters) const {
    const TempDir temp("python");
    const auto path = scripts_ / (std::string(script) + ".py");
    const ProcessOutput output = run_process(
        {"python3", path.string(), parameters.dump()},
        {.environment = {"TMPDIR=" + temp.path().string(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0"},
         .timeout = kScriptTimeLimit});
    if (output.status != 0) {
        throw std::runtime_error("python3 " + path.filename().string() + " failed (status " +
                                 std::to_string(output.status) + "):\n" + tail(output.err, 15));
    }
    try {
        return nlohmann::json::parse(output.out);
    } catch (const nlohmann::json::exception& error) {
        throw std::runtime_error("python3 " + path.filename().string() + " printed no JSON (" + error.what() +
                                 "):\n" + tail(output.out, 5));
    }
}

std::optional<std::uint64_t> add_python_modes(WorkloadResult& workload, const nlohmann::json& output) {
    try {
        workload.python_work = output.at("work").get<std::string>();
        for (const auto& entry : output.at("modes")) {
            ModeResult mode;
            mode.mode = entry.at("mode").get<std::string>();
            if (!mode.python()) throw std::runtime_error("a Python mode must be named python_*: " + mode.mode);
            mode.workers = entry.at("workers").get<std::size_t>();
            mode.samples = entry.at("samples").get<std::vector<double>>();
            mode.seconds = entry.contains("seconds") ? entry.at("seconds").get<double>() : median(mode.samples);
            if (entry.contains("figures")) {
                for (const auto& [name, value] : entry.at("figures").items()) {
                    // Figures sit beside these in the JSON report.
                    for (const char* reserved : {"mode", "language", "workers", "seconds", "speedup", "samples"}) {
                        if (name == reserved) throw std::runtime_error("a figure may not be named " + name);
                    }
                    mode.set_figure(name, value.get<double>());
                }
            }
            workload.modes.push_back(std::move(mode));
        }
        if (output.contains("checksum")) return output.at("checksum").get<std::uint64_t>();
        return std::nullopt;
    } catch (const nlohmann::json::exception& error) {
        throw std::runtime_error(workload.name + ": the Python script's output does not follow the protocol: " +
                                 error.what());
    }
}

}  // namespace tandem::cli

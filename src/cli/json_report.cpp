// tandem bench: building and writing the JSON report.
#include "json_report.hpp"

#include <fstream>    // the output file
#include <stdexcept>  // std::runtime_error

namespace tandem::cli {

namespace {

using Json = nlohmann::ordered_json;

Json machine_json(const Machine& machine) {
    Json libraries = Json::object();
    for (const auto& [name, version] : machine.libraries) libraries[name] = version;
    return {{"cpus", machine.cpus},
            {"online_cpus", machine.online_cpus},
            {"affinity", machine.affinity},
            {"cpu_model", machine.cpu_model},
            {"memory_gib", machine.memory_gib},
            {"kernel", machine.kernel},
            {"load_before", machine.load_before},
            {"load_after", machine.load_after},
            {"compiler", machine.compiler},
            {"build", machine.build},
            {"start_methods", machine.start_methods},
            {"libraries", libraries},
            {"python", machine.python},
            {"gnuplot", machine.gnuplot},
            {"parallel_capacity", machine.parallel_capacity}};
}

Json mode_json(const ModeResult& mode) {
    Json entry = {{"mode", mode.mode},
                  {"language", mode.python() ? "python" : "c++"},
                  {"workers", mode.workers},
                  {"seconds", mode.seconds},
                  {"speedup", mode.speedup ? Json(*mode.speedup) : Json(nullptr)},
                  {"samples", mode.samples}};
    for (const auto& [name, value] : mode.figures) entry[name] = value;
    return entry;
}

}  // namespace

nlohmann::ordered_json to_json(const Report& report) {
    Json workloads = Json::array();
    for (const WorkloadResult& workload : report.workloads) {
        Json modes = Json::array();
        for (const ModeResult& mode : workload.modes) modes.push_back(mode_json(mode));
        workloads.push_back({{"name", workload.name},
                             {"kind", kind_name(workload.kind)},
                             {"title", workload.title},
                             {"work", workload.work},
                             {"python_work", workload.python_work},
                             {"modes", modes}});
    }
    Json verdicts = Json::array();
    for (const Verdict& verdict : report.verdicts) {
        verdicts.push_back(
            {{"id", verdict.id}, {"claim", verdict.claim}, {"holds", verdict.holds}, {"text", verdict.text}});
    }
    return {{"schema", 1},
            {"tandem", TANDEM_VERSION},
            {"preset", report.preset},
            {"jobs", report.jobs},
            {"python", report.python},
            {"seconds", report.total_seconds},
            {"machine", machine_json(report.machine)},
            {"workloads", workloads},
            {"verdicts", verdicts}};
}

void write_json(const Report& report, const std::string& path) {
    std::ofstream file(path, std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + path);
    file << to_json(report).dump(2) << '\n';
    if (!file.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace tandem::cli

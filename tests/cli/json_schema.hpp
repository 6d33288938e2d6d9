// Test support: checks a tandem bench JSON report against the schema the
// README documents, and lists the workloads and modes a complete run holds.
#pragma once

#include <map>     // expected modes per workload
#include <set>     // allowed kinds
#include <string>  // problems
#include <vector>  // problems

#include <nlohmann/json.hpp>  // the report

namespace tandem_test {

/// Every problem found in `report`; empty when it follows the schema.
inline std::vector<std::string> schema_errors(const nlohmann::json& report) {
    std::vector<std::string> errors;
    const auto need = [&](const nlohmann::json& object, const std::string& key, auto is_type, const std::string& where) {
        if (!object.is_object() || !object.contains(key)) {
            errors.push_back(where + ": missing \"" + key + "\"");
            return false;
        }
        if (!is_type(object.at(key))) {
            errors.push_back(where + ": \"" + key + "\" has the wrong type: " + object.at(key).dump());
            return false;
        }
        return true;
    };
    const auto is_string = [](const nlohmann::json& v) { return v.is_string(); };
    const auto is_number = [](const nlohmann::json& v) { return v.is_number(); };
    const auto is_count = [](const nlohmann::json& v) { return v.is_number_unsigned(); };
    const auto is_bool = [](const nlohmann::json& v) { return v.is_boolean(); };
    const auto is_array = [](const nlohmann::json& v) { return v.is_array(); };
    const auto is_object = [](const nlohmann::json& v) { return v.is_object(); };

    need(report, "schema", is_count, "report");
    need(report, "tandem", is_string, "report");
    need(report, "preset", is_string, "report");
    need(report, "jobs", is_count, "report");
    need(report, "python", is_bool, "report");
    need(report, "seconds", is_number, "report");
    if (need(report, "machine", is_object, "report")) {
        const auto& machine = report["machine"];
        need(machine, "cpus", is_count, "machine");
        need(machine, "online_cpus", is_count, "machine");
        need(machine, "affinity", is_string, "machine");
        need(machine, "cpu_model", is_string, "machine");
        need(machine, "kernel", is_string, "machine");
        need(machine, "compiler", is_string, "machine");
        need(machine, "build", is_string, "machine");
        need(machine, "python", is_string, "machine");
        need(machine, "libraries", is_object, "machine");
        need(machine, "start_methods", is_array, "machine");
        need(machine, "parallel_capacity", is_number, "machine");
        for (const char* load : {"load_before", "load_after"}) {
            if (need(machine, load, is_array, "machine") && machine[load].size() != 3)
                errors.push_back(std::string("machine: ") + load + " must hold 3 numbers");
        }
    }
    const std::set<std::string> kinds = {"cpu", "io", "overhead", "memory", "latency"};
    if (need(report, "workloads", is_array, "report")) {
        for (const auto& workload : report["workloads"]) {
            const std::string name = workload.value("name", std::string("?"));
            need(workload, "name", is_string, "workload");
            need(workload, "title", is_string, name);
            need(workload, "work", is_string, name);
            need(workload, "python_work", is_string, name);
            if (need(workload, "kind", is_string, name) && !kinds.contains(workload["kind"].get<std::string>()))
                errors.push_back(name + ": unknown kind " + workload["kind"].dump());
            if (!need(workload, "modes", is_array, name)) continue;
            for (const auto& mode : workload["modes"]) {
                const std::string where = name + "/" + mode.value("mode", std::string("?"));
                need(mode, "mode", is_string, where);
                need(mode, "workers", is_count, where);
                need(mode, "seconds", is_number, where);
                need(mode, "samples", is_array, where);
                if (need(mode, "language", is_string, where) && mode["language"] != "c++" && mode["language"] != "python")
                    errors.push_back(where + ": language must be c++ or python");
                if (!mode.contains("speedup") || !(mode["speedup"].is_null() || mode["speedup"].is_number())) {
                    errors.push_back(where + ": speedup must be a number or null");
                } else if (workload.value("kind", "") == "cpu" || workload.value("kind", "") == "io") {
                    if (!mode["speedup"].is_number()) errors.push_back(where + ": a cpu or io mode needs a speedup");
                }
            }
        }
    }
    if (need(report, "verdicts", is_array, "report")) {
        for (const auto& verdict : report["verdicts"]) {
            need(verdict, "id", is_string, "verdict");
            need(verdict, "claim", is_string, "verdict");
            need(verdict, "holds", is_bool, "verdict");
            need(verdict, "text", is_string, "verdict");
        }
    }
    return errors;
}

/// The workloads and modes of a complete run with Python (the list).
inline const std::map<std::string, std::vector<std::string>>& complete_run_modes() {
    static const std::map<std::string, std::vector<std::string>> modes = {
        {"cpu_crunch", {"serial", "threads", "threads_gil", "processes", "python_serial", "python_threads", "python_processes"}},
        {"audio_preprocess",
         {"serial", "threads", "threads_gil", "processes", "python_serial", "python_threads", "python_processes"}},
        {"http_fetch", {"serial", "threads", "threads_gil", "processes", "python_serial", "python_threads", "python_processes"}},
        {"files_waits", {"serial", "threads", "threads_gil", "processes", "python_serial", "python_threads", "python_processes"}},
        {"overheads",
         {"thread_start", "process_start_fork", "process_start_forkserver", "process_start_spawn",
          "thread_pool_round_trip", "process_pool_round_trip", "python_thread_start", "python_process_start_fork",
          "python_process_start_forkserver", "python_process_start_spawn", "python_thread_pool_round_trip",
          "python_process_pool_round_trip"}},
        {"memory_copy",
         {"threads", "fork", "forkserver", "spawn", "python_threads", "python_fork", "python_forkserver", "python_spawn"}},
        {"ui_responsiveness", {"inline", "thread", "thread_gil", "process", "python_inline", "python_thread", "python_process"}},
        {"audio_realtime", {"spsc_ring", "mutex_queue", "threads_gil", "python_threads"}},
    };
    return modes;
}

}  // namespace tandem_test

// tandem info: printing the machine's description.
#include "info.hpp"

#include <fmt/core.h>  // fmt::format, fmt::print

namespace tandem::cli {

std::string format_info(const Machine& machine) {
    std::string out;
    out += fmt::format("CPUs:           {} usable (affinity {}), {} online\n", machine.cpus, machine.affinity,
                       machine.online_cpus);
    out += fmt::format("CPU model:      {}\n", machine.cpu_model);
    out += fmt::format("memory:         {:.1f} GiB\n", machine.memory_gib);
    out += fmt::format("kernel:         {}\n", machine.kernel);
    out += fmt::format("load average:   {:.2f} {:.2f} {:.2f}\n", machine.load_before[0], machine.load_before[1],
                       machine.load_before[2]);
    if (machine.parallel_capacity > 0) {
        out += fmt::format("parallel now:   {} threads of a trivially parallel loop run {:.2f}x as fast as one\n",
                           machine.cpus, machine.parallel_capacity);
    }
    std::string methods;
    for (const auto& method : machine.start_methods) methods += (methods.empty() ? "" : ", ") + method;
    out += fmt::format("start methods:  {} (default first)\n", methods);
    out += fmt::format("compiler:       {} ({})\n", machine.compiler, machine.build);
    for (const auto& [name, version] : machine.libraries) out += fmt::format("{:<15} {}\n", name + ":", version);
    out += fmt::format("python3:        {}\n", machine.python.empty() ? "not found" : machine.python);
    out += fmt::format("gnuplot:        {}\n", machine.gnuplot.empty() ? "not found" : machine.gnuplot);
    return out;
}

int run_info() {
    Machine machine = describe_machine();
    machine.parallel_capacity = measure_parallel_capacity(machine.cpus);
    fmt::print("{}", format_info(machine));
    return 0;
}

}  // namespace tandem::cli

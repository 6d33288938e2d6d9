// tandem bench and tandem info: probing the machine, the build and the versions.
#include "machine.hpp"

#include <CLI/Version.hpp>    // CLI11_VERSION
#include <fftw3.h>            // fftw_version
#include <fmt/core.h>         // FMT_VERSION, fmt::format
#include <httplib.h>          // CPPHTTPLIB_VERSION
#include <nlohmann/json.hpp>  // NLOHMANN_JSON_VERSION_*
#include <sched.h>            // sched_getaffinity
#include <sndfile.h>          // sf_version_string
#include <sys/utsname.h>      // uname
#include <unistd.h>           // sysconf

#include <algorithm>  // std::sort
#include <atomic>     // the capacity loops' sink
#include <chrono>     // timing the capacity loops
#include <cstdlib>    // getloadavg
#include <fstream>    // /proc/cpuinfo
#include <thread>     // the capacity loops
#include <vector>     // tries

#include "interrupt.hpp"                       // Interrupted passes through
#include "subprocess.hpp"                      // run_process: python3 and gnuplot versions
#include "tandem/multiprocessing/context.hpp"  // get_all_start_methods
#include "tandem/multiprocessing/process.hpp"  // cpu_count: the CPUs this process may use

namespace tandem::cli {

namespace {

std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

// The first line `program --version` prints (on stdout or stderr), or "".
std::string version_of(const std::string& program) {
    if (!in_path(program)) return "";
    try {
        const ProcessOutput output = run_process({program, "--version"}, {.timeout = std::chrono::seconds(20)});
        if (output.status != 0) return "";
        return first_line(output.out.empty() ? output.err : output.out);
    } catch (const Interrupted&) {
        throw;
    } catch (const std::runtime_error&) {
        return "";  // it could not run: reported as not found
    }
}

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return "unknown";
}

double memory_gib() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    return static_cast<double>(pages) * static_cast<double>(page_size) / (1024.0 * 1024.0 * 1024.0);
}

std::string build_description() {
    std::string build;
#if defined(__OPTIMIZE__)
    build = "optimized";
#else
    build = "debug (unoptimized: figures are not representative)";
#endif
#if defined(__SANITIZE_ADDRESS__)
    build += ", AddressSanitizer";
#endif
#if defined(__SANITIZE_THREAD__)
    build += ", ThreadSanitizer";
#endif
    return build;
}

// A loop the compiler cannot shorten: its result depends on every step.
std::uint64_t spin(std::uint64_t steps) {
    std::uint64_t x = steps;
    for (std::uint64_t i = 0; i < steps; ++i) x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

}  // namespace

double measure_parallel_capacity(std::size_t threads) {
    constexpr std::uint64_t kSteps = 20'000'000;  // ~20 ms on a 2020s core
    std::atomic<std::uint64_t> sink{0};  // the loops' results, so that they are computed
    std::vector<double> tries;
    for (int attempt = 0; attempt < 3; ++attempt) {
        check_interrupt();
        auto start = std::chrono::steady_clock::now();
        sink += spin(kSteps);
        const double alone = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        start = std::chrono::steady_clock::now();
        std::vector<std::thread> group;
        for (std::size_t t = 0; t < threads; ++t) group.emplace_back([&sink] { sink += spin(kSteps); });
        for (auto& thread : group) thread.join();
        const double together = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        tries.push_back(static_cast<double>(threads) * alone / together);
    }
    std::sort(tries.begin(), tries.end());
    return tries[1];
}

std::array<double, 3> load_average() noexcept {
    std::array<double, 3> load{};
    if (::getloadavg(load.data(), 3) != 3) load = {};
    return load;
}

std::string affinity_list() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return "unknown";
    std::string list;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set)) continue;
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
        if (!list.empty()) list += ",";
        list += last == cpu ? std::to_string(cpu) : std::to_string(cpu) + "-" + std::to_string(last);
        cpu = last;
    }
    return list;
}

Machine describe_machine() {
    Machine machine;
    machine.cpus = multiprocessing::cpu_count();
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    machine.online_cpus = online > 0 ? static_cast<std::size_t>(online) : machine.cpus;
    machine.affinity = affinity_list();
    machine.cpu_model = cpu_model();
    machine.memory_gib = memory_gib();
    utsname names{};
    if (::uname(&names) == 0) machine.kernel = std::string(names.sysname) + " " + names.release;
    machine.load_before = machine.load_after = load_average();
#if defined(__clang__)
    machine.compiler = fmt::format("Clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    machine.compiler = fmt::format("GCC {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    machine.compiler = "unknown";
#endif
    machine.build = build_description();
    machine.start_methods = multiprocessing::get_all_start_methods();
    machine.libraries = {
        {"tandem", TANDEM_VERSION},
        {"CLI11", CLI11_VERSION},
        {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
        {"nlohmann-json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                      NLOHMANN_JSON_VERSION_PATCH)},
        {"cpp-httplib", CPPHTTPLIB_VERSION},
        {"FFTW", fftw_version},
        {"libsndfile", sf_version_string()},
    };
    machine.python = version_of("python3");
    machine.gnuplot = version_of("gnuplot");
    return machine;
}

}  // namespace tandem::cli

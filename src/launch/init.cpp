// tandem::init(): recognising a re-executed worker (spawn child, forkserver)
// by its environment variable, checked against the process that made it, and
// recording what spawn needs in the user's program (see tandem/init.hpp).
#include "tandem/init.hpp"  // the declarations

#include <sys/auxv.h>  // getauxval(AT_SECURE)
#include <unistd.h>    // environ, _exit

#include <atomic>   // the initialized flag
#include <cstdio>   // the malformed-variable message
#include <cstdlib>  // getenv, unsetenv, strtol
#include <mutex>    // the recorded arguments
#include <string>   // the variable's value
#include <vector>   // the recorded arguments

#include "tandem/detail/launch/parent_check.hpp"  // check_launching_parent
#include "tandem/detail/launch/reexec.hpp"        // kWorkerVariable, program_arguments, require_init, ...
#include "tandem/errors.hpp"                      // ProcessError

namespace tandem {
namespace {

std::atomic<bool> initialized_flag{false};
// Set by init() in a program running with elevated privileges, whose
// environment was chosen by a less privileged user.
std::atomic<bool> secure_flag{false};
std::mutex arguments_mutex;
std::vector<std::string> arguments;  // guarded by arguments_mutex

// Parses "KIND:FD:PID"; false if malformed.
bool parse_marker(const std::string& value, std::string& kind, int& fd, pid_t& parent) {
    const auto first = value.find(':');
    const auto second = value.find(':', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos) return false;
    kind = value.substr(0, first);
    char* end = nullptr;
    const std::string fd_text = value.substr(first + 1, second - first - 1);
    const long fd_value = std::strtol(fd_text.c_str(), &end, 10);
    if (fd_text.empty() || *end != '\0' || fd_value < 0 || fd_value > 1 << 20) return false;
    const std::string pid_text = value.substr(second + 1);
    const long pid_value = std::strtol(pid_text.c_str(), &end, 10);
    if (pid_text.empty() || *end != '\0' || pid_value <= 0 || pid_value > 1 << 30) return false;
    fd = static_cast<int>(fd_value);
    parent = static_cast<pid_t>(pid_value);
    return true;
}

}  // namespace

void init(int argc, char** argv) noexcept {
    {
        const std::lock_guard guard(arguments_mutex);
        arguments.clear();
        for (int i = 0; argv != nullptr && i < argc && argv[i] != nullptr; ++i) arguments.emplace_back(argv[i]);
        if (arguments.empty()) arguments.emplace_back("/proc/self/exe");
    }
    // Under setuid, setgid or file capabilities the kernel sets AT_SECURE:
    // whoever ran the program chose its environment, so the worker marker
    // means nothing, and a re-executed copy could not tell a real one either
    // (spawn and forkserver stay unavailable; require_init says why).
    const bool secure = ::getauxval(AT_SECURE) != 0;
    secure_flag.store(secure, std::memory_order_release);
    // A worker can start processes of its own with every method too.
    initialized_flag.store(!secure, std::memory_order_release);

    const char* marker = std::getenv(detail::kWorkerVariable);
    if (marker == nullptr) return;
    const std::string value(marker);
    // Gone before any user code (a target, or main() here) runs, and from
    // what it executes.
    ::unsetenv(detail::kWorkerVariable);
    if (secure) return;
    std::string kind;
    int fd = -1;
    pid_t parent = 0;
    if (parse_marker(value, kind, fd, parent) && (kind == "spawn" || kind == "forkserver")) {
        detail::check_launching_parent(fd, parent, kind.c_str());
        if (kind == "spawn") detail::run_spawned_child(fd, parent);
        detail::run_forkserver(fd, parent);
    }
    std::fprintf(stderr, "tandem::init: malformed %s=%s (it is set by tandem for its own workers only)\n",
                 detail::kWorkerVariable, value.c_str());
    ::_exit(2);
}

bool initialized() noexcept { return initialized_flag.load(std::memory_order_acquire); }

namespace detail {

std::vector<std::string> program_arguments() {
    const std::lock_guard guard(arguments_mutex);
    return arguments;
}

void require_init(const char* method_name) {
    if (initialized()) return;
    if (secure_flag.load(std::memory_order_acquire)) {
        throw ProcessError(std::string("the ") + method_name +
                           " start method is not available in a program running with elevated privileges "
                           "(setuid, setgid or file capabilities): the copy it would execute could not trust the "
                           "environment that tells it it is a worker. Use the fork start method");
    }
    throw ProcessError(std::string("the ") + method_name +
                       " start method re-executes this program, which must then call tandem::init(argc, argv) first "
                       "thing in main() (see tandem/init.hpp). Add that call, or use the fork start method");
}

std::vector<std::string> worker_environment(const std::string& marker) {
    std::vector<std::string> environment;
    const std::string prefix = std::string(kWorkerVariable) + "=";
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        if (std::string_view(*entry).starts_with(prefix)) continue;
        environment.emplace_back(*entry);
    }
    environment.push_back(prefix + marker);
    return environment;
}

}  // namespace detail
}  // namespace tandem

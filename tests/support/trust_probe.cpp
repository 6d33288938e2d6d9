// Test support: a small program built with tandem that the trust tests run
// from the outside (test_init.cpp, test_entry_table.cpp): as a set-user-ID
// copy, started with TANDEM_WORKER by a script, stripped.
//
//   trust_probe                            calls tandem::init, then prints what its main() sees
//   trust_probe spawn-frame FILE TARGET    writes to FILE the bytes a spawn parent would send
//   trust_probe forkserver-frame FILE TARGET   the same for a forkserver start request
//                                          (the target of both creates TARGET)
//   trust_probe pool                       runs calls in a spawn pool and prints the results
#include <fcntl.h>       // open, fcntl
#include <sys/socket.h>  // socketpair, recv
#include <unistd.h>      // write, close

#include <cstdio>   // std::printf
#include <cstdlib>  // std::getenv
#include <fstream>  // the frame file
#include <string>   // arguments, paths
#include <vector>   // wire bytes

#include "tandem/detail/launch/launcher.hpp"   // ChildSetup
#include "tandem/detail/wire/encoding.hpp"     // detail::encode
#include "tandem/detail/wire/fd_passing.hpp"   // send_with_fds: the exact wire bytes
#include "tandem/detail/wire/function_id.hpp"  // build_id
#include "tandem/detail/wire/remote_call.hpp"  // encode_call
#include "tandem/errors.hpp"                   // ProcessError
#include "tandem/init.hpp"                     // tandem::init
#include "tandem/multiprocessing/process.hpp"  // Process: is spawn available?
#include "tandem/process_pool_executor.hpp"    // ProcessPoolExecutor

namespace {

using namespace tandem;

void do_nothing() {}

// The target a forged start message names: leaves a mark that it ran.
void create_file(std::string path) {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        static_cast<void>(::write(fd, "acted\n", 6));
        ::close(fd);
    }
}

int square(int x) { return x * x; }

// What send_with_fds writes for `bytes`: read back from a socket pair.
std::vector<std::byte> wire_bytes(std::span<const std::byte> bytes) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return {};
    detail::send_with_fds(pair[0], bytes);
    ::close(pair[0]);
    std::vector<std::byte> wire;
    std::byte buffer[4096];
    for (ssize_t got; (got = ::recv(pair[1], buffer, sizeof buffer, 0)) > 0;) wire.insert(wire.end(), buffer, buffer + got);
    ::close(pair[1]);
    return wire;
}

int write_frame(const std::string& kind, const std::string& file, const std::string& target) {
    detail::HandoffWriter message;
    const detail::ChildSetup setup{.name = "forged", .parent_name = "MainProcess", .parent_pid = 1};
    if (kind == "spawn") {
        message.write_bytes(detail::build_id());
    } else {
        message.write(std::uint8_t{0});  // no standard descriptors follow
    }
    message.write_bytes(detail::encode(setup));
    detail::encode_call(message, &create_file, target);
    const std::vector<std::byte> wire = wire_bytes(message.bytes());
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(wire.data()),
                                                static_cast<std::streamsize>(wire.size()));
    return wire.empty() ? 1 : 0;
}

int run_pool() {
    ProcessPoolExecutor pool({.max_workers = 1, .start_method = multiprocessing::StartMethod::spawn});
    const int by_pointer = pool.submit(&square, 7).result();
    const int by_lambda = pool.submit([](int x) { return x + 1; }, 41).result();
    int mapped = 0;
    for (const int value : pool.map(&square, std::vector<int>{1, 2, 3})) mapped += value;
    std::printf("pool: %d %d %d\n", by_pointer, by_lambda, mapped);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    const std::string mode = argc > 1 ? argv[1] : "";
    if ((mode == "spawn-frame" || mode == "forkserver-frame") && argc == 4) {
        return write_frame(mode.substr(0, mode.find('-')), argv[2], argv[3]);
    }
    if (mode == "pool") return run_pool();
    std::printf("main ran\nTANDEM_WORKER %s\n", std::getenv("TANDEM_WORKER") != nullptr ? "present" : "absent");
    try {
        multiprocessing::Process child({.start_method = multiprocessing::StartMethod::spawn}, &do_nothing);
        child.start();
        child.join();
        std::printf("spawn started\n");
    } catch (const ProcessError& e) {
        std::printf("spawn refused: %s\n", e.what());
    }
    return 0;
}

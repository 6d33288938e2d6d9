// tandem: `tandem bench` (the lecture measured on this machine) and `tandem info`.
#include <sys/prctl.h>  // PR_SET_CHILD_SUBREAPER

#include <variant>  // the parse result

#include "arguments.hpp"    // parse_arguments
#include "bench.hpp"        // run_bench
#include "info.hpp"         // run_info
#include "interrupt.hpp"    // install_interrupt_handler
#include "tandem/init.hpp"  // tandem::init: spawn and forkserver re-execute this program

int main(int argc, char** argv) {
    tandem::init(argc, argv);  // first: a spawned worker or the forkserver never returns from here
    const auto parsed = tandem::cli::parse_arguments(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) return *status;
    const auto& command = std::get<tandem::cli::Command>(parsed);
    if (command.kind == tandem::cli::Command::Kind::info) return tandem::cli::run_info();
    // Orphans of the Python runs (a pool's workers, its forkserver) come to
    // us rather than to init, so that we can reap them and check that none
    // is left (subprocess.hpp).
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    tandem::cli::install_interrupt_handler();
    return tandem::cli::run_bench(command.bench);
}

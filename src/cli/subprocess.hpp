// tandem bench: running another program (python3, gnuplot) and collecting its
// output, like Python's subprocess.run — in a process group of its own, so
// that nothing it starts outlives it.
//
// The child leads a new process group, so a Ctrl-C at the terminal reaches
// only tandem, which then ends the whole group itself (Python's pool workers
// included) with SIGKILL. After a normal exit the group gets a moment to
// finish (Python's forkserver and resource tracker leave when their parent
// has gone); what is still there after it is killed. The caller's process
// should be a child subreaper (main.cpp), so that it can reap those orphans.
#pragma once

#include <chrono>  // the time limit
#include <string>  // output, input, arguments
#include <vector>  // argv, environment

namespace tandem::cli {

/// What a finished child left.
struct ProcessOutput {
    int status = 0;    // its exit status, or 128 + the signal that ended it
    std::string out;   // everything it wrote on stdout
    std::string err;   // everything it wrote on stderr
};

/// run_process's options.
struct RunOptions {
    std::string input;                      // written to its stdin, then closed
    std::vector<std::string> environment;   // "NAME=value" entries added to (or replacing) ours
    std::chrono::seconds timeout{600};      // its whole group is killed past this
};

/// Runs `argv` (argv[0] looked up in PATH) to completion. Throws Interrupted
/// if SIGINT or SIGTERM arrives meanwhile, std::runtime_error if it cannot be
/// started or runs past the timeout; in both cases after killing its whole
/// process group.
ProcessOutput run_process(const std::vector<std::string>& argv, const RunOptions& options = {});

/// Whether `program` is an executable file in PATH.
bool in_path(const std::string& program);

}  // namespace tandem::cli

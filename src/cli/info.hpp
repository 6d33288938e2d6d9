// tandem info: the machine and the build, as a user would report them with a
// bug or beside a benchmark figure.
#pragma once

#include <string>  // the text

#include "machine.hpp"  // Machine

namespace tandem::cli {

/// The text `tandem info` prints for `machine`.
std::string format_info(const Machine& machine);

/// Prints format_info(describe_machine()) on stdout; returns the exit status.
int run_info();

}  // namespace tandem::cli

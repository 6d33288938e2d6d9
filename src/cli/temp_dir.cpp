// tandem bench: TempDir, mkdtemp and recursive removal.
#include "temp_dir.hpp"

#include <stdlib.h>  // mkdtemp

#include <cerrno>        // errno for system_error
#include <cstdlib>       // std::getenv
#include <system_error>  // std::system_error, std::error_code
#include <vector>        // the mutable template mkdtemp fills in

namespace tandem::cli {

TempDir::TempDir(const std::string& label) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = (base != nullptr && *base == '/') ? base : "/tmp";
    pattern += "/tandem-bench-" + label + "-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr)
        throw std::system_error(errno, std::generic_category(), "cannot create a folder like " + pattern);
    path_ = name.data();
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace tandem::cli

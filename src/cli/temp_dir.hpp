// tandem bench: a temporary folder that is removed with everything in it when
// it goes out of scope, whether the run ends, fails or is interrupted.
#pragma once

#include <filesystem>  // the path, recursive removal
#include <string>      // the name prefix

namespace tandem::cli {

/// A fresh folder under $TMPDIR (or /tmp), e.g. /tmp/tandem-bench-audio-Xa81Qz.
class TempDir {
public:
    /// Creates the folder. Throws std::system_error if it cannot.
    explicit TempDir(const std::string& label);
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// Removes the folder and its contents (errors ignored: best effort).
    ~TempDir();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace tandem::cli

// tandem bench: the audio preprocessing pipeline of workload 2, one clip at a
// time — synthesise a clip, write it as a 16-bit WAV file (libsndfile), read
// it back, and compute its log-magnitude spectrogram (FFTW). The Python
// script (audio_preprocess.py) does the same with wave and a pure-Python FFT.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // the checksum
#include <string>   // file paths
#include <vector>   // samples

#include "optional_gil.hpp"  // OptionalGil: ticks and released I/O under the emulated GIL

namespace tandem::cli {

/// The shape of a clip and its spectrogram.
struct ClipFormat {
    int sample_rate = 16000;
    double seconds = 4.0;
    std::size_t frame = 512;  // FFT size
    std::size_t hop = 256;
};

/// Clip `index`: two partials (the second decaying) and a little noise,
/// deterministic. Ticks every 256 samples.
std::vector<float> synthesize_clip(std::size_t index, const ClipFormat& format, const OptionalGil& gil);

/// Writes `samples` to `path` as mono 16-bit PCM WAV. Throws std::runtime_error
/// with libsndfile's message on failure.
void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate);

/// Reads a mono WAV file's samples. Throws std::runtime_error on failure.
std::vector<float> read_wav(const std::string& path);

/// The log10 power spectrogram of `samples` (Hann window), summed into a
/// checksum (each value rounded to 1/1000). Ticks once per frame.
std::uint64_t spectrogram_checksum(const std::vector<float>& samples, const ClipFormat& format,
                                   const OptionalGil& gil);

/// The whole pipeline for clip `index` in `folder`: synthesise, write, read
/// back, spectrogram; with a GIL, all of it under the lock, as the Python side.
std::uint64_t preprocess_clip(const std::string& folder, std::size_t index, const ClipFormat& format,
                              const OptionalGil& gil);

}  // namespace tandem::cli

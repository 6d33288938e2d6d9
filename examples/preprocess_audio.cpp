// The lecture's second use case for processes, data preprocessing: a folder of WAV files
// analysed on a process pool, one file per task (libsndfile reads, FFTW finds the loudest pitch).
//
//     example_preprocess_audio [files]      (default 8)
#include <cmath>       // std::sin, std::norm
#include <complex>     // FFTW's output as std::complex
#include <cstdio>      // std::printf
#include <fftw3.h>     // fftw_plan_dft_r2c_1d
#include <filesystem>  // the folder
#include <sndfile.h>   // sf_open, sf_writef_double, sf_readf_double
#include <stdlib.h>    // mkdtemp
#include <vector>      // samples, paths

#include "tandem/init.hpp"                   // tandem::init
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor

constexpr int kRate = 16000;
constexpr int kFrame = 4096;

double loudest_hz(std::string path) {  // one task: the loudest frequency of a WAV file, in Hz
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    if (file == nullptr) throw std::runtime_error(path + ": " + sf_strerror(nullptr));
    std::vector<double> samples(static_cast<std::size_t>(info.frames)), frame(kFrame), power(kFrame / 2 + 1);
    sf_readf_double(file, samples.data(), info.frames);
    sf_close(file);
    std::vector<std::complex<double>> spectrum(kFrame / 2 + 1);
    fftw_plan plan = fftw_plan_dft_r2c_1d(kFrame, frame.data(), reinterpret_cast<fftw_complex*>(spectrum.data()),
                                          FFTW_ESTIMATE);
    for (std::size_t start = 0; start + kFrame <= samples.size(); start += kFrame) {
        std::copy_n(samples.begin() + static_cast<long>(start), kFrame, frame.begin());
        fftw_execute(plan);
        for (std::size_t k = 0; k < power.size(); ++k) power[k] += std::norm(spectrum[k]);
    }
    fftw_destroy_plan(plan);
    return static_cast<double>(std::max_element(power.begin() + 1, power.end()) - power.begin()) * kRate / kFrame;
}

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    const int files = argc > 1 ? std::atoi(argv[1]) : 8;
    std::string folder = (std::filesystem::temp_directory_path() / "tandem-example-XXXXXX").string();
    if (mkdtemp(folder.data()) == nullptr) return 1;
    std::vector<std::string> paths;
    for (int i = 0; i < files; ++i) {  // clip i: a 2-second tone of 250 * (i + 1) Hz
        paths.push_back(folder + "/clip" + std::to_string(i) + ".wav");
        SF_INFO info{.samplerate = kRate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
        std::vector<double> tone(2 * kRate);
        for (int t = 0; t < 2 * kRate; ++t) tone[static_cast<std::size_t>(t)] = 0.5 * std::sin(2 * M_PI * 250 * (i + 1) * t / kRate);
        SNDFILE* file = sf_open(paths.back().c_str(), SFM_WRITE, &info);
        sf_writef_double(file, tone.data(), static_cast<sf_count_t>(tone.size()));
        sf_close(file);
    }
    tandem::ProcessPoolExecutor pool;  // one worker per usable CPU
    int i = 0;
    for (double hz : pool.map(loudest_hz, paths)) std::printf("%s: loudest at %.0f Hz\n", paths[i++].c_str(), hz);
    std::filesystem::remove_all(folder);
    return 0;
}

"""tandem bench, workload 2 in Python: synthesise audio clips, write them as
16-bit WAV files (wave), read them back and compute log-magnitude
spectrograms with a pure-Python FFT, one clip per task
(src/cli/workloads/audio_clip.cpp does the same with libsndfile and FFTW).

Without numpy the FFT is pure Python, about a hundred times slower than FFTW,
so the clips are fewer and shorter: compare speedups, not seconds.

Parameters: clips, seconds, sample_rate, frame, hop, repetitions, workers.
"""
import array
import cmath
import functools
import math
import os
import tempfile
import wave

import bench_common as common

P = common.parameters() if __name__ == "__main__" else None
FOLDER = tempfile.mkdtemp(prefix="tandem-audio-") if __name__ == "__main__" else None


def synthesize(index, count, rate):
    first = 110.0 * (1 + index % 7)
    second = first * 1.5
    step = 2 * math.pi / rate
    noise = index * 7919 + 1
    samples = []
    for t in range(count):
        noise = (noise * 1103515245 + 12345) & 0x7FFFFFFF
        samples.append(0.5 * math.sin(step * first * t)
                       + 0.25 * math.sin(step * second * t) * math.exp(-3.0 * t / count)
                       + 0.05 * (noise / 2147483648.0 - 0.5))
    return samples


def write_wav(path, samples, rate):
    pcm = array.array("h", (max(-32768, min(32767, round(x * 32767))) for x in samples))
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def read_wav(path):
    with wave.open(path, "rb") as source:
        pcm = array.array("h")
        pcm.frombytes(source.readframes(source.getnframes()))
    return [x / 32768.0 for x in pcm]


@functools.lru_cache(maxsize=None)
def fft_tables(n):
    """The bit-reversal order and each stage's twiddle factors for size n."""
    bits = n.bit_length() - 1
    order = [int(format(i, f"0{bits}b")[::-1], 2) for i in range(n)]
    stages = []
    size = 2
    while size <= n:
        stages.append((size, [cmath.exp(-2j * math.pi * k / size) for k in range(size // 2)]))
        size *= 2
    return order, stages


def fft(values):
    """Iterative radix-2 FFT of a list whose length is a power of two."""
    n = len(values)
    order, stages = fft_tables(n)
    data = [values[i] for i in order]
    for size, twiddles in stages:
        half = size // 2
        for start in range(0, n, size):
            for k in range(half):
                even = data[start + k]
                odd = data[start + k + half] * twiddles[k]
                data[start + k] = even + odd
                data[start + k + half] = even - odd
    return data


def spectrogram_checksum(samples, frame, hop):
    window = [0.5 - 0.5 * math.cos(2 * math.pi * i / frame) for i in range(frame)]
    total = 0
    for start in range(0, len(samples) - frame + 1, hop):
        spectrum = fft([samples[start + i] * window[i] for i in range(frame)])
        for k in range(frame // 2 + 1):
            power = spectrum[k].real ** 2 + spectrum[k].imag ** 2
            total += round(math.log10(power + 1e-10) * 1000)
    return total


def task(i):
    rate = P["sample_rate"]
    path = os.path.join(FOLDER, f"clip_{i}.wav")
    write_wav(path, synthesize(i, int(P["seconds"] * rate), rate), rate)
    return spectrogram_checksum(read_wav(path), P["frame"], P["hop"])


def main():
    modes, checksum = common.run_task_modes(task, P["clips"], P["workers"], P["repetitions"])
    common.emit(f"{P['clips']} clips of {P['seconds']} s at {P['sample_rate']} Hz: synthesise, write as 16-bit WAV "
                f"(wave), read back, log-magnitude spectrogram ({P['frame']}-point pure-Python FFT every "
                f"{P['hop']} samples), one clip per task", modes, checksum)


if __name__ == "__main__":
    main()

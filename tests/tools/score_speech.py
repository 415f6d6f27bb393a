#!/usr/bin/env python3
"""Scores speech that went through a call against what was said.

    score_speech.py REFERENCE RECEIVED [--skip SECONDS] [--seconds SECONDS]

Both files are raw signed 16-bit little-endian mono at 16 kHz. REFERENCE is what the
microphone played, over and over; RECEIVED is what the far end played or decoded. From
RECEIVED, after --skip, segments of 8 s are taken (up to --seconds in all); each is
found in the looped reference by cross-correlation, scored with wideband PESQ (ITU-T
P.862.2, the `pesq` package) and cut into 20 ms windows: a window where the reference
speaks and the received sound is silent counts as a gap. Prints one JSON line:
{"pesq": mean, "pesq_each": [...], "silent_share": share of speech windows, "delay_ms": ...}.
"""
import argparse
import json

import numpy as np
from pesq import pesq

RATE = 16000
SEGMENT = 8 * RATE
WINDOW = RATE // 50


def read(path):
    return np.fromfile(path, dtype="<i2").astype(np.float32)


def locate(looped, segment):
    """Offset of `segment` in `looped` (a reference followed by its own start)."""
    n = len(looped) + len(segment)
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(looped, size) * np.conj(np.fft.rfft(segment, size))
    correlation = np.fft.irfft(spectrum, size)[: len(looped) - len(segment) + 1]
    return int(np.argmax(correlation))


def level(x):
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("received")
    parser.add_argument("--skip", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=24.0)
    args = parser.parse_args()
    reference = read(args.reference)
    received = read(args.received)[int(args.skip * RATE):][: int(args.seconds * RATE)]
    looped = np.concatenate([reference, reference[:SEGMENT + RATE]])
    scores, speech, silent, offsets = [], 0, 0, []
    for start in range(0, len(received) - SEGMENT + 1, SEGMENT):
        segment = received[start:start + SEGMENT]
        if level(segment) < 0:
            scores.append(1.0)  # nothing at all came through: the lowest score
            continue
        offset = locate(looped, segment)
        offsets.append(offset)
        said = looped[offset:offset + SEGMENT]
        try:
            scores.append(float(pesq(RATE, said, segment, "wb")))
        except Exception:  # no utterance found: as bad as it gets
            scores.append(1.0)
        for w in range(0, SEGMENT - WINDOW + 1, WINDOW):
            if level(said[w:w + WINDOW]) > 40:  # the reference speaks (about -50 dBFS)
                speech += 1
                if level(segment[w:w + WINDOW]) < 20:  # about -70 dBFS: silence
                    silent += 1
    print(json.dumps({
        "pesq": float(np.mean(scores)) if scores else 1.0,
        "pesq_each": scores,
        "silent_share": silent / speech if speech else 1.0,
        "segments": len(scores),
    }))


if __name__ == "__main__":
    main()

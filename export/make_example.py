"""Build the bundled demo clip ``rtstyle/examples/astronaut.mp4``.

    python -m export.make_example          # or: python export/make_example.py [OUT]

The README's first command stylizes this clip on a fresh machine, so it ships in
the package instead of being downloaded. It is a slow Ken Burns zoom over
scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain; the image
ships inside scikit-image, so no network is needed) with a soft synthesized
chord, so the demo shows audio passing through untouched. scikit-image is only
needed to regenerate the clip, never at runtime.

The output is deterministic: fixed geometry, a closed-form audio signal, and
single-threaded bit-exact encoding (x264 with frame threads can vary).
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "rtstyle" / "examples" / "astronaut.mp4"
WIDTH, HEIGHT, FPS, SECONDS = 384, 288, 24, 3
SAMPLE_RATE = 48_000
AAC_FRAME = 1024  # samples per AAC frame
# Crop windows in source pixels (centre x, centre y, width); 4:3 like the output.
START = (256.0, 192.0, 512.0)  # the whole width of the 512x512 photo
END = (240.0, 128.0, 320.0)  # face and shoulders
CHORD_HZ = (220.00, 277.18, 329.63, 440.00)  # A major, A3 to A4


def load_astronaut() -> np.ndarray:
    try:
        from skimage import data
    except ImportError as e:
        raise SystemExit("regenerating the example needs scikit-image: pip install scikit-image") from e
    return np.ascontiguousarray(data.astronaut()[:, :, :3])  # 512x512 RGB uint8


def ease(t: float) -> float:
    """Smoothstep: the camera starts and stops gently instead of jerking."""
    return t * t * (3.0 - 2.0 * t)


def ken_burns_frames(image: np.ndarray, count: int) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        t = ease(i / (count - 1))
        cx, cy, w = (a + (b - a) * t for a, b in zip(START, END))
        s = WIDTH / w
        # Affine warp rather than integer crops: sub-pixel steps keep a slow zoom from jittering.
        m = np.float32([[s, 0, WIDTH / 2 - s * cx], [0, s, HEIGHT / 2 - s * cy]])
        frames.append(cv2.warpAffine(image, m, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def chord(seconds: float) -> np.ndarray:
    """A soft stereo A-major chord, 2 x N float32: slow attack and release, no clicks at the ends."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    env = np.minimum(1.0, t / 0.4) * np.minimum(1.0, (seconds - t) / 0.8)
    channels = []
    for detune in (0.0, 0.7):  # a slight right-channel detune makes it sound wide, not mono
        tone = sum(np.sin(2 * np.pi * (f + detune) * t) / (k + 1) for k, f in enumerate(CHORD_HZ))
        channels.append(0.18 * env * tone / sum(1 / (k + 1) for k in range(len(CHORD_HZ))))
    return np.stack(channels).astype(np.float32)


def write_clip(path: Path, frames: list[np.ndarray], audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # bitexact: no encoder version strings in the container, so rebuilding gives the same bytes.
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact", "movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "18", "preset": "slow", "threads": "1", "g": str(FPS * 2), "flags": "+bitexact"}
        sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        sound.options = {"b": "96k", "flags": "+bitexact"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, audio.shape[1], AAC_FRAME):
            chunk = np.ascontiguousarray(audio[:, start : start + AAC_FRAME])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            out.mux(sound.encode(frame))
        out.mux(sound.encode())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else OUT
    write_clip(path, ken_burns_frames(load_astronaut(), FPS * SECONDS), chord(SECONDS))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {SECONDS} s, {WIDTH}x{HEIGHT} @ {FPS} fps + AAC)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

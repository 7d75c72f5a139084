"""Where frames go. Every sink takes HxWx3 uint8 RGB numpy frames.

Outputs are written to a hidden partial file beside the destination and
renamed into place only when complete, so a failed run never leaves a file
that looks finished.
"""
from __future__ import annotations

import errno
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from .pipeline import Frame, StreamInfo


def check_output(src: str | Path, dst: str | Path, overwrite: bool) -> Path:
    """Refuse an output that would destroy the input or an existing file, or cannot be written."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"output is the input file: {dst}")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"output exists: {dst} (pass --overwrite to replace it)")
    if dst.is_dir():
        raise IsADirectoryError(f"output is a directory: {dst}")
    folder = dst.parent if str(dst.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder is not writable: {folder}")
    return dst


def partial_path(dst: str | Path) -> Path:
    """Hidden sibling with the same extension (encoders pick the format from it)."""
    dst = Path(dst)
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    path = Path(path)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if alpha is None else \
        cv2.cvtColor(np.dstack([rgb, alpha]), cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(path.suffix or ".png", img)
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r}: {path}")
    tmp = partial_path(path)
    try:
        buf.tofile(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Channel count -> layout for the AAC fallback (FFmpeg's defaults that its AAC encoder accepts).
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 8: "7.1"}


@dataclass(frozen=True)
class EncoderConfig:
    codec: str = "libx264"
    crf: int = 18  # visually near-lossless for x264; lower is bigger and better
    # veryfast: a small share of the CPU next to the network, at a modest size cost vs medium.
    preset: str = "veryfast"


class VideoSink:
    """Encodes Frames to H.264 and copies the source's audio packets into a video file.

    Writes ``partial_path(path)``; ``close(keep=True)`` renames it to ``path``,
    ``close(keep=False)`` deletes it. Timestamps are the frames' own (VFR stays
    VFR). Sizes with an odd side are encoded as yuv444p, because H.264 4:2:0
    cannot represent them (its cropping works in 2-pixel units); even sizes use
    yuv420p, which every player decodes. Audio a container cannot hold as is
    is re-encoded to AAC, and ``notes`` says so.
    """

    def __init__(self, path: str | Path, info: StreamInfo, config: EncoderConfig = EncoderConfig()):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.info = info
        self.notes: list[str] = []
        self.frames = 0
        self._closed = False
        try:
            self._out = av.open(str(self.partial), "w")
        except ValueError as e:  # PyAV: no muxer for this file extension
            raise ValueError(f"cannot write video as {self.path.suffix or 'a file without extension'!r}: "
                             f"{self.path} ({e})") from None
        try:
            self._video = self._add_video(info, config)
            self._copy: dict[int, Any] = {}  # input stream index -> output stream
            self._reencode: dict[int, tuple[Any, Any]] = {}  # input stream index -> (input, output)
            for stream in info.passthrough:
                self._add_audio(stream)
            self._guard(self._out.start_encoding)
        except BaseException:
            self._discard()
            raise

    def _add_video(self, info: StreamInfo, config: EncoderConfig):
        odd = info.width % 2 or info.height % 2
        try:
            s = self._out.add_stream(config.codec, rate=info.rate or 30,
                                     options={"crf": str(config.crf), "preset": config.preset})
        except ValueError as e:
            raise ValueError(f"cannot write {config.codec} video into {self.path.name}: {e}") from None
        s.width, s.height = info.width, info.height
        s.pix_fmt = "yuv444p" if odd else "yuv420p"
        if info.time_base:
            # The encoder rebases frame pts into its own time base: keep the source's so none is rounded.
            s.time_base = s.codec_context.time_base = info.time_base
        if info.sample_aspect_ratio:
            s.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        c = info.color
        s.codec_context.colorspace, s.codec_context.color_range = c.colorspace, c.color_range
        s.codec_context.color_primaries, s.codec_context.color_trc = c.color_primaries, c.color_trc
        if info.display_matrix:
            s.set_display_matrix(list(info.display_matrix))
        return s

    def _add_audio(self, stream) -> None:
        if _can_copy(stream, self._out.format.name):
            self._copy[stream.index] = self._out.add_stream_from_template(stream)
            return
        # Containers like AVI store a channel count, not a layout ("1 channels"): name the usual one.
        layout = AAC_LAYOUTS.get(stream.codec_context.channels, "stereo")
        out = self._out.add_stream("aac", rate=stream.codec_context.sample_rate, layout=layout)
        self._reencode[stream.index] = (stream, out)
        self.notes.append(f"audio stream #{stream.index} ({stream.codec_context.name}) cannot be copied into "
                          f"{self._out.format.name}: re-encoding it to AAC")

    def write(self, item: Frame | av.Packet) -> None:
        if isinstance(item, Frame):
            self._write_frame(item)
        elif (index := item.stream.index) in self._copy:
            item.stream = self._copy[index]
            self._guard(self._out.mux_one, item)
        elif index in self._reencode:
            src, out = self._reencode[index]
            for frame in src.codec_context.decode(item):
                self._guard(self._out.mux, out.encode(frame))

    def _write_frame(self, f: Frame) -> None:
        image = f.image
        if image.shape[:2] != (self.info.height, self.info.width):  # the stream changed size mid-way
            image = cv2.resize(image, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
        c = self.info.color
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format=self._video.pix_fmt, dst_colorspace=c.colorspace or None, dst_color_range=c.color_range or None)
        frame.pts, frame.time_base = f.pts, f.time_base
        self._guard(self._out.mux, self._video.encode(frame))
        self.frames += 1

    def flush(self) -> None:
        """Drain the encoders: the frames they still hold are written."""
        self._guard(self._out.mux, self._video.encode(None))
        for src, out in self._reencode.values():
            for frame in src.codec_context.decode(None):
                self._guard(self._out.mux, out.encode(frame))
            self._guard(self._out.mux, out.encode(None))

    def close(self, keep: bool) -> None:
        """Finish the file and move it into place (keep) or delete it."""
        if self._closed:
            return
        if not keep:
            self._discard()
            return
        self._closed = True
        try:
            self._guard(self._out.close)  # writes the index (moov): only now is the file playable
            self.partial.replace(self.path)
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise

    def _discard(self) -> None:
        self._closed = True
        try:
            self._out.close()
        except (av.FFmpegError, OSError):
            pass  # the file is deleted anyway
        self.partial.unlink(missing_ok=True)

    def _guard(self, fn, *args):
        """Muxer/file errors (disk full, folder gone) become one readable OSError."""
        try:
            return fn(*args)
        except OSError as e:  # PyAV's errno errors (ENOSPC, EACCES, ...) are OSErrors too
            code = e.errno or errno.EIO
            raise OSError(code, f"cannot write {self.path}: {e.strerror or os.strerror(code)}") from None
        except av.FFmpegError as e:
            raise ValueError(f"cannot write {self.path}: {e.strerror}") from None

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close(keep=False)  # a sink not closed by the pipeline never looks finished


def _can_copy(stream, format_name: str) -> bool:
    """Can this stream's packets go into ``format_name`` unchanged? Asked of the muxer itself:
    write a header with the stream into memory."""
    probe = av.open(io.BytesIO(), "w", format=format_name)
    try:
        probe.add_stream_from_template(stream)
        probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False
    finally:
        try:
            probe.close()
        except (av.FFmpegError, OSError):
            pass

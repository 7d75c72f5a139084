"""Where frames come from. Every source yields HxWx3 uint8 RGB numpy frames."""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .pipeline import ColorTags, Frame, StreamInfo


def read_image(path: str | Path, what: str = "input") -> np.ndarray:
    """Read an image file as stored: gray, RGB or RGBA; 8 or 16 bit. Channel order is RGB(A).
    ``what`` names the file in errors ("style image": which of a command's files is wrong)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} is a folder, not an image: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # imdecode: works with any path encoding
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"{what}: not a readable image: {path}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


class VideoSource:
    """The first video stream of a file, decoded to RGB Frames, plus its audio packets.

    Iterating yields, in file order, ``Frame`` items and the raw ``av.Packet`` of
    every audio stream (listed in ``info.passthrough``) for a sink to copy as is.
    Opening decodes the first frame already: a file that cannot deliver one is
    refused here, before any output exists, and rotation side data (which PyAV
    exposes on frames only) is known before the sink is created.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"input is a folder, not a video: {self.path}")
        if not self.path.is_file():
            raise FileNotFoundError(f"input not found: {self.path}")
        try:
            self._container = av.open(str(self.path))
        except av.FFmpegError as e:
            raise ValueError(f"not a readable video: {self.path} ({e.strerror})") from None
        try:
            self._video, self._audio = self._pick_streams()
            v = self._video
            self._rate = Fraction(v.average_rate or v.guessed_rate or 25)
            self._time_base = v.time_base or 1 / self._rate
            self._last_pts: int | None = None
            self._first_meta: tuple[tuple[int, ...] | None, ColorTags] = (None, ColorTags())
            self._items = self._demux()
            self._ahead: list[Frame | av.Packet] = []  # read while looking for the first frame
            self.info = self._describe(self._first_frame())
        except BaseException:
            self._container.close()
            raise

    def _pick_streams(self) -> tuple[av.VideoStream, tuple[av.AudioStream, ...]]:
        c = self._container
        # FFmpeg opens still images as one-frame "video" (image2, jpeg_pipe, png_pipe, ...).
        if c.format.name == "image2" or c.format.name.endswith("_pipe"):
            raise ValueError(f"{self.path} is an image, not a video (use `rtstyle image`)")
        # Cover art in audio files is a "video" stream flagged attached_pic: not a video.
        videos = [s for s in c.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            what = "only audio" if c.streams.audio else "no video stream"
            raise ValueError(f"{self.path} has {what}: nothing to stylize")
        return videos[0], tuple(c.streams.audio)

    def _demux(self) -> Iterator[Frame | av.Packet]:
        index = 0
        try:
            for packet in self._container.demux(self._video, *self._audio):
                # packet.stream, not stream_index: demux() ends with one empty flush packet per
                # stream, all with stream_index 0; decoding the audio one would end its decoder.
                if packet.stream.index != self._video.index:
                    if packet.dts is not None:  # not a flush packet
                        yield packet
                    continue
                for frame in packet.decode():
                    if index == 0:
                        self._first_meta = _picture_meta(frame)
                    yield self._to_frame(frame, index)
                    index += 1
        except av.FFmpegError as e:
            raise ValueError(f"{self.path}: cannot read past frame {index} ({e.strerror}); "
                             "the file is truncated or corrupt") from None

    def _to_frame(self, frame: av.VideoFrame, index: int) -> Frame:
        # PyAV converts with the frame's own colorspace/range tags; the sink writes the same tags
        # (StreamInfo.color) and converts back with them, so colours survive the round trip.
        image = frame.to_ndarray(format="rgb24")
        pts, tb = frame.pts, frame.time_base or self._time_base
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            # Missing or not increasing (AVI has no pts field, so B-frames there leave the decoder
            # guessing): continue at the nominal rate rather than hand the encoder a duplicate.
            step = max(1, round(1 / (self._rate * tb)))
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return Frame(image, pts, tb, index)

    def _first_frame(self) -> Frame:
        for item in self._items:
            self._ahead.append(item)
            if isinstance(item, Frame):
                return item
        raise ValueError(f"{self.path}: no decodable video frame")

    def _describe(self, first: Frame) -> StreamInfo:
        v = self._video
        h, w = first.image.shape[:2]
        frames = v.frames or (round(float(v.duration * v.time_base * self._rate)) if v.duration else None)
        sar = v.sample_aspect_ratio
        matrix, color = self._first_meta
        return StreamInfo(
            width=w, height=h, rate=self._rate, time_base=first.time_base, frames=frames or None,
            display_matrix=matrix, sample_aspect_ratio=sar if sar and sar != 1 else None,
            color=color, passthrough=self._audio)

    def __iter__(self) -> Iterator[Frame | av.Packet]:
        while self._ahead:
            yield self._ahead.pop(0)
        yield from self._items

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _picture_meta(frame: av.VideoFrame) -> tuple[tuple[int, ...] | None, ColorTags]:
    """The first frame's display matrix (rotation/flip for players) and colour tags."""
    matrix = None
    side = frame.side_data  # PyAV 18 made it a mapping by type; before, a sequence of entries
    for sd in side.values() if hasattr(side, "values") else side:
        if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            matrix = tuple(int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32))
    return matrix, ColorTags(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc)

"""Parallel inference workers (pipeline.run with several stylizers, --workers): order kept on real frames."""
from __future__ import annotations

import json

import threading
import time

import numpy as np
import pytest

from rtstyle import Stylizer
from rtstyle.pipeline import Frame, PipelineConfig, run
from rtstyle.sources import VideoSource

SIZE = 96  # long side: the test is about order, not speed


@pytest.fixture(scope="module")
def clip(bunny) -> list:
    """The first 12 frames of bunny.mp4, their audio packets interleaved as the file has them."""
    import cv2

    items = []
    with VideoSource(bunny) as source:
        for item in source:
            if isinstance(item, Frame):
                item.image = cv2.resize(item.image, (SIZE, SIZE * 9 // 16), interpolation=cv2.INTER_AREA)
                if sum(isinstance(i, Frame) for i in items) == 12:
                    break
            items.append(item)
    assert any(not isinstance(i, Frame) for i in items), "bunny.mp4 has audio: packets must ride along"
    return items


@pytest.fixture(scope="module")
def wave() -> Stylizer:
    return Stylizer("wave", threads=1)


class Uneven:
    """A real Stylizer that takes longer on some frames (like a busy core), so workers finish out of order."""

    def __init__(self, stylizer: Stylizer, slow: set[int], log: list[int]):
        self.stylizer, self.slow, self.log = stylizer, slow, log

    def stylize_timed(self, image):
        out, timings = self.stylizer.stylize_timed(image)
        key = int(image.sum()) % 1_000_003
        if key in self.slow:
            time.sleep(0.08)
        self.log.append(key)
        return out, timings


class ListSink:
    def __init__(self, fail_after: int | None = None):
        self.items, self.kept, self.fail_after = [], None, fail_after

    def write(self, item):
        if self.fail_after is not None and len(self.items) == self.fail_after:
            raise OSError("disk full")
        self.items.append(item)

    def flush(self):
        pass

    def close(self, keep):
        self.kept = keep


def fresh(items: list) -> list:
    """Copies of the clip's items (the pipeline replaces a Frame's image in place)."""
    return [Frame(i.image.copy(), i.pts, i.time_base, k) if isinstance(i, Frame) else i for k, i in enumerate(items)]


def key_of(image: np.ndarray) -> int:
    return int(image.sum()) % 1_000_003


def test_two_workers_keep_frame_and_packet_order(clip, wave):
    expected = fresh(clip)
    reference = ListSink()
    run(expected, wave, reference)  # one worker: the order and pictures to reproduce

    items = fresh(clip)
    frames = [i for i in items if isinstance(i, Frame)]
    slow = {key_of(f.image) for f in frames[::3]}  # every third frame is slow
    finished: list[int] = []
    workers = [Uneven(wave, slow, finished), Uneven(Stylizer("wave", threads=1), slow, finished)]
    sink = ListSink()
    result = run(items, workers, sink, config=PipelineConfig(queue_size=2))

    order = [key_of(f.image) for f in frames]
    assert finished != order, "the workers never overtook each other: the test would not see a reordering"
    assert result.frames == len(frames) and sink.kept
    assert [type(i) for i in sink.items] == [type(i) for i in reference.items]
    assert [getattr(i, "pts", None) for i in sink.items] == [getattr(i, "pts", None) for i in reference.items]
    for got, want in zip(sink.items, reference.items):
        if isinstance(want, Frame):
            assert got.index == want.index
            # Same network, same input: two sessions give the same picture as one.
            assert np.abs(got.image.astype(int) - want.image.astype(int)).max() <= 1


def test_stop_keeps_an_ordered_prefix(clip, wave):
    items = [i for i in fresh(clip) if isinstance(i, Frame)]
    stop = threading.Event()

    def source():
        for k, item in enumerate(items):
            if k == 6:
                stop.set()  # Ctrl-C half way
            yield item
            time.sleep(0.05)  # a source slower than two workers: frames get through before the stop

    sink = ListSink()
    result = run(source(), [wave, Stylizer("wave", threads=1)], sink, stop=stop)
    written = [f.index for f in sink.items]
    assert result.interrupted and sink.kept
    assert written == [f.index for f in items[:len(written)]] and 1 <= len(written) <= 6


def test_a_failing_sink_aborts_every_worker(clip, wave):
    before = {t.name for t in threading.enumerate()}
    sink = ListSink(fail_after=3)
    with pytest.raises(OSError, match="disk full"):
        run(fresh(clip), [wave, Stylizer("wave", threads=1)], sink, config=PipelineConfig(poll_s=0.01))
    assert sink.kept is False and len(sink.items) == 3
    time.sleep(0.2)
    assert {t.name for t in threading.enumerate()} <= before, "a worker thread was left running"


def test_latest_only_with_two_workers_delivers_newest_in_order(clip, wave):
    """A camera faster than the network: frames are dropped, the ones delivered stay in capture order."""
    frames = [i for i in fresh(clip) if isinstance(i, Frame)]

    def camera():
        for k in range(120):
            f = frames[k % len(frames)]
            yield Frame(f.image.copy(), index=k)
            time.sleep(0.002)

    sink = ListSink()
    run(camera(), [wave, Stylizer("wave", threads=1)], sink,
        config=PipelineConfig(queue_size=1, poll_s=0.01, latest_only=True))
    indices = [f.index for f in sink.items]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert 2 <= len(indices) < 120, "frames were dropped, not queued"


def test_video_cli_with_two_workers(bunny, tmp_path, capsys):
    """`rtstyle video --workers 2`: every frame, in order (pts), audio kept; with the temporal stage on it is
    refused in one line."""
    import av

    from rtstyle.cli import main

    out, stats = tmp_path / "w2.mp4", tmp_path / "s.json"
    code = main(["video", str(bunny), str(out), "--style", "wave", "--max-size", "64", "--no-temporal",
                 "--workers", "2", "--stats-json", str(stats), "-q"])
    assert code == 0, capsys.readouterr().err
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1
        pts = [f.pts for f in c.decode(video=0)]
    assert len(pts) == 240 and pts == sorted(pts)
    assert json.loads(stats.read_text())["workers"] == 2
    code = main(["video", str(bunny), str(tmp_path / "t.mp4"), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "add --no-temporal" in err, err

"""`rtstyle webcam` building blocks on real frames: stamps, HUD, keys, effects, sources, the newest-frame queue."""
from __future__ import annotations

import threading
import time

import av
import cv2
import numpy as np
import pytest

from rtstyle import Stylizer
from rtstyle.capture import SourceSpec, no_camera_message, parse_size, parse_source
from rtstyle.display import QUIT, RECORD, SCREENSHOT, HudInfo, draw_hud, gui_available, handle_key, hud_lines
from rtstyle.effects import Controls, ControlState, LiveStylizer, blend, preserve_colour, side_by_side
from rtstyle.loopback import STAMP_MODULO, read_stamp, stamp_index
from rtstyle.pipeline import Frame, PipelineConfig, run


@pytest.fixture(scope="module")
def bunny_frames(bunny) -> list[np.ndarray]:
    """Six real frames spread over the clip, at 160x120 (the size the live tests use)."""
    with av.open(str(bunny)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(120), c.decode(video=0))][::20]
    return [cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.fixture(scope="module")
def wave() -> Stylizer:
    return Stylizer("wave", threads=2)


def test_stamp_survives_stylization(bunny_frames, wave):
    starry = Stylizer("starry", threads=2)  # maps white and black to yellow and teal of equal brightness
    indices = [5, 42, 777, 1500, STAMP_MODULO - 1, STAMP_MODULO + 3]
    for frame, index in zip(bunny_frames, indices):
        stamped = frame.copy()
        stamp_index(stamped, index)
        assert read_stamp(stamped) == index % STAMP_MODULO
        assert read_stamp(wave.stylize(stamped)) == index % STAMP_MODULO
        assert read_stamp(starry.stylize(stamped)) == index % STAMP_MODULO
    # A flat picture carries no code: no contrast between the reference blocks.
    assert read_stamp(np.full((120, 160, 3), 128, np.uint8)) is None


def test_stamp_parity_rejects_a_flipped_bit(bunny_frames):
    stamped = bunny_frames[0].copy()
    stamp_index(stamped, 300)
    b = 160 // 14
    stamped[:2 * b, b:2 * b] = 255 - stamped[:2 * b, b:2 * b]  # flip bit 0 (both of its blocks)
    assert read_stamp(stamped) is None


def test_hud_lines_and_drawing(bunny_frames):
    info = HudInfo(fps=2.5, p50_ms=412.0, p95_ms=530.4, engine="onnxruntime", style="wave", drops=37,
                   controls=Controls(strength=0.7, preserve_colour=True), recording=True,
                   message="stream lost, trying to reconnect")
    lines = hud_lines(info)
    assert "2.5 fps" in lines[0] and "p50 412" in lines[0] and "p95 530" in lines[0] and "drops 37" in lines[0]
    assert "onnxruntime" in lines[1] and "wave" in lines[1] and "70%" in lines[1] and "REC" in lines[1]
    assert "reconnect" in lines[2]
    frame = cv2.resize(bunny_frames[1], (640, 480))
    out = draw_hud(frame, lines)
    assert out.shape == frame.shape and not np.shares_memory(out, frame)
    changed = np.any(out != frame, axis=2)
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.min() > 480 // 2, "the HUD stays in the bottom part"
    assert not changed[:100, :].any(), "the top-left corner (where stamps live) is untouched"
    band = out[rows.min():, 300:]  # right of the text: darkened only
    assert band.mean() < frame[rows.min():, 300:].mean() * 0.6
    assert (out[rows.min():, :300] == 255).all(axis=2).sum() > 100, "white text was drawn"


def test_keys():
    c = Controls(style_index=0)
    assert handle_key(-1, c, 4) == (c, None)
    assert handle_key(ord("n"), c, 4)[0].style_index == 1
    assert handle_key(ord("p"), c, 4)[0].style_index == 3  # wraps around
    assert handle_key(ord("3"), c, 4)[0].style_index == 2
    assert handle_key(ord("9"), c, 4)[0] == c  # no 9th style
    assert handle_key(ord("v"), c, 4)[0].side_by_side
    assert handle_key(ord("c"), c, 4)[0].preserve_colour
    weaker = handle_key(ord("-"), c, 4)[0]
    assert weaker.strength == 0.9 and handle_key(ord("+"), weaker, 4)[0].strength == 1.0
    assert handle_key(ord("+"), c, 4)[0].strength == 1.0  # clamped
    zero = Controls(strength=0.0)
    assert handle_key(ord("-"), zero, 4)[0].strength == 0.0
    assert handle_key(ord("s"), c, 4)[1] == SCREENSHOT
    assert handle_key(ord("r"), c, 4)[1] == RECORD
    assert handle_key(ord("q"), c, 4)[1] == QUIT and handle_key(27, c, 4)[1] == QUIT
    assert handle_key(ord("x"), c, 4) == (c, None)


def test_effects_on_real_frames(bunny_frames, wave):
    original = bunny_frames[2]
    stylized = wave.stylize(original)
    assert np.array_equal(blend(original, stylized, 0.0), original)
    assert np.array_equal(blend(original, stylized, 1.0), stylized)
    half = blend(original, stylized, 0.5).astype(np.int16)
    expected = (original.astype(np.int16) + stylized) / 2
    assert np.abs(half - expected).max() <= 1
    kept = preserve_colour(original, stylized)
    ycc = [cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(np.int16) for x in (kept, original, stylized)]
    assert np.abs(ycc[0][..., 0] - ycc[2][..., 0]).mean() < 3, "luminance from the stylized frame"
    assert np.abs(ycc[0][..., 1:] - ycc[1][..., 1:]).mean() < 3, "colour from the camera"
    assert np.abs(ycc[2][..., 1:] - ycc[1][..., 1:]).mean() > 5, "(the style did change the colours)"
    both = side_by_side(original, stylized)
    assert both.shape == (120, 320, 3) and np.array_equal(both[:, :160], original)


def test_live_stylizer_follows_the_controls(bunny_frames):
    state = ControlState(Controls(style_index=0))
    made = []

    def make(name):
        made.append(name)
        return Stylizer(name, threads=1)

    live = LiveStylizer(["wave", "scream"], make, state)
    frame = bunny_frames[3]
    a, timings = live.stylize_timed(frame)
    assert {"inference", "effects"} <= timings.keys()
    state.controls = Controls(style_index=1)
    b, _ = live.stylize_timed(frame)
    assert made == ["wave", "scream"] and np.abs(a.astype(int) - b).mean() > 10
    state.controls = Controls(style_index=1, strength=0.0)
    assert np.array_equal(live.stylize_timed(frame)[0], frame)
    assert made == ["wave", "scream"], "each style's network is loaded once"


def test_parse_source(tmp_path, bunny):
    assert parse_source("0") == SourceSpec("index", 0)
    assert parse_source("/dev/video2") == SourceSpec("device", "/dev/video2")
    assert parse_source("rtsp://10.0.0.5/stream").kind == "url"
    assert parse_source("http://127.0.0.1:8090/").kind == "url"
    assert parse_source(str(bunny), realtime=True) == SourceSpec("file", str(bunny))
    with pytest.raises(ValueError, match="--realtime"):
        parse_source(str(bunny))
    with pytest.raises(FileNotFoundError):
        parse_source(str(tmp_path / "nope.mp4"), realtime=True)
    with pytest.raises(ValueError, match="unsupported"):
        parse_source("ftp://example.com/x")
    assert "cameras found" in no_camera_message(SourceSpec("index", 7))
    assert parse_size("640x480") == (640, 480)


def test_gui_detection():
    assert not gui_available("  GUI:                           NONE\n")
    assert gui_available("  GUI:                           QT5\n    QT:  YES (ver 5.15)\n")


class _Slow:
    """A stand-in inference stage that takes 50 ms and notes how old each frame is when it starts."""

    def __init__(self):
        self.seen: list[tuple[int, float]] = []

    def stylize_timed(self, image):
        self.seen.append((int(image[0, 0, 0]), time.perf_counter()))
        time.sleep(0.05)
        return image, {}


class _ListSink:
    def __init__(self):
        self.frames = []

    def write(self, item):
        self.frames.append(item)

    def flush(self):
        pass

    def close(self, keep):
        pass


def test_latest_only_pipeline_feeds_the_newest_frame():
    """A 200 fps source into a 20 fps stage: frames are dropped, never queued, and each frame
    starts inference within a couple of source periods of being captured."""
    born = {}

    def source():
        for i in range(200):
            born[i] = time.perf_counter()
            yield Frame(np.full((8, 8, 3), i % 256, np.uint8), index=i)
            time.sleep(0.005)

    slow, sink = _Slow(), _ListSink()
    result = run(source(), slow, sink, config=PipelineConfig(queue_size=1, poll_s=0.01, latest_only=True))
    indices = [i for i, _ in slow.seen]
    assert indices == sorted(indices) and len(indices) < 60, "most frames were dropped"
    ages = [t - born[i] for i, t in slow.seen[1:]]
    assert np.median(ages) < 0.03, f"inference took stale frames: {ages}"
    assert result.frames == len(sink.frames) == len(indices)


def test_blocking_pipeline_is_unchanged():
    """Without latest_only (files), nothing is dropped."""
    frames = (Frame(np.full((8, 8, 3), i, np.uint8), index=i) for i in range(30))
    sink = _ListSink()
    run(frames, _Instant(), sink, config=PipelineConfig(queue_size=1))
    assert [f.index for f in sink.frames] == list(range(30))


class _Instant:
    def stylize_timed(self, image):
        return image, {}


def test_threads_are_named_and_end():
    before = {t.name for t in threading.enumerate()}
    run((Frame(np.zeros((8, 8, 3), np.uint8)) for _ in range(3)), _Instant(), _ListSink(),
        config=PipelineConfig(latest_only=True))
    assert {t.name for t in threading.enumerate()} <= before


def test_recording_starts_and_stops_with_r(bunny_frames, tmp_path):
    """r starts a recording in --save-dir, r again finishes it; --output records from the first frame."""
    from rtstyle.capture import LiveFrame
    from rtstyle.webcam import Outputs, WebcamConfig

    messages: list[str] = []
    from_start = tmp_path / "all.mp4"
    outputs = Outputs(WebcamConfig(window=False, output=from_start, save_dir=tmp_path), messages.append)
    toggled = Outputs(WebcamConfig(window=False, save_dir=tmp_path), messages.append)
    for k, image in enumerate(bunny_frames):
        image = image.copy()
        stamp_index(image, k)
        if k in (1, 4):
            toggled.toggle_recording()
        frame = LiveFrame(image, index=k, born=time.perf_counter(), original=image)
        outputs.write(frame)
        toggled.write(frame)
        time.sleep(0.02)
    outputs.close(keep=True)
    toggled.close(keep=True)
    [recording] = toggled.recordings
    assert recording.parent == tmp_path and recording.name.startswith("rtstyle-") and recording.suffix == ".mp4"

    def stamps(path):
        with av.open(str(path)) as c:
            return [read_stamp(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]

    assert stamps(recording) == [1, 2, 3]
    assert stamps(from_start) == list(range(len(bunny_frames)))
    assert any("wrote" in m and recording.name in m for m in messages)


def test_live_source_resizes_and_mirrors(bunny):
    from rtstyle.capture import CaptureConfig, LiveSource

    cap = cv2.VideoCapture(str(bunny))
    ok, first = cap.read()
    cap.release()
    assert ok
    expected = cv2.cvtColor(cv2.flip(cv2.resize(first, (160, 90), interpolation=cv2.INTER_AREA), 1),
                            cv2.COLOR_BGR2RGB)
    source = LiveSource(CaptureConfig(str(bunny), size=(160, 90), mirror=True, realtime=True))
    frame = next(iter(source))
    assert frame.image.shape == (90, 160, 3) and frame.original is frame.image and frame.index == 0
    assert np.array_equal(frame.image, expected)


class _ScreenStub:
    """Stands in for the OpenCV window: keeps what was put on screen and plays back keys."""

    def __init__(self, keys=()):
        self.shown: list[np.ndarray] = []
        self.keys = list(keys)
        self.closed = False

    def show(self, rgb):
        self.shown.append(rgb)

    def key(self, wait_ms=1):
        return self.keys.pop(0) if self.keys else -1


def test_window_says_the_stream_is_lost_without_new_frames(bunny_frames, tmp_path):
    """A lost camera sends no frames: the status line must still reach the screen. Keys act on the view."""
    from rtstyle.capture import LiveFrame
    from rtstyle.webcam import LiveView, Outputs, WebcamConfig

    state = ControlState(Controls())
    live = LiveStylizer(["wave"], lambda name: Stylizer(name, threads=1), state)
    outputs = Outputs(WebcamConfig(window=True, save_dir=tmp_path), lambda m: None)
    screen = _ScreenStub(keys=[-1, -1, ord("s"), ord("v"), -1, ord("q")])
    stop = threading.Event()
    source = type("Source", (), {"frames_read": 1})()
    view = LiveView(screen, outputs, live, stop, source, tmp_path)
    image = bunny_frames[4]
    stylized, _ = live.stylize_timed(image)
    outputs.write(LiveFrame(stylized, index=0, born=time.perf_counter(), original=image))
    view.pump()
    assert len(screen.shown) == 1 and view.shown == 1 and len(view.latencies) == 1
    view.pump()
    assert len(screen.shown) == 1, "nothing new, nothing redrawn"
    view.message("stream lost, trying to reconnect for up to 10 s")
    view.pump()  # still no frame; key s
    assert len(screen.shown) == 2
    band = slice(60, None)  # the HUD's lines, at the bottom
    assert not np.array_equal(screen.shown[1][band], screen.shown[0][band]), "the HUD now carries the message"
    assert np.array_equal(screen.shown[1][:60], screen.shown[0][:60]), "the picture is the last frame"
    [shot] = view.screenshots
    assert shot.suffix == ".png" and shot.exists()
    view.pump()  # key v: side by side from the next frame on
    outputs.write(LiveFrame(stylized, index=1, born=time.perf_counter(), original=image))
    view.pump()
    assert screen.shown[-1].shape == (120, 320, 3)
    view.pump()  # key q
    assert stop.is_set()


def test_latest_only_source_stops_when_a_stage_fails():
    """A failing sink aborts the run at once; the live source must not keep reading until the join timeout."""
    class Broken(_ListSink):
        def write(self, item):
            raise OSError("disk gone")

    def endless():
        while True:
            yield Frame(np.zeros((8, 8, 3), np.uint8))
            time.sleep(0.002)

    start = time.perf_counter()
    with pytest.raises(OSError, match="disk gone"):
        run(endless(), _Instant(), Broken(), config=PipelineConfig(queue_size=1, poll_s=0.01, latest_only=True))
    assert time.perf_counter() - start < 5

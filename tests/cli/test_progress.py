"""Progress counts finished frames: its fps and ETA are those of work done, even when frames finish in bursts."""
import re
import time

import pytest

from vprop.cli._console import Meter, progress


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def offline_run(meter, clock, frames, interval, seconds_per_frame, setup):
    """Offline propagation as the frame loop runs it: the key at once, then each key segment's frames all
    together when the next key arrives (or, after the last key, one by one). Yields after every tick and at
    every frame's worth of time in between, with the true remaining time at that moment."""
    last_key = (frames - 1) // interval * interval
    end = setup + frames * seconds_per_frame
    clock.now = setup
    pending = 0
    for index in range(frames):
        clock.now += seconds_per_frame
        if index % interval == 0:
            for _ in range(pending + 1):        # the segment before this key, then the key itself
                meter.tick()
            pending = 0
        elif index > last_key:
            meter.tick()
        else:
            pending += 1
        yield end - clock.now


def test_offline_bursts_give_the_true_rate_after_the_first_segment():
    clock = FakeClock()
    meter = Meter(total=280, clock=clock)
    true_fps = 1 / 15.4          # the 1280x720 clip: 0.065 fps
    interval = 20
    for index, remaining in enumerate(offline_run(meter, clock, 280, interval, 1 / true_fps, setup=6.0)):
        if index < interval:
            continue             # before the first key segment is out, nothing but the key is finished
        assert abs(meter.fps() - true_fps) / true_fps < 0.2, (index, meter.fps())
        # The ETA counts down between bursts and is never off by more than one segment's work.
        assert abs(meter.eta() - remaining) <= 1.2 * interval / true_fps, (index, meter.eta(), remaining)
    assert meter.done == 280 and meter.eta() == 0


def test_a_burst_does_not_inflate_the_rate():
    """What the old bar did wrong: rich's rate over the last seconds reads a burst of 20 frames in 10 ms as
    2000 fps. The finished-work rate says 21 frames in 5 minutes."""
    clock = FakeClock()
    meter = Meter(total=100, clock=clock)
    clock.now = 300.0
    for _ in range(21):
        meter.tick()
        clock.now += 0.0005
    assert meter.fps() == pytest.approx(21 / 300, rel=1e-3)
    assert meter.eta() == pytest.approx(79 / (21 / 300), rel=1e-3)


def test_nothing_finished_yet_and_unknown_length():
    clock = FakeClock()
    meter = Meter(total=None, clock=clock)
    clock.now = 12.0
    assert meter.fps() is None and meter.eta() is None
    assert meter.line("colorize") == "colorize: 0 frames, ... fps, elapsed 0:00:12, ETA -:--:--"
    meter.tick()
    assert meter.eta() is None
    assert meter.line("colorize").startswith("colorize: 1 frames, 0.08 fps")


def test_a_log_file_gets_plain_lines_every_few_seconds_and_a_last_one(capsys):
    with progress("colorize", 12, quiet=False, every=0.05) as tick:
        for _ in range(12):
            tick()
            time.sleep(0.02)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) >= 3, err
    pattern = r"colorize: \d+/12 frames, (\.\.\.|[\d.]+) fps, elapsed \d:\d\d:\d\d, ETA (-|\d):[-\d]{2}:[-\d]{2}"
    assert all(re.fullmatch(pattern, line) for line in lines), err
    assert lines[-1].startswith("colorize: 12/12 frames") and lines[-1].endswith("ETA 0:00:00")
    assert "\x1b" not in err           # no terminal codes in a log


def test_quiet_prints_nothing(capsys):
    with progress("colorize", 3, quiet=True) as tick:
        tick()
    assert capsys.readouterr().err == ""


def test_the_rate_follows_a_change_of_speed_within_a_window():
    clock = FakeClock()
    meter = Meter(total=400, clock=clock, window=60.0)
    for seconds_per_frame in [1.0] * 200 + [2.0] * 100:
        clock.now += seconds_per_frame
        meter.tick()
    assert meter.fps() == pytest.approx(0.5)          # the last minute, not the mean since the start (0.75)
    assert meter.eta() == pytest.approx(100 / 0.5)


def test_the_preparation_before_begin_is_not_in_the_rate():
    """A film's cut scan and key checks take minutes before the first frame; the rate is that of frame work."""
    clock = FakeClock()
    meter = Meter(total=1000, clock=clock)
    clock.now = 600.0                      # ten minutes of preparation, no frame yet
    meter.begin()
    for _ in range(20):                    # then 2 fps
        clock.now += 0.5
        meter.tick()
    assert meter.fps() == pytest.approx(2.0)
    assert meter.line("colorize").startswith("colorize: 20/1000 frames, 2.00 fps, elapsed 0:10:10")


def test_the_ticker_counts_notes_and_begins_the_meter(capsys):
    with progress("train color", 5, quiet=False, every=60.0, unit="steps/s") as tick:
        tick.begin()
        tick(note="loss 0.5")
        tick(7, note="loss 0.25")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"train color: 2/5 steps, [\d.]+ steps/s, loss 0\.25, elapsed 0:00:00, ETA 0:00:00", last), last

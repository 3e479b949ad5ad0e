"""The render thread count follows the machine's load (issue 16): drop to one thread when the
threads wait for each other, try all again only when the other cores are idle."""

from __future__ import annotations

import itertools

from vunet_studio.threads import ThreadTuner


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Machine:
    """Two cores on a simulated clock; `others` is the other processes' load (set it to change it)."""

    def __init__(self, others: float = 0.0, max_threads: int = 2, start: int = 2) -> None:
        self.clock = Clock()
        self.others = others
        self.tuner = ThreadTuner(
            max_threads, start, clock=self.clock, other_load=lambda: self.others, cores=2
        )

    def render(self, busy: bool, quiet_efficiency: float = 0.95) -> int:
        return render(self.tuner, self.clock, 40, busy, quiet_efficiency)


def render(
    tuner: ThreadTuner, clock: Clock, quiet_ms: float, busy: bool, quiet_efficiency: float = 0.95
) -> int:
    """One render: on a quiet machine n threads take quiet_ms / (0.9 n) and use all their CPU;
    with a hog on a core, n > 1 threads wait at barriers (8x slower, a fraction of the CPU)."""
    n = tuner.next_threads()
    if n == 1:
        wall = quiet_ms / 1e3
        cpu = wall
    elif busy:
        wall = 8 * quiet_ms / 1e3
        cpu = 0.6 * wall  # efficiency 0.3, as measured with a hog on one of 2 cores
    else:
        wall = quiet_ms / (0.9 * n) / 1e3
        cpu = quiet_efficiency * n * wall
    tuner.record(n, wall, cpu)
    clock.t += max(wall, 1 / 60)
    return n


def test_quiet_machine_keeps_all_threads() -> None:
    m = Machine()
    used = [m.render(busy=False) for _ in range(300)]
    assert set(used) == {2}
    assert m.tuner.changes == 0


def test_threads_that_never_look_efficient_but_are_fast_stay() -> None:
    # A passive OpenMP wait policy: idle threads sleep, so CPU time is low even when quiet.
    m = Machine()
    used = [m.render(busy=False, quiet_efficiency=0.45) for _ in range(600)]
    assert used[-100:] == [2] * 100  # at most one early drop, then back for good
    assert m.tuner.changes <= 2


def test_contention_drops_to_one_thread_after_one_frozen_render_and_stays_while_busy() -> None:
    m = Machine(others=0.0)
    for _ in range(5):
        m.render(busy=False)
    m.clock.t += 0.2
    m.tuner.watch()  # the last reading of the load: quiet
    m.others = 1.0  # a build starts on the other core just after it
    used = [m.render(busy=True) for _ in range(600)]  # ~20 s of dragging
    assert used[:1] == [2]  # one render 14x slower than quiet, its threads waiting: enough
    assert set(used[1:]) == {1}
    assert m.tuner.threads == 1


def test_a_busy_core_seen_between_renders_drops_to_one_thread_before_any_stall() -> None:
    """The render after a pause in which another process took a core is already on one
    thread: the worker's idle reads (`watch`) saw the load before the render could wait."""
    m = Machine(others=0.0)
    for _ in range(5):
        m.render(busy=False)
    m.others = 1.0  # a build starts while the user looks at the picture
    for _ in range(4):  # the worker reads the load every 0.25 s while idle
        m.clock.t += 0.25
        m.tuner.watch()
    used = [m.render(busy=True) for _ in range(300)]
    assert set(used) == {1}  # no render on two waiting threads at all
    assert m.tuner.changes == 1


def test_a_compositor_redrawing_the_window_keeps_all_threads() -> None:
    m = Machine(others=0.3)
    used = [m.render(busy=False) for _ in range(300)]
    assert set(used) == {2}


def test_a_merely_slow_contended_render_needs_a_second_before_dropping() -> None:
    m = Machine()
    for _ in range(5):
        m.render(busy=False)
    best = m.tuner._best_wall
    m.tuner.record(2, 3 * best, 0.3 * 2 * 3 * best)  # 3x slower, threads waiting
    assert m.tuner.threads == 2
    m.tuner.record(2, 3 * best, 0.3 * 2 * 3 * best)
    assert m.tuner.threads == 1


def test_back_to_all_threads_when_the_machine_is_quiet_again() -> None:
    m = Machine(others=1.0)
    for _ in range(10):
        m.render(busy=True)
    assert m.tuner.threads == 1
    m.others = 0.1  # the build finished
    used = [m.render(busy=False) for _ in range(400)]
    assert used[-1] == 2
    assert m.tuner.threads == 2
    assert used.count(1) < 400
    assert m.clock.t < 30


def test_a_failed_try_waits_longer_before_the_next() -> None:
    # /proc/stat says the others leave room (a niced hog that yields), but more threads are slower.
    m = Machine(others=0.0, start=1)
    used = [m.render(busy=True) for _ in range(3000)]  # ~50 s
    tries = [i for i, n in enumerate(used) if n == 2]
    assert m.tuner.threads == 1
    assert 2 <= len(tries) <= 6  # backed off: 3, 6, 12, 24 s apart
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps == sorted(gaps)


def test_one_core_machine_never_tries_more() -> None:
    m = Machine(max_threads=1, start=1)
    assert {m.render(busy=False) for _ in range(500)} == {1}


def test_engine_drops_to_one_thread_when_its_renders_wait() -> None:
    """The engine measures every render and follows the tuner (the old engine kept its
    load-time choice for good)."""
    import time

    import numpy as np
    import pytest
    import torch
    from _training_helpers import tiny_model_config

    from vunet_studio import engine as engine_module
    from vunet_studio.fastpath import physical_cores
    from vunet_studio.model import VUNet
    from vunet_studio.pose import Pose

    if physical_cores() < 2:
        pytest.skip("one core: nothing to adapt")
    cfg = tiny_model_config()
    eng = engine_module.RenderEngine(model=VUNet(cfg), device="cpu", precision="fp32", warmup=False)
    assert eng.threads == physical_cores()
    pose = Pose.template(128, 128)
    app = eng.encode(engine_module.AppearanceImage(np.full((128, 128, 3), 127, np.uint8), pose))
    with pytest.MonkeyPatch.context() as mp:
        # As a contended machine looks to the engine: the process burns a fraction of
        # threads x wall time (threads wait at barriers for a descheduled peer).
        mp.setattr(engine_module.time, "process_time", lambda: 0.3 * time.perf_counter())
        for _ in range(3):
            eng.render(app, pose)
    assert eng.threads == 1
    assert torch.get_num_threads() == 1


def test_a_slow_render_with_all_threads_working_is_no_reason_to_drop() -> None:
    m = Machine()
    for _ in range(5):
        m.render(busy=False)
    for _ in range(3):  # a bigger job (a new appearance's first renders): slow, but all busy
        m.tuner.record(2, 0.8, 0.95 * 2 * 0.8)
    assert m.tuner.threads == 2


def test_a_try_is_judged_by_its_faster_render() -> None:
    """The first render after a thread-count change also starts the new OpenMP threads."""
    m = Machine(start=1)
    clock, tuner = m.clock, m.tuner
    for _ in range(5):
        assert tuner.next_threads() == 1
        tuner.record(1, 0.040, 0.040)
    clock.t += 10
    assert tuner.next_threads() == 2
    tuner.record(2, 0.045, 0.080)  # thread start-up: no faster than one thread
    assert tuner.next_threads() == 2
    tuner.record(2, 0.024, 0.046)
    assert tuner.threads == 2


def test_the_apps_own_process_is_not_another_processs_load() -> None:
    """A model in a process of its own (`render_process`) counts the app's CPU as its own,
    as it did in one process: the GUI and the compositing must not drop its threads."""
    import subprocess
    import sys
    import time

    from vunet_studio.threads import other_load_since_last_call

    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)  # it is spinning
        theirs, ours = other_load_since_last_call(), other_load_since_last_call((busy.pid,))
        time.sleep(1.0)
        seen_as_other, seen_as_ours = theirs(), ours()
    finally:
        busy.kill()
        busy.wait()
    if seen_as_other is None or seen_as_ours is None:
        import pytest

        pytest.skip("no /proc/stat here")
    assert seen_as_other > 0.6  # a core kept busy by the spinning process
    assert seen_as_ours < seen_as_other - 0.5

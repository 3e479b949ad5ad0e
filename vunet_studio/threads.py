"""Adapting the CPU thread count of live renders to how busy the machine is.

On an idle 2-core machine two torch threads render a pose edit ~1.8x faster than one. But
when another process keeps a core busy, every parallel op waits at a barrier for the thread
the OS has descheduled: the same render took 0.5-2 s instead of ~35 ms on one thread. The
load changes while the app runs (a browser, a build), so a choice made once at model load is
wrong minutes later. `ThreadTuner` decides before every render:

* with several threads it compares each render's wall time with the process CPU time it
  used: busy threads that are all on a core burn ``threads x wall`` of CPU; threads waiting
  for a descheduled peer burn much less. Two renders in a row below `MIN_EFFICIENCY` and
  slower than the best seen (or far slower, whatever the CPU time) and it drops to one thread;
  one render `STALL` x slower than the best, with the threads waiting, is enough.
* before that, it reads how busy the *other* processes kept the cores (`/proc/stat` minus
  this process's own CPU time, over the last `LOAD_WINDOW_S` or more): when they take a core
  the threads need, it drops to one thread before the render, not after it stalled. A
  render started on two threads just as a hog appeared took ~1 s (busy_drag, one run of 5).
  The caller reads it before each render and every ~0.25 s while idle (`watch`), so the
  first render after a pause sees the last fraction of a second, not the pause's average.
* on one thread it cannot see whether another core is free, so now and then, only when other
  processes leave enough cores free (`/proc/stat` minus this process's own CPU time), it
  tries one render with all threads and keeps them if that render was clearly faster. A
  failed try doubles the wait before the next.

No torch, no Qt: the engine owns one and asks it; tests drive it with made-up timings.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

#: CPU time / (threads x wall time) below this: the threads are waiting for each other.
#: Spinning OpenMP threads on free cores come near 1; measured 0.2-0.35 at 2 threads on the
#: 2-core machine with another process busy on a core.
MIN_EFFICIENCY = 0.6
#: Several threads are dropped when renders get this much slower than their quiet best...
SLOWDOWN = 2.0
#: ... or this much slower with the CPU time diverging from the wall time. The wall-time
#: condition keeps a machine whose threads never look efficient (a passive OpenMP wait
#: policy) on all threads as long as they are fast.
SLOWER = 1.25
#: ... and at once, without waiting for a second one, when a render is this much slower than
#: the quiet best with the threads waiting: under a hog each such render took ~1.5 s on the
#: 2-core machine, so a second one before dropping was a 3 s freeze (busy_drag, one run of 5).
STALL = 5.0
#: A try with more threads must beat the 1-thread median by this factor to be kept.
PROBE_GAIN = 0.8
#: A try is this many renders, judged by the fastest: the first after a thread-count change
#: also starts the new OpenMP threads.
PROBE_RENDERS = 2
#: Threads this efficient are all working, whatever the wall time (a bigger job, not a wait).
WORKING_EFFICIENCY = 0.85
PROBE_WAIT_S = 3.0
PROBE_WAIT_MAX_S = 60.0
#: The other processes' load is read over at least this long: /proc/stat counts 10 ms ticks,
#: so a shorter window is mostly rounding.
LOAD_WINDOW_S = 0.1
#: Several threads drop to one when the other processes take this much of the cores they
#: need (on 2 cores: more than 0.75 of a core busy elsewhere)...
TAKEN = 0.75
#: ... and a try with all threads wants them nearly free, at most this much taken: between
#: the two the count stays as it is, so a compositor or a terminal redrawing the window
#: (0.1-0.3 of a core) moves nothing.
FREE_ENOUGH = 0.4
#: Clock ticks per second, the unit of /proc/PID/stat's CPU times.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def other_load_since_last_call(also_ours: Sequence[int] = ()) -> Callable[[], float | None]:
    """A function returning how many cores *other* processes kept busy since its previous
    call (the machine's busy time from /proc/stat minus this process's CPU time, and minus
    that of the processes `also_ours`, by pid: the app's GUI process for a model that renders
    in a process of its own); None where /proc/stat is not available (not Linux)."""
    pids = tuple(also_ours)
    state: dict[str, tuple[int, int, float, float] | None] = {"last": _sample(pids)}

    def load() -> float | None:
        now = _sample(pids)
        last, state["last"] = state["last"], now
        if now is None or last is None:
            return None
        d_total, d_idle = now[0] - last[0], now[1] - last[1]
        d_wall = now[3] - last[3]
        if d_total <= 0 or d_wall <= 0:
            return None
        machine = (os.cpu_count() or 1) * (1.0 - d_idle / d_total)
        ours = (now[2] - last[2]) / d_wall  # our render and GUI threads are not "other load"
        return max(0.0, machine - ours)

    return load


def _sample(also_ours: tuple[int, ...] = ()) -> tuple[int, int, float, float] | None:
    """(total jiffies, idle jiffies, this process's CPU s (and `also_ours`'), wall s) now."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    ours = time.process_time() + sum(_cpu_seconds(pid) for pid in also_ours)
    return sum(values[:8]), idle, ours, time.monotonic()


def _cpu_seconds(pid: int) -> float:
    """Process `pid`'s CPU time so far (user + system, /proc/PID/stat); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            # The command name, in parentheses, may hold spaces: count fields after it.
            after = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(after[11]) + int(after[12])) / _TICKS


class ThreadTuner:
    def __init__(
        self,
        max_threads: int,
        start: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        other_load: Callable[[], float | None] | None = None,
        cores: int | None = None,
    ) -> None:
        self.max_threads = max(1, max_threads)
        self.threads = min(self.max_threads, start or self.max_threads)  # the chosen count
        self._clock = clock
        self._other_load = other_load or other_load_since_last_call()
        self._cores = cores or os.cpu_count() or self.max_threads
        self._poor = 0  # renders in a row that looked contended
        self._best_wall: float | None = None  # quiet wall time with max threads
        self._single: deque[float] = deque(maxlen=9)  # recent 1-thread wall times
        self._probe_wait = PROBE_WAIT_S
        self._next_probe = clock() + self._probe_wait
        self._probe: list[float] | None = None  # wall times of the try under way
        self._load_at = clock()  # when the other processes' load was last read
        self._others: float | None = None  # cores they kept busy then (None: not known)
        self.changes = 0  # for tests and the log

    def next_threads(self) -> int:
        """The thread count for the next render (a try with more threads, now and then)."""
        if self._probe is not None:
            return self.max_threads
        self.watch()
        if self.threads < self.max_threads and self._single and self._clock() >= self._next_probe:
            others = self._others
            # All threads are worth a try only when other processes leave them their cores.
            if others is None or self._cores - others >= self.max_threads - FREE_ENOUGH:
                self._probe = []
                return self.max_threads
            log.debug(
                "no try with %d threads: other processes keep %.2f cores busy", self.max_threads, others
            )
            self._next_probe = self._clock() + PROBE_WAIT_S  # busy: look again later
        return self.threads

    def watch(self) -> None:
        """Read the other processes' load (at most every `LOAD_WINDOW_S`); with several
        threads, drop to one when they keep a core busy that the threads need."""
        now = self._clock()
        if self._probe is not None or now - self._load_at < LOAD_WINDOW_S:
            return
        self._load_at, self._others = now, self._other_load()
        others = self._others
        if others is not None and self.threads > 1 and self._cores - others < self.threads - TAKEN:
            self._set(1, f"other processes keep {others:.1f} of {self._cores} cores busy")

    def record(self, threads: int, wall_s: float, cpu_s: float) -> None:
        """One render's wall time and the process CPU time it took, with `threads` threads."""
        if wall_s <= 0:
            return
        if self._probe is not None:
            self._probe.append(wall_s)
            single = sorted(self._single)[len(self._single) // 2]
            # A clearly contended first try is not repeated: each such render is a stall.
            if len(self._probe) >= PROBE_RENDERS or wall_s > 3 * single:
                self._end_probe(threads, min(self._probe), single)
            return
        if threads == 1:
            self._single.append(wall_s)
            return
        efficiency = cpu_s / (threads * wall_s)
        best = self._best_wall
        diverging = efficiency < MIN_EFFICIENCY and (best is None or wall_s > SLOWER * best)
        stalled = best is not None and wall_s > SLOWDOWN * best and efficiency < WORKING_EFFICIENCY
        frozen = best is not None and wall_s > STALL * best and efficiency < MIN_EFFICIENCY
        if diverging or stalled:
            self._poor += 1
            if self._poor >= 2 or frozen:
                self._set(
                    1, f"threads wait for each other (efficiency {efficiency:.2f}, {1e3 * wall_s:.0f} ms)"
                )
        else:
            self._poor = 0
            self._best_wall = wall_s if best is None else min(best, wall_s)

    def _end_probe(self, threads: int, wall_s: float, single: float) -> None:
        self._probe = None
        if wall_s < PROBE_GAIN * single:  # faster is what counts, however it looks in CPU time
            self._probe_wait = PROBE_WAIT_S
            self._best_wall = wall_s
            self._set(threads, f"the machine is quiet ({1e3 * wall_s:.0f} ms vs {1e3 * single:.0f} ms on 1)")
        else:
            self._probe_wait = min(PROBE_WAIT_MAX_S, 2 * self._probe_wait)
            self._next_probe = self._clock() + self._probe_wait
            log.debug("a try with %d threads took %.0f ms; staying on 1", threads, 1e3 * wall_s)

    def _set(self, threads: int, why: str) -> None:
        self._poor = 0
        if threads == self.threads:
            return
        self.threads = threads
        self.changes += 1
        if threads == 1:
            self._single.clear()
            self._next_probe = self._clock() + self._probe_wait
        log.info("render threads: %d (%s)", threads, why)

#!/usr/bin/python3
"""akclock.py - the tests' side of agentkavach's injectable clock (core/ak.c ak_now_ms).

Every process a test starts reads the same pinned clock from AGENTKAVACH_FAKE_NOW_MS, which
the runners (tests/run-unit.sh, tests/integration/run.sh) export once per run:
  "N"    the clock stands still at N ms since the epoch;
  "N@M"  the clock read N when CLOCK_MONOTONIC read M ms and advances with it (what the
         runners export: durations, backoffs and cooldowns still pass).
Expectations ("today", period keys, signature freshness) come from now_ms() here, never from
the machine's date, so the suite passes on any date and under faketime.

As a module: now_ms(), pinned(start_ms) (an advancing clock that starts at start_ms now),
fixed(ms), noon_of(ms), day_text(ms), parse_instant(text).
As a command: `akclock.py pin [INSTANT]` prints the "N@M" value for a run that starts at
INSTANT (ISO 8601 such as 2026-11-22T12:00:00Z, or ms since the epoch; default DEFAULT_NOW).
"""
import ctypes
import datetime
import os
import sys
import time

ENV = "AGENTKAVACH_FAKE_NOW_MS"
# The suite's instant unless AK_TEST_NOW says otherwise: noon, so that a run of under twelve
# hours never crosses 00:00 UTC, on a fixed day, so that nothing depends on today's date.
DEFAULT_NOW = "2026-11-22T12:00:00Z"
MS_PER_S = 1000
DAY_MS = 24 * 3600 * MS_PER_S
HALF_DAY_MS = DAY_MS // 2


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_LIBC = ctypes.CDLL(None, use_errno=True)
_SYS_CLOCK_GETTIME = {"x86_64": 228, "aarch64": 113, "riscv64": 113}.get(os.uname().machine)


def mono_ms():
    """CLOCK_MONOTONIC in ms, as core/ak.c reads it: by a direct system call, which libfaketime
    (the suite also runs under faketime) does not move, so that a process that loads it and
    one whose LD_PRELOAD a test replaced agree."""
    ts = _Timespec()
    if _SYS_CLOCK_GETTIME is not None and \
            _LIBC.syscall(_SYS_CLOCK_GETTIME, time.CLOCK_MONOTONIC, ctypes.byref(ts)) == 0:
        return ts.tv_sec * MS_PER_S + ts.tv_nsec // 1000000
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000000


def parse_instant(text):
    """ISO 8601 (a trailing Z or an offset; naive means UTC) or plain ms -> ms since the epoch."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * MS_PER_S)


def value_ms(value):
    """The clock an AGENTKAVACH_FAKE_NOW_MS value gives now (None when unset or empty)."""
    if not value:
        return None
    start, at, anchor = value.partition("@")
    if not at:
        return int(start)
    return int(start) + mono_ms() - int(anchor)


def now_ms(env=None):
    """agentkavach's clock as a process with this environment (default: ours) reads it now;
    the real clock when nothing pins it."""
    got = value_ms((os.environ if env is None else env).get(ENV))
    return got if got is not None else time.time_ns() // 1000000


def pinned(start_ms):
    """The value of an advancing clock that reads start_ms at this moment."""
    return "%d@%d" % (start_ms, mono_ms())


def fixed(ms):
    return "%d" % ms


def noon_of(ms):
    """12:00:00 UTC of the day of ms: a test that needs one stable day starts its clock there."""
    return ms - ms % DAY_MS + HALF_DAY_MS


def day_text(ms):
    """YYYY-MM-DD (UTC) of ms: the key of a daily period."""
    return datetime.datetime.fromtimestamp(ms / MS_PER_S, datetime.timezone.utc).strftime("%Y-%m-%d")


def main(argv):
    if len(argv) >= 2 and argv[1] == "pin":
        print(pinned(parse_instant(argv[2] if len(argv) > 2 and argv[2] else DEFAULT_NOW)))
        return 0
    if len(argv) == 2 and argv[1] == "now":
        print(now_ms())
        return 0
    print("usage: akclock.py pin [INSTANT] | now", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Fast conversion of 389 DS access-log timestamps.

Text logs stamp every line `[04/Dec/2026:19:53:00.675805620 +0000]`; JSON logs use
`2026-12-04T19:53:00.675805620 +0000`. Thousands of lines share one second, so the
expensive part (calendar arithmetic) is cached per second and offset.
"""

from __future__ import annotations

import calendar
import datetime
import math

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_I128_MAX = 2**127 - 1


class BadTimestamp(ValueError):
    pass


def _beyond_128_bits(y: int, month: int, d: int, h: int, mi: int, s: int, off: int) -> bool:
    """Does a (hand-made) stamp's arithmetic leave 128-bit integers, where the compiled engine
    computes it? Then it is a bad stamp there, and so here (a negative hour of 36 digits)."""
    if not all(-_I128_MAX <= v <= _I128_MAX for v in (h, mi, s)):
        return True
    days = datetime.date(y, month, 1).toordinal() - _EPOCH_ORDINAL + d - 1
    total = days * 86400
    for value, unit in ((h, 3600), (mi, 60), (s, 1), (-off, 1)):
        part = value * unit
        total += part
        if not (-_I128_MAX - 1 <= part <= _I128_MAX and -_I128_MAX - 1 <= total <= _I128_MAX):
            return True
    return False


class TimestampConverter:
    """Turns raw stamps into (epoch seconds as float, ISO-8601 with milliseconds)."""

    __slots__ = ("_cache", "_iso_cache")

    def __init__(self) -> None:
        # key: "DD/Mon/YYYY:HH:MM:SS+ZZZZ" -> (epoch of that second, ISO prefix, ISO offset)
        self._cache: dict[str, tuple[int, str, str]] = {}
        # key: the stamp cut to milliseconds plus its offset -> ISO string (documents need only ms)
        self._iso_cache: dict[str, str] = {}

    def iso(self, raw: str) -> str:
        """ISO-8601 with milliseconds; cached per millisecond (busy logs repeat them)."""
        dot = raw.find(".")
        sp = raw.rfind(" ")
        if dot < 0 or sp < dot or not raw[dot + 1:sp].isdigit():
            return self.convert(raw)[1]  # unusual stamps are never cached (no collisions with good ones)
        key = raw[:dot + 4] + raw[sp:]
        value = self._iso_cache.get(key)
        if value is None:
            value = self.convert(raw)[1]
            if len(self._iso_cache) > 4096:  # hits come from lines of the same millisecond
                self._iso_cache.clear()
            self._iso_cache[key] = value
        return value

    def second_epoch(self, raw: str) -> int | None:
        """Epoch of the whole second of a text stamp (cheap: one cache lookup), None if not text."""
        sp = raw.find(" ")
        stop = sp if sp >= 0 else len(raw)
        dot = raw.find(".", 0, stop)
        date = raw[:dot if dot >= 0 else stop]
        tz = raw[sp + 1:] if sp >= 0 else ""
        entry = self._cache.get(date + tz)
        if entry is None:
            entry = self._second(date + tz, date, tz)
        return entry[0]

    def _second(self, key: str, date: str, tz: str) -> tuple[int, str, str]:
        try:
            if "/" in date:  # text log: DD/Mon/YYYY:HH:MM:SS
                day, mon, rest = date.split("/", 2)
                year, hh, mm, ss = rest.split(":")
                month = _MONTHS[mon]
            else:  # JSON log: YYYY-MM-DDTHH:MM:SS
                ymd, hms = date.split("T")
                year, mo, day = ymd.split("-")
                hh, mm, ss = hms.split(":")
                month = int(mo)
            y, d, h, mi, s = int(year), int(day), int(hh), int(mm), int(ss)
            sign = -1 if tz[:1] == "-" else 1
            off = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60) if tz else 0
            if not (1 <= month <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60 and y >= 1):
                raise ValueError("out of range")
            if min(h, mi, s) < -(2**100) and _beyond_128_bits(y, month, d, h, mi, s, off):
                raise ValueError("beyond 128 bits")
            epoch = calendar.timegm((y, month, d, h, mi, s, 0, 0, 0)) - off
        except (KeyError, ValueError, IndexError, OverflowError) as exc:
            raise BadTimestamp(f"unparsable timestamp {date!r} {tz!r}") from exc
        iso = f"{y:04d}-{month:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        iso_tz = f"{tz[0:3]}:{tz[3:5]}" if tz else "Z"
        entry = (epoch, iso, iso_tz)
        if len(self._cache) > 4096:  # lines come roughly in time order
            self._cache.clear()
        self._cache[key] = entry
        return entry

    def convert(self, raw: str) -> tuple[float, str]:
        """`04/Dec/2026:19:53:00.675805620 +0000` -> (epoch float, `2026-12-04T19:53:00.675+00:00`)."""
        sp = raw.find(" ")
        if sp < 0:
            stamp, tz = raw, ""
        else:
            stamp, tz = raw[:sp], raw[sp + 1:]
        dot = stamp.find(".")
        if dot < 0:
            date, frac = stamp, ""
        else:
            date, frac = stamp[:dot], stamp[dot + 1:]
        key = date + tz
        entry = self._cache.get(key)
        if entry is None:
            entry = self._second(key, date, tz)
        epoch, iso, iso_tz = entry
        if frac:
            if frac.isdecimal():  # what int() reads (any script's decimal digits)
                try:
                    return epoch + int(frac) / 10 ** len(frac), f"{iso}.{(frac + '00')[:3]}{iso_tz}"
                except ValueError:  # beyond int()'s 4300 digits
                    pass
            return epoch + _odd_fraction(frac, raw), f"{iso}.{(frac + '00')[:3]}{iso_tz}"
        return float(epoch), f"{iso}.000{iso_tz}"


def _odd_fraction(frac: str, raw: str) -> float:
    """The value of a fraction int() cannot read, as the compiled engine reads it."""
    if frac.isdecimal():  # beyond int()'s 4300 digits: the same correctly rounded value
        return float("0." + frac)
    if frac.isdigit():  # a digit int() refuses (`²`): the fraction reads as 0
        return 0.0
    raise BadTimestamp(f"unparsable fraction in {raw!r}")


def parse_seconds(value: str) -> float:
    """389 DS timing value -> seconds.

    9 or 10 fractional digits are nanoseconds (the 10-digit form is bug 50655 of 1.3.7.2-1.4.2.2
    and of every ABANDON etime): `36.0954815936` is 36 s + 954815936 ns.
    """
    dot = value.find(".")
    try:
        if dot < 0:
            return float(int(value))
        frac = value[dot + 1:]
        if len(frac) == 10 and frac.isdigit():
            return int(value[:dot]) + int(frac) / 1e9
    except OverflowError:  # an int beyond the float range (hundreds of digits): junk, as any other
        raise ValueError(f"not a finite number of seconds: {value!r}") from None
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"not a finite number of seconds: {value!r}")
    return seconds

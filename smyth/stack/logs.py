"""Container logs with a prefix per replica, merged as ``docker compose logs`` shows them."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import docker.errors

from smyth.stack.engine import translated
from smyth.stack.model import replica_label

COLORS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
Since = datetime | int | None


def parse_since(text: str | None, now: float | None = None) -> Since:
    """``--since``: a duration back from now (``90s``, ``10m``, ``2h``, ``1d``), a Unix
    timestamp, or an ISO 8601 time."""
    if not text:
        return None
    text = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text)
    if match:
        seconds = float(match.group(1)) * UNITS[match.group(2)]
        return int((time.time() if now is None else now) - seconds)
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: expected a duration such as 10m, a Unix "
                         "timestamp or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def prefixes(containers: Sequence[Any], color: bool) -> dict[str, str]:
    labels = {c.id: replica_label(c.labels) for c in containers}
    width = max((len(label) for label in labels.values()), default=0)
    result = {}
    for position, (cid, label) in enumerate(sorted(labels.items(), key=lambda kv: kv[1])):
        text = f"{label:<{width}} | "
        if color:
            text = f"\x1b[{COLORS[position % len(COLORS)]}m{text}\x1b[0m"
        result[cid] = text
    return result


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def show(containers: Sequence[Any], out: Callable[[str], None], *, tail: int | None = None,
         since: Since = None, color: bool = False) -> None:
    """Everything logged so far, in time order across containers."""
    prefix = prefixes(containers, color)
    entries: list[tuple[str, int, str]] = []
    for order, container in enumerate(containers):
        with translated(f"reading the logs of {container.name!r}"):
            data = container.logs(timestamps=True, tail="all" if tail is None else tail,
                                  since=since)
        for line in _lines([data]):
            stamp, _, text = line.partition(" ")
            entries.append((stamp, order, prefix[container.id] + text))
    for _, _, line in sorted(entries, key=lambda e: (e[0], e[1])):
        out(line)


def follow(containers: Sequence[Any], out: Callable[[str], None], stop: threading.Event, *,
           tail: int | None = None, since: Since = None, color: bool = False) -> None:
    """Stream new lines until ``stop`` is set; a container that restarts is followed again."""
    prefix = prefixes(containers, color)
    lines: queue.Queue[str] = queue.Queue()

    def pump(container: Any) -> None:
        start: Since = since
        first = True
        while not stop.is_set():
            try:
                stream = container.logs(stream=True, follow=True, since=start,
                                        tail=("all" if tail is None else tail) if first else 0)
                for line in _lines(stream):
                    lines.put(prefix[container.id] + line)
                    if stop.is_set():
                        return
            except docker.errors.NotFound:
                return  # removed: nothing more will come
            except docker.errors.DockerException:
                pass
            first, start = False, int(time.time())
            stop.wait(1.0)  # the stream ended: the container stopped, maybe to restart

    threads = [threading.Thread(target=pump, args=(c,), daemon=True) for c in containers]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        try:
            out(lines.get(timeout=0.2))
        except queue.Empty:
            continue
    while True:  # what arrived before the stop
        try:
            out(lines.get_nowait())
        except queue.Empty:
            break

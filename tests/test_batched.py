"""The gateway container's batched standard streams: fewer writes, nothing lost or reordered,
nothing held back for long, everything out when the process ends."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

from conftest import wait_for

from smyth.batched import BatchedStream


class Recording(io.StringIO):
    """A real text stream that also keeps each write it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_a_burst_of_lines_leaves_in_a_few_writes_in_order():
    target = Recording()
    stream = BatchedStream(target, window=0.2)
    lines = [f"INFO: request {i}\n" for i in range(500)]
    for line in lines:
        stream.write(line)
        stream.flush()  # as a logging handler does after each record
    wait_for(lambda: target.getvalue() == "".join(lines), timeout=10, message="every line")
    assert len(target.writes) <= 3  # 500 writes came in; the shim and dockerd see a few


def test_a_lone_line_is_not_held_back_waiting_for_company():
    target = Recording()
    stream = BatchedStream(target, window=0.01)
    stream.write("one line\n")
    wait_for(lambda: target.getvalue() == "one line\n", timeout=10, message="the line")
    stream.write("another\n")
    wait_for(lambda: target.getvalue() == "one line\nanother\n", timeout=10,
             message="the second line, in a batch of its own")
    assert target.writes == ["one line\n", "another\n"]


def test_what_waits_is_written_when_the_process_ends():
    script = textwrap.dedent("""
        import sys
        from smyth.batched import batch_standard_streams
        batch_standard_streams()
        for i in range(300):
            print("line", i)
        print("to stderr", file=sys.stderr)
        if sys.argv[1] == "raise":
            raise RuntimeError("the gateway failed")
    """)
    for how in ("exit", "raise"):
        done = subprocess.run([sys.executable, "-c", script, how], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.stdout == "".join(f"line {i}\n" for i in range(300)), how
        assert done.stderr.startswith("to stderr\n"), how
        if how == "raise":
            assert done.returncode == 1 and "RuntimeError: the gateway failed" in done.stderr
        else:
            assert done.returncode == 0

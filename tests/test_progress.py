"""Long steps are shown while they run: spinners with what is happening on a terminal, one line per step elsewhere."""

from __future__ import annotations

import io
import re
import threading
import time

from rich.console import Console

from codefest.console import Steps, step

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    sink = io.StringIO()
    return Console(file=sink, force_terminal=terminal, width=120, markup=False, highlight=False), sink


def _shown(sink: io.StringIO) -> str:
    return ANSI.sub("", sink.getvalue())


def test_a_terminal_shows_each_running_step_with_its_detail_and_elapsed_time() -> None:
    console, sink = _console(terminal=True)
    with Steps(console) as steps, steps.step("ipc: building bundle [x]") as say:
        say("writing train.jsonl")
        time.sleep(0.5)  # the spinner redraws ten times a second
    shown = _shown(sink)
    assert "ipc: building bundle [x]: writing train.jsonl" in shown  # as given: no markup eaten
    assert re.search(r"writing train\.jsonl\s+0:00:00", shown), shown


def test_steps_from_several_threads_are_shown_at_once() -> None:
    console, sink = _console(terminal=True)
    both = threading.Barrier(3)
    with Steps(console) as steps:

        def work(name: str) -> None:
            with steps.step(f"training {name}"):
                both.wait()  # both running
                both.wait()  # until the test has seen them

        threads = [threading.Thread(target=work, args=(name,)) for name in ("variant-a", "variant-b")]
        for thread in threads:
            thread.start()
        both.wait()
        time.sleep(0.4)
        frame = _shown(sink).rsplit("training variant-", 2)
        both.wait()
        for thread in threads:
            thread.join()
    assert len(frame) == 3, _shown(sink)  # the last frame drew both spinners
    assert {"training variant-a", "training variant-b"} <= set(re.findall(r"training variant-[ab]", _shown(sink)))


def test_elsewhere_each_step_is_one_line_as_it_starts_and_no_spinner() -> None:
    console, sink = _console(terminal=False)
    with Steps(console) as steps:
        with steps.step("search: training the baseline") as say:
            say("epoch 1")  # details are for the spinner only
        steps.say("search: already trained; reused")
    assert sink.getvalue() == "search: training the baseline ...\nsearch: already trained; reused\n"


def test_a_single_step_needs_no_steps_of_its_own() -> None:
    console, sink = _console(terminal=False)
    with step(console, "waiting for 3 scores"):
        pass
    assert sink.getvalue() == "waiting for 3 scores ...\n"

"""Spans spread over worker processes come back in order, each process with its share of the threads."""
import os
import time
from dataclasses import dataclass

import pytest
import torch

from vprop.engine.spans import Span
from vprop.errors import InputError
from vprop.pipelines.workers import run_spans


@dataclass
class Probe:
    """A span source that says which process ran each frame, with how many threads (picklable: spawn)."""

    fail_at: int | None = None
    opened: bool = False

    def open(self):
        self.opened = True

    def outputs(self, span):
        assert self.opened
        for index in range(span.start, span.end):
            if index == self.fail_at:
                raise InputError("keys/00020.png", "cannot be read")
            time.sleep(0.01)
            yield index, (os.getpid(), torch.get_num_threads())


SPANS = [Span(a, a + 5, a + 6) for a in range(0, 40, 5)]


def test_one_worker_runs_here_and_streams():
    results = [(span, list(out)) for span, out in run_spans(Probe(), SPANS, workers=1)]
    assert [span for span, _ in results] == SPANS
    assert {pid for _, out in results for _, (pid, _) in out} == {os.getpid()}


def test_two_workers_return_every_span_in_order_with_half_the_threads_each():
    results = [(span, list(out)) for span, out in run_spans(Probe(), SPANS, workers=2)]
    assert [span for span, _ in results] == SPANS
    assert [i for _, out in results for i, _ in out] == list(range(40))
    processes = {pid for _, out in results for _, (pid, _) in out}
    assert os.getpid() not in processes and 1 <= len(processes) <= 2
    assert {threads for _, out in results for _, (_, threads) in out} == {max(1, torch.get_num_threads() // 2)}


def test_an_error_in_a_worker_is_the_parents_error():
    with pytest.raises(InputError, match="00020.png: cannot be read"):
        for _ in run_spans(Probe(fail_at=22), SPANS, workers=2):
            pass

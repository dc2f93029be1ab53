"""Progress and cancellation plumbing shared by CLI, server and engines."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.api import animate
from emospeaker.audio import load_audio
from emospeaker.errors import Cancelled
from emospeaker.jobs import Job


def test_parts_map_onto_the_parent_range():
    seen = []
    job = Job(on_progress=lambda stage, f: seen.append((stage, round(f, 3))))
    second_half = job.part(0.5, 1.0)
    second_half.part(0.0, 0.5).progress("a", 1.0)
    second_half.progress("b", 0.5)
    assert seen == [("a", 0.75), ("b", 0.75)]


def test_cancel_raises_at_the_next_report_and_reaches_parts():
    job = Job()
    child = job.part(0.2, 0.4)
    child.progress("x", 0.5)
    job.cancel()
    with pytest.raises(Cancelled):
        child.progress("x", 0.6)


def test_animate_reports_progress_up_to_done_and_can_be_cancelled():
    audio = load_audio(SAMPLE_AUDIO)
    fractions = []
    animate(audio, job=Job(on_progress=lambda s, f: fractions.append(f)))
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)
    job = Job()
    job.cancel()
    with pytest.raises(Cancelled):
        animate(audio, job=job)

"""Tests for the supervision helpers shared by the process and nspawn runtimes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hyperhive.core.models import Role
from hyperhive.core.runtimes.base import AgentSpec
from hyperhive.core.runtimes.supervisor import RuntimeRecord, rotate_log
from hyperhive.core.settings import Settings


def test_the_log_is_copied_aside_and_truncated_past_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "harness.log"
    log.write_text("x" * 100)
    rotate_log(log, cap=200)
    assert log.stat().st_size == 100
    rotate_log(log, cap=50)
    assert log.stat().st_size == 0
    assert (tmp_path / "harness.log.1").read_text() == "x" * 100


def test_spec_survives_the_record_round_trip(settings: Settings) -> None:
    spec = AgentSpec(
        name="rt",
        role=Role.MANAGER,
        socket_dir=settings.socket_dir("rt"),
        state_dir=settings.agent_state_dir("rt"),
        creds_dir=settings.creds_dir("rt"),
        etc_dir=settings.agent_dir("rt") / "etc",
        applied_dir=settings.applied_dir("rt"),
        env={"EXTRA": "yes"},
        command=(sys.executable, "harness.py"),
        agents_root=settings.state_dir / "agents",
        memory_max="1G",
        private_network=True,
    )
    record = RuntimeRecord(runtime="process", spec=spec, pid=12, start_time=34, cgroups=("a",))
    assert RuntimeRecord.from_json(json.loads(json.dumps(record.to_json()))) == record

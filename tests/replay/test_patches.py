"""workflows/patches.py is the one list of `workflow.patched` switches, and it matches the
workflows and the recorded histories."""

from __future__ import annotations

import re
from pathlib import Path

from workflows import patches
from workflows.patches import Stage

ROOT = Path(__file__).parents[2]
HISTORIES = Path(__file__).with_name("histories")


def test_each_switch_is_listed_once():
    ids = [patch.id for patch in patches.ALL]
    assert len(ids) == len(set(ids))
    assert {name for name in vars(patches).values() if isinstance(name, patches.Patch)} == set(patches.ALL)


def test_the_workflows_name_switches_only_through_the_list():
    calls = re.compile(r"(?:patched|deprecate_patch)\(\s*[\"']")
    for source in (ROOT / "workflows").glob("*.py"):
        if source.name != "patches.py":
            assert not calls.search(source.read_text()), f"{source.name} spells a patch id out"


def test_every_history_a_switch_names_is_kept():
    for patch in patches.ALL:
        retired = patch.stage == Stage.DEPRECATED
        for name in patch.old_branch:
            folder = HISTORIES / "retired" if retired else HISTORIES
            assert (folder / f"{name}.json").exists(), f"{patch.id}: {name}"
        for name in patch.new_branch:
            assert (HISTORIES / f"{name}.json").exists(), f"{patch.id}: {name}"


def test_a_deprecated_switch_has_histories_on_both_sides():
    for patch in patches.ALL:
        if patch.stage == Stage.DEPRECATED:
            assert patch.old_branch and patch.new_branch, patch.id

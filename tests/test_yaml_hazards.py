"""Hostile YAML given to `graphc check` as a user would (subprocess, no stdin, memory and time
limits): each gets one located error line and exit 2, never a hang, a blow-up or a traceback."""

from __future__ import annotations

import os

import pytest
from cli_harness import assert_user_error, run_cli

HEADER = "graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n"


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "graphc: 1\nname: m\n" + "\n".join(lines) + "\n"


CASES = {  # name: (file bytes, expected "line:col: error: " prefix, fragment of the message)
    "alias_bomb": (_bomb().encode(), "8:10", "aliases expand to more than 100,000 values"),
    "alias_bomb_in_layer": ((HEADER + "  - dense: {units: 3, a: &a [1,1,1,1,1,1,1,1,1,1], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a],"
                             " c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c],"
                             " e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]}\n").encode(),
                            "5:", "an alias bomb?"),
    "deep_nesting_1000": ((HEADER + "  - dense: {units: " + "[" * 1000 + "]" * 1000 + "}\n").encode(), "5:116",
                          "YAML nesting deeper than 100 levels"),
    "deep_nesting_100k_block": (("graphc: 1\nname: m\nx:\n" + "".join(" " * i + "- \n" for i in range(1, 400))).encode(),
                                "", "YAML nesting deeper than 100 levels"),
    "python_object_tag": ((HEADER + "  - dense: {units: !!python/object/apply:os.system ['touch PWNED']}\n").encode(),
                          "5:20", "YAML tag '!!python/object/apply:os.system' is not allowed"),
    "python_name_tag": ((HEADER + "  - dense: {units: !!python/name:os.system ''}\n").encode(), "5:20",
                        "YAML tag '!!python/name:os.system' is not allowed"),
    "unknown_tag": ((HEADER + "  - dense: {units: !custom 3}\n").encode(), "5:20", "YAML tag '!custom' is not allowed"),
    "tag_on_mapping": ((HEADER + "  - dense: !!python/object:collections.OrderedDict {units: 3}\n").encode(), "5:12",
                       "is not allowed"),
    "set_tag": ((HEADER + "  - dense: !!set {units: 3}\n").encode(), "5:12", "YAML tag '!!set' is not allowed"),
    "tab_indent": ((HEADER + "\t- dense: {units: 3}\n").encode(), "5:1", "tabs"),
    "non_utf8": (HEADER.encode() + b"  - dense: {units: 3, name: d\xe9}\n", "5:30", "the file is not UTF-8: byte 0xe9"),
    "latin1_comment": (b"# caf\xe9\n" + HEADER.encode(), "1:6", "not UTF-8"),
    "utf16_bom": ("\ufeff".encode("utf-16-le") + HEADER.encode("utf-16-le"), "1:1", "UTF-16"),
    "utf32_bom": (HEADER.encode("utf-32"), "1:1", "UTF-32"),
    "empty": (b"", "1:1", "the spec is empty"),
    "only_comments": (b"# nothing here\n\n   \n", "1:1", "the spec is empty"),
    "only_document_marker": (b"---\n", "1:1", "the spec is empty"),
    "binary_elf": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 20, "1:8", "binary file"),
    "binary_nul_late": ((HEADER + "  - dense: {units: 3}\x00\n").encode(), "5:22", "binary file"),
    "several_documents": ((HEADER + "  - dense: {units: 3}\n---\nmore: 1\n").encode(), "6:1", "one YAML document"),
    "unknown_alias": ((HEADER + "  - dense: {units: *nope}\n").encode(), "5:20", "unknown alias '*nope'"),
    "mapping_key": ((HEADER + "  - dense: {[a, b]: 3}\n").encode(), "5:13", "a mapping key must be a plain name"),
    "huge_file": (b"# " + b"x" * (10 * 2 ** 20) + b"\n" + HEADER.encode(), "1:1", "over the 8,388,608-byte limit"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_yaml_hazard(name, tmp_path):
    data, where, fragment = CASES[name]
    (tmp_path / "spec.yaml").write_bytes(data)
    r = run_cli(["check", "spec.yaml"], cwd=tmp_path, timeout=60)
    line = assert_user_error(r)
    assert line.startswith(f"spec.yaml:{where}"), line
    assert fragment in line, line
    assert not (tmp_path / "PWNED").exists()  # the tag was never constructed


def test_utf8_bom_is_accepted(tmp_path):
    (tmp_path / "spec.yaml").write_bytes(b"\xef\xbb\xbf" + (HEADER + "  - dense: {units: 3}\n").encode())
    r = run_cli(["check", "spec.yaml"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dense_1  dense  [N, 3]" in r.stdout


def test_anchors_and_merge_keys_still_work(tmp_path):
    (tmp_path / "spec.yaml").write_text(HEADER + "  - dense: &d {units: 3, activation: relu}\n"
                                        "  - dense: {<<: *d, units: 5}\n  - dense: *d\n")
    r = run_cli(["check", "spec.yaml"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dense_2  dense  [N, 5]" in r.stdout and "dense_3  dense  [N, 3]" in r.stdout


@pytest.mark.parametrize("target", ["/dev/zero", "folder"])
def test_special_files(target, tmp_path):
    path = str(tmp_path) if target == "folder" else target
    r = run_cli(["check", path], cwd=tmp_path, timeout=60)
    assert_user_error(r, located=target == "/dev/zero")


def test_deep_nesting_100k_flow(tmp_path):
    """libyaml's and PyYAML's parsers hold no recursion; the depth limit answers at level 101."""
    (tmp_path / "spec.yaml").write_text(HEADER + "  - dense: {units: " + "[" * 100_000 + "]" * 100_000 + "}\n")
    line = assert_user_error(run_cli(["check", "spec.yaml"], cwd=tmp_path, timeout=60))
    assert "YAML nesting deeper than 100 levels" in line


def test_python_api_spec_error():
    import graphc

    with pytest.raises(graphc.SpecError, match="aliases expand"):
        graphc.loads(_bomb())
    with pytest.raises(graphc.SpecError, match="not allowed"):
        graphc.loads(HEADER + "  - dense: {units: !!python/object/apply:os.getcwd []}\n")
    assert os.path.exists(os.getcwd())

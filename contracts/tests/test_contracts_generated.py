"""The committed JSON Schema and AsyncAPI files must be exactly what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_contracts import ALL_EVENTS, TOPICS, topics_to_create
from mlops_contracts.generate import ASYNCAPI_FILE, SCHEMAS_DIR, check, main, render, write

HINT = "generated contract files are out of date: run `make contracts`"


def test_committed_files_are_up_to_date(contracts_dir: Path, tmp_path: Path) -> None:
    write(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        [Path(ASYNCAPI_FILE)]
        + [p.relative_to(contracts_dir) for p in (contracts_dir / SCHEMAS_DIR).glob("*")]
    )
    assert committed == generated, f"{HINT} (file set differs)"
    for relative in generated:
        assert (contracts_dir / relative).read_bytes() == (tmp_path / relative).read_bytes(), (
            f"{relative} differs: {HINT}"
        )


def test_check_of_the_repository_reports_nothing(contracts_dir: Path) -> None:
    assert check(contracts_dir) == [], HINT


def test_generation_is_deterministic() -> None:
    assert render() == render()


def test_check_reports_missing_differing_and_stale_files(tmp_path: Path) -> None:
    assert len(check(tmp_path)) == len(render())  # all missing
    write(tmp_path)
    assert check(tmp_path) == []
    (tmp_path / ASYNCAPI_FILE).write_text("asyncapi: 2.0.0\n")
    (tmp_path / SCHEMAS_DIR / "mlops.old.thing.v1.json").write_text("{}\n")
    problems = check(tmp_path)
    assert any(ASYNCAPI_FILE in p and "differs" in p for p in problems)
    assert any("mlops.old.thing.v1.json" in p and "stale" in p for p in problems)
    write(tmp_path)
    assert check(tmp_path) == []
    assert not (tmp_path / SCHEMAS_DIR / "mlops.old.thing.v1.json").exists()


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert "make contracts" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # --check writes nothing
    assert main(["--out-dir", str(tmp_path)]) == 0
    assert main(["--check", "--out-dir", str(tmp_path)]) == 0


def test_schema_files_are_standalone_json_schemas() -> None:
    files = render()
    for cls in ALL_EVENTS:
        content = files[f"{SCHEMAS_DIR}/{cls.event_type}.json"]
        assert content.endswith(b"}\n")
        schema = json.loads(content)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == cls.__name__
        assert schema["x-cloudevents-type"] == cls.event_type
        assert schema["x-kafka-key"] in schema["required"]
        assert "#/components" not in content.decode()


def test_asyncapi_document_covers_every_topic_and_event() -> None:
    document = yaml.safe_load(render()[ASYNCAPI_FILE])
    assert document["asyncapi"] == "3.0.0"
    assert set(document["servers"]) == {"dev", "production"}
    addresses = {c["address"] for c in document["channels"].values()}
    assert {t.name for t in topics_to_create()} <= addresses
    assert "predictions.replies.{instanceId}" in addresses
    messages = document["components"]["messages"]
    for cls in ALL_EVENTS:
        assert messages[cls.__name__]["payload"] == {"$ref": f"#/components/schemas/{cls.__name__}"}
        assert cls.__name__ in document["components"]["schemas"]
    for spec in TOPICS:
        channel = document["channels"][spec.name.replace(".", "_")]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions


def test_asyncapi_references_resolve() -> None:
    document = yaml.safe_load(render()[ASYNCAPI_FILE])

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        assert ref.startswith("#/"), ref
        target: object = document
        for part in ref[2:].split("/"):
            assert isinstance(target, dict), f"dangling $ref {ref}"
            assert part in target, f"dangling $ref {ref}"
            target = target[part]

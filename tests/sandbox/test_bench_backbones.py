"""A smoke run of the backbone benchmark at tiny sizes: every row is produced and the table renders."""

from __future__ import annotations

from sandbox.bench.backbones import backbone_rows, population_rows
from sandbox.commands.tables import format_table


def test_backbone_rows_cover_every_family_and_mark_refused_spaces():
    rows = backbone_rows(("mlp", "cnn", "attention"), (2,), repeats=1, min_time=0.0)
    assert [r[:2] for r in rows] == [
        ["mlp", "rays"],
        ["mlp", "pixels"],
        ["cnn", "rays"],
        ["cnn", "pixels"],
        ["attention", "rays"],
        ["attention", "pixels"],
    ]
    assert rows[2][4:] == ["n/a", "n/a"]
    assert "| attention |" in format_table(["family", "obs", "batch", "params", "fwd", "bwd"], rows)


def test_population_rows_report_a_speed_up():
    rows = population_rows(((4, 8, 2),), (3,), (1, 2), repeats=1, min_time=0.0)
    assert [r[:3] for r in rows] == [["4-8-2", "3", "1"], ["4-8-2", "3", "2"]]
    assert all(r[5].endswith("x") for r in rows)

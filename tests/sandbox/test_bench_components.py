"""`sandbox bench components --quick`: every section and row is there, World Models' on both VAEs."""

from __future__ import annotations

from sandbox.bench.components import run_components_bench


def test_the_quick_bench_prints_every_row(tmp_path):
    text = run_components_bench(quick=True, out=str(tmp_path))
    for row in ("|                           VAE |", "| VAE + rays auxiliary (normal) |",
                "V + C (evolved on easy)", "V + M + C (evolved on normal)", "V (rays aux.) + C (evolved on normal)",
                "V (rays aux.) + M + C (evolved on normal)", "behaviour cloning", "GAIL", "DT, R_1 = best of data"):
        assert row in text, row
    assert (tmp_path / "vae-rays.pt").is_file() and (tmp_path / "mdn_rnn-rays.pt").is_file()

"""bot/nlu/projection.py: the ridge map from the NLU model's sentence vector onto the retrieval
encoder's space, saved and loaded with its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.nlu.projection import Projection


def test_fit_recovers_a_linear_map_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pooled = rng.normal(size=(400, 12))
    true = rng.normal(size=(12, 5))
    wanted = pooled @ true + 0.5
    projection = Projection.fit(pooled, wanted, ridge=1e-6, nlu_hash="abc", target="enc", quantize="int8")
    expected = wanted / np.linalg.norm(wanted, axis=1, keepdims=True)
    np.testing.assert_allclose(projection.apply(pooled), expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(projection.apply(pooled[:3]), axis=1), 1.0)
    projection.save(tmp_path / "map")
    loaded = Projection.load(tmp_path / "map")
    assert loaded is not None and loaded.meta["nlu_hash"] == "abc" and loaded.name == "nlu:abc>map:enc"
    np.testing.assert_array_equal(loaded.weights, projection.weights)
    assert Projection.load(tmp_path / "nothing") is None


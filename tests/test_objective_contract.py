"""The contract every registered objective keeps with the loop, `cfa sample` and `cfa evaluate`:
build, a step, a checkpoint round trip, bit-exact resume after a crash, generate, restore."""

from __future__ import annotations

import pytest
import torch

from cfa.datasets.kinds import open_dataset
from cfa.errors import UserError
from cfa.training.loop import train
from cfa.training.objectives import OBJECTIVES, objective_class, restore_objective
from factories import DATASETS, SAMPLE_LABELS, TINY_MODELS, tiny_params


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {kind: make(root / f"{kind}.h5") for kind, make in DATASETS.items()}


def test_every_objective_has_a_tiny_model_for_the_contract():
    assert set(OBJECTIVES) <= set(TINY_MODELS)


def _states_equal(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not isinstance(y, dict) or not _states_equal(x, y):
                return False
        elif isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_contract(name, datasets, tmp_path, monkeypatch):
    cls = objective_class(name)
    model = f"contract-{name}"
    data = datasets[cls.dataset_kinds[0]]
    params = tiny_params(name)

    # Build and one step: finite scalar losses.
    reader = open_dataset(data, split="train")
    objective = cls(params["models"][model], params["train"], torch.device("cpu"), data_info=reader.info())
    objective.build(total_steps=4, decay_start=2)
    batch = next(iter(torch.utils.data.DataLoader(reader, batch_size=4)))
    losses = objective.step(objective.prepare_batch(batch, torch.Generator().manual_seed(0)))
    assert losses and all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())

    # Checkpoint round trip: a fresh objective loaded from the state holds the same state.
    state = objective.state_dict()
    twin = cls(params["models"][model], params["train"], torch.device("cpu"), data_info=reader.info())
    twin.build(total_steps=4, decay_start=2)
    twin.load_state_dict(state)
    assert _states_equal(twin.state_dict(), state)

    # A run interrupted after its step-2 checkpoint resumes to exactly the uninterrupted weights.
    whole = train(model, params, data, tmp_path / "whole", progress=False)
    assert whole["status"] == "complete" and whole["step"] == 4
    calls = {"n": 0}
    original_step = cls.step

    def crash_on_third_step(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process dies between checkpoints
        return original_step(self, batch)

    monkeypatch.setattr(cls, "step", crash_on_third_step)
    with pytest.raises(KeyboardInterrupt):
        train(model, params, data, tmp_path / "broken", progress=False)
    monkeypatch.setattr(cls, "step", original_step)
    resumed = train(model, params, data, tmp_path / "broken", progress=False)
    assert resumed["step"] == 4
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "broken" / "checkpoint.pt", weights_only=True)
    assert _states_equal(a["state"], b["state"]) and _states_equal(a["rng"], b["rng"])

    # Restore for inference and generate: images in [-1, 1] at the data's size, repeatable.
    restored, info = restore_objective(tmp_path / "whole")
    assert info["model"] == model and info["step"] == 4
    size = reader.info()["size"]
    sources = reader.preview_sources(2)
    labels = SAMPLE_LABELS.get(cls.dataset_kinds[0], [0.1, 0.5])
    t = restored.t_from_labels(labels)
    x = None if sources is None else sources[:1].expand(len(labels), -1, -1, -1)
    torch.manual_seed(0)
    y = restored.generate(x, t)
    torch.manual_seed(0)
    assert torch.equal(y, restored.generate(x, t))
    assert y.shape[0] == 2 and y.shape[-1] == size and y.abs().max() <= 1
    first, outputs = restored.preview(sources, labels)
    assert outputs.shape[:2] == (len(sources) if sources is not None else 4, len(labels))


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_dataset_of_the_wrong_kind_is_refused_naming_both(name, datasets, tmp_path):
    cls = objective_class(name)
    wrong = next(kind for kind in DATASETS if kind not in cls.dataset_kinds)
    with pytest.raises(UserError, match=rf"{wrong!r} dataset.*objective {name}.*{cls.dataset_kinds[0]!r}"):
        train(f"contract-{name}", tiny_params(name), datasets[wrong], tmp_path / "run", progress=False)

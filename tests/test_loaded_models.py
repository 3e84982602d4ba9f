"""The loaded-model bookkeeping every in-process plug-in shares (threads only, no model)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from llmkit.backends.loaded import LoadedModel, LoadedModels, unload_after_request


class Model(LoadedModel):
    def __init__(self, name: str) -> None:
        super().__init__(Path(f"/models/{name}.gguf"), load_ns=1000 + len(name))
        self.name = name


def cache(limit: int = 2):
    freed: list[str] = []
    models = LoadedModels[Model](lambda model: freed.append(model.name), limit=limit)
    return models, freed


def test_models_are_kept_by_key_and_the_least_recently_used_goes_first():
    models, freed = cache()
    loads: list[str] = []

    def get(name):
        return models.get(
            name, lambda: name, lambda checked: loads.append(checked) or Model(checked)
        )

    a = get("a")
    assert get("a") is a and loads == ["a"]
    get("b")
    get("a")  # a is now the most recently used
    get("c")
    assert freed == ["b"] and [m.name for m in models.values()] == ["a", "c"]
    assert len(models) == 2


def test_a_failing_check_evicts_nothing_and_a_failing_load_keeps_nothing():
    models, freed = cache(limit=1)
    models.get("a", lambda: None, lambda _: Model("a"))

    def refuse():
        raise FileNotFoundError("no such file")

    with pytest.raises(FileNotFoundError):
        models.get("b", refuse, lambda _: Model("b"))
    assert freed == [] and [m.name for m in models.values()] == ["a"]

    def broken(_):
        raise RuntimeError("bad file")

    with pytest.raises(RuntimeError):
        models.get("c", lambda: None, broken)
    assert freed == ["a"] and len(models) == 0  # room was made before loading


def test_load_time_is_reported_once():
    model = Model("abc")
    assert model.take_load_ns() == 1003
    assert model.take_load_ns() == 0


def test_unload_and_clear_free_models():
    models, freed = cache()
    a = models.get("a", lambda: None, lambda _: Model("a"))
    models.get("b", lambda: None, lambda _: Model("b"))
    models.unload(a)
    assert freed == ["a"] and [m.name for m in models.values()] == ["b"]
    models.clear()
    assert freed == ["a", "b"] and len(models) == 0


def test_two_threads_asking_for_one_model_load_it_once():
    models, _ = cache()
    loads = []

    def slow(_):
        loads.append(1)
        time.sleep(0.05)
        return Model("a")

    got = []
    threads = [
        threading.Thread(target=lambda: got.append(models.get("a", lambda: None, slow)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(model) for model in got}) == 1


@pytest.mark.parametrize(
    ("keep_alive", "unload"),
    [
        (None, False),
        (0, True),
        ("0", True),
        ("0s", True),
        (" 0m ", True),
        ("5m", False),
        (-1, False),
    ],
)
def test_keep_alive_zero_unloads_after_the_request(keep_alive, unload):
    assert unload_after_request(keep_alive) is unload


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        LoadedModels[Model](lambda model: None, limit=0)

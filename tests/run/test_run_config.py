"""The run contract: RunConfig and config.json, options as data, no probing of models."""

import ast
import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genkeras.models.config import GANConfig, GMMConfig, VAEConfig, config_from_dict
from genkeras.run import lifecycle, options
from genkeras.run.config import RunConfig, RunRecord

PACKAGE = pathlib.Path(__file__).parents[2] / "genkeras"


def test_run_config_checks_every_field():
    assert RunConfig().dataset == "digits"
    assert RunConfig(epochs=3.0).epochs == 3
    for bad, message in [
        ({"epochs": 0}, "epochs must be at least 1. Received: epochs=0"),
        ({"batch_size": -2}, "batch_size must be at least 1"),
        ({"learning_rate": 0.0}, "learning_rate must be greater than 0"),
        ({"learning_rate": float("inf")}, "learning_rate must be a finite number"),
        ({"lr_decay": 1.5}, "lr_decay must be in [0, 1]"),
        ({"strategy": "cluster"}, "strategy must be one of default, mirrored, multiworker"),
        ({"jit": "yes"}, "jit must be true or false"),
        ({"seed": 1.5}, "seed must be an integer"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            RunConfig(**bad)


def test_resolved_fills_the_family_defaults_only_where_unset():
    run = RunConfig(epochs=4).resolved(VAEConfig.run_defaults)
    assert (run.epochs, run.batch_size, run.learning_rate) == (4, 32, 3e-3)
    assert RunConfig().resolved({}).epochs == 10  # genkeras's fallback
    assert RunConfig().resolved(GMMConfig.run_defaults).epochs == 100


def test_record_round_trips_and_reads_the_old_layout(tmp_path):
    record = RunRecord("vae", RunConfig(epochs=2).resolved(), {"latent_dim": 2}, {"name": "x"})
    again = RunRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    old = json.loads((PACKAGE.parent / "tests/data/legacy_runs/vae/config.json").read_text())
    read = RunRecord.from_dict(old)
    assert read.model == "vae" and read.run.batch_size == 128 and read.options["hidden"] == 4
    with pytest.raises(ValueError, match="missing keys model"):
        RunRecord.from_dict({"options": {}})
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed JSON"):
        RunRecord.read(str(tmp_path))


def test_old_option_names_are_upgraded():
    saved = {"float64": True, "max_iter": 3, "batch_size_em": 0}  # a genkeras 0.1.0 gmm run
    cfg = config_from_dict(GMMConfig, GMMConfig.upgrade(saved))
    assert cfg.precision == "float64"
    with pytest.raises(ValueError, match="Unknown GMMConfig option"):  # only saved configs
        config_from_dict(GMMConfig, saved)
    assert VAEConfig.upgrade({"latent_dim": 2})["architecture"] == "conv"  # saved before it
    with pytest.raises(ValueError, match="Unknown VAEConfig option"):
        config_from_dict(VAEConfig, {"latent": 2})


@dataclasses.dataclass
class _Demo:
    count: int = options.option(1, "A count.", min=1, max=9)
    ratio: float = options.option(0.5, "A ratio.", min=0, max=1, max_open=True)
    name: str = options.option("a", "A name.", choices=("a", "b"))
    tags: tuple[str, ...] = options.option((), "Tags.")
    size: int | None = options.option(None, "A size.", min=0)

    def __post_init__(self):
        options.check_fields(self)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
)


@given(field=st.sampled_from(["count", "ratio", "name", "tags", "size"]), value=values)
def test_a_field_takes_a_valid_value_or_raises_a_value_error_naming_it(field, value):
    try:
        demo = _Demo(**{field: value})
    except ValueError as exc:
        assert str(exc).startswith(f"{field} must be") and f"Received: {field}=" in str(exc)
        return
    got = getattr(demo, field)
    spec = {s.name: s for s in options.option_specs(_Demo)}[field]
    if field == "count":
        assert isinstance(got, int) and 1 <= got <= 9
    if field == "ratio":
        assert 0 <= got < 1
    if field == "name":
        assert got in ("a", "b")
    if field == "tags":
        assert isinstance(got, tuple) and all(isinstance(t, str) for t in got)
    if field == "size":
        assert got is None or got >= 0
    assert spec.name == field


def test_click_options_are_generated_from_the_fields():
    names = {p.name: p for p in options.click_options(_Demo)}
    assert set(names) == {"count", "ratio", "name", "tags", "size"}
    assert names["tags"].multiple and names["tags"].opts == ["--tag"]
    assert list(names["name"].type.choices) == ["a", "b"]
    stabilizer = {p.name: p for p in options.click_options(GANConfig)}["stabilizers"]
    assert stabilizer.opts == ["--stabilizer"]


def test_runner_and_cli_never_probe_models():
    """lifecycle.py and cli.py call declared hooks only: no getattr/hasattr/inspect."""
    for name in ("run/lifecycle.py", "cli.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("getattr", "hasattr"), (name, node.lineno)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "inspect" not in modules, (name, node.lineno)


def _no_tensorflow(code: str):
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('TF' if 'tensorflow' in sys.modules "
         "else 'NO-TF')"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return proc


@pytest.mark.parametrize(
    "args",
    [
        ["run", "vae", "--help"],
        ["run", "gan", "--epochs", "0"],
        ["run", "gan", "--stabilizer", "nope"],
        ["run", "pixelcnn", "--dataset", "ring"],
        ["run", "vae", "--dataset", "npz:/no/such.npz"],
    ],
)
def test_help_and_option_errors_do_not_import_tensorflow(args):
    code = (
        "from genkeras.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    print('EXIT', e.code)"
    )
    proc = _no_tensorflow(code)
    assert proc.stdout.strip().endswith("NO-TF"), proc.stdout + proc.stderr


def test_plan_refuses_a_resume_that_changes_the_run(tmp_path):
    legacy = PACKAGE.parent / "tests/data/legacy_runs/vae"
    with pytest.raises(ValueError, match="trained model 'vae', not 'gan'"):
        lifecycle.plan_run("gan", resume=str(legacy))
    with pytest.raises(ValueError, match="dataset='digits'; this call asks for dataset='ring'"):
        lifecycle.plan_run("vae", resume=str(legacy), dataset="ring")
    with pytest.raises(ValueError, match="latent_dim=2; this call asks for latent_dim=5"):
        lifecycle.plan_run("vae", resume=str(legacy), options={"latent_dim": 5})
    plan = lifecycle.plan_run("vae", resume=str(legacy), epochs=4)
    assert plan.run.epochs == 4 and plan.done == 1 and plan.out == str(legacy)
    with pytest.raises(ValueError, match="nothing to train"):  # the saved target, reached
        lifecycle.plan_run("vae", resume=str(legacy))


def test_from_dict_refuses_unknown_keys():
    """A typo in a saved or given config is an error naming the key, not a silent default."""
    with pytest.raises(ValueError, match=r"Unknown RunConfig option\(s\): epoch\. Valid options"):
        RunConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match=r"config.json: Unknown RunConfig option\(s\): epoch"):
        RunRecord.from_dict({"model": "vae", "options": {}, "epoch": 3})
    record = RunRecord.from_dict({"model": "vae", "options": {}, "epochs": 3, "files": []})
    assert record.run.epochs == 3

"""The Python package's API, end to end through the Rust core."""

import json
import math
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import ferrotune
from ferrotune import TrialPruned, TrialState
from ferrotune.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

HERE = pathlib.Path(__file__).parent
REPO = HERE.parents[2]


def quadratic(trial):
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -5, 5)
    return (x - 2) ** 2 + (y + 1) ** 2


# ---- studies ------------------------------------------------------------------------

def test_create_load_delete_and_summaries(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    s = ferrotune.create_study(study_name="a", storage=url, direction="maximize")
    assert (s.study_name, s.direction, s.directions) == ("a", "maximize", ["maximize"])
    with pytest.raises(ferrotune.exceptions.DuplicatedStudyError):
        ferrotune.create_study(study_name="a", storage=url)
    again = ferrotune.create_study(study_name="a", storage=url, direction="maximize", load_if_exists=True)
    assert again._study_id == s._study_id
    s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    loaded = ferrotune.load_study(study_name="a", storage=url)
    assert len(loaded.trials) == 5
    summaries = ferrotune.get_all_study_summaries(url)
    assert [x.study_name for x in summaries] == ["a"]
    assert summaries[0].n_trials == 5 and summaries[0].best_trial.value == loaded.best_value
    assert ferrotune.get_all_study_names(url) == ["a"]
    with pytest.raises(KeyError, match="no study named 'missing'"):
        ferrotune.load_study(study_name="missing", storage=url)
    ferrotune.delete_study(study_name="a", storage=url)
    assert ferrotune.get_all_study_names(url) == []
    # A default name, and memory storage by default.
    anon = ferrotune.create_study()
    assert anon.study_name.startswith("no-name-")


def test_best_trial_values_and_dataframe():
    s = ferrotune.create_study(sampler=ferrotune.samplers.TPESampler(seed=1))
    s.optimize(quadratic, n_trials=40)
    assert s.best_value == s.best_trial.value == min(t.value for t in s.trials)
    assert set(s.best_params) == {"x", "y"}
    assert s.best_trials == [s.best_trial]
    t = s.trials[0]
    assert t.state == TrialState.COMPLETE and t.state.is_finished()
    assert isinstance(t.distributions["x"], FloatDistribution)
    assert t.duration is not None and t.datetime_complete >= t.datetime_start
    df = s.trials_dataframe()
    assert len(df) == 40
    assert {"number", "value", "params_x", "params_y", "state", "duration"} <= set(df.columns)
    assert set(df["state"]) == {"COMPLETE"}


def test_multi_objective():
    s = ferrotune.create_study(directions=["minimize", "maximize"], sampler=ferrotune.samplers.NSGAIISampler(seed=3))
    s.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=30)
    front = s.best_trials
    assert front and all(len(t.values) == 2 for t in front)
    with pytest.raises(RuntimeError, match="best_trials"):
        s.best_trial
    df = s.trials_dataframe()
    assert {"values_0", "values_1"} <= set(df.columns)


def test_ask_tell_and_fixed_distributions():
    s = ferrotune.create_study()
    dists = {"lr": FloatDistribution(1e-5, 1e-1, log=True), "units": IntDistribution(16, 256, step=16),
             "act": CategoricalDistribution(["relu", "tanh"])}
    t = s.ask(dists)
    assert set(t.params) == {"lr", "units", "act"}
    assert t.params["units"] % 16 == 0
    params = dict(t.params)
    frozen = s.tell(t, 0.5)
    assert frozen.state == TrialState.COMPLETE and frozen.value == 0.5
    # As in Optuna, a told trial's params stay readable (a benchmark loop
    # that logs them after tell failed here).
    assert t.params == params and set(t.distributions) == {"lr", "units", "act"}
    n = s.ask().number
    assert s.tell(n, state=TrialState.PRUNED).state == TrialState.PRUNED
    with pytest.raises(RuntimeError, match="already"):
        s.tell(n, 1.0)
    assert s.tell(n, 1.0, skip_if_finished=True).state == TrialState.PRUNED
    t = s.ask()
    assert s.tell(t, state=TrialState.FAIL).state == TrialState.FAIL
    with pytest.raises(ValueError, match="not a finite number"):
        s.tell(s.ask(), float("nan"))


def test_enqueue_and_user_attrs():
    s = ferrotune.create_study()
    s.enqueue_trial({"x": 1.5})
    s.enqueue_trial({"x": 1.5}, skip_if_exists=True)
    s.set_user_attr("dataset", "mnist")
    seen = []
    s.optimize(lambda t: seen.append(t.suggest_float("x", -10, 10)) or 0.0, n_trials=3)
    assert seen[0] == 1.5 and seen.count(1.5) == 1, seen
    assert s.user_attrs == {"dataset": "mnist"}
    t = s.ask()
    t.set_user_attr("note", {"a": [1, 2.5]})
    assert t.user_attrs == {"note": {"a": [1, 2.5]}}
    assert s.tell(t, 0.0).user_attrs == {"note": {"a": [1, 2.5]}}


# ---- the optimize loop --------------------------------------------------------------

def test_an_exception_fails_the_trial_with_its_traceback_and_is_raised():
    s = ferrotune.create_study()

    def bad(trial):
        trial.suggest_float("x", 0, 1)
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        s.optimize(bad, n_trials=3)
    (t,) = s.trials
    assert t.state == TrialState.FAIL
    assert "ZeroDivisionError: boom" in t.system_attrs["fail_reason"] and "Traceback" in t.system_attrs["fail_reason"]
    # In `catch`: failed, and the study goes on.
    with pytest.warns(RuntimeWarning, match="boom"):
        s.optimize(bad, n_trials=3, catch=(ZeroDivisionError,))
    assert [t.state for t in s.trials] == [TrialState.FAIL] * 4


def test_pruned_nan_and_wrong_returns():
    s = ferrotune.create_study()

    def f(trial):
        k = trial.number
        if k == 0:
            raise TrialPruned()
        if k == 1:
            return float("nan")
        if k == 2:
            return "fast"
        if k == 3:
            return None
        if k == 4:
            return "0.5"  # converted with float(), as Optuna does
        if k == 5:
            return [1.0, 2.0]
        return 1.0

    with pytest.warns(RuntimeWarning):
        s.optimize(f, n_trials=7)
    states = [t.state for t in s.trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE,
                      TrialState.FAIL, TrialState.COMPLETE]
    assert s.trials[4].value == 0.5
    assert "1 objective" in s.trials[5].system_attrs["fail_reason"]
    assert "not a finite number" in s.trials[1].system_attrs["fail_reason"]
    assert "not a number" in s.trials[3].system_attrs["fail_reason"]


def test_keyboard_interrupt_fails_the_trial_and_is_raised():
    s = ferrotune.create_study()

    def f(trial):
        trial.suggest_float("x", 0, 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        s.optimize(f, n_trials=5)
    (t,) = s.trials
    assert t.state == TrialState.FAIL and "interrupted" in t.system_attrs["fail_reason"]


def test_timeout_callbacks_stop_and_gc():
    s = ferrotune.create_study()
    seen = []

    def cb(study, frozen):
        seen.append(frozen.number)
        if len(seen) == 7:
            study.stop()

    s.optimize(quadratic, n_trials=100, callbacks=[cb], gc_after_trial=True)
    assert seen == list(range(7))
    start = time.monotonic()
    s.optimize(lambda t: time.sleep(0.05) or 0.0, timeout=0.3)
    assert time.monotonic() - start < 2.0
    assert 2 <= len(s.trials) - 7 <= 10


def test_max_trials_callback_counts_every_workers_trials(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    other = ferrotune.create_study(study_name="m", storage=url)
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    s = ferrotune.load_study(study_name="m", storage=url)
    cb = ferrotune.study.MaxTrialsCallback(6, states=(TrialState.COMPLETE,))
    s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=100, callbacks=[cb])
    assert len(s.trials) == 6


def test_threads_run_objectives_at_the_same_time():
    s = ferrotune.create_study(sampler=ferrotune.samplers.RandomSampler(seed=0))
    live, peak, lock = [0], [0], threading.Lock()

    def f(trial):
        x = trial.suggest_float("x", 0, 1)
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return x

    s.optimize(f, n_trials=16, n_jobs=4)
    assert len(s.trials) == 16 and all(t.state == TrialState.COMPLETE for t in s.trials)
    assert sorted(t.number for t in s.trials) == list(range(16))
    assert peak[0] >= 2, "threads overlapped"
    # An exception in one thread reaches the caller.
    with pytest.raises(ValueError, match="in a thread"):
        s.optimize(lambda t: (_ for _ in ()).throw(ValueError("in a thread")), n_trials=4, n_jobs=2)


# ---- samplers and pruners ------------------------------------------------------------

@pytest.mark.parametrize(
    "sampler",
    [
        ferrotune.samplers.AutoSampler(seed=1),
        ferrotune.samplers.RandomSampler(seed=1),
        ferrotune.samplers.QMCSampler(seed=1),
        ferrotune.samplers.TPESampler(seed=1),
        ferrotune.samplers.TPESampler(seed=1, multivariate=False, constant_liar=True),
        ferrotune.samplers.GPSampler(seed=1),
        ferrotune.samplers.CmaEsSampler(seed=1),
        ferrotune.samplers.NSGAIISampler(seed=1, population_size=10),
    ],
    ids=lambda s: type(s).__name__,
)
def test_every_sampler_finds_the_bowl_and_is_seeded(sampler):
    def run():
        s = ferrotune.create_study(sampler=sampler)
        s.optimize(quadratic, n_trials=30)
        return s

    a, b = run(), run()
    assert [t.params for t in a.trials] == [t.params for t in b.trials], "same seed, same trials"
    assert a.best_value < 6, a.best_value


def test_the_default_sampler_is_auto_and_records_its_choice():
    s = ferrotune.create_study()
    assert isinstance(s.sampler, ferrotune.samplers.AutoSampler)
    s.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1) + (t.suggest_categorical("c", ["a", "b"]) == "a"),
               n_trials=12)
    assert {t.system_attrs["auto_sampler"] for t in s.trials} == {"gp"}, "continuous-heavy"
    s.optimize(lambda t: (t.suggest_categorical("c", ["a", "b"]) == "a") + (t.suggest_categorical("d", [1, 2]) == 1), n_trials=3)
    assert s.trials[-1].system_attrs["auto_sampler"] == "gp", "a conditional space stays with the GP"
    short = ferrotune.create_study(sampler=ferrotune.samplers.AutoSampler(seed=0, gp_max_trials=5))
    short.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=8)
    assert [t.system_attrs["auto_sampler"] for t in short.trials] == ["gp"] * 6 + ["tpe"] * 2, "past gp_max_trials"


def test_grid_sampler_visits_every_point_once():
    g = ferrotune.samplers.GridSampler({"x": [-1, 0, 1], "act": ["relu", "tanh"]})
    s = ferrotune.create_study(sampler=g)
    s.optimize(lambda t: t.suggest_int("x", -1, 1) + (t.suggest_categorical("act", ["relu", "tanh"]) == "tanh"), n_trials=6)
    assert sorted((t.params["x"], t.params["act"]) for t in s.trials) == sorted((x, a) for x in (-1, 0, 1) for a in ("relu", "tanh"))


def test_unsupported_sampler_options_say_so():
    with pytest.raises(ValueError, match="not supported by ferrotune"):
        ferrotune.samplers.TPESampler(weights=lambda n: [1] * n)
    with pytest.raises(ValueError, match="gamma"):
        ferrotune.samplers.TPESampler(gamma=lambda n: 5)
    with pytest.raises(ValueError, match="sobol"):
        ferrotune.samplers.QMCSampler(qmc_type="halton")


def curves(trial, good):
    lr = trial.suggest_float("lr", 0, 1)
    for step in range(10):
        # Bad curves stall and then get worse; good ones keep improving.
        v = 0.5 + lr + 0.1 * abs(step - 3) if not good(trial.number) else 0.1 / (step + 1)
        trial.report(v, step)
        if trial.should_prune():
            raise TrialPruned()
    return v


@pytest.mark.parametrize(
    "pruner",
    [
        ferrotune.pruners.MedianPruner(n_startup_trials=2),
        ferrotune.pruners.PercentilePruner(25.0, n_startup_trials=2),
        ferrotune.pruners.ThresholdPruner(upper=0.9),
        ferrotune.pruners.PatientPruner(None, patience=0),
        ferrotune.pruners.PatientPruner(ferrotune.pruners.MedianPruner(n_startup_trials=2), patience=1),
        ferrotune.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
        ferrotune.pruners.HyperbandPruner(min_resource=1, max_resource=10),
    ],
    ids=lambda p: type(p).__name__,
)
def test_every_pruner_stops_bad_curves(pruner):
    s = ferrotune.create_study(sampler=ferrotune.samplers.RandomSampler(seed=2), pruner=pruner)
    s.optimize(lambda t: curves(t, lambda n: n % 3 == 0), n_trials=30)
    pruned = [t for t in s.trials if t.state == TrialState.PRUNED]
    assert pruned, f"{type(pruner).__name__} pruned nothing"
    assert all(t.number % 3 != 0 for t in pruned[:3]) or isinstance(pruner, ferrotune.pruners.SuccessiveHalvingPruner)


def test_nop_and_wilcoxon_pruners():
    s = ferrotune.create_study(pruner=ferrotune.pruners.NopPruner())
    s.optimize(lambda t: curves(t, lambda n: False), n_trials=5)
    assert all(t.state == TrialState.COMPLETE for t in s.trials)
    w = ferrotune.create_study(pruner=ferrotune.pruners.WilcoxonPruner(p_threshold=0.1))

    def folds(trial):
        x = trial.suggest_float("x", 0, 1)
        for i in range(20):
            trial.report(x + 0.01 * i, i)
            if trial.should_prune():
                raise TrialPruned()
        return x

    w.enqueue_trial({"x": 0.0})
    w.optimize(folds, n_trials=10)
    assert any(t.state == TrialState.PRUNED for t in w.trials)


# ---- mistakes -------------------------------------------------------------------------

def test_mistakes_are_clear():
    s = ferrotune.create_study()
    t = s.ask()
    with pytest.raises(ValueError, match="'lr'"):
        t.suggest_float("lr", 1.0, 0.1)
    with pytest.raises(ValueError, match="log"):
        t.suggest_float("w", -1.0, 1.0, log=True)
    with pytest.raises(ValueError, match="None is not supported"):
        t.suggest_categorical("c", [None, "a"])
    with pytest.raises(ValueError, match="direction"):
        ferrotune.create_study(direction="up")
    with pytest.raises(ValueError, match="storage URL"):
        ferrotune.create_study(storage="mysql://x")
    with pytest.raises(TypeError, match="storage"):
        ferrotune.create_study(storage=42)
    with pytest.raises(ValueError, match="n_jobs"):
        s.optimize(lambda t: 1.0, n_trials=1, n_jobs=0)
    # A trial told twice: an error, or the stored trial with skip_if_finished.
    s.tell(t, 1.0)
    with pytest.raises(RuntimeError, match="finished"):
        s.tell(t, 2.0)
    assert s.tell(t, 2.0, skip_if_finished=True).value == 1.0
    with pytest.raises(ValueError, match="COMPLETE, PRUNED or FAIL"):
        s.tell(s.ask(), state=TrialState.RUNNING)


def test_a_study_reloaded_with_other_directions_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/d.db"
    ferrotune.create_study(study_name="d", storage=url, direction="maximize")
    with pytest.raises(ValueError, match=r"stored with directions \[maximize\], not \[minimize\]"):
        ferrotune.create_study(study_name="d", storage=url, direction="minimize", load_if_exists=True)


# ---- the same database as the CLI -------------------------------------------------------

def ferrotune_bin():
    p = os.environ.get("FERROTUNE_BIN") or str(REPO / "target" / "debug" / "ferrotune")
    if not os.path.exists(p):
        pytest.skip(f"the ferrotune binary is not built at {p} (cargo build -p ferrotune-cli, or set FERROTUNE_BIN)")
    return p


def test_a_python_study_is_listed_by_the_cli_and_back(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    s = ferrotune.create_study(study_name="py", storage=url, sampler=ferrotune.samplers.TPESampler(seed=0))
    s.optimize(quadratic, n_trials=12)
    out = subprocess.run([ferrotune_bin(), "trials", "--study", "py", "--storage", url, "--format", "json"],
                         capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [r["number"] for r in rows] == list(range(12))
    assert rows[3]["values"] == [s.trials[3].value]
    # A study made by the CLI, continued from Python.
    space = tmp_path / "space.json"
    space.write_text('{"x": {"type": "float", "low": -10, "high": 10}}')
    subprocess.run([ferrotune_bin(), "ask", "--study", "cli", "--storage", url, "--space", str(space)], capture_output=True, check=True)
    cli = ferrotune.load_study(study_name="cli", storage=url)
    (t,) = cli.trials
    assert t.state == TrialState.RUNNING
    cli.tell(t.number, 1.25)
    assert cli.best_value == 1.25


# ---- Optuna's own examples, with only the import changed --------------------------------

@pytest.mark.parametrize("example", ["quadratic.py", "sklearn_pruning.py", "ask_and_tell.py", "multi_objective.py"])
def test_optuna_examples_run_with_only_the_import_changed(example):
    path = HERE / "optuna_examples" / example
    text = path.read_text()
    assert "import ferrotune as optuna" in text and "import optuna" not in text.replace("import ferrotune as optuna", "")
    subprocess.run([sys.executable, str(path)], check=True, timeout=300)


# ---- examples/python ------------------------------------------------------------------------

def test_the_sklearn_example_runs():
    subprocess.run([sys.executable, str(REPO / "examples" / "python" / "sklearn_digits.py"), "--trials", "6"], check=True, timeout=600)


def test_the_pytorch_example_runs_where_torch_is_installed(tmp_path):
    pytest.importorskip("torch", reason="torch is too heavy for CI; run examples/python/pytorch_mnist.py by hand")
    env = dict(os.environ, FERROTUNE_DATA_DIR=str(REPO / "fixtures" / "data"))
    subprocess.run([sys.executable, str(REPO / "examples" / "python" / "pytorch_mnist.py"), "--trials", "4", "--epochs", "2",
                    "--limit", "2000", "--storage", f"sqlite:///{tmp_path}/t.db"], check=True, timeout=600, env=env)


def test_a_killed_python_worker_s_trial_is_judged_dead_and_its_worker_shown(tmp_path):
    url = f"sqlite:///{tmp_path}/k.db"
    ferrotune.create_study(study_name="k", storage=url)
    code = ("import os, ferrotune\n"
            f"s = ferrotune.load_study(study_name='k', storage={url!r})\n"
            "t = s.ask()\n"
            "t.suggest_float('x', 0, 1)\n"
            "print(os.getpid(), flush=True)\n"
            "os.kill(os.getpid(), 9)\n")
    p = subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True, text=True)
    assert p.returncode == -9, p.stderr
    out = subprocess.run([ferrotune_bin(), "trials", "--study", "k", "--storage", url, "--format", "json"],
                         capture_output=True, text=True, check=True)
    (row,) = json.loads(out.stdout)
    assert row["state"] == "running" and row["worker"]["pid"] == int(p.stdout), "the Python process is the trial's worker"
    # The next writer to open the study sees the pid is gone and fails the trial.
    s = ferrotune.load_study(study_name="k", storage=url)
    (t,) = s.trials
    assert t.state == TrialState.FAIL and "stale" in t.system_attrs["fail_reason"]

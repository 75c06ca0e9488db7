#!/usr/bin/env python3
"""Optuna's side of `ferrotune-bench plots`: the same trials (exported by
ferrotune as JSON) loaded into an in-memory Optuna study, then each
`optuna.visualization` plot built and written as HTML, timed.

    python optuna_plots.py TRIALS.json [--repeat 3] [--params a,b,c]

Prints one JSON object per line: {"kind", "figure_ms", "html_ms"} (medians),
or {"kind", "error"}.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trials")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--params", default="")
    a = ap.parse_args()

    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState, create_trial
    import optuna.visualization as vis

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    data = json.load(open(a.trials))

    def dist(d):
        t = d["type"]
        if t == "float":
            return FloatDistribution(d["low"], d["high"], log=d.get("log", False), step=d.get("step"))
        if t == "int":
            return IntDistribution(d["low"], d["high"], log=d.get("log", False), step=d.get("step", 1))
        return CategoricalDistribution(d["choices"])

    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
    trials = []
    for t in data["trials"]:
        if t["state"] not in states:
            continue
        kw = dict(
            state=states[t["state"]],
            params=t["params"],
            distributions={k: dist(v) for k, v in t["distributions"].items()},
            intermediate_values={int(k): v for k, v in t["intermediate"].items()},
        )
        if t["state"] == "complete":
            kw["values"] = t["values"]
        elif t["state"] == "pruned" and t.get("values"):
            kw["values"] = t["values"]
        tr = create_trial(**kw)
        tr.datetime_start = __import__("datetime").datetime.fromtimestamp(t["started_at"])
        tr.datetime_complete = __import__("datetime").datetime.fromtimestamp(t["completed_at"])
        trials.append(tr)
    study = optuna.create_study(directions=data["directions"])
    study.add_trials(trials)
    params = [p for p in a.params.split(",") if p] or None
    plots = {
        "history": lambda: vis.plot_optimization_history(study),
        "intermediate": lambda: vis.plot_intermediate_values(study),
        "parallel": lambda: vis.plot_parallel_coordinate(study),
        "slice": lambda: vis.plot_slice(study),
        "contour": lambda: vis.plot_contour(study, params=params),
        "importance": lambda: vis.plot_param_importances(study),
        "edf": lambda: vis.plot_edf(study),
        "timeline": lambda: vis.plot_timeline(study),
        "rank": lambda: vis.plot_rank(study, params=params),
    }
    if len(data["directions"]) > 1:
        plots = {"pareto": lambda: vis.plot_pareto_front(study)}
    for kind, make in plots.items():
        try:
            fig_ms, html_ms = [], []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                fig = make()
                t1 = time.perf_counter()
                fig.to_html(include_plotlyjs=True, full_html=True)
                t2 = time.perf_counter()
                fig_ms.append(1000 * (t1 - t0))
                html_ms.append(1000 * (t2 - t1))
            print(json.dumps({"kind": kind, "figure_ms": statistics.median(fig_ms), "html_ms": statistics.median(html_ms)}), flush=True)
        except Exception as e:  # noqa: BLE001 - reported, as a user would see it
            print(json.dumps({"kind": kind, "error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    sys.exit(main())

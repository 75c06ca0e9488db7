"""Multi-objective TPE with ferrotune's defaults against Optuna's settings
(gamma 0.1, prior weight 1, uniform weights): hypervolume after 80 trials on
6-D ZDT1 and ZDT2, 30 seeds (docs/benchmarks.md, "TPE with EI weights").

    OMP_NUM_THREADS=1 target/torch-venv/bin/python benchmarks/tpe_multiobjective.py
"""
import math
import statistics
import ferrotune

def zdt(kind):
    def f(trial):
        x = [trial.suggest_float(f"x{i}", 0, 1) for i in range(6)]
        g = 1 + 9 * sum(x[1:]) / 5
        f1 = x[0]
        f2 = g * (1 - math.sqrt(f1 / g)) if kind == 1 else g * (1 - (f1 / g) ** 2)
        return f1, f2
    return f

def hv(points, ref=(1.1, 11.0)):
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    front = []
    for p in pts:
        if not front or p[1] < front[-1][1]:
            front.append(p)
    area, prev = 0.0, ref[1]
    for a, b in front:
        area += (ref[0] - a) * (prev - b)
        prev = b
    return area

res = {}
for name, kw in [("new", {}), ("optuna-settings", dict(gamma=0.1, prior_weight=1.0, ei_weights=False))]:
    for kind in (1, 2):
        vals = []
        for seed in range(30):
            st = ferrotune.create_study(directions=["minimize", "minimize"], sampler=ferrotune.samplers.TPESampler(seed=seed, **kw))
            st.optimize(zdt(kind), n_trials=80)
            vals.append(hv([t.values for t in st.trials]))
        m, se = statistics.mean(vals), statistics.stdev(vals) / math.sqrt(len(vals))
        res[(name, kind)] = (m, se)
        print(name, f"zdt{kind}", f"hv {m:.4f} ± {se:.4f}", flush=True)
for kind in (1, 2):
    a, b = res[("new", kind)], res[("optuna-settings", kind)]
    print(f"zdt{kind} z (new - old) = {(a[0]-b[0])/math.hypot(a[1], b[1]):+.2f} (higher hv is better)")

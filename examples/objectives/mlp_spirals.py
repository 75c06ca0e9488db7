#!/usr/bin/env python3
"""Train a small neural network on the two-spirals problem: a real (if tiny)
deep-learning objective for ferrotune, in plain Python with no dependencies.

Hyperparameters come from the FERROTUNE_PARAMS_FILE JSON (or command-line
flags, for running by hand); the script reports validation accuracy after each
epoch and prints the final one, speaking ferrotune's objective protocol:

    ferrotune: report step=<epoch> value=<val_acc>
    ferrotune: value=<val_acc>
"""
import argparse
import json
import math
import os
import random
import sys


def spirals(n, noise, rng):
    """Two interleaved spirals, n points each: not linearly separable."""
    pts = []
    for label in (0, 1):
        for i in range(n):
            r = 0.2 + 0.8 * i / n
            t = 1.3 * i / n * 2 * math.pi + label * math.pi
            pts.append(([r * math.cos(t) + rng.gauss(0, noise), r * math.sin(t) + rng.gauss(0, noise)], label))
    rng.shuffle(pts)
    return pts


def act_fn(name):
    if name == "relu":
        return (lambda z: z if z > 0 else 0.0), (lambda z, a: 1.0 if z > 0 else 0.0)
    if name == "tanh":
        return math.tanh, (lambda z, a: 1.0 - a * a)
    raise SystemExit(f"unknown activation {name!r}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--activation", default="tanh")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--l2", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=int(os.environ.get("SPIRALS_EPOCHS", "25")))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    params_file = os.environ.get("FERROTUNE_PARAMS_FILE")
    if params_file:
        for k, v in json.load(open(params_file))["params"].items():
            setattr(args, k, v)

    rng = random.Random(args.seed)
    data = spirals(200, 0.03, rng)
    split = int(0.75 * len(data))
    train, val = data[:split], data[split:]
    h = int(args.hidden)
    f, df = act_fn(args.activation)
    # He/Xavier-style initialisation.
    w1 = [[rng.gauss(0, math.sqrt(2.0 / 2)) for _ in range(2)] for _ in range(h)]
    b1 = [0.0] * h
    w2 = [rng.gauss(0, math.sqrt(1.0 / h)) for _ in range(h)]
    b2 = 0.0
    params = [w1, b1, w2]
    vel = {"w1": [[0.0, 0.0] for _ in range(h)], "b1": [0.0] * h, "w2": [0.0] * h, "b2": 0.0}
    m2 = {"w1": [[0.0, 0.0] for _ in range(h)], "b1": [0.0] * h, "w2": [0.0] * h, "b2": 0.0}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0

    def update(g, key, i=None, j=None):
        """One optimizer step for one scalar weight; returns the delta."""
        def get(d):
            x = d[key]
            return x if i is None else (x[i] if j is None else x[i][j])

        def put(d, v):
            if i is None:
                d[key] = v
            elif j is None:
                d[key][i] = v
            else:
                d[key][i][j] = v

        if args.optimizer == "sgd":
            v = args.momentum * get(vel) - args.lr * g
            put(vel, v)
            return v
        m = beta1 * get(vel) + (1 - beta1) * g
        s = beta2 * get(m2) + (1 - beta2) * g * g
        put(vel, m)
        put(m2, s)
        mh = m / (1 - beta1 ** step)
        sh = s / (1 - beta2 ** step)
        return -args.lr * mh / (math.sqrt(sh) + eps)

    def forward(x):
        z = [w1[k][0] * x[0] + w1[k][1] * x[1] + b1[k] for k in range(h)]
        a = [f(zk) for zk in z]
        o = sum(w2[k] * a[k] for k in range(h)) + b2
        o = max(-30.0, min(30.0, o))
        return z, a, 1.0 / (1.0 + math.exp(-o))

    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(train)
        for x, y in train:
            step += 1
            z, a, pr = forward(x)
            go = pr - y  # d(cross-entropy)/d(logit)
            for k in range(h):
                ga = go * w2[k]
                gz = ga * df(z[k], a[k])
                w2[k] += update(go * a[k] + args.l2 * w2[k], "w2", k)
                w1[k][0] += update(gz * x[0] + args.l2 * w1[k][0], "w1", k, 0)
                w1[k][1] += update(gz * x[1] + args.l2 * w1[k][1], "w1", k, 1)
                b1[k] += update(gz, "b1", k)
            b2 += update(go, "b2")
        correct = sum(1 for x, y in val if (forward(x)[2] > 0.5) == (y == 1))
        acc = correct / len(val)
        if not all(math.isfinite(w) for w in w2):
            print("training diverged", file=sys.stderr)
            print("ferrotune: value=nan")
            return
        print(f"ferrotune: report step={epoch} value={acc:.4f}", flush=True)
    print(f"ferrotune: value={acc:.4f}")


if __name__ == "__main__":
    main()

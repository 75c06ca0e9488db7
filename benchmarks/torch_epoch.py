"""The PyTorch side of `ferrotune-bench epoch`: the same MLP, batch size,
optimiser (Adam, lr 1e-3) and standardised MNIST, one process, a fixed
number of threads. Prints the best epoch's seconds on the last line.

    python3 benchmarks/torch_epoch.py --model 784-128-10 --threads 1
"""
import argparse, gzip, os, struct, time

import numpy as np
import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="784-128-10")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d = os.path.join(os.environ.get("FERROTUNE_DATA_DIR", "../shared/data"), "mnist")
    x = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    x = (x - x.mean()) / x.std()
    y = idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    w = [int(v) for v in a.model.split("-")]
    layers = []
    for i in range(len(w) - 1):
        layers.append(torch.nn.Linear(w[i], w[i + 1]))
        if i < len(w) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    best = float("inf")
    for _ in range(a.epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            idx_ = perm[i : i + 64]
            opt.zero_grad()
            loss = lossf(net(x[idx_]), y[idx_])
            loss.backward()
            opt.step()
        best = min(best, time.perf_counter() - t)
    print(f"{best:.4f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Top-k (1%) gradient compression under AdamW, simulated: why it lags, and what closes the gap.

Two ranks in one process train the convergence runs' GPT (2 layers, width 128, 4 heads, block 64,
global batch 16, AdamW 3e-4, weight decay 0.01) for 300 steps on windows of a byte corpus, and the
script prints the mean training loss of the last 20 steps. The ranks differ only in how their
gradients are combined (--variant):

  dense     the mean of the ranks' gradients (the uncompressed baseline);
  topk      each rank adds its residual to its gradient, keeps the 1% largest entries of each
            tensor and sends them, and keeps the rest as its residual (error feedback);
  frozen    topk after --warmup dense steps, with Adam's second moment frozen at the end of them
            (1-bit Adam's idea: the update becomes linear in what is delivered, so a coordinate
            sent late still moves by all that it accumulated);
  oracle    topk after --warmup dense steps, with the second moment fed the dense mean gradient
            every step (an upper bound: it would cost a dense exchange per step);
  periodic  topk after --warmup dense steps; each rank keeps the second moment of its own dense
            gradient, and every --every steps the ranks average theirs into the shared one (one
            dense exchange per --every steps).

It needs PyTorch (Debian's python3-torch) and the peers' GPT class (shared/peers/torch_ddp_gpt.py):

  python3 docs/experiments/topk_adam.py --corpus CORPUS --peers ../shared/peers --variant periodic --warmup 15 --every 50

CORPUS: any byte file; the figures in docs/PERFORMANCE.md use the default corpus's cached text.
"""
import argparse, math, sys
import torch, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--corpus", required=True)
p.add_argument("--peers", required=True, help="folder of torch_ddp_gpt.py")
p.add_argument("--variant", choices=["dense", "topk", "frozen", "oracle", "periodic"], required=True)
p.add_argument("--warmup", type=int, default=0, help="dense steps before top-k")
p.add_argument("--every", type=int, default=50, help="periodic: steps between second-moment averages")
p.add_argument("--steps", type=int, default=300)
a = p.parse_args()
sys.path.insert(0, a.peers)
from torch_ddp_gpt import GPT

torch.set_num_threads(1)
corpus = torch.frombuffer(bytearray(open(a.corpus, "rb").read()[:4_000_000]), dtype=torch.uint8).long()
W, per_rank, T = 2, 8, 64
lr, b1, b2, eps, wd, ratio = 3e-4, 0.9, 0.999, 1e-8, 0.01, 0.01

torch.manual_seed(0)
model = GPT(2, 4, 128, T)
params = list(model.parameters())
m = [torch.zeros_like(q) for q in params]
v = [torch.zeros_like(q) for q in params]                                  # the shared second moment
v_local = [[torch.zeros_like(q) for q in params] for _ in range(W)]        # periodic: each rank's own
residual = [[torch.zeros_like(q) for q in params] for _ in range(W)]
batches = torch.Generator().manual_seed(1)
losses, sent_floats, dense_floats = [], 0, 0
n_params = sum(q.numel() for q in params)


def top_k(rank, i, grad):
    acc = (grad + residual[rank][i]).view(-1)
    k = max(1, math.ceil(ratio * acc.numel()))
    keep = acc.abs().topk(k).indices
    sent = torch.zeros_like(acc)
    sent[keep] = acc[keep]
    residual[rank][i] = (acc - sent).view_as(grad)
    return sent.view_as(grad), k


for step in range(1, a.steps + 1):
    starts = torch.randint(0, len(corpus) - T - 1, (W * per_rank,), generator=batches)
    grads, loss_sum = [], 0.0
    for r in range(W):
        s = starts[r * per_rank:(r + 1) * per_rank]
        x = torch.stack([corpus[i:i + T] for i in s])
        y = torch.stack([corpus[i + 1:i + T + 1] for i in s])
        model.zero_grad()
        loss = F.cross_entropy(model(x).view(-1, 256), y.view(-1))
        loss.backward()
        loss_sum += loss.item() / W
        grads.append([q.grad.detach().clone() for q in params])
    losses.append(loss_sum)

    dense = a.variant == "dense" or step <= a.warmup
    mean = [sum(g[i] for g in grads) / W for i in range(len(params))]
    if dense:
        g, dense_floats = mean, dense_floats + n_params
    else:
        g = []
        for i in range(len(params)):
            total = torch.zeros_like(params[i])
            for r in range(W):
                sent, k = top_k(r, i, grads[r][i])
                total += sent
                sent_floats += 2 * k / W  # (index, value) pairs, per rank
            g.append(total / W)

    if a.variant == "periodic":
        for r in range(W):
            for i in range(len(params)):
                v_local[r][i].mul_(b2).addcmul_(grads[r][i], grads[r][i], value=1 - b2)
    # The step whose gradients v last took in: its bias correction stays with it while it is frozen.
    since = step - a.warmup - 1
    refresh = a.variant == "periodic" and not dense and since % a.every == 0
    if refresh: dense_floats += n_params
    if dense or a.variant in ("topk", "oracle"): v_step = step
    elif a.variant == "frozen": v_step = a.warmup
    else: v_step = a.warmup + 1 + since // a.every * a.every
    with torch.no_grad():
        for i, q in enumerate(params):
            q.mul_(1 - lr * wd)
            m[i].mul_(b1).add_(g[i], alpha=1 - b1)
            if dense or a.variant == "topk":
                v[i].mul_(b2).addcmul_(g[i], g[i], value=1 - b2)
            elif a.variant == "oracle":
                v[i].mul_(b2).addcmul_(mean[i], mean[i], value=1 - b2)
            elif refresh:
                v[i].copy_(sum(v_local[r][i] for r in range(W)) / W)
            v_hat = v[i] / (1 - b2 ** v_step)
            q.addcdiv_(m[i] / (1 - b1 ** step), v_hat.sqrt().add_(eps), value=-lr)

fraction = (dense_floats + sent_floats) / (a.steps * n_params)
print(f"variant={a.variant} warmup={a.warmup} every={a.every} last20={sum(losses[-20:]) / 20:.4f} "
      f"floats_vs_dense={fraction:.3f}")

"""Writes optimizers.json: what PyTorch's optimizers and learning-rate schedulers do to a tiny model.

Run from the repository root with a Python that has PyTorch (Debian's has 1.13):

    /usr/bin/python3 tests/ElasticTrain.Tests/Training/Reference/make_reference.py

The JSON is checked in: CI has no PyTorch, and OptimizerReferenceTests.cs reads only the JSON,
rebuilds the same model from its initial values, runs the same steps through our optimizers and
schedules, and compares. Rerun this script only when the cases below change.

Each case runs 20 steps of: zero the gradients, forward, backward, clip the global gradient norm
(if the case clips), set the scheduler's learning rate, step. PyTorch has no LAMB, so the LAMB
case runs a plain-tensor rendering of You et al. 2020, Algorithm 2 (with bias correction) written
here from the paper, independently of Lamb.cs.
"""

import json
import os
import warnings

import torch
from torch import nn
from torch.optim import lr_scheduler

STEPS = 20
BATCH = 5
INPUTS, HIDDEN, OUTPUTS = 6, 8, 4
HERE = os.path.dirname(os.path.abspath(__file__))


def make_model():
    return nn.Sequential(nn.Linear(INPUTS, HIDDEN), nn.LayerNorm(HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUTPUTS))


def loss_of(model, x, y):
    return nn.functional.mse_loss(model(x), y)


class Lamb(torch.optim.Optimizer):
    """You et al. 2020, Algorithm 2: Adam's bias-corrected direction plus decoupled weight decay,
    scaled per tensor by the trust ratio ||w|| / ||update|| (1 when either norm is 0)."""

    def __init__(self, groups, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(groups, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                state = self.state[w]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(w)
                    state["v"] = torch.zeros_like(w)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = m / (1 - beta1 ** t)
                v_hat = v / (1 - beta2 ** t)
                r = m_hat / (v_hat.sqrt() + group["eps"])
                u = r + group["weight_decay"] * w
                w_norm, u_norm = w.norm().item(), u.norm().item()
                trust = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
                w.add_(u, alpha=-group["lr"] * trust)


def groups(model, weight_decay, decay_biases_and_norms):
    """One group, or two with the parameters of fewer than 2 dims exempt from decay, as PartOptimizer.Create."""
    params = list(model.parameters())
    if decay_biases_and_norms:
        return [dict(params=params, weight_decay=weight_decay)]
    return [dict(params=[p for p in params if p.dim() >= 2], weight_decay=weight_decay),
            dict(params=[p for p in params if p.dim() < 2], weight_decay=0.0)]


def make_optimizer(case, model):
    o, wd = case["optimizer"], case["weight_decay"]
    g = groups(model, wd, o.get("decay_biases_and_norms", True))
    lr = case["lr"]
    kind = o["kind"]
    if kind == "adamw":
        return torch.optim.AdamW(g, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if kind == "adam":
        return torch.optim.Adam(g, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if kind == "sgd":
        return torch.optim.SGD(g, lr=lr, momentum=o.get("momentum", 0), dampening=o.get("dampening", 0),
                               nesterov=o.get("nesterov", False))
    if kind == "adagrad":
        return torch.optim.Adagrad(g, lr=lr, lr_decay=o["lr_decay"], initial_accumulator_value=o["initial_accumulator"],
                                   eps=1e-10)
    if kind == "rmsprop":
        return torch.optim.RMSprop(g, lr=lr, alpha=o["alpha"], eps=1e-8, momentum=o["momentum"], centered=o["centered"])
    if kind == "lamb":
        return Lamb(g, lr=lr, eps=1e-6)
    raise ValueError(kind)


def make_scheduler(case, optimizer):
    """The PyTorch schedulers LearningRateSchedule.cs says it matches (see its remarks)."""
    s, peak = case["schedule"], case["lr"]
    warmup = s.get("warmup_steps", 0)
    span = s.get("decay_steps", 0) - warmup
    shape = s["shape"]
    if shape == "constant":
        after = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    elif shape == "cosine":
        after = lr_scheduler.CosineAnnealingLR(optimizer, T_max=span, eta_min=s["min_lr"])
    elif shape == "linear":
        after = lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=s["min_lr"] / peak, total_iters=span)
    elif shape == "polynomial":
        assert s["min_lr"] == 0, "PyTorch's PolynomialLR decays to 0"
        after = lr_scheduler.PolynomialLR(optimizer, total_iters=span, power=s["power"])
    elif shape == "exponential":
        after = lr_scheduler.ExponentialLR(optimizer, gamma=s["decay_rate"] ** (1 / span))
    elif shape == "step":
        after = lr_scheduler.StepLR(optimizer, step_size=s["step_size"], gamma=s["decay_rate"])
    elif shape == "cosine-restarts":
        after = lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=s["restart_steps"], T_mult=s["restart_mult"],
                                                         eta_min=s.get("min_lr", 0))
    else:
        raise ValueError(shape)
    if shape == "cosine":
        # Our cosine holds at min-lr after T; PyTorch's would rise again, so the steps must stay within T.
        assert STEPS - 1 - warmup < span
    if warmup == 0:
        return after
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
    return lr_scheduler.SequentialLR(optimizer, [ramp, after], milestones=[warmup])


def values(tensor):
    return [float(v) for v in tensor.detach().reshape(-1).tolist()]


def run(case, initial, batches, quiet=False):
    model = make_model()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(initial[name])
    optimizer = make_optimizer(case, model)
    scheduler = make_scheduler(case, optimizer)
    rates, norms = [], []
    for x, y in batches:
        optimizer.zero_grad()
        loss_of(model, x, y).backward()
        if case.get("clip") is not None:
            norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), case["clip"])))
        lrs = {g["lr"] for g in optimizer.param_groups}
        assert len(lrs) == 1
        rates.append(lrs.pop())
        optimizer.step()
        scheduler.step()
    if case.get("clip") is not None and not quiet:
        clipped = sum(n > case["clip"] for n in norms)
        # Both paths: steps the clip scales down, and steps it leaves alone.
        assert 0 < clipped < STEPS, f"{case['name']}: clipped on {clipped} of {STEPS} steps (norms {min(norms):.3g}..{max(norms):.3g})"
        print(f"{case['name']}: clipped on {clipped} of {STEPS} steps")
    return rates, {name: values(p) for name, p in model.named_parameters()}


def drift(case, initial, batches, final):
    """How far float32 rounding alone can carry the case: the worst change of a final parameter when
    the initial values move by 1e-7 relative, in units of the C# test's tolerance (1e-7 + 1e-5 |ref|).
    The learning rates are chosen to keep it well below 1, so that PyTorch's and TorchSharp's
    different rounding cannot fail the test while a 0.1% change of the rate fails it many times over."""
    worst = 0.0
    for seed in range(3):
        torch.manual_seed(seed)
        noisy = {name: t * (1 + 1e-7 * torch.randn_like(t)) for name, t in initial.items()}
        _, moved = run(case, noisy, batches, quiet=True)
        worst = max([worst] + [abs(a - b) / (1e-7 + 1e-5 * abs(b)) for n in final for a, b in zip(moved[n], final[n])])
    return worst


CASES = [
    dict(name="adamw_constant", optimizer=dict(kind="adamw"), lr=1e-2, weight_decay=0.1,
         schedule=dict(shape="constant")),
    dict(name="adamw_no_decay_1d_warmup_cosine_clip", optimizer=dict(kind="adamw", decay_biases_and_norms=False),
         lr=1e-2, weight_decay=0.1, clip=1.2,
         schedule=dict(shape="cosine", warmup_steps=5, decay_steps=25, min_lr=1e-3)),
    dict(name="adam_l2_polynomial", optimizer=dict(kind="adam"), lr=1e-2, weight_decay=0.05,
         schedule=dict(shape="polynomial", decay_steps=30, power=2.0, min_lr=0.0)),
    dict(name="sgd_plain", optimizer=dict(kind="sgd"), lr=0.1, weight_decay=0.0,
         schedule=dict(shape="constant")),
    dict(name="sgd_nesterov_decay_step", optimizer=dict(kind="sgd", momentum=0.9, nesterov=True), lr=0.05,
         weight_decay=0.01, schedule=dict(shape="step", step_size=6, decay_rate=0.5)),
    dict(name="sgd_momentum_dampening_warmup_linear", optimizer=dict(kind="sgd", momentum=0.9, dampening=0.1), lr=0.03,
         weight_decay=0.0, schedule=dict(shape="linear", warmup_steps=3, decay_steps=28, min_lr=0.01)),
    dict(name="lamb_no_decay_1d_warmup_cosine_clip", optimizer=dict(kind="lamb", decay_biases_and_norms=False),
         lr=1e-2, weight_decay=0.01, clip=1.2,
         schedule=dict(shape="cosine", warmup_steps=5, decay_steps=25, min_lr=1e-3)),
    dict(name="adagrad_lr_decay_accumulator_exponential",
         optimizer=dict(kind="adagrad", lr_decay=0.05, initial_accumulator=0.1), lr=5e-2, weight_decay=0.0,
         schedule=dict(shape="exponential", decay_steps=10, decay_rate=0.5)),
    dict(name="rmsprop_momentum_centered_restarts",
         optimizer=dict(kind="rmsprop", alpha=0.9, momentum=0.9, centered=True), lr=3e-3, weight_decay=0.0,
         schedule=dict(shape="cosine-restarts", restart_steps=7, restart_mult=2, min_lr=1e-4)),
]


def main():
    # SequentialLR itself steps the shape with an epoch (step(0)) at the milestone, which warns.
    warnings.filterwarnings("ignore", message="The epoch parameter")
    torch.manual_seed(20240607)
    model = make_model()
    with torch.no_grad():
        # Not PyTorch's defaults for the norm: a gain of exactly 1 and a bias of 0 would hide a mix-up of the two.
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.2, 0.2)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    batches = [(torch.randn(BATCH, INPUTS), torch.randn(BATCH, OUTPUTS)) for _ in range(STEPS)]
    out = dict(
        torch_version=torch.__version__,
        steps=STEPS,
        initial={name: dict(shape=list(t.shape), values=values(t)) for name, t in initial.items()},
        batches=[dict(x=values(x), y=values(y)) for x, y in batches],
        cases=[],
    )
    for case in CASES:
        rates, final = run(case, initial, batches)
        moved = max(max(abs(a - b) for a, b in zip(final[n], values(initial[n]))) for n in final)
        assert moved > 1e-3, f"{case['name']}: parameters barely move ({moved:.3g})"
        rounding = drift(case, initial, batches, final)
        assert rounding < 0.5, f"{case['name']}: rounding alone drifts {rounding:.2f} of the tolerance: lower its rate"
        print(f"{case['name']}: moves up to {moved:.3f}; rounding drifts up to {rounding:.2f} of the tolerance")
        out["cases"].append(dict(case, rates=rates, final=final))
    path = os.path.join(HERE, "optimizers.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

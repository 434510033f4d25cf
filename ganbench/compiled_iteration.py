"""``--model.compile_step``'s fast path: a whole iteration as one compiled function.

Alternating: n_critic D steps and one G step, each with its gradient (``torch.autograd.grad``) and its
Adam update (PyTorch's own ``torch.optim.adam.adam`` on the optimizers' state); simultaneous (PacGAN's
rule): one batch of samples, both gradients at the current parameters, then both updates. Traced by
torch.compile into one graph: Inductor fuses every elementwise op of the forwards, the backwards and
both Adam updates, and the iteration costs one Python call. The forwards and losses are
``ganbench.step``'s; the random draws are made eagerly, before the call, in the eager iteration's
order, so the compiled iteration is the eager one within float rounding (tests/test_compiled_iteration.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.optim.adam import adam

from ganbench.objectives import Objective
from ganbench.step import (
    UPDATE_RULES,
    Draws,
    GlobalDraws,
    Players,
    _discriminator_loss,
    _generator_loss_fn,
    _judge_generated,
    generator_forward,
    norm_of,
)

Stats = dict[str, Tensor]


class _Prepared:
    """The D step's uniform draws (bce's label flips), made before the compiled call."""

    def __init__(self, uniforms: Sequence[Tensor]) -> None:
        self._uniforms: Iterator[Tensor] = iter(uniforms)

    def uniform(self, n: int) -> Tensor:
        return next(self._uniforms)

    def normal(self, n: int, dim: int) -> Tensor:  # only regularizers draw normals; none run here
        raise RuntimeError("the compiled iteration takes no regularizer")


class _AdamState:
    """One torch.optim.Adam's parameters and state as lists for ``torch.optim.adam.adam``.

    The state lives in the optimizer (created as its own first step creates it), so checkpoints,
    resume and the eager path see exactly what an eager run would have.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        (group,) = optimizer.param_groups
        if group["weight_decay"] or group["amsgrad"] or group["maximize"]:
            raise ValueError(
                "model.compile_step: the compiled Adam takes no weight decay, amsgrad or maximize"
            )
        self.optimizer, self.group = optimizer, group
        self.params: list[Tensor] = list(group["params"])
        for p in self.params:
            state = optimizer.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states = [optimizer.state[p] for p in self.params]
        self.exp_avgs = [s["exp_avg"] for s in states]
        self.exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        self.steps = [s["step"] for s in states]
        # A tensor learning rate: a schedule changes its value, not the compiled graph.
        self._lr_value = float(group["lr"])
        self.lr = torch.tensor([self._lr_value], dtype=torch.float64, device=self.params[0].device)

    def refresh_lr(self) -> None:
        """Follow the group's learning rate (a scheduler's last step) into the tensor the graph reads."""
        lr = float(self.group["lr"])
        if lr != self._lr_value:
            self.lr.fill_(lr)
            self._lr_value = lr

    def update(self, grads: Sequence[Tensor]) -> None:
        beta1, beta2 = self.group["betas"]
        with torch.no_grad():
            adam(
                self.params, list(grads), self.exp_avgs, self.exp_avg_sqs, [], self.steps,
                foreach=False, amsgrad=False, beta1=beta1, beta2=beta2, lr=self.lr,
                weight_decay=0.0, eps=self.group["eps"], maximize=False,
                # Capturable: the step size stays a tensor. Otherwise Adam passes lr / (1 - beta1^t) to
                # addcdiv_ as a Python number, which Dynamo can only specialize after a first, wasted
                # trace of the whole iteration (a restart: ~5 s of every compile, measured).
                capturable=True,
            )  # fmt: skip


class CompiledIteration:
    """One iteration (``rule``: alternating or simultaneous, as ``ganbench.step.train_iteration``) of a
    single run or a stack as one torch.compile'd call.

    ``__call__(real_chunks, diagnostics)`` draws the iteration's noise (and the objective's uniforms)
    from torch's global RNG in the eager iteration's order, runs the compiled iteration, which
    updates both nets and both optimizers' states in place, and returns the statistics of
    ``ganbench.step.train_iteration``.
    """

    def __init__(
        self,
        players: Players,
        objective: Objective,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
        mode: str = "default",
        rule: str = "alternating",
    ) -> None:
        import torch._dynamo.config
        import torch._inductor.config

        # Eager's RNG in Inductor (its own would draw other numbers); autograd.grad traced in the graph.
        torch._inductor.config.fallback_random = True
        torch._dynamo.config.trace_autograd_ops = True
        self.players, self.objective = players, objective
        self.d_adam, self.g_adam = (_AdamState(opt) for opt in optimizers)
        self._check_owns(self.d_adam, discriminator, "discriminator")
        self._check_owns(self.g_adam, generator, "generator")
        if rule not in UPDATE_RULES:
            raise ValueError(f"model.update: {rule!r}; valid choices: {', '.join(UPDATE_RULES)}")
        self.rule = rule
        iteration = self._iteration if rule == "alternating" else self._simultaneous_iteration
        self._compiled: Callable[..., tuple[Stats, Stats]] = torch.compile(iteration, mode=mode)

    @staticmethod
    def _check_owns(adam: _AdamState, net: nn.Module, name: str) -> None:
        trainable = [p for p in net.parameters() if p.requires_grad]
        if {id(p) for p in adam.params} != {id(p) for p in trainable}:
            raise ValueError(f"model.compile_step: the {name}'s optimizer must hold exactly its parameters")

    def __call__(self, real_chunks: Sequence[Tensor], diagnostics: bool, draws: Draws | None = None) -> Stats:
        """``draws``: where the random inputs come from (a seed ensemble's members' generators); torch's
        global RNG by default, as one run's eager iteration draws."""
        players, objective = self.players, self.objective
        draws = draws or GlobalDraws(real_chunks[0].device)
        n = real_chunks[0].shape[players.batch_dims - 1]
        count = n // players.packing
        self.d_adam.refresh_lr()
        self.g_adam.refresh_lr()

        def objective_uniforms() -> tuple[Tensor, ...]:
            return tuple(draws.uniform(count) for _ in range(objective.discriminator_uniforms))

        if self.rule == "simultaneous":  # the eager order: the samples' noise, then the objective's uniforms
            (real,) = real_chunks
            noise = draws.normal(n, players.latent_dim)
            d_stats, g_stats = self._compiled(real, noise, objective_uniforms())
        else:
            d_noises, d_uniforms = [], []
            for _ in real_chunks:  # the eager D step's order: its noise, then the objective's uniforms
                d_noises.append(draws.normal(n, players.latent_dim))
                d_uniforms.append(objective_uniforms())
            g_noise = draws.normal(n, players.latent_dim)
            d_stats, g_stats = self._compiled(tuple(real_chunks), tuple(d_noises), tuple(d_uniforms), g_noise)
        if not diagnostics:
            g_stats = {k: v for k, v in g_stats.items() if k == "g_loss"}
        return {**d_stats, **g_stats}

    def _iteration(
        self,
        real_chunks: tuple[Tensor, ...],
        d_noises: tuple[Tensor, ...],
        d_uniforms: tuple[tuple[Tensor, ...], ...],
        g_noise: Tensor,
    ) -> tuple[Stats, Stats]:
        players, objective = self.players, self.objective
        d_stats: Stats = {}
        for real, noise, uniforms in zip(real_chunks, d_noises, d_uniforms, strict=True):
            with torch.no_grad():
                fake = players.generate(noise)
            loss, d_stats = _discriminator_loss(players, objective, (), real, fake, _Prepared(uniforms))
            # A stack's members' losses summed: each member's slice gets exactly its own gradient.
            self.d_adam.update(torch.autograd.grad(loss.sum(), self.d_adam.params))
        inputs = generator_forward(players, objective, real_chunks[-1], g_noise)
        grads, g_stats = self._generator_gradients(inputs)
        self.g_adam.update(grads)
        return d_stats, g_stats

    def _simultaneous_iteration(
        self, real: Tensor, noise: Tensor, uniforms: tuple[Tensor, ...]
    ) -> tuple[Stats, Stats]:
        players, objective = self.players, self.objective
        fake = players.generate(noise)  # one batch of samples for both players, with its graph to G
        loss, d_stats = _discriminator_loss(players, objective, (), real, fake, _Prepared(uniforms))
        d_grads = torch.autograd.grad(loss.sum(), self.d_adam.params)
        # G's gradient through D at D's current parameters: both before either update.
        g_grads, g_stats = self._generator_gradients(_judge_generated(players, objective, real, fake))
        self.d_adam.update(d_grads)
        self.g_adam.update(g_grads)
        return d_stats, g_stats

    def _generator_gradients(self, inputs: list[Tensor]) -> tuple[tuple[Tensor, ...], Stats]:
        """G's loss on D's outputs ``inputs``: its gradients and statistics (as ganbench.step's)."""
        fake_logits = inputs[0]
        loss = self.players.per_member(_generator_loss_fn(self.objective))(*inputs)
        *grads, logit_grad = torch.autograd.grad(loss.sum(), [*self.g_adam.params, fake_logits])
        g_stats = {
            "g_loss": loss.detach(),
            "g_grad_norm": norm_of(grads, self.players.batch_dims),
            # As in ganbench.step: the batch mean's gradient times the batch size.
            "g_logit_grad": logit_grad.abs().mean(dim=-1) * fake_logits.shape[-1],
        }
        return tuple(grads), g_stats

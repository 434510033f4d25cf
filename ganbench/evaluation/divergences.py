"""The divergence lab: what each objective's generator minimizes at the optimal discriminator.

For a data mixture p and a generator density q (1-D, by quadrature on the theory lab's grid):

- minimax: V(G, D*) = -log 4 + 2 JSD(p || q) (Goodfellow et al., 2014, theorem 1);
- nonsaturating: E_q[-log D*] = KL(q || p) - KL(q || m) + log 2, m = (p + q) / 2;
- least_squares (the project's coding a = 0, b = 1, c = 1): D* = (b p + a q) / (p + q) and G's loss
  1/2 E_q[(D* - c)^2] = 1/2 E_q[(q / (p + q))^2]. The Pearson chi^2 form of Mao et al. (2017, eq. 9)
  needs b - c = 1 and b - a = 2 and G's loss to include the E_p term, which the project's G loss does not;
  so no divergence is claimed: this is the loss itself, at D*;
- hinge: D* = sign(p - q) (the pointwise minimizer of p max(0, 1 - d) + q max(0, 1 + d)), so G's
  loss -E_q[D*] = Q(q > p) - Q(q < p);
- wasserstein_gp: W1(p, q) = ∫ |F_p - F_q| dx, which the critic's optimum turns G's loss into
  (Arjovsky et al., 2017), up to the gradient penalty;
- forward KL(p || q) (maximum likelihood) and reverse KL(q || p), as references.

relativistic has none here: its D's optimum depends on the batch mean of the other sample set.
Fitting q = N(mu, sigma) to p under each shows which distribution each objective prefers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import integrate, optimize, special, stats

from ganbench.evaluation.theory import Mixture1D, grid

LOG2 = math.log(2.0)
FIT_POINTS_PER_STD = 25.0


@dataclass(frozen=True)
class OnGrid:
    """p and q on one quadrature grid: x, log p, log q and the CDFs F_p, F_q."""

    x: np.ndarray
    lp: np.ndarray
    lq: np.ndarray
    cdf_p: np.ndarray
    cdf_q: np.ndarray

    def integral(self, f: np.ndarray) -> float:
        return float(integrate.simpson(f, x=self.x))


def mixture_cdf(m: Mixture1D, x: np.ndarray) -> np.ndarray:
    w, mu, sd = (np.asarray(v) for v in (m.weights, m.means, m.stds))
    return np.sum(w * stats.norm.cdf(x[:, None], mu, sd), axis=1)


def on_grid(p: Mixture1D, q: Mixture1D, points_per_std: float | None = None) -> OnGrid:
    """The theory lab's grid (100 points per smallest std), or a coarser one for the optimizer.

    Simpson's rule on Gaussians with 25 points per std is accurate to ~1e-10; the optimizer calls
    the criteria thousands of times, the reported values use the fine grid.
    """
    x = grid(p, q)
    if points_per_std is not None:
        stds = p.stds + q.stds
        n = int(np.clip((x[-1] - x[0]) / min(stds) * points_per_std, 2001, 400_001)) | 1
        x = np.linspace(x[0], x[-1], n)
    return OnGrid(x, p.log_pdf(x), q.log_pdf(x), mixture_cdf(p, x), mixture_cdf(q, x))


def _minimax(g: OnGrid) -> float:
    lm = np.logaddexp(g.lp, g.lq) - LOG2
    js = 0.5 * g.integral(np.exp(g.lp) * (g.lp - lm)) + 0.5 * g.integral(np.exp(g.lq) * (g.lq - lm))
    return -math.log(4.0) + 2.0 * js


def _nonsaturating(g: OnGrid) -> float:
    return g.integral(np.exp(g.lq) * (np.logaddexp(g.lp, g.lq) - g.lp))  # -log D* = log(p + q) - log p


def _least_squares(g: OnGrid, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> float:
    d_star = b * special.expit(g.lp - g.lq) + a * special.expit(g.lq - g.lp)  # (b p + a q) / (p + q)
    return 0.5 * g.integral(np.exp(g.lq) * (d_star - c) ** 2)


def _hinge(g: OnGrid) -> float:
    return g.integral(np.exp(g.lq) * np.sign(g.lq - g.lp))  # -E_q sign(p - q)


def _wasserstein1(g: OnGrid) -> float:
    return g.integral(np.abs(g.cdf_p - g.cdf_q))


def _forward_kl(g: OnGrid) -> float:
    return g.integral(np.exp(g.lp) * (g.lp - g.lq))


def _reverse_kl(g: OnGrid) -> float:
    return g.integral(np.exp(g.lq) * (g.lq - g.lp))


def minimax_loss(p: Mixture1D, q: Mixture1D) -> float:
    """V(G, D*) = -log 4 + 2 JSD(p || q), in nats."""
    return _minimax(on_grid(p, q))


def nonsaturating_loss(p: Mixture1D, q: Mixture1D) -> float:
    """E_q[-log D*(x)] with -log D* = log(p + q) - log p."""
    return _nonsaturating(on_grid(p, q))


def nonsaturating_identity(p: Mixture1D, q: Mixture1D) -> float:
    """KL(q || p) - KL(q || m) + log 2, m = (p + q) / 2: equal to ``nonsaturating_loss``."""
    g = on_grid(p, q)
    lm = np.logaddexp(g.lp, g.lq) - LOG2
    return _reverse_kl(g) - g.integral(np.exp(g.lq) * (g.lq - lm)) + LOG2


def least_squares_loss(p: Mixture1D, q: Mixture1D, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> float:
    """1/2 E_q[(D*(x) - c)^2] with D* = (b p + a q) / (p + q): the project's least-squares G loss at D*."""
    return _least_squares(on_grid(p, q), a, b, c)


def hinge_loss(p: Mixture1D, q: Mixture1D) -> float:
    """-E_q[D*(x)] with the hinge D* = sign(p - q): Q(q > p) - Q(q < p)."""
    return _hinge(on_grid(p, q))


def wasserstein1(p: Mixture1D, q: Mixture1D) -> float:
    """W1(p, q) = ∫ |F_p(x) - F_q(x)| dx (1-D), from the mixtures' CDFs."""
    return _wasserstein1(on_grid(p, q))


def forward_kl(p: Mixture1D, q: Mixture1D) -> float:
    """KL(p || q): what maximum likelihood minimizes (mode covering)."""
    return _forward_kl(on_grid(p, q))


def reverse_kl(p: Mixture1D, q: Mixture1D) -> float:
    """KL(q || p): its mirror (mode seeking)."""
    return _reverse_kl(on_grid(p, q))


@dataclass(frozen=True)
class Criterion:
    """What G minimizes at D* for one objective (or a reference divergence), as a function of (p, q)."""

    name: str
    divergence: str
    loss: Callable[[OnGrid], float]


CRITERIA: dict[str, Criterion] = {
    c.name: c
    for c in (
        Criterion("minimax", "-log 4 + 2 JSD(p‖q)", _minimax),
        Criterion("nonsaturating", "E_q[-log D*] = KL(q‖p) - KL(q‖m) + log 2", _nonsaturating),
        Criterion("least_squares", "1/2 E_q[(q/(p+q))^2] (a=0, b=1, c=1; not a divergence)", _least_squares),
        Criterion("hinge", "Q(q > p) - Q(q < p) (D* = sign(p - q))", _hinge),
        Criterion("wasserstein_gp", "W1(p, q)", _wasserstein1),
        Criterion("forward_kl", "KL(p‖q) (maximum likelihood)", _forward_kl),
        Criterion("reverse_kl", "KL(q‖p)", _reverse_kl),
    )
}


def gaussian(mu: float, sigma: float) -> Mixture1D:
    return Mixture1D((float(mu),), (float(sigma),), (1.0,))


def moments(p: Mixture1D) -> tuple[float, float]:
    """Mean and std of a mixture, in closed form."""
    w, mu, sd = (np.asarray(v) for v in (p.weights, p.means, p.stds))
    mean = float(np.sum(w * mu))
    return mean, math.sqrt(float(np.sum(w * (sd**2 + mu**2))) - mean**2)


@dataclass(frozen=True)
class Fit:
    criterion: str
    mu: float
    sigma: float
    value: float


def fit_gaussian(
    p: Mixture1D, criterion: str, starts: int = 5, init: tuple[float, float] | None = None
) -> Fit:
    """argmin over q = N(mu, sigma) of the criterion, by Nelder-Mead on (mu, log sigma) from several starts.

    Starts: every component's mean with its std, and p's mean with p's std (moment matching); sigma is
    kept within [1e-3 min std of p, 1e2 std of p] so that the quadrature grid stays meaningful.
    The hinge criterion is piecewise constant in parts, which Nelder-Mead (no gradients) tolerates.
    """
    loss = CRITERIA[criterion].loss
    mean, std = moments(p)
    lo, hi = math.log(1e-3 * min(p.stds)), math.log(1e2 * std)
    inits = [(mean, std), *zip(p.means, p.stds, strict=True), (mean, 0.5 * std)]
    if init is not None:  # one descent from a given start: the local optimum a generator there would reach
        inits, starts = [init], 1

    def objective(theta: np.ndarray) -> float:
        log_sigma = float(np.clip(theta[1], lo, hi))
        penalty = (theta[1] - log_sigma) ** 2  # pull back inside the box
        return loss(on_grid(p, gaussian(theta[0], math.exp(log_sigma)), FIT_POINTS_PER_STD)) + penalty

    best: Fit | None = None
    for mu0, s0 in inits[: max(starts, 1)]:
        res = optimize.minimize(
            objective,
            np.array([mu0, math.log(s0)]),
            method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-11, "maxiter": 2000},
        )
        mu, sigma = float(res.x[0]), math.exp(float(np.clip(res.x[1], lo, hi)))
        fit = Fit(criterion, mu, sigma, loss(on_grid(p, gaussian(mu, sigma))))
        if best is None or fit.value < best.value - 1e-12:
            best = fit
    assert best is not None
    return best


def mass_between(q: Mixture1D, p: Mixture1D, k: float = 2.0) -> float:
    """Mass of q strictly between p's outermost modes, more than k stds inside each (0 if they overlap)."""
    order = np.argsort(p.means)
    left, right = order[0], order[-1]
    a = p.means[left] + k * p.stds[left]
    b = p.means[right] - k * p.stds[right]
    if b <= a:
        return 0.0
    return float(mixture_cdf(q, np.array([b]))[0] - mixture_cdf(q, np.array([a]))[0])


# --- the command -------------------------------------------------------------------------------------

OBJECTIVES_TRAINED = ("minimax", "nonsaturating", "least_squares", "hinge", "wasserstein_gp", "relativistic")
DEFAULT_P = "-2,0.5;2,0.5"  # the gaussian1d dataset's default: two modes 8 sigma apart
DEFAULT_SEPARATIONS = "0,0.5,1,1.5,2,2.5,3,4,6"


def symmetric_pair(separation: float, std: float) -> Mixture1D:
    """1/2 N(-d/2, std^2) + 1/2 N(d/2, std^2)."""
    return Mixture1D((-separation / 2, separation / 2), (std, std), (1.0, 1.0))


def optimum_table(
    p: Mixture1D, starts: int = 4, init: tuple[float, float] | None = None
) -> list[dict[str, Any]]:
    """Every criterion's Gaussian optimum for p, with its value and the q-mass between p's modes.

    With ``init``, also the local optimum of one descent from there (G's initialization in training):
    a criterion can have a local optimum that covering solutions sit in while the global one seeks a mode.
    """
    mean, _ = moments(p)
    rows = []
    for name, criterion in CRITERIA.items():
        fit = fit_gaussian(p, name, starts)
        q = gaussian(fit.mu, fit.sigma)
        local = {}
        if init is not None:
            near = fit_gaussian(p, name, init=init)
            local = {"local_mu": near.mu, "local_sigma": near.sigma, "local_value": near.value}
        rows.append(
            {
                **local,
                "criterion": name,
                "divergence": criterion.divergence,
                "mu": fit.mu,
                "sigma": fit.sigma,
                "abs_mu_offset": abs(fit.mu - mean),
                "value": fit.value,
                "mass_between_modes": mass_between(q, p),
            }
        )
    return rows


def separation_sweep(separations: Sequence[float], std: float, starts: int = 3) -> dict[str, Any]:
    """mu*, sigma* of every criterion for symmetric two-mode p at each separation."""
    out: dict[str, Any] = {"separations": list(separations), "std": std, "criteria": {}}
    for d in separations:
        for row in optimum_table(symmetric_pair(d, std), starts):
            entry = out["criteria"].setdefault(row["criterion"], {"abs_mu": [], "sigma": [], "value": []})
            entry["abs_mu"].append(row["abs_mu_offset"])
            entry["sigma"].append(row["sigma"])
            entry["value"].append(row["value"])
    return out


def trained_parameters(roots: Sequence[str]) -> dict[str, dict[str, Any]]:
    """(mu, sigma) of the Gaussian generator of every run under ``roots``, grouped by objective.

    Reads each run's metrics.json (status, objective, seed) and its final (ensemble) or last (fit)
    checkpoint; runs that are not completed are counted, never dropped silently.
    """
    import torch

    from ganbench.runs.record import RecordError, read_record

    groups: dict[str, dict[str, Any]] = {}
    paths = sorted({p for root in roots for p in Path(root).rglob("metrics.json")})
    if not paths:
        raise ValueError(f"--runs: no metrics.json under {', '.join(roots)}")
    for path in paths:
        try:
            record = read_record(path)
        except RecordError as error:
            raise ValueError(f"--runs: {error}") from None
        name = str(record.get("objective", "?")).split("(")[0]
        group = groups.setdefault(name, {"seeds": [], "mu": [], "sigma": [], "not_completed": 0, "runs": []})
        ckpts = [path.parent / "checkpoints" / n for n in ("final.ckpt", "last.ckpt")]
        ckpt = next((c for c in ckpts if c.is_file()), None)
        if record.get("status") != "completed" or ckpt is None:
            group["not_completed"] += 1
            continue
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
        if "generator.mu" not in state:
            raise ValueError(f"--runs: {ckpt} is not a gaussian-net run (no generator.mu)")
        group["seeds"].append(record.get("seed"))
        group["mu"].append(float(state["generator.mu"].flatten()[0]))
        group["sigma"].append(float(state["generator.log_sigma"].flatten()[0].exp()))
        group["runs"].append(str(path.parent))
        group["iterations"] = record.get("iterations")
    return groups


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def _fmt(mean: float, se: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}" if math.isnan(se) else f"{mean:.3f} ± {se:.3f}"


def write_table(results: dict[str, Any], out: Path) -> Path:
    from ganbench.runs.atomic import write_atomic

    p_mean = results["p_moments"]["mean"]
    optimum = {r["criterion"]: r for r in results["optima"]}
    trained = results.get("trained", {})
    lines = [
        f"# Divergence lab: p = {results['p_text']}, q = N(mu, sigma)",
        "",
        "Optimum: argmin over Gaussians of what G minimizes at the optimal D (quadrature, Nelder-Mead from "
        "several starts). Trained: the Gaussian generator after adversarial training with the project's "
        "MLP discriminator, mean ± standard error over seeds. dist(mu, m) = |mu - m|, the distance from "
        f"p's mean m = {p_mean:g} (mode seeking shows as dist(mu, m) near a mode's offset). "
        "Mass between modes: q's mass more than 2 std inside both outer modes of p. Local optimum: "
        f"one Nelder-Mead descent from G's initialization N({results.get('init', ['-', '-'])[0]}, "
        f"{results.get('init', ['-', '-'])[1]}²), where training starts.",
        "",
        "| objective | G minimizes at D* | mu* | sigma* | q mass between modes "
        "| local optimum from G's init (mu, sigma) | trained mu "
        "| trained dist(mu, m) | trained sigma | seeds (not completed) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [*OBJECTIVES_TRAINED, "forward_kl", "reverse_kl"]:
        row = optimum.get(name)
        local = f"{row['local_mu']:.3f}, {row['local_sigma']:.3f}" if row and "local_mu" in row else "-"
        fit = (
            (f"{row['mu']:.3f}", f"{row['sigma']:.3f}", f"{row['mass_between_modes']:.3f}", local)
            if row
            else ("-", "-", "-", "-")
        )
        divergence = row["divergence"] if row else "no closed form (D* depends on batch means)"
        t = trained.get(name)
        if t and t["mu"]:
            mu, offset, sigma = (
                _mean_se(t["mu"]),
                _mean_se([abs(m - p_mean) for m in t["mu"]]),
                _mean_se(t["sigma"]),
            )
            cells = (_fmt(*mu), _fmt(*offset), _fmt(*sigma), f"{len(t['mu'])} ({t['not_completed']})")
        elif name in OBJECTIVES_TRAINED:
            cells = ("-", "-", "-", "not trained")
        else:
            cells = ("-", "-", "-", "reference")
        lines.append(f"| {name} | {divergence} | {' | '.join(fit)} | {' | '.join(cells)} |")
    lines += [
        "",
        f"Identity check at q = N({results['identity']['q_mu']}, {results['identity']['q_sigma']}): "
        f"E_q[-log D*] = {results['identity']['nonsaturating_loss']:.10f}, "
        f"KL(q||p) - KL(q||m) + log 2 = {results['identity']['kl_form']:.10f}.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Versions {results['versions']}, git commit {results['git_commit']}.",
        "",
    ]
    return write_atomic(out / "table.md", "\n".join(lines))


def plot_optima(results: dict[str, Any], p: Mixture1D, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean, std = moments(p)
    x = np.linspace(min(p.means) - 4 * std, max(p.means) + 4 * std, 2001)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(x, p.pdf(x), color="0.8", label="p (data)")
    styles = ["-", "--", "-.", ":"]
    for k, row in enumerate(results["optima"]):
        q = gaussian(row["mu"], row["sigma"])
        label = f"{row['criterion']}: N({row['mu']:.2f}, {row['sigma']:.2f}²)"
        ax.plot(x, q.pdf(x), color=f"C{k}", ls=styles[k % 4], lw=1.6, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"Each objective's optimal Gaussian q at D*, p = {results['p_text']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"optima.{ext}", dpi=130)
    plt.close(fig)


def plot_sweep(sweep: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = np.asarray(sweep["separations"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for k, (name, entry) in enumerate(sweep["criteria"].items()):
        style = {"color": f"C{k}", "marker": "o", "ms": 3, "label": name}
        left.plot(d, entry["abs_mu"], **style)
        right.plot(d, entry["sigma"], **style)
    left.plot(d, d / 2, "k:", lw=1, label="a mode: d / 2")
    right.plot(d, np.sqrt(sweep["std"] ** 2 + (d / 2) ** 2), "k:", lw=1, label="p's std (moment match)")
    left.set_ylabel("|mu*| (distance of q's mean from p's center)")
    right.set_ylabel("sigma*")
    for ax in (left, right):
        ax.set_xlabel(f"mode separation d (p = N(-d/2, {sweep['std']:g}²)/2 + N(d/2, {sweep['std']:g}²)/2)")
        ax.legend(fontsize=7)
    fig.suptitle("Optimal Gaussian q per objective as the modes move apart", fontsize=10)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"separation.{ext}", dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench theory divergences``: 0 on success, 2 on bad input (one line)."""
    import shlex
    import sys

    from ganbench.argparser import OneLineParser
    from ganbench.evaluation.theory import _join_mixture_values, parse_mixture
    from ganbench.runs.atomic import write_json_atomic
    from ganbench.runs.record import provenance, versions

    parser = OneLineParser(
        prog="python -m ganbench theory divergences",
        description="What each objective's generator minimizes at D*, its optimal Gaussian q for a 1-D "
        "mixture p, the optimum against mode separation, and (with --runs) what trained runs reached.",
    )
    parser.add_argument("--p", default=DEFAULT_P, help=f"data mixture MEAN,STD[,WEIGHT];... ({DEFAULT_P})")
    parser.add_argument("--out", default="results/divergences", help="output directory")
    parser.add_argument("--family", default="gaussian", help="the model family of q (gaussian)")
    parser.add_argument(
        "--separations", default=DEFAULT_SEPARATIONS, help=f"sweep: mode separations ({DEFAULT_SEPARATIONS})"
    )
    parser.add_argument("--sweep_std", type=float, default=0.5, help="sweep: each mode's std (0.5)")
    parser.add_argument("--runs", nargs="*", default=[], help="run directories of gaussian-net runs on p")
    parser.add_argument(
        "--init", default="0,1", help="G's initialization MU,SIGMA, for the local optima (0,1: the config's)"
    )
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(_join_mixture_values(raw))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    source = {"versions": versions(), **provenance()}
    try:
        if args.family != "gaussian":
            raise ValueError(f"--family: {args.family!r}; valid choices: gaussian")
        p = parse_mixture(args.p, "--p")
        try:
            separations = [float(v) for v in args.separations.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--separations: {args.separations!r} is not a list of numbers") from None
        if any(not (math.isfinite(d) and d >= 0) for d in separations):
            raise ValueError("--separations: must be finite numbers >= 0")
        try:
            init = tuple(float(v) for v in args.init.split(","))
        except ValueError:
            init = ()
        if len(init) != 2 or not all(math.isfinite(v) for v in init) or not init[1] > 0:
            raise ValueError(f"--init: {args.init!r}; expected MU,SIGMA with SIGMA > 0")
        if not args.sweep_std > 0:
            raise ValueError(f"--sweep_std: must be > 0, got {args.sweep_std}")
        trained = trained_parameters(args.runs) if args.runs else {}
    except ValueError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mean, std = moments(p)
    q_check = gaussian(mean + 0.3 * std, 0.7 * std)
    results: dict[str, Any] = {
        "command": "python -m ganbench theory divergences " + shlex.join(raw),
        "p_text": args.p,
        "p": p.components(),
        "p_moments": {"mean": mean, "std": std},
        "family": "gaussian: q = N(mu, sigma^2)",
        "criteria": {name: c.divergence for name, c in CRITERIA.items()},
        "identity": {
            "q_mu": round(mean + 0.3 * std, 6),
            "q_sigma": round(0.7 * std, 6),
            "nonsaturating_loss": nonsaturating_loss(p, q_check),
            "kl_form": nonsaturating_identity(p, q_check),
        },
        "init": list(init),
        "optima": optimum_table(p, init=init),
    }
    print(f"optima for p = {args.p}:")
    for row in results["optima"]:
        print(
            f"  {row['criterion']:15s} mu* = {row['mu']:8.4f}  sigma* = {row['sigma']:7.4f}  "
            f"value = {row['value']:.6f}"
        )
    if separations:
        results["sweep"] = separation_sweep(separations, args.sweep_std)
        plot_sweep(results["sweep"], out)
    if trained:
        results["trained"] = trained
    results.update(source)
    write_json_atomic(out / "divergences.json", results)
    write_table(results, out)
    plot_optima(results, p, out)
    print(
        f"wrote {out / 'divergences.json'}, table.md, optima.png/.pdf"
        + (", separation.png/.pdf" if separations else "")
    )
    return 0

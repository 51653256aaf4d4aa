"""The paper's figures as PNG files, drawn from finished runs and published datasets (matplotlib, Agg).

- learning curves: expert-context test return vs gradient steps, mean and std over seeds (Figure 8);
- t-SNE of the test-task embeddings, one point per context draw, coloured by task (Figure 5);
- batch attention weight and reward along one context (Figure 7);
- visited states of each dataset quality on Sparse-Point-Robot (Figure 6);
- each dataset quality's episode returns (``omrl-bench datasets plot``);
- performance profiles of normalised returns across suites (the methods grid; rliable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from omrl_bench.bench.grids import SPR, Planned, finished  # noqa: E402
from omrl_bench.datasets.recipe import QUALITIES  # noqa: E402
from omrl_bench.errors import OmrlError  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write (120 dpi) and close a figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def learning_curves(planned: list[Planned], path: Path) -> Path | None:
    runs = finished(planned)
    suites = list(dict.fromkeys(p.cell.suite for p in runs))
    if not suites:
        return None
    fig, axes = plt.subplots(1, len(suites), figsize=(5 * len(suites), 3.6), squeeze=False)
    for ax, suite in zip(axes[0], suites, strict=True):
        for label in dict.fromkeys(p.cell.label for p in runs if p.cell.suite == suite):
            curves = []
            for p in runs:
                if p.cell.suite == suite and p.cell.label == label:
                    prog = pd.read_csv(p.run_dir / "progress.csv")
                    curves.append(prog.dropna(subset=["eval/expert/return"]).set_index("step")["eval/expert/return"])
            frame = pd.concat(curves, axis=1)
            mean, std = frame.mean(axis=1), frame.std(axis=1, ddof=0)
            ax.plot(mean.index, mean.to_numpy(), label=f"{label} ({len(curves)} seeds)")
            ax.fill_between(mean.index, (mean - std).to_numpy(), (mean + std).to_numpy(), alpha=0.2)
        ax.set_title(suite)
        ax.set_xlabel("gradient steps")
        ax.set_ylabel("test return (expert context)")
        ax.legend(fontsize=8)
    return _save(fig, path)


def _project(points: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """2-D t-SNE of ``points``; with too few points for t-SNE, the first two latent dimensions."""
    if len(points) < 10:
        return points[:, :2], "latent dims 0, 1"
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise OmrlError("the t-SNE figure needs scikit-learn: pip install 'omrl-bench[figures]'") from None

    perplexity = float(min(30, (len(points) - 1) // 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points), "t-SNE"


def tsne(planned: list[Planned], path: Path) -> Path | None:
    """One panel per (suite, algorithm): seed 0's test embeddings, one point per context draw."""
    runs = [p for p in finished(planned) if p.cell.seed == min(q.cell.seed for q in planned)]
    if not runs:
        return None
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.8), squeeze=False)
    for ax, p in zip(axes[0], runs, strict=True):
        emb = np.load(p.run_dir / "embeddings.npz")
        if "z_test_draws" in emb:
            draws = emb["z_test_draws"]  # (draws, tasks, latent)
            points = draws.reshape(-1, draws.shape[-1])
            task = np.tile(np.arange(draws.shape[1]), draws.shape[0])
        else:  # runs from before per-draw embeddings were saved: one mean per task
            points, task = emb["z_test"], np.arange(len(emb["z_test"]))
        xy, how = _project(points, p.cell.seed)
        ax.scatter(xy[:, 0], xy[:, 1], c=task, cmap="tab20", s=10)
        ax.set_title(f"{p.cell.suite}\n{p.cell.label} ({how})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def attention_by_quality(planned: list[Planned]) -> dict[str, tuple[float, float, list[float]]]:
    """Mean batch-attention weight on rewarded and on unrewarded context transitions, per training quality.

    Pooled over every finished run with an ``attention.npz`` (FOCAL++'s batch-wise runs); the third value
    holds each run's own difference, rewarded minus unrewarded (NaN for a run without rewarded ones)."""
    out: dict[str, tuple[float, float, list[float]]] = {}
    for q in QUALITIES:
        runs = [p for p in finished(planned) if p.cell.train_quality == q and (p.run_dir / "attention.npz").exists()]
        if not runs:
            continue
        w, r, diffs = [], [], []
        for p in sorted(runs, key=lambda p: p.cell.seed):
            data = np.load(p.run_dir / "attention.npz")
            weights, rewarded = data["weights"].ravel(), data["rewards"].ravel() != 0
            w.append(weights)
            r.append(rewarded)
            on = weights[rewarded].mean() if rewarded.any() else np.nan
            diffs.append(float(on - weights[~rewarded].mean()))
        weights, rewarded = np.concatenate(w), np.concatenate(r)
        on = float(weights[rewarded].mean()) if rewarded.any() else float("nan")
        out[q] = (on, float(weights[~rewarded].mean()), diffs)
    return out


def attention(planned: list[Planned], path: Path, qualities: tuple[str, ...] = ("medium", "random")) -> Path | None:
    """Figure 7: reward and batch-attention weight along one training task's context, for runs trained on
    each of ``qualities`` (where rewarded transitions are rare, so the weights can single them out)."""
    picked = []
    for q in qualities:
        runs = [p for p in finished(planned) if p.cell.train_quality == q and (p.run_dir / "attention.npz").exists()]
        if runs:
            picked.append(min(runs, key=lambda p: p.cell.seed))
    if not picked:
        return None
    fig, axes = plt.subplots(2, len(picked), figsize=(7 * len(picked), 4.2), sharex=True, squeeze=False)
    for col, p in enumerate(picked):
        data = np.load(p.run_dir / "attention.npz")
        weights, rewards = data["weights"], data["rewards"]
        task = int(np.argmin(np.abs((rewards > 0).mean(axis=1) - 0.5)))  # the context closest to half rewarded
        idx = np.arange(weights.shape[1])
        axes[0, col].bar(idx, rewards[task], width=1.0, color="tab:red")
        axes[0, col].set_ylabel("reward in the context")
        axes[1, col].bar(idx, weights[task], width=1.0, color="tab:blue")
        axes[1, col].set_ylabel("attention weight")
        axes[1, col].set_xlabel("transition in the context")
        rewarded = rewards > 0
        means = [weights[rewarded].mean() if rewarded.any() else np.nan, weights[~rewarded].mean()]
        axes[0, col].set_title(
            f"{p.cell.label} trained on {p.cell.train_quality} data, {p.cell.suite}, seed {p.cell.seed}, task "
            f"{task}\nmean weight over all tasks: rewarded {means[0]:.3f}, unrewarded {means[1]:.3f}",
            fontsize=9,
        )
    return _save(fig, path)


def dataset_returns(suite: str, preset: str, root: Path, path: Path) -> Path:
    """Histogram of the reported episode return of every dataset quality, over all tasks of the suite: shared
    bins, each quality filled and outlined, expert drawn last so that no other quality hides it."""
    from omrl_bench.datasets import load_suite
    from omrl_bench.envs import get_suite

    reported = get_suite(suite).reported_reward
    per_quality = {}
    for q in QUALITIES:
        data = load_suite(suite, q, "all", preset, root)
        returns = []
        for t in data.tasks:
            r = t.sparse_rewards if reported == "sparse_reward" else t.rewards
            lengths = np.asarray(t.metadata["omrl"]["episode_lengths"])
            returns.append(np.add.reduceat(r, np.concatenate([[0], np.cumsum(lengths)[:-1]])))
        per_quality[q] = np.concatenate(returns)
    everything = np.concatenate(list(per_quality.values()))
    lo, hi = float(everything.min()), float(everything.max())
    bins = (np.linspace(lo, hi, 41) if hi > lo else np.linspace(lo - 0.5, hi + 0.5, 41)).tolist()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    order = [q for q in QUALITIES if q != "expert"] + ["expert"]  # expert on top
    for z, q in enumerate(order):
        color = f"C{QUALITIES.index(q)}"
        values = per_quality[q]
        ax.hist(values, bins=bins, histtype="stepfilled", color=color, alpha=0.25, density=True, zorder=z)
        ax.hist(
            values,
            bins=bins,
            histtype="step",
            color=color,
            lw=2.2 if q == "expert" else 1.4,
            density=True,
            zorder=z + 0.5,
            label=f"{q} (mean {values.mean():.2f}, {len(values)} episodes)",
        )
    handles, labels = ax.get_legend_handles_labels()
    ranked = sorted(zip(handles, labels, strict=True), key=lambda hl: QUALITIES.index(hl[1].split()[0]))
    ax.legend(*zip(*ranked, strict=True), fontsize=8, title="dataset quality", title_fontsize=8)
    ax.set_xlabel(f"episode return ({reported.replace('_', ' ')})")
    ax.set_ylabel("density (episodes)")
    ax.set_title(f"{suite} [{preset}]: episode returns of each quality, all tasks", fontsize=10)
    return _save(fig, path)


def _steps_formatter() -> Any:
    """SAC step ticks as 0, 100, 1k, 1.5k, 120k: never '0.05k'."""
    return matplotlib.ticker.EngFormatter(sep="")


def sac_curves(suite: str, preset: str, root: Path, path: Path) -> Path:
    """Each task's SAC learning curve (dense and sparse return of every scored checkpoint), read from
    the expert datasets' cards, with the median over tasks: where the behaviour agents' returns flatten."""
    from omrl_bench.datasets import storage
    from omrl_bench.datasets.recipe import PROTOCOL

    cards = sorted((root / "omrl" / f"{suite}-{preset}").glob(f"task-*/expert-v{PROTOCOL}/data"))
    if not cards:
        raise OmrlError(f"no {suite} [{preset}] expert datasets under {root}: generate them first")
    curves = [storage.read_metadata(d)["omrl"]["score_curve"] for d in cards]
    # the physics families have no sparse reward of their own (the env gives the dense one): one panel
    same = all(c["dense_return"] == c["sparse_return"] for curve in curves for c in curve)
    keys = ("dense_return",) if same else ("dense_return", "sparse_return")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps = np.asarray([c["step"] for c in curves[0]])
        values = np.asarray([[c[key] for c in curve] for curve in curves if len(curve) == len(steps)])
        for i, row in enumerate(values):
            ax.plot(steps, row, color="C0", lw=0.6, alpha=0.35, label="one task" if i == 0 else None)
        ax.plot(steps, np.median(values, axis=0), color="C3", lw=2, label=f"median of {len(values)} tasks")
        ax.set_xlabel("SAC steps (scored checkpoints)")
        ax.xaxis.set_major_formatter(_steps_formatter())
        ax.set_ylabel(f"mean episode {key.replace('_', ' ')}")
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(f"{suite} [{preset}]: SAC learning curves of the behaviour agents", fontsize=10)
    return _save(fig, path)


def _task_label(task: Any) -> str:
    """``task 17: goal (0.31, 0.95)``: the task index and its parameters, for a legend."""

    def fmt(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            return "(" + ", ".join(fmt(x) for x in v) + ")"
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    params = ", ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in task.task_kwargs.items() if k != "task")
    return f"task {task.task}: {params}" if params else f"task {task.task}"


def state_distribution(suite: str, preset: str, root: Path, path: Path, tasks: int = 3) -> Path:
    """Figure 6: positions visited by each dataset quality for up to ``tasks`` test tasks, with the goal
    circles and a legend naming each task.

    On the MuJoCo suites the axes are the first two observation dimensions."""
    from omrl_bench.datasets import load_suite
    from omrl_bench.envs import get_suite
    from omrl_bench.envs.point_robot import GOAL_RADIUS

    point_robot = "Point" in get_suite(suite).env_id
    fig, axes = plt.subplots(1, len(QUALITIES), figsize=(4 * len(QUALITIES), 3.9), sharex=True, sharey=True)
    drawn: list[Any] = []
    for ax, q in zip(axes, QUALITIES, strict=True):
        data = load_suite(suite, q, "test", preset, root)
        picks = np.unique(np.linspace(0, len(data.tasks) - 1, min(tasks, len(data.tasks))).round().astype(int))
        drawn = [data.tasks[k] for k in picks]
        for i, t in enumerate(drawn):
            color = f"C{i}"
            ax.scatter(t.observations[:, 0], t.observations[:, 1], s=1, alpha=0.3, color=color)
            goal: Any = t.task_kwargs.get("goal")
            if goal is not None:
                ax.add_patch(plt.Circle(tuple(goal), GOAL_RADIUS, fill=False, color=color, lw=1.2))
        ax.set_title(f"{q}", fontsize=10)
        ax.set_xlabel("x position" if point_robot else "observation 0")
        ax.set_aspect("equal")
    axes[0].set_ylabel("y position" if point_robot else "observation 1")
    handles = [
        matplotlib.lines.Line2D([], [], marker="o", ls="", color=f"C{i}", label=_task_label(t))
        for i, t in enumerate(drawn)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    goals = (
        f" (circles: the goals' reward radius {GOAL_RADIUS:g})" if any("goal" in t.task_kwargs for t in drawn) else ""
    )
    fig.suptitle(f"{suite} [{preset}]: states of {len(drawn)} test tasks{goals}", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_all(
    planned: list[Planned], curves: list[Planned], preset: str, root: Path, out_dir: Path, shift: list[Planned]
) -> list[Path]:
    """Every figure of the figures grid's runs; learning curves also from the finished ``curves`` runs, and
    the attention figure from the distribution-shift grid's ``shift`` runs trained on medium and random data."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seen = {p.run_dir for p in planned}
    made = [
        learning_curves(planned + [p for p in curves if p.run_dir not in seen], out_dir / "learning-curves.png"),
        tsne(planned, out_dir / "tsne.png"),
        attention(shift, out_dir / "attention.png"),
    ]
    if any(p.cell.suite == SPR for p in planned):
        from omrl_bench.core.train_config import data_preset

        made.append(state_distribution(SPR, data_preset(preset), root, out_dir / "state-distribution.png"))
    return [m for m in made if m is not None]


def budget_curves(by_step: dict[int, pd.DataFrame], path: Path) -> Path:
    """One panel per training quality: each test context's mean return (over seeds) at every budget step,
    solid for the first algorithm, dashed for the others (the distribution-shift grid's budget section)."""
    steps = list(by_step)
    first = by_step[steps[0]]
    algorithms = list(dict.fromkeys(first["algorithm"]))
    fig, axes = plt.subplots(1, len(QUALITIES), figsize=(4.2 * len(QUALITIES), 3.6), sharey=True, squeeze=False)
    colours = dict(zip(QUALITIES, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=True))
    for ax, train in zip(axes[0], QUALITIES, strict=True):
        for i, algo in enumerate(algorithms):
            for test in QUALITIES:
                mask = (first["algorithm"] == algo) & (first["train"] == train) & (first["test"] == test)
                if not mask.any():
                    continue
                idx = first.index[mask][0]
                means = [by_step[k].loc[idx, "mean"] for k in steps]
                style = "-" if i == 0 else "--"
                ax.plot(steps, means, style, color=colours[test], label=f"{algo}, {test} context")
        ax.set_title(f"trained on {train} data", fontsize=10)
        ax.set_xlabel("gradient steps (budget)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _pos: f"{x / 1000:g}k"))
    axes[0, 0].set_ylabel("mean test return over seeds")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def performance_profiles(scores: dict[str, dict[str, np.ndarray]], path: Path, reps: int = 2000) -> Path:
    """One panel per test context: rliable's performance profiles of each algorithm's normalised returns
    (runs x suites), drawn with ``rliable.plot_utils``; tau runs from 0 (or the lowest score) to 1.2 (or the
    highest), with dotted lines at the untrained (0) and expert (1) levels."""
    from omrl_bench.bench import aggregates

    aggregates.rliable()  # the one-line error where rliable is missing
    from rliable import plot_utils

    values = np.concatenate([m.ravel() for by_algo in scores.values() for m in by_algo.values()])
    lo, hi = min(0.0, np.floor(values.min() * 10) / 10), max(1.2, np.ceil(values.max() * 10) / 10)
    taus = np.linspace(lo, hi, 121)
    fig, axes = plt.subplots(1, len(scores), figsize=(6 * len(scores), 4), squeeze=False)
    for ax, (context, by_algo) in zip(axes[0], scores.items(), strict=True):
        profile, bands = aggregates.profiles(by_algo, taus, reps)
        plot_utils.plot_performance_profiles(
            profile,
            taus,
            performance_profile_cis=bands,
            ax=ax,
            xlabel="normalised return (tau)",
            ylabel="fraction of runs above tau",
            labelsize="medium",
            ticklabelsize="medium",
        )
        for level in (0.0, 1.0):
            ax.axvline(level, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{context} context", fontsize=10)
    axes[0, -1].legend(fontsize=8, loc="upper right")
    return _save(fig, path)

"""TTT speed: frames adapted per second for each strategy, and the share of a step spent outside the model.

    python benchmarks/bench_ttt.py --profile tiny --sizes 32 64            # CPU, one thread
    python benchmarks/bench_ttt.py --profile paper --sizes 512 --device cuda

Times are CPU time of the process on the CPU (other processes on shared cores do not inflate them), wall
time with synchronisation on CUDA. "Outside" = everything in ``adapt_step`` except the model's forward and
backward: the two views (augmentation), the statistics copy, the finiteness checks, the Adam step. Each part
is timed in order inside a step.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device):
    """CPU time of this process on the CPU (robust to other processes sharing the cores), else wall time."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def _timed(fn, device) -> float:
    clock = _clock(device)
    _sync(device)
    start = clock()
    fn()
    _sync(device)
    return clock() - start


def step_breakdown(engine, frame, flow, repeats: int = 20) -> dict:
    """Median time of each part of a TTT step, timed in order inside one step (what ``adapt_step`` does), and
    of the real ``adapt_step`` as a check that the parts add up."""
    from dattt_nb.ttt.engine import adapt_step
    from dattt_nb.ttt.objectives import TTTBatch, depth_consistency

    model, device, optimizer = engine.model, frame.device, engine.optimizer()
    clock = _clock(device)
    parts = {k: [] for k in ("statistics_copy", "views", "forward", "backward", "checks", "optimizer", "step")}
    for i in range(repeats + 3):
        marks = [clock()]

        def mark():
            _sync(device)
            marks.append(clock())

        buffers = [b.detach().clone() for b in model.buffers()]
        mark()
        batch = TTTBatch(frame, flow, engine.n_pairs, engine.scale, engine.generator)
        batch.views
        mark()
        model.train()
        loss = depth_consistency(model, batch)
        mark()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        torch.stack([loss.detach(), torch.nn.utils.get_total_norm(grads), batch.stats["depth_std"]]).tolist()
        mark()
        optimizer.step()
        mark()
        whole = _timed(lambda: adapt_step(model, optimizer, engine.objective, frame, flow, engine.n_pairs,
                                          engine.scale, engine.generator), device)
        del buffers
        if i >= 3:
            for k, a, b in zip(parts, marks[:-1], marks[1:]):
                parts[k].append(b - a)
            parts["step"].append(whole)
    out = {k: statistics.median(v) for k, v in parts.items()}
    out["parts_total"] = sum(out[k] for k in parts if k != "step")
    out["outside_fraction"] = 1 - (out["forward"] + out["backward"]) / out["parts_total"]
    return out


def strategy_speed(model, settings, device, frames: int, epochs: int) -> dict:
    """Frames per second of each strategy on one synthetic video (all frames annotated)."""
    from dattt_nb.data.layout import Video
    from dattt_nb.ttt.runner import run_ttt

    size = settings.image_size
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(frames, size, size, dtype=torch.bool)
    masks[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    video = Video("bench", torch.rand(frames, 3, size, size, generator=g), masks,
                  torch.rand(frames, 3, size, size, generator=g), None, [f"{t:05d}" for t in range(frames)])
    speed = {}
    run_ttt(model, [video], settings, strategy="none", progress=False, device=device)  # warm-up
    for name in ("none", "naive", "momentum", "loop"):
        seconds = _timed(lambda: speed.setdefault(name, run_ttt(
            model, [video], settings, strategy=name, epochs=epochs, progress=False, device=device).videos[0]), device)
        r = speed[name]
        speed[name] = dict(fps=frames / seconds, steps=r.steps, seconds=seconds, J=r.J)
    return speed


def main(argv=None) -> int:
    from dattt_nb.config import resolve
    from dattt_nb.models import build_model
    from dattt_nb.ttt.engine import TTTEngine
    from dattt_nb.ttt.strategies import STRATEGY_LABELS
    from dattt_nb.utils import atomic_write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="tiny")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="input sizes (default: the profile's)")
    p.add_argument("--pairs", type=int, default=None, help="view pairs per step (default: the profile's)")
    p.add_argument("--frames", type=int, default=8, help="frames of the benchmark video")
    p.add_argument("--epochs", type=int, default=None, help="TTT epochs (default: the profile's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", help="write the numbers to this JSON file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    base = resolve(args.profile, device=args.device)
    report = []
    for size in args.sizes or [base.image_size]:
        settings = resolve(args.profile, device=args.device, image_size=size, ttt_pairs=args.pairs)
        torch.manual_seed(0)
        model = build_model(settings).eval()
        engine = TTTEngine.from_settings(model, settings).to(device)
        frame, flow = torch.rand(2, 1, 3, size, size, device=device)
        parts = step_breakdown(engine, frame, flow, args.repeats)
        epochs = settings.ttt_epochs if args.epochs is None else args.epochs
        speed = strategy_speed(model, settings, device, args.frames, epochs)
        report.append(dict(size=size, pairs=settings.ttt_pairs, backbone=settings.backbone, epochs=epochs,
                           device=str(device), threads=args.threads, step=parts, strategies=speed))
        print(f"\n{size} px, {settings.backbone}, {settings.ttt_pairs} pairs, {device} ({args.threads} thread(s)):")
        ms = {k: f"{v * 1e3:.1f}" for k, v in parts.items()}
        print(f"  step {ms['parts_total']} ms (adapt_step alone: {ms['step']} ms): forward {ms['forward']} + backward"
              f" {ms['backward']} | views {ms['views']}, statistics copy {ms['statistics_copy']}, checks "
              f"{ms['checks']}, Adam {ms['optimizer']} → outside forward+backward: {parts['outside_fraction']:.1%}")
        for name, s in speed.items():
            print(f"  {STRATEGY_LABELS[name]:<8} {s['fps']:7.2f} frames/s  ({s['steps']} steps, {epochs} epochs,"
                  f" {args.frames} frames, {s['seconds']:.2f} s)")
    if args.out:
        atomic_write_json(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

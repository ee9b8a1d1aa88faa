"""Cost of the paper's network (MiT-b1 alpha+beta, 28,406,658 parameters): prediction and one TTT step.

    python benchmarks/bench_paper_network.py --threads 1             # CPU, one core, 256 and 512 px
    python benchmarks/bench_paper_network.py --device cuda --sizes 256 512

The weights are random, with the exact shapes of the official checkpoint: time and memory do not depend on the
values. Prediction = one frame through E_v, E_f, D_m, D_d and M in eval mode without gradients. A TTT step =
``dattt_nb.ttt.engine.adapt_step`` with the paper's 8 view pairs (16 images through E_v and D_d, backward into
E_v, Adam). On the CPU the times are the process's CPU time (``time.process_time``: other processes on shared
cores do not inflate it; with one thread it is the wall time of an idle core); on CUDA wall time with
synchronisation. Peak memory: the process's peak resident set on the CPU (it includes Python and torch themselves,
reported beside the model-only figure), ``torch.cuda.max_memory_allocated`` on CUDA. Medians of ``--repeats``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time

import torch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn, device, repeats: int, warmup: int = 1) -> float:
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        start = clock()
        fn()
        _sync(device)
        if i >= warmup:
            times.append(clock() - start)
    return statistics.median(times)


def _peak_mib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(size: int, device: torch.device, repeats: int, pairs: int = 8) -> dict:
    from dattt_nb.config import resolve
    from dattt_nb.models import build_model
    from dattt_nb.ttt.engine import adapt_step, configure_model, make_adam

    torch.manual_seed(0)
    model = build_model(resolve("paper", pretrained=False, image_size=size)).to(device)
    frame, flow = torch.rand(1, 3, size, size, device=device), torch.rand(1, 3, size, size, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.eval()

    def predict():
        with torch.no_grad():
            model(frame, flow)

    predict_s = _median_seconds(predict, device, repeats)
    predict_peak = _peak_mib(device)
    params = configure_model(model, "depth")
    optimizer = make_adam(params, 1e-5)
    g = torch.Generator(device=device).manual_seed(0)
    step_s = _median_seconds(lambda: adapt_step(model, optimizer, "depth", frame[0], flow[0], n_pairs=pairs,
                                                generator=g), device, max(1, repeats // 2))
    return dict(size=size, predict_s_per_frame=round(predict_s, 3), ttt_step_s=round(step_s, 3), pairs=pairs,
                peak_mib_after_predict=round(predict_peak), peak_mib=round(_peak_mib(device)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    rows = [measure(s, device, args.repeats) for s in args.sizes]
    print(f"paper network (MiT-b1 alpha+beta) on {args.device} ({where}), torch {torch.__version__}")
    for r in rows:
        print(f"  {r['size']} px: prediction {r['predict_s_per_frame']:.3f} s/frame; one TTT step with {r['pairs']} "
              f"pairs {r['ttt_step_s']:.2f} s; peak memory {r['peak_mib']:,} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=args.device, where=where, torch=torch.__version__, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

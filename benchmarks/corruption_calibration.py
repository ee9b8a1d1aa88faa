"""Re-measure the calibration of the corruption tables (dattt_nb.data.corruptions): no-TTT J of the profile's
alpha+beta model on the clean synthetic test clips (the ``davis`` split) at severity 0–5 per kind, flow estimated
again from the corrupted frames (``--clean-flow``: from the clean frames). The tables aim at a small drop at
severity 1 and a large one (>= 15 J) at severity 5; the measured drops are quoted in the module's table comment.

    python benchmarks/corruption_calibration.py --profile tiny
    python benchmarks/corruption_calibration.py --profile tiny --kinds noise fog --content

Writes ``runs/<profile>/results/corruption_calibration.csv`` (+ .json) and prints J x100 per kind and severity.
"""
from __future__ import annotations

import argparse
import time


def main(argv=None) -> None:
    import pandas as pd
    import torch

    from dattt_nb.config import resolve
    from dattt_nb.data.corruptions import CONTENT_SHIFTS, CORRUPTIONS
    from dattt_nb.results import save_table
    from dattt_nb.train import evaluate_split, load_or_train
    from dattt_nb.ttt.severity import Condition, condition_videos, source_clips

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default=None, help="named profile (default: $DATTT_PROFILE or tiny)")
    p.add_argument("--kinds", nargs="+", default=sorted(CORRUPTIONS), help="photometric kinds to measure")
    p.add_argument("--content", action="store_true", help="also the content shifts")
    p.add_argument("--clean-flow", action="store_true", help="flow from the clean frames (default: re-estimated)")
    p.add_argument("--videos", type=int, default=0, help="clean test clips to use (0: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = resolve(args.profile)
    model, info = load_or_train(settings, progress=False)
    clips = source_clips(settings, n_videos=args.videos)
    kinds = list(args.kinds) + (sorted(CONTENT_SHIFTS) if args.content else [])
    start = time.perf_counter()
    rows = []
    for kind in kinds:
        for severity in range(6):
            cond = Condition(kind, severity, "clean" if args.clean_flow and kind in CORRUPTIONS else "estimated")
            per_video = evaluate_split(model, condition_videos(clips, cond, settings), settings)
            rows.append(dict(kind=kind, severity=severity, J=100 * per_video["J"].mean(), videos=len(per_video)))
        print(kind, " ".join(f"{r['J']:.1f}" for r in rows[-6:]), flush=True)
    table = pd.DataFrame(rows).pivot(index="kind", columns="severity", values="J")
    table["drop_1"] = table[0] - table[1]
    table["drop_5"] = table[0] - table[5]
    print(table.round(1).to_string())
    save_table(table.reset_index(), "corruption_calibration", settings,
               meta=dict(model_step=info["step"], flow="clean" if args.clean_flow else "estimated",
                         units="no-TTT J x100", seconds=round(time.perf_counter() - start, 1)))


if __name__ == "__main__":
    main()

"""Stage 1, training-time training (§4.1, eq. 2): BCE + λ·SILog on random frames of the training split.

One function, :func:`train`, runs in a notebook, from the command line and under ``torchrun`` (one process
per GPU, or gloo on CPU: DistributedDataParallel, each rank its share of the frames, rank 0 validates, writes
and prints). Frames come through a DataLoader (``settings.num_workers`` workers, pinned memory on CUDA) and are
augmented as a batch on the device. It resumes from ``last.pt``; :func:`load_or_train` loads a finished run or
trains one.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from dattt_nb.config import Settings, pick_device
from dattt_nb.data.stream import (DistributedBatches, FrameBank, RandomBatches, TrainingFrames, stream_split,
                                  to_device, training_loader)
from dattt_nb.losses import joint_loss
from dattt_nb.models import aux_loss, build_model, get_variant
from dattt_nb.utils import progress as progress_bar
from dattt_nb.utils import autocast, distributed_env, file_lock, seed_everything

from .augment import TrainAugment
from .checkpoint import (LAMBDA_AUX, checkpoint_dir, config_diff, load_checkpoint, load_weights, same_training,
                         save_checkpoint, train_config, trained_on, training_data)
from .evaluate import evaluate_split

HISTORY_KEYS = ("step", "bce", "silog", "total", "lr")


# --- data --------------------------------------------------------------------------------------

def load_training_data(settings: Settings, roots: dict | None = None, verbose: bool = True) -> dict:
    """{"train": [Video], "val": [Video]} from ``roots`` or from the benchmark of ``settings`` (built if needed)."""
    from dattt_nb.data.layout import load_split

    if roots is None:
        from dattt_nb.data.prepare import ensure_benchmark

        roots = ensure_benchmark(settings, splits=["train", "val"], verbose=verbose)
    if "train" not in roots:
        raise ValueError(f"no 'train' split among the dataset roots {sorted(roots)}")
    def load(paths) -> list:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
        return [v for root in paths for v in load_split(root, size=settings.image_size)]

    return {"train": load(roots["train"]), "val": load(roots.get("val"))}


def training_sets(settings: Settings, roots: dict | None = None, verbose: bool = True) -> tuple:
    """(training frames Dataset, validation videos): the synthetic benchmark decoded once into a :class:`FrameBank`
    (small, faster in memory); real or given ``roots`` streamed from disk (:class:`TrainingFrames`, one root or
    a list per split), so host memory does not grow with the dataset."""
    if roots is None and settings.dataset == "synthetic":
        data = load_training_data(settings, verbose=verbose)
        return FrameBank(data["train"]), data["val"]
    if roots is None:
        from dattt_nb.data.prepare import ensure_benchmark

        roots = ensure_benchmark(settings, splits=["train", "val"], verbose=verbose)
    if not roots.get("train"):
        raise ValueError(f"no 'train' split among the dataset roots {sorted(roots)}")
    val = roots.get("val") or []
    val = [v for r in ([val] if isinstance(val, (str, Path)) else val) for v in stream_split(r, settings.image_size)]
    return TrainingFrames(roots["train"], settings.image_size), val


# --- optimisation --------------------------------------------------------------------------------

def lr_lambda(total_steps: int, warmup: int):
    """Linear warm-up, then cosine decay to 1 % of the base learning rate."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


def make_optimizer(model, settings: Settings):
    """AdamW (lr, weight decay from settings; the fused kernel) with a short warm-up and a cosine schedule."""
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, fused=True)
    warmup = max(1, min(100, settings.train_steps // 20))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(settings.train_steps, warmup))


def _amp(device: torch.device):
    """(autocast context, GradScaler or None): bf16 (or fp16 + scaler) on CUDA, full precision elsewhere."""
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and not torch.cuda.is_bf16_supported() else None
    return autocast(device), scaler


# --- distributed ---------------------------------------------------------------------------------

def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


# --- the loop ------------------------------------------------------------------------------------

def train(settings: Settings, variant: str | None = None, *, out_dir: str | Path | None = None,
          roots: dict | None = None, data: dict | None = None, resume: bool = True,
          max_steps_this_call: int | None = None, callback: Callable | None = None,
          progress: bool = True) -> dict:
    """Train the two-stream model on eq. 2 for ``settings.train_steps`` steps; returns an info dict.

    ``variant`` (default ``settings.modulation``) picks the Table 1 architecture, or "rot" / "mae": the two-stream
    baseline with an auxiliary head on E_v (Table 4), trained on BCE + λ_aux · its loss. Checkpoints go to
    ``out_dir`` (default :func:`~dattt_nb.train.checkpoint.checkpoint_dir`). Data: ``data`` ({"train", "val"} lists of
    Video, in memory), else ``roots`` ({"train", "val"} dataset folders, streamed), else the settings' benchmark
    (:func:`training_sets`). A run stops early
    after ``max_steps_this_call`` steps or when ``callback(step, parts)`` returns True, saving ``last.pt``;
    calling again resumes there.

    ``out_dir`` has one writer (a lock file; another process training into it is an error naming its pid). In a
    folder the caller names, a ``last.pt`` made with other settings (or files that are no training run) is an error
    unless ``resume=False`` (``--force``), which deletes the folder's old contents first; the default folder, keyed
    by the settings, is the library's own cache: a run of other settings there is replaced.
    """
    import contextlib
    import os

    from dattt_nb.guards import output_lock

    variant = variant or settings.modulation
    settings = dataclasses.replace(settings, modulation=get_variant(variant).modulation)
    train_data = training_data(settings, roots) if data is None else None
    strict = out_dir is not None  # the user's folder: never replaced without force
    out_dir = Path(out_dir) if out_dir is not None else checkpoint_dir(settings, variant, train_data)
    main = int(os.environ.get("RANK", "0")) == 0
    with output_lock(out_dir, "checkpoint folder") if main else contextlib.nullcontext():
        return _train(settings, variant, out_dir, train_data, roots=roots, data=data, resume=resume,
                      max_steps_this_call=max_steps_this_call, callback=callback, progress=progress, strict=strict)


def _train(settings: Settings, variant: str, out_dir: Path, train_data, *, roots, data, resume, max_steps_this_call,
           callback, progress, strict) -> dict:
    """:func:`train` once ``out_dir`` is locked."""
    from dattt_nb.guards import OutputError, clear_folder, disk_errors, has_content

    rank, world, local_rank = distributed_env()
    device = pick_device(settings)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if not resume and rank == 0 and has_content(out_dir):  # --force: the old run goes as a whole
        with disk_errors(out_dir):
            clear_folder(out_dir)
    if strict and resume and not last_path.is_file() and not best_path.is_file() and \
            any(not p.name.startswith(".") for p in out_dir.iterdir()):
        raise OutputError(f"checkpoint folder {out_dir} already holds files that are not a training run; pass "
                          "--force to replace them, or --out-dir to train elsewhere")
    config = train_config(settings, variant, train_data)
    main = rank == 0

    seed_everything(settings.seed, deterministic=device.type == "cpu")
    model = build_model(settings, variant=variant).to(device)
    check_batch_norm(model, settings, world)
    config.update(init_weights=model.init_weights, key=out_dir.name)  # where the initial weights came from
    optimizer, scheduler = make_optimizer(model, settings)
    autocast, scaler = _amp(device)

    state = dict(step=0, history={k: [] for k in HISTORY_KEYS}, val={"step": [], "J": [], "F": []},
                 best_J=-1.0, elapsed=0.0, finished=False, metrics={})
    rng_state = None
    if main:
        _remove_interrupted_saves(last_path, best_path)
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        same = same_training(ckpt.get("config", {}), config)
        if ckpt.get("slim") and same and ckpt.get("finished") and ckpt.get("step", 0) >= settings.train_steps:
            state.update({k: ckpt.get(k, state[k]) for k in ("step", "history", "val", "best_J", "elapsed", "finished",
                                                             "metrics")})  # a course bundle's finished run
            return _info(settings, variant, state, best_path, last_path, trained_steps=0)
        if same and not ckpt.get("slim"):
            load_weights(model, ckpt["model"], source=f"checkpoint {last_path}")
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            for key in ("step", "history", "val", "best_J", "elapsed", "finished", "metrics"):
                state[key] = ckpt.get(key, state[key])
            rng_state = ckpt.get("rng")
        elif not same:
            _refuse_fewer_steps(ckpt, last_path, settings.train_steps)
            if not strict:  # the library's keyed cache (e.g. a run recorded by older code): train it again
                if main:
                    print(f"[train] {last_path} was made with other settings {config_diff(ckpt['config'], config)}; "
                          "starting from scratch")
            else:
                raise OutputError(f"{last_path} holds a model trained with other settings "
                                  f"{config_diff(ckpt['config'], config)}; not replacing it: pass --force "
                                  "(resume=False) to retrain from scratch, or --out-dir to train elsewhere")
        elif main:
            print(f"[train] {last_path} is a course bundle's record of an unfinished run (no weights); "
                  "starting from scratch")
    if state["finished"] and state["step"] >= settings.train_steps:
        return _info(settings, variant, state, best_path, last_path, trained_steps=0)

    if data is not None:
        frames_set, val_videos = FrameBank(data["train"]), list(data.get("val") or [])
    else:
        if main:
            frames_set, val_videos = training_sets(settings, roots)  # rank 0 builds the benchmark first ...
        _barrier(world)
        if not main:
            frames_set, val_videos = training_sets(settings, roots, verbose=False)  # ... the others then read it
    per_rank = max(1, settings.batch_size // world)
    if world == 1:  # uniform draws with replacement, one batch per step
        batches = RandomBatches(len(frames_set), per_rank, settings.seed * 1000 + rank, start_step=state["step"])
    else:  # each rank its share of every epoch
        batches = DistributedBatches(frames_set, per_rank, rank, world, settings.seed, start_step=state["step"])
    if rng_state is not None and main:
        torch.set_rng_state(rng_state["torch"])
        batches.load_state(rng_state["sampler"])
    elif state["step"] > 0:
        torch.manual_seed(settings.seed + 7919 * rank + state["step"])
    augment = TrainAugment(settings.image_size).to(device)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        import warnings

        # timm's depth-wise convs produce channels-last gradients; DDP copies them, correctly, and warns
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loader = iter(training_loader(frames_set, batches, settings.num_workers, device))

    end = settings.train_steps
    if max_steps_this_call is not None:
        end = min(end, state["step"] + max_steps_this_call)
    bar = progress_bar(range(state["step"], end), enabled=progress and main, initial=state["step"],
                       total=settings.train_steps, desc=f"train {variant}", dynamic_ncols=True)
    running = {}
    start_step, t0_box, saved_at = state["step"], [time.perf_counter()], [-1]
    model.train()

    def save_last(finished: bool = False):
        state["elapsed"] += time.perf_counter() - t0_box[0]
        t0_box[0] = time.perf_counter()
        if main and (finished or saved_at[0] != state["step"]):
            saved_at[0] = state["step"]
            save_checkpoint(last_path, config=config, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=scaler.state_dict() if scaler else {},
                            rng=dict(torch=torch.get_rng_state(), sampler=batches.state_at(state["step"])),
                            **{k: state[k] for k in ("step", "history", "val", "best_J", "elapsed", "metrics")},
                            finished=finished)

    def validate():
        if not main:
            return
        if val_videos:
            scores = evaluate_split(model, val_videos)
            j, f = float(scores["J"].mean()), float(scores["F"].mean())
        else:
            j = f = float("nan")
        state["val"]["step"].append(state["step"])
        state["val"]["J"].append(j)
        state["val"]["F"].append(f)
        state["metrics"] = dict(val_J=j, val_F=f, step=state["step"])
        if not val_videos or j > state["best_J"]:
            state["best_J"] = j if val_videos else state["best_J"]
            save_checkpoint(best_path, config=config, model=model.state_dict(), step=state["step"],
                            metrics=dict(val_J=j, val_F=f))
        if progress:
            bar.write(f"[train {variant}] step {state['step']}: val J {j:.3f}  F {f:.3f}")

    in_update = False
    try:
        for _ in bar:
            frames, flow, masks, depth = augment(*to_device(next(loader), device))
            in_update = True
            with autocast:
                mask_logits, depth_logits = net(frames, flow)
                aux = aux_loss(model, frames) if model.aux_head is not None else None  # Table 4 baselines
            loss, parts = joint_loss(mask_logits.float(), None if depth_logits is None else depth_logits.float(),
                                     masks, depth, settings.lambda_depth)
            if aux is not None:
                loss = loss + LAMBDA_AUX * aux.float()
                parts.update(aux=aux.detach().float(), total=loss.detach())
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            state["step"] += 1
            in_update = False
            keys = ("bce", "silog", "total") + (("aux",) if "aux" in parts else ())
            values = torch.stack([parts[k] for k in keys]).tolist()
            for key, value in zip(keys, values):
                state["history"].setdefault(key, [])
                state["history"][key].append(value)
                running[key] = value if key not in running else 0.95 * running[key] + 0.05 * value
            state["history"]["step"].append(state["step"])
            state["history"]["lr"].append(scheduler.get_last_lr()[0])
            if main and state["step"] % 10 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()}, refresh=False)
            done = state["step"] >= settings.train_steps
            if state["step"] % settings.val_every == 0 or done:
                model.eval()
                validate()
                model.train()
                if not done:
                    save_last()
            if callback is not None and callback(state["step"], parts):
                break
    except KeyboardInterrupt:
        if not in_update:  # the state is consistent at a step boundary: keep it for resuming
            save_last()
        raise
    finally:
        bar.close()
        del loader  # stops its workers
    finished = state["step"] >= settings.train_steps
    save_last(finished=finished)
    state["finished"] = finished
    if main and not best_path.is_file():
        save_checkpoint(best_path, config=config, model=model.state_dict(), step=state["step"], metrics=state["metrics"])
    info = _info(settings, variant, state, best_path, last_path, trained_steps=state["step"] - start_step)
    if world > 1:
        dist.barrier()
    return info


def check_batch_norm(model, settings: Settings, world: int = 1) -> None:
    """BatchNorm (the ResNet backbones) needs more than one value per channel: a batch of one frame at a size whose
    coarsest feature map is 1x1 cannot train; say which settings to change instead of PyTorch's message."""
    from dattt_nb.config import BACKBONE_STRIDE, SettingError

    per_rank = max(1, settings.batch_size // world)
    cells = (settings.image_size // BACKBONE_STRIDE) ** 2
    if per_rank * cells < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise SettingError(f"setting 'batch_size': backbone {settings.backbone!r} uses BatchNorm, which needs at "
                           f"least 2 values per channel; batch_size {settings.batch_size} at image_size "
                           f"{settings.image_size} gives {per_rank * cells}: use batch_size >= 2 or image_size >= 64")


def _remove_interrupted_saves(*paths: Path) -> None:
    """Delete the temporary files a killed save left beside ``last.pt`` / ``best.pt`` (they are never read)."""
    from dattt_nb.utils import remove_stale_temporaries

    removed = [p for path in paths for p in remove_stale_temporaries(path)]
    if removed:
        print(f"[train] removed {len(removed)} temporary file(s) of an interrupted save: "
              f"{', '.join(p.name for p in removed)}")


def _refuse_fewer_steps(ckpt: dict, last_path: Path, train_steps: int) -> None:
    """Never replace a run of more steps with one of fewer (a finished model with an untrained one)."""
    done = int(ckpt.get("step", 0))
    if done > train_steps:
        state = "a finished" if ckpt.get("finished") else "an unfinished"
        raise FileExistsError(f"{last_path} holds {state} run of {done} steps and this run would replace it with "
                              f"{train_steps} (train_steps); not replacing it: pass --force (force=True) to retrain, "
                              f"or --out-dir to train elsewhere")


def _info(settings, variant, state, best_path, last_path, trained_steps: int) -> dict:
    steps = state["step"]
    return dict(variant=variant, step=steps, finished=bool(state["finished"]), trained_steps=trained_steps,
                best_val_J=state["best_J"], metrics=state["metrics"], history=state["history"], val=state["val"],
                train_seconds=state["elapsed"], seconds_per_step=state["elapsed"] / max(1, steps),
                checkpoint=str(best_path), last=str(last_path))


# --- load or train -------------------------------------------------------------------------------

def load_or_train(settings: Settings, variant: str = "alpha+beta", force: bool = False, progress: bool = True,
                  data: dict | None = None, roots: dict | None = None, **overrides):
    """(model in eval mode, info): load ``checkpoints/<variant>/<key>/best.pt`` if a finished run with the same
    settings exists, else train (resuming an interrupted run). ``overrides`` are Settings fields (None = keep);
    ``data`` / ``roots`` as in :func:`train` (default: the settings' benchmark)."""
    from .checkpoint import given_checkpoint, load_model

    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if (given := given_checkpoint(settings, variant)) is not None:  # the `checkpoint` setting: never trains
        model, ckpt = load_model(given, device=pick_device(settings), image_size=settings.image_size)
        return model, dict(variant=variant, checkpoint=str(given), step=ckpt.get("step"), finished=True,
                           metrics=ckpt.get("metrics", {}), history=ckpt.get("history", []), best_val_J=None,
                           trained_now=False, trained_on=trained_on(ckpt.get("config", {})))
    settings = dataclasses.replace(settings, modulation=get_variant(variant).modulation)
    train_data = training_data(settings, roots) if data is None else None
    out = checkpoint_dir(settings, variant, train_data)
    last, best = out / "last.pt", out / "best.pt"
    trained_now = False
    # one trainer per checkpoint folder: a second process asking for the same model (notebooks run side by side,
    # the series' training workers) waits here and then loads what the first one trained
    with file_lock(out.parent / f".{out.name}.lock"):
        ckpt = load_checkpoint(last) if last.is_file() and not force else None
        ready = (ckpt is not None and ckpt.get("finished") and best.is_file()
                 and same_training(ckpt.get("config", {}), train_config(settings, variant, train_data)))
        if not ready:
            train(settings, variant, resume=not force, progress=progress, data=data, roots=roots)
            ckpt, trained_now = load_checkpoint(last), True
    model, best_ckpt = load_model(best, device=pick_device(settings))
    info = _info(settings, variant, dict(step=ckpt["step"], finished=ckpt["finished"], best_J=ckpt["best_J"],
                                         metrics=ckpt["metrics"], history=ckpt["history"], val=ckpt["val"],
                                         elapsed=ckpt["elapsed"]), best, last, trained_steps=0)
    info.update(trained_now=trained_now, best_step=best_ckpt.get("step"),
                trained_on=trained_on(best_ckpt.get("config", {})))
    return model, info

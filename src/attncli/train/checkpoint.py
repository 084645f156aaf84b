"""A training run's checkpoints in its --out folder: what is written, when, how, and what a failure leaves.

What: the model directory that attn loads (checkpoints.native: config.json, model.safetensors,
tokenizer.json) and the state that --resume reads (train_state.safetensors: float32 weights and
AdamW moments; train_state.json: step, options, RNG state; plain arrays and ints, never pickle).
When: the trainer asks `due` after each step (every --checkpoint-every steps before the last),
and saves after the step in which a stop was asked, and at the end.
How: the five files are staged in a folder inside --out, then moved over the last checkpoint's
with Ctrl-C, SIGTERM and SIGHUP deferred, so that all five move or none do.
A failure: the last complete checkpoint is all there is; a run that has written none removes the
folders it made (never anything that was there before).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import atomic
from ..checkpoints import native
from ..config import ModelConfig
from ..errors import TrainingError, WriteError
from ..model import Params
from .optim import AdamW

STATE_FILES = ("train_state.safetensors", "train_state.json")
STATE_VERSION = 1
STAGING = ".checkpoint.tmp"  # a checkpoint's files are written here, then moved over the last one's


class Snapshot(NamedTuple):
    """What one checkpoint holds."""

    config: ModelConfig
    params: Params
    tok_json: str
    opt: AdamW
    rng: np.random.Generator
    state: dict[str, Any]  # train_state.json's own entries (step, options, ...)
    card: dict[str, Any]  # the model card in config.json


class Saved(NamedTuple):
    """train_state.* as read back for --resume."""

    doc: dict[str, Any]
    params: Params
    adam_m: Params
    adam_v: Params


@dataclass
class Checkpoints:
    """The checkpoints of one run in `out`, and what the run has done to the folder."""

    out: Path
    every: int
    name: str  # the model's name in config.json
    dtype: str  # of model.safetensors
    last: int | None = None  # the step of the checkpoint in `out` (a resumed run starts with one)
    made: list[Path] = field(default_factory=list)  # folders this run created, outermost first
    removed: bool = False

    def create(self) -> None:
        """Make the folder (and its parents), just before the first step of a new run. With --force the
        old files stay until the first checkpoint replaces them, so a run that fails before it leaves
        the folder as it was."""
        try:
            self.made = atomic.make_folders(self.out)
        except OSError as e:
            raise WriteError(f"cannot create {self.out} ({e.strerror or e}); choose another --out") from None

    def due(self, step: int, steps: int) -> bool:
        """Whether a checkpoint is due after `step` of `steps` (the last one's is the trained model's)."""
        return step % self.every == 0 and step < steps

    def save(self, step: int, snapshot: Snapshot) -> None:
        """Write the checkpoint of `step` over the last one, whole or not at all; an OSError (a full disk)
        becomes a WriteError that says what is kept."""
        try:
            staging = self._stage(snapshot)
            with atomic.interrupts_deferred():  # all five files move, or none
                self._commit(staging)
                self.last = step
        except OSError as e:
            self.clean_up()
            todo = "free some space, then train again" if atomic.disk_full(e) else "check the folder, then train again"
            raise WriteError(f"cannot write the checkpoint of step {step} to {self.out} ({e.strerror or e}); "
                             f"{self.kept(resume_hint=False)}; {todo}") from None

    def _stage(self, s: Snapshot) -> Path:
        """Write a checkpoint's files into the staging folder; any failure (a full disk, Ctrl-C)
        removes the folder, so the last complete checkpoint is all there is."""
        staging = self.out / STAGING
        if staging.exists():  # left by a run that was killed
            shutil.rmtree(staging)
        try:
            native.save(staging, s.config, s.params, s.tok_json, name=self.name, card=s.card, dtype=self.dtype)
            tensors = {f"param.{n}": p for n, p in s.params.items()}
            tensors.update({f"adam_m.{n}": m for n, m in s.opt.m.items()})
            tensors.update({f"adam_v.{n}": v for n, v in s.opt.v.items()})
            atomic.save_safetensors({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
                                    staging / STATE_FILES[0])
            doc = dict(s.state, version=STATE_VERSION, adam_step=s.opt.step, rng=s.rng.bit_generator.state,
                       model=s.config.to_dict())
            atomic.write_text(staging / STATE_FILES[1], json.dumps(doc, indent=2) + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging

    def _commit(self, staging: Path) -> None:
        """Move a staged checkpoint's files over the last one's (run it with the stop signals deferred)."""
        for f in native.FILES + STATE_FILES:
            os.replace(staging / f, self.out / f)
        staging.rmdir()
        atomic.fsync_dir(self.out)

    def clean_up(self) -> None:
        """After a failure with no checkpoint written: remove the folders this run made, never
        anything that was there before (rmdir removes only an empty folder)."""
        if self.last is not None or not self.made:
            return
        shutil.rmtree(self.out / STAGING, ignore_errors=True)
        self.removed = atomic.remove_made(self.made)

    def kept(self, resume_hint: bool = True) -> str:
        """What is in the folder now, for the message that ends the run."""
        if self.last is not None:
            hint = ", continue with --resume" if resume_hint else ""
            return f"the last complete checkpoint (step {self.last}) is kept in {self.out}{hint}"
        where = f"{self.out} was removed" if self.removed else f"{self.out} is as it was"
        return f"no checkpoint was written yet (one every {self.every} steps), so {where}"


def read_state(out: Path) -> Saved:
    """The training state of the checkpoint in `out`; TrainingError if it cannot be read."""
    from safetensors import SafetensorError, safe_open

    try:
        doc = json.loads((out / STATE_FILES[1]).read_text(encoding="utf-8"))
        saved: dict[str, Params] = {"param": {}, "adam_m": {}, "adam_v": {}}
        with safe_open(str(out / STATE_FILES[0]), framework="np") as f:
            for key in f.keys():
                kind, name = key.split(".", 1)
                saved[kind][name] = f.get_tensor(key)
    except (OSError, ValueError, KeyError, SafetensorError) as e:
        raise TrainingError(f"{out}: the training state cannot be read ({e}); train without --resume") from None
    if doc.get("version") != STATE_VERSION:
        raise TrainingError(f"{out}: training state version {doc.get('version')!r} is not {STATE_VERSION}; "
                            "train without --resume")
    return Saved(doc, saved["param"], saved["adam_m"], saved["adam_v"])

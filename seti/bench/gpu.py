"""``benchmark.py gpu``: the founding study's numbers in one time-boxed run on a GPU machine.

Per model, in order (the levers first): the bare-loop batch ladder up to the fastest batch; train.py's path
at the reference batch and at the fastest; torch.compile on vs off at the fastest batch; predict for one
member. Then N train.py jobs at once, the ensemble predict, and the projections. Every phase saves the
JSON, so a cut-off run keeps its numbers, and anything skipped is named with the reason. Without CUDA (or
tiny) the same code runs tiny settings, so CI exercises every line.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from seti.bench.common import Clock, Settings, machine_info, measure
from seti.bench.concurrent import concurrent_jobs
from seti.bench.docs import DOCS, gpu_markdown, write_docs_section
from seti.bench.predict import predict_defaults, predict_rate
from seti.bench.study import augmentation_study_config, projections, study_values
from seti.bench.train import bare_loop, train_path
from seti.inference.settings import resolve_batch_size

#: seconds a phase needs before it is started: compiling takes minutes; each later model needs its turn
COMPILE_MIN_S, MODEL_RESERVE_S, RUN_RESERVE_S, CONCURRENT_MIN_S, ENSEMBLE_MIN_S = 120.0, 60.0, 30.0, 60.0, 20.0


def gpu_settings(tiny: bool, budget_s: float | None = None) -> Settings:
    """Tiny: a few steps of the tiny model on small images. Otherwise experiment=augmentation_study's
    models, image size, batch (the ladder's first rung, then doubled) and workers, and predict.py's batch."""
    if tiny:
        return Settings(budget_s=budget_s or 600.0)
    study = augmentation_study_config()
    batch = int(study.data.batch_size)
    return Settings(
        tiny=False,
        models=[str(m) for m in study_values(study, "model", study.model.name)],
        image_size=tuple(study.data.image_size),
        ladder=[batch * 2**i for i in range(4)],
        warmup=3,
        steps=10,
        train_n=2000,
        test_n=512,
        num_folds=10,
        predict_cadences=4096,
        ensemble_cadences=4096,
        predict_batch=resolve_batch_size(predict_defaults().batch_size, "cuda"),
        num_workers=min(int(study.data.num_workers), os.cpu_count() or 1),
        ensemble_members=6,
        concurrent_jobs=[2, 4],
        budget_s=budget_s or 480.0,
    )


class GpuRun:
    """One ``gpu`` run: its settings, device, clock, data and the results dict each phase fills in."""

    def __init__(self, settings: Settings, work_dir: Path, save=None) -> None:
        import torch

        from seti.data.synthetic import ensure_dataset

        self.settings, self.work_dir, self.save_fn = settings, work_dir, save or (lambda r: None)
        self.clock = Clock(settings.budget_s)
        self.device = torch.device("cuda" if torch.cuda.is_available() and not settings.tiny else "cpu")
        self.root = work_dir / "data"
        self.reference = settings.ladder[0]
        self.run_dirs: dict[str, list[Path]] = {}
        # the files first: the generator forks its workers, best done before this process holds a CUDA context
        ensure_dataset(
            self.root,
            n=settings.train_n,
            test_n=settings.test_n,
            positive_rate=0.3,
            seed=0,
            workers=max(1, min(16, os.cpu_count() or 1)),
            progress=False,
        )
        self.results: dict = {
            "mode": "tiny" if settings.tiny else "gpu",
            "complete": False,
            "machine": machine_info(self.device),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()},
            "data": {
                "root": str(self.root),
                "train_n": settings.train_n,
                "test_n": settings.test_n,
                "generate_s": self.clock.elapsed(),
            },
            "models": {},
            "predict": {},
            "compile": {},
            "concurrent": {},
            "skipped": [],
        }

    def save(self) -> None:
        self.save_fn(self.results)

    def skip(self, what: str, reason: str) -> None:
        self.results["skipped"].append(f"{what}: {reason}")

    def ladder(self, model: str, models_left: int) -> dict:
        """Bare loop at each batch of the ladder; stops at OOM, when samples/s stops rising (within 3% of the
        best so far), or when this model's share of the time is spent. Returns the model's entry."""
        entry: dict = {"ladder": [], "runs": {}}
        self.results["models"][model] = entry
        share_end = self.clock.elapsed() + max(10.0, self.clock.left() * 0.55 / models_left)
        best = None
        for batch in self.settings.ladder:
            if batch != self.reference and self.clock.elapsed() > share_end:
                self.skip(f"{model} bare loop at batch {batch}", "time budget")
                break
            point = measure(bare_loop, model, batch, self.settings, self.device, device=self.device)
            point["batch"] = batch
            entry["ladder"].append(point)
            if point["status"] != "ok":
                break
            rising = best is None or point["samples_per_s"] >= best["samples_per_s"] * 1.03
            if best is None or point["samples_per_s"] > best["samples_per_s"]:
                best = point
            if not rising:
                break
        entry["best_batch"] = best["batch"] if best else None
        self.save()
        return entry

    def train_runs(self, model: str, entry: dict, models_left: int) -> None:
        """train.py's path at the reference batch and at the fastest, each against the bare loop there."""
        for batch in dict.fromkeys(b for b in (self.reference, entry["best_batch"]) if b is not None):
            bare = next(p for p in entry["ladder"] if p["batch"] == batch)
            if batch != self.reference and self.clock.left() < RUN_RESERVE_S * models_left:
                self.skip(f"{model} train.py path at batch {batch}", "time budget")
                continue
            out = self.work_dir / "runs" / f"{model}-bs{batch}"
            run = measure(train_path, model, batch, self.settings, self.root, out, self.device, device=self.device)
            if run.get("status") == "finished":
                self.run_dirs.setdefault(model, []).append(out)
            both = run.get("samples_per_s") and bare.get("samples_per_s")
            ratio = run["samples_per_s"] / bare["samples_per_s"] if both else None
            entry["runs"][str(batch)] = {"batch": batch, "bare": bare, "train_path": run, "ratio": ratio}
            self.save()

    def compile_on_off(self, model: str, entry: dict, models_left: int) -> None:
        """model.compile=true on train.py's path at the fastest batch; the compile-off figure is that batch's run."""
        batch = entry["best_batch"]
        off = ((entry["runs"].get(str(batch)) or {}).get("train_path")) or {}
        if self.settings.tiny or self.device.type != "cuda":
            reason = "only measured on a GPU (compiling takes minutes on a CPU)"
        elif off.get("status") != "finished":
            reason = f"no compile-off run at batch {batch} to compare with"
        elif self.clock.left() < COMPILE_MIN_S + MODEL_RESERVE_S * (models_left - 1):
            reason = f"time budget ({self.clock.left():.0f} s left)"
        else:
            out = self.work_dir / "runs" / f"{model}-bs{batch}-compiled"
            extra = ["model.compile=true"]
            point = measure(
                train_path, model, batch, self.settings, self.root, out, self.device, extra, device=self.device
            )
            point.update(path="train.py", batch=batch, without_compile_samples_per_s=off.get("samples_per_s"))
            self.results["compile"][model] = point
            self.save()
            dirs = self.run_dirs.get(model)
            if dirs and self.clock.left() >= COMPILE_MIN_S + MODEL_RESERVE_S * (models_left - 1):
                # predict.py compile=true at its padded batch, beside the uncompiled one_member_<model> next
                self.predict(f"one_member_{model}_compiled", dirs[:1], 1, "none", self.settings.predict_cadences, True)
            else:
                self.skip(f"{model} compiled predict", f"time budget ({self.clock.left():.0f} s left)")
            return
        self.results["compile"][model] = {"status": "skipped", "reason": reason}

    def predict(
        self, name: str, run_dirs: list[Path], members: int, tta: str, cadences: int, compile_model: bool = False
    ) -> None:
        """predict.py's path for ``members`` checkpoints cycled from ``run_dirs``' best checkpoints (its padded
        last batch, as predict.py's default; ``compile_model``: predict.py's compile=true)."""
        from seti.inference.members import find_checkpoints, load_members

        def run() -> dict:
            specs = [find_checkpoints(d)[0] for d in run_dirs]
            loaded = load_members([specs[i % len(specs)] for i in range(members)])
            workers = 0 if self.settings.tiny else None
            batch = self.settings.predict_batch
            point = predict_rate(
                loaded,
                self.root,
                cadences,
                batch_size=batch,
                tta=tta,
                device=self.device,
                num_workers=workers,
                compile=compile_model,
            )
            return {**point, "distinct_checkpoints": len({str(s.ckpt_path) for s in specs})}

        self.results["predict"][name] = measure(run, device=self.device)
        self.save()

    def model(self, model: str, models_left: int) -> None:
        """Every per-model phase, in the order of what they decide."""
        entry = self.ladder(model, models_left)
        self.train_runs(model, entry, models_left)
        self.compile_on_off(model, entry, models_left)
        dirs = self.run_dirs.get(model)
        if dirs:
            s = self.settings
            self.predict(f"one_member_{model}", dirs[:1], 1, "none", s.predict_cadences)
        else:
            self.skip(f"{model} predict", "no finished train.py run to predict with")

    def concurrent(self) -> None:
        """N train.py jobs at once at the first model's fastest batch, against that batch's single job."""
        self.skip("concurrent jobs with MPS", "this script does not start MPS (it changes the GPU for every process)")
        model = self.settings.models[0]
        entry = self.results["models"].get(model) or {}
        batch = entry.get("best_batch")
        one = ((entry.get("runs") or {}).get(str(batch)) or {}).get("train_path") or {}
        for jobs in self.settings.concurrent_jobs:
            if one.get("status") != "finished":
                self.skip(f"{jobs} concurrent jobs", f"no finished single {model} job at batch {batch} to compare with")
                continue
            if self.clock.left() < CONCURRENT_MIN_S + ENSEMBLE_MIN_S:
                self.skip(f"{jobs} concurrent jobs", f"time budget ({self.clock.left():.0f} s left)")
                continue
            out = self.work_dir / "runs" / f"{model}-bs{batch}-x{jobs}"
            timeout = self.clock.left() - ENSEMBLE_MIN_S
            args = (model, batch, jobs, self.settings, self.root, out, self.device, timeout)
            point = measure(concurrent_jobs, *args, device=self.device)
            total, single = point.get("samples_per_s_total"), one.get("meter_samples_per_s")
            point.update(
                model=model, one_job_samples_per_s=single, speedup=total / single if total and single else None
            )
            self.results["concurrent"][f"{model}_x{jobs}"] = point
            self.save()

    def run(self) -> dict:
        s = self.settings
        for index, model in enumerate(s.models):
            self.model(model, len(s.models) - index)
        self.concurrent()
        all_runs = [d for dirs in self.run_dirs.values() for d in dirs]
        if not all_runs:
            self.skip("ensemble predict", "no finished train.py run")
        elif self.clock.left() < ENSEMBLE_MIN_S:
            self.skip("ensemble predict", f"time budget ({self.clock.left():.0f} s left)")
        else:
            self.predict("ensemble", all_runs, s.ensemble_members, "flip", s.ensemble_cadences)
        self.results["projections"] = projections(self.results, s)
        self.results["wall_s"] = self.clock.elapsed()
        self.results["complete"] = True
        self.save()
        return self.results


def bench_gpu(settings: Settings, work_dir: Path, save=None) -> dict:
    """Every measurement of ``gpu``, each time-boxed; ``save(results)`` after each phase."""
    return GpuRun(settings, work_dir, save).run()


def run_gpu(
    *,
    from_json: Path | None = None,
    json_path: Path | None = None,
    docs: Path | None = None,
    tiny: bool = False,
    budget_s: float | None = None,
    work_dir: Path | None = None,
) -> dict:
    """Measure (tiny without CUDA) or re-read ``from_json``; write the JSON and the docs section. The docs
    default to docs/benchmarks.md for a GPU run and to nothing for a tiny one."""
    import torch

    from seti.atomic import atomic_write_text

    if from_json:
        results = json.loads(from_json.read_text())
    else:
        settings = gpu_settings(tiny or not torch.cuda.is_available(), budget_s)

        def save(results: dict) -> None:
            if json_path:
                atomic_write_text(json_path, json.dumps(results, indent=2, default=str))

        results = bench_gpu(settings, work_dir or Path(tempfile.mkdtemp(prefix="seti-bench-")), save)
        results["markdown"] = gpu_markdown(results)
        save(results)
    docs = docs if docs is not None else (None if results["mode"] == "tiny" else DOCS)
    if docs is not None:
        write_docs_section(docs, results.get("markdown") or gpu_markdown(results))
    return results

"""The ``gpu`` run's section of docs/benchmarks.md: rendered from its JSON, and swapped in between its markers
so the rest of the page is kept."""

from __future__ import annotations

from pathlib import Path

from seti.bench.common import REPO

DOCS = REPO / "docs" / "benchmarks.md"
SECTION_START, SECTION_END = "<!-- benchmark:gpu:start -->", "<!-- benchmark:gpu:end -->"


def _fmt(value, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def gpu_markdown(results: dict) -> str:
    """The docs/benchmarks.md section for one ``gpu`` run."""
    machine, settings = results["machine"], results["settings"]
    lines = [
        f"## GPU: `python scripts/benchmark.py gpu` ({results['mode']} mode)",
        "",
        f"Measured on {machine['device']} ({_fmt(machine.get('gpu_memory_gib'), 0)} GiB), {machine['cpus']} CPUs, torch "
        f"{machine['torch']}, {machine['date']}; wall time {_fmt(results.get('wall_s'), 0)} s"
        + ("" if results.get("complete") else " (**incomplete run**)")
        + ".",
        f"Images {settings['image_size'][0]}x{settings['image_size'][1]}, bf16 autocast on a GPU; bare loop: random tensors on the"
        f" device, channels_last, AdamW, {settings['warmup']} warm-up + {settings['steps']} timed steps; train.py path:"
        f" `seti.training.pipeline.train` on {settings['train_n']} synthetic Kaggle-layout files, the same steps, timed"
        " by wall clock between batch ends (loader waits included).",
        "",
        "| model | batch | bare loop samples/s | train.py path samples/s | ratio | peak GiB bare / train.py | data path |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, entry in results["models"].items():
        for batch, run in entry["runs"].items():
            bare, path = run["bare"], run["train_path"]
            status = (
                "" if path.get("status") == "finished" else f" ({path.get('status')}: {path.get('error', '')[:60]})"
            )
            lines.append(
                f"| {model} | {batch}{' (fastest)' if int(batch) == entry.get('best_batch') and int(batch) != settings['ladder'][0] else ''} "
                f"| {_fmt(bare.get('samples_per_s'))} | {_fmt(path.get('samples_per_s'))}{status} | {_fmt(run.get('ratio'), 2)} "
                f"| {_fmt(bare.get('peak_memory_gib'), 1)} / {_fmt(path.get('peak_memory_gib'), 1)} | {path.get('transforms', 'n/a')} |"
            )
    lines += ["", "Bare-loop batch ladder (samples/s; stops at out-of-memory or when it stops rising):", ""]
    for model, entry in results["models"].items():
        rungs = ", ".join(
            f"{p['batch']}: {_fmt(p.get('samples_per_s')) if p['status'] == 'ok' else p['status']}"
            for p in entry["ladder"]
        )
        lines.append(f"- {model}: {rungs}")
    lines += [
        "",
        "| predict path | members | TTA | batch | cadences/s | member-cadences/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in results["predict"].items():
        lines.append(
            f"| {name} | {p.get('members', 'n/a')} | {p.get('tta', 'n/a')} | {p.get('batch_size', 'n/a')} "
            f"| {_fmt(p.get('cadences_per_s'))} | {_fmt(p.get('member_cadences_per_s'))} |"
        )
    compiled = {m: c for m, c in results.get("compile", {}).items() if c.get("status") in ("ok", "finished")}
    if compiled:
        lines += [
            "",
            "torch.compile (model.compile=true) on train.py's path at each model's fastest batch: "
            + "; ".join(
                f"{m} (batch {c.get('batch')}) {_fmt(c.get('samples_per_s'))} samples/s vs {_fmt(c.get('without_compile_samples_per_s'))}"
                " without"
                for m, c in compiled.items()
            ),
        ]
    concurrent = results.get("concurrent") or {}
    if concurrent:
        lines += [
            "",
            "| jobs at once | model | batch | samples/s, all jobs | one job alone | speedup |",
            "|---|---|---|---|---|---|",
        ]
        for p in concurrent.values():
            total = (
                _fmt(p.get("samples_per_s_total"))
                if p.get("status") == "ok"
                else f"{p.get('status')}: {p.get('error', '')[:60]}"
            )
            lines.append(
                f"| {p.get('jobs', 'n/a')} | {p.get('model', 'n/a')} | {p.get('batch', 'n/a')} | {total} "
                f"| {_fmt(p.get('one_job_samples_per_s'))} | {_fmt(p.get('speedup'), 2)} |"
            )
    proj = results.get("projections") or {}
    if proj:
        lines += [
            "",
            f"| projected wall time | one job at a time, batch {settings['ladder'][0]} | one at a time, each model's fastest"
            " batch | fastest batch, jobs at once |",
            "|---|---|---|---|",
        ]
        for name in ("founding_study", "augmentation_study"):
            entry = proj[name]
            study = entry["study"]
            label = (
                f"{name.replace('_', ' ')} ({'/'.join(study['models'])} x {'/'.join(study['augs'])} x {study['folds']} folds"
                f" x {study['epochs']} epochs)"
            )
            parallel = entry["best_batch"].get("parallel")
            at_once = f"{_fmt(parallel['hours'], 2)} h ({parallel['jobs']} jobs)" if parallel else "n/a"
            lines.append(
                f"| {label} | {_fmt(entry['reference_batch']['hours'], 2)} h | {_fmt(entry['best_batch']['hours'], 2)} h "
                f"| {at_once} |"
            )
        lines += ["", f"Formula: {proj['formula']}."]
        if proj.get("stand_in"):
            lines.append(
                f"Tiny mode: the measured `{proj['stand_in']}` model stands in for every model, so these hours say nothing about B1/B3/B5."
            )
    if results.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(results["skipped"]) + "."]
    return "\n".join(lines) + "\n"


def write_docs_section(path: Path, markdown: str) -> None:
    """Replace the ``gpu`` section of ``path`` (between its markers) atomically, keeping everything else."""
    from seti.atomic import atomic_write_text

    text = path.read_text() if path.is_file() else ""
    block = f"{SECTION_START}\n{markdown.rstrip()}\n{SECTION_END}\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
    atomic_write_text(path, text)

"""Projected wall time of whole studies from measured rates: the founding study and
``experiment=augmentation_study`` (read from conf/), one job at a time."""

from __future__ import annotations

from seti.bench.common import Settings, compose

#: The founding study: B1/B3/B5 x none/strong x 4 folds x 5 epochs, 45k train + 15k val cadences per fold, 512x512.
FOUNDING_STUDY = {
    "models": ["b1", "b3", "b5"],
    "augs": ["none", "strong"],
    "folds": 4,
    "epochs": 5,
    "train_cadences": 45_000,
    "val_cadences": 15_000,
    "image_size": [512, 512],
}
KAGGLE_LABELLED = 60_000
PROJECTION_FORMULA = (
    "hours = augs x folds x sum over models of [epochs x (train_cadences / train_rate + val_cadences / eval_rate)"
    " + val_cadences / eval_rate] / 3600: one job at a time; train_rate = the train.py path's samples/s at that"
    " batch, eval_rate = the predict path's cadences/s for one member of that model; the last term is the"
    " best checkpoint's validation predictions that train.py writes after fitting; with N jobs at once, hours"
    " / speedup, the speedup (N jobs' summed samples/s over one job's) measured for the first model only"
)


def project_hours(study: dict, train_rates: dict, eval_rates: dict) -> float | None:
    """Wall hours of ``study`` one job at a time, from measured rates (see PROJECTION_FORMULA)."""
    total = 0.0
    for model in study["models"]:
        train_rate, eval_rate = train_rates.get(model), eval_rates.get(model)
        if not train_rate or not eval_rate:
            return None
        per_job = study["epochs"] * (study["train_cadences"] / train_rate + study["val_cadences"] / eval_rate)
        total += per_job + study["val_cadences"] / eval_rate
    return len(study["augs"]) * study["folds"] * total / 3600


def augmentation_study_config():
    """``experiment=augmentation_study`` composed with its Hydra config (the sweep's parameters)."""
    return compose("train", ["experiment=augmentation_study", "data.root=unused"], return_hydra_config=True)


def study_values(cfg, key: str, default) -> list:
    """The values a composed sweep config's ``key`` takes (its sweeper parameter, else ``default``)."""
    from omegaconf import OmegaConf

    from seti.training.devices import sweep_values

    return sweep_values(key, default, [], OmegaConf.to_container(cfg.hydra.sweeper.params) or {})


def augmentation_study() -> dict:
    """``experiment=augmentation_study`` as the founding-study dict: its sweep, epochs and the Kaggle fold sizes."""
    cfg = augmentation_study_config()
    folds = int(cfg.data.num_folds)
    return {
        "models": [str(m) for m in study_values(cfg, "model", cfg.model.name)],
        "augs": [str(a) for a in study_values(cfg, "aug", cfg.aug.name)],
        "folds": len(study_values(cfg, "data.fold", cfg.data.fold)),
        "epochs": int(cfg.trainer.max_epochs),
        "train_cadences": KAGGLE_LABELLED * (folds - 1) // folds,
        "val_cadences": KAGGLE_LABELLED // folds,
        "image_size": list(cfg.data.image_size),
        # "auto" when the preset lets each job probe its fastest batch (the projections use the measured ones)
        "batch_size": cfg.data.batch_size if cfg.data.batch_size == "auto" else int(cfg.data.batch_size),
    }


def projections(results: dict, settings: Settings) -> dict:
    """The founding study and experiment=augmentation_study, projected at the reference batch and at each
    model's fastest batch. In tiny mode the measured tiny model stands in for every model of the study."""
    stand_in = settings.models[0] if settings.tiny else None
    out: dict = {"formula": PROJECTION_FORMULA, "stand_in": stand_in}
    eval_rates = {m: (results["predict"].get(f"one_member_{m}") or {}).get("cadences_per_s") for m in settings.models}
    for name, study in (("founding_study", dict(FOUNDING_STUDY)), ("augmentation_study", augmentation_study())):
        entry = {"study": study}
        for label in ("reference_batch", "best_batch"):
            train_rates, batches = {}, {}
            for m in settings.models:
                model_entry = results["models"].get(m) or {}
                batch = settings.ladder[0] if label == "reference_batch" else model_entry.get("best_batch")
                run = (model_entry.get("runs") or {}).get(str(batch)) or {}
                train_rates[m] = (run.get("train_path") or {}).get("samples_per_s")
                batches[m] = batch
            if stand_in:
                train_rates = {m: train_rates[stand_in] for m in study["models"]}
                rates_eval = {m: eval_rates[stand_in] for m in study["models"]}
                batches = {m: batches[stand_in] for m in study["models"]}
            else:
                rates_eval = eval_rates
            hours = project_hours(study, train_rates, rates_eval)
            entry[label] = {"batch": batches, "train_rates": train_rates, "eval_rates": rates_eval, "hours": hours}
        parallel = best_concurrency(results)
        if parallel and entry["best_batch"]["hours"]:
            entry["best_batch"]["parallel"] = {**parallel, "hours": entry["best_batch"]["hours"] / parallel["speedup"]}
        out[name] = entry
    return out


def best_concurrency(results: dict) -> dict | None:
    """The measured number of jobs at once with the highest speedup over one job, if any beat one job."""
    points = [p for p in (results.get("concurrent") or {}).values() if (p.get("speedup") or 0) > 1]
    best = max(points, key=lambda p: p["speedup"], default=None)
    return {"jobs": best["jobs"], "speedup": best["speedup"]} if best else None

"""Inference: batched probabilities from trained models, outside the Trainer, and predict.py's job.

- :mod:`~seti.inference.engine`: predict.py's one pass over the raw cadences for every ensemble group.
- :mod:`~seti.inference.settings`: predict.py's command line, settings, one pass's options, workers.
- :mod:`~seti.inference.members`: checkpoints (a file, a run, a sweep) to models, rebuilt from their config.
- :mod:`~seti.inference.ensemble`: one pass over the files for a whole ensemble; blending.
- :mod:`~seti.inference.oof`: out-of-fold predictions and their AUROC.
- :mod:`~seti.inference.predict`: the job (check, run, write).

The job function is ``seti.inference.predict.predict``; it is not re-exported here, where its name would
hide the module of the same name.
"""

from seti.inference.ensemble import blend, check_files, model_stack, predict_ids, rank01
from seti.inference.members import (
    Member,
    MemberSpec,
    build_model,
    find_checkpoints,
    group_by_preprocessing,
    load_checkpoint,
    load_member,
    load_members,
    preprocessor_from_config,
)
from seti.inference.oof import out_of_fold
from seti.inference.predict import check_outputs
from seti.inference.settings import (
    PredictError,
    PredictSettings,
    ScoringOptions,
    check_overrides,
    quote_path_overrides,
    resolve_workers,
)

__all__ = [
    "Member",
    "MemberSpec",
    "PredictError",
    "PredictSettings",
    "ScoringOptions",
    "blend",
    "build_model",
    "check_files",
    "check_outputs",
    "check_overrides",
    "find_checkpoints",
    "group_by_preprocessing",
    "load_checkpoint",
    "load_member",
    "load_members",
    "model_stack",
    "out_of_fold",
    "predict_ids",
    "preprocessor_from_config",
    "quote_path_overrides",
    "rank01",
    "resolve_workers",
]

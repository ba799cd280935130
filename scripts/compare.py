"""Compare the runs of one or more sweeps and write SWEEP_DIR/report/ (Markdown + HTML + CSV + PNG).

    python scripts/compare.py logs/multirun/2024-06-01_12-00-00 [MORE_SWEEP_DIRS] [--out DIR] [--n-boot N] [--seed S] [--wandb] [--allow-mixed-code]
    python scripts/compare.py SWEEP_DIR --factor data.batch_size [--baseline 16]   (levels of a key instead of augs)

All logic lives in seti.report (entry point seti.report.compare.main) so it is importable and tested.
"""

from seti.report.compare import main

if __name__ == "__main__":
    raise SystemExit(main())

"""seti: experiment framework for SETI Breakthrough Listen cadence classification."""

import os as _os

# Offline by default, set here because every entry point imports ``seti`` before the libraries below:
# - albumentations asks the package index for its latest version when it is imported (a 2 s timeout,
#   longer behind a packet-dropping firewall) unless NO_ALBUMENTATIONS_UPDATE is set first;
# - huggingface_hub (timm) reads HF_HUB_OFFLINE at import: weights come from local files only.
# setdefault: a user who wants either can still export the variable with another value.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
_os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"

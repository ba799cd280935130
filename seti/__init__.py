"""seti: experiment framework for SETI Breakthrough Listen cadence classification."""
__version__ = "0.1.0"

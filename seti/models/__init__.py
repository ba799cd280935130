"""Models: timm EfficientNet backbones in a LightningModule, and their training schedule."""

"""One module per panel of the composer: sidebar (files, palette, data), editor, drawing,
inspector, inference, training."""

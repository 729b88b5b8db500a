"""YAML presets: mad, cmdad, tvad, demo."""

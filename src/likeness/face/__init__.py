"""Face engine: model packs, image loading, detection and embedding."""

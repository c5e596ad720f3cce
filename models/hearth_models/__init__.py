"""Hearth's model catalog, shipped as data (installed as the package `hearth_models`)."""

"""Reusable pieces of the ml-platform Pulumi program: typed config, the ModelImage and ModelService components."""

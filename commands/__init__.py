"""Command groups: one module per group, each with ``register(registry)``; the feature that owns a group calls
it from its ``register(features)`` (bot/<feature>/feature.py, composed in bot/features.py)."""

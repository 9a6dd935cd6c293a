"""The core framework: types, clock, registry, context, dispatcher, the desk."""

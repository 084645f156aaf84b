"""Renderers: turn a Trace (and what a command chose from it) into output, never printing."""

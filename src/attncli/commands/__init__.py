"""The commands of `attn`, one module each; cli.py registers them on the app.

common.py holds what they share: the options, the consoles, JSON output, model loading.
"""

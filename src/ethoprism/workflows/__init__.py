"""The workflows behind the commands, one module each: they take paths and options, return
results and print nothing (the CLI in :mod:`ethoprism.cli` parses and prints; notebooks call
these directly).

* :mod:`~ethoprism.workflows.extract` — videos -> store
* :mod:`~ethoprism.workflows.classify` — store + labels -> heads, predictions, metrics, few-shot
* :mod:`~ethoprism.workflows.retrieve` — store -> index -> segments, zero-shot, Hit@K
* :mod:`~ethoprism.workflows.localize` — store + boxes -> box head -> boxes, AP
* :mod:`~ethoprism.workflows.demo` — the offline end-to-end demo
"""

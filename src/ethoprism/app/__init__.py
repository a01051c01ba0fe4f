"""``ethoprism app``: the labelling loop in a browser (watch, label, train, correct, label what
matters next, export). :class:`~ethoprism.app.project.Project` holds the state,
:mod:`~ethoprism.app.server` serves it."""

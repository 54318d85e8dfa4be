"""wqm: a project-scoped knowledge workspace on Qdrant whose data survives every rename."""

__version__ = "0.1.0"

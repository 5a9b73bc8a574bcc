"""反诈助手 — an anti-fraud outreach chatbot for a county police anti-fraud centre.

The flow of a message: normalise → understand (tokens, entities, type) → risk →
dialogue → actions → channels → store. Each stage lives in its own module.
"""

__version__ = "0.2.0"

"""Dialogue: stories/ and rules in Rasa 3.x YAML, slots, and the actions they call."""

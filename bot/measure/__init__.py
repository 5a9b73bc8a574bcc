"""Measuring the bot: accuracy by register, speed and memory, and the fault scenarios."""

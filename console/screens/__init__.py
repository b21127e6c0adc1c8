"""Textual screens of the console, one per module with its .tcss beside it."""

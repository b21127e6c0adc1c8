"""Admissions operations console for county compulsory-school enrollment."""

__version__ = "0.1.0"

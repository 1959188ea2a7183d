"""Measuring the assistant, apart from answering: nothing on the answer path imports this package."""

"""Pictures to network inputs: ink on paper (``ink``), the MNIST recipe for one digit
(``preprocess``), several digits in a row (``digits``) and what is no digit (``rejection``).

Standard library only, no I/O: pictures come in as :class:`purenet.io.Image` or rows of numbers."""

from .preprocess import preprocess, preprocess_to_matrix

__all__ = ["preprocess", "preprocess_to_matrix"]

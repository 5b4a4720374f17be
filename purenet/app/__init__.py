"""The drawing app: ``preprocess`` (plain Python, used by ``purenet predict`` too)
and, later, the Tk window. Importing this package never imports tkinter."""

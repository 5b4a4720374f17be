"""The drawing app (``purenet draw``), as plain modules under a thin Tk layer.

- ``preprocess``: re-exports the core MNIST recipe (:mod:`purenet.vision.preprocess`);
- ``strokes``: pen strokes -> the canvas raster and the network's 28x28 input;
- ``state``: the drawing (strokes, undo, clear) and the model's predictions;
- ``userdata``: labelled drawings kept as IDX files; ``finetune``: training on them;
- ``pictures``: numbers to colours for the input preview, the filters and feature maps;
- ``window``: the Tk window, the only module that imports tkinter.

Importing this package never imports tkinter."""

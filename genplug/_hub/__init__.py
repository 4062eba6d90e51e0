"""The Hugging Face Hub, in three modules by job.

- :mod:`genplug._hub.transport`: download into the cache, offline mode, revision pinning
  (below the Python API: ``genplug.load("org/name@rev")`` uses it);
- :mod:`genplug._hub.push`: upload a model folder as one commit (above the Python API:
  it loads and samples a model to draw the card's grid);
- :mod:`genplug._hub.card`: the generated model card.

This file imports nothing, so importing the transport does not import the upload.
"""

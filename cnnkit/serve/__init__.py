"""``cnnkit serve``: a local web app to draw a digit and watch the CNN, and to edit a kernel
and watch the picture change.

The routes (:mod:`cnnkit.serve.app`) are thin: they decode a request, call the same library
functions the command line calls (``digits.prepare_digit``, the model's layers,
``filtering.apply_filter``, ``explain``), and encode the answer. The pages are plain HTML, CSS
and JavaScript shipped in ``static/``; nothing is fetched from elsewhere.
"""

"""Pictures in and out, and what is done to them: safe reading and writing (``io``, ``encode``,
``picture_checks``), kernels and their text form, filtering, and stacks of CNN-style steps
(``pipeline``).

Empty on purpose: ``cnnkit.imaging.kernels`` must not pull in Pillow through this file.
"""

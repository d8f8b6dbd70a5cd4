"""Pictures cnnkit draws: drawing primitives and grids (``draw``), colour maps, figures of
feature maps and kernels, charts, and the step-by-step walkthroughs (``explain``)."""

"""The model library: what models are built from and trained with, on top of ``edf.core``.

Read in this order:

    nn.py        components: functions that append statements to a program (affine, conv2d, ...)
    optim.py     optimizers in the batch-size-1 convention (SGD, Adam, per-example Adam/RMSProp)
    train.py     the training loop, history, resumable checkpoints
    data.py      data sets: digits, MNIST from IDX files, rings, Markov chains, perturbations
    dominoes.py  the dominoes data set (two patterns side by side), re-exported by data
    storage.py   .npz files written atomically; parameter packages saved and loaded
    parallel.py  worker processes and Dask clients, and the thread counts runs compute with
    sweep.py     many runs, each stored as it finishes, resumable
    report.py    what lectures share: parameters, figures, results beside their criteria

The library imports the core and itself, never ``edf.course``.
"""

import os

# Kernels run on the CPU under Numba's CUDA simulator; this must be set before numba.cuda loads.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

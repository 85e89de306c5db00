"""Thread settings shared by the Hugging Face sides of the benchmarks (reference only, never used by vrtrain)."""
import torch


def configure(threads, blas_threads=""):
    """torch.set_num_threads(threads) and, on a pthreads OpenBLAS, its pool as vrtrain's set_cpu_threads sizes it.

    blas_threads: "" = the same as threads, "keep" = leave OpenBLAS as loaded, or a number. Returns a description
    ("2 torch threads, openblas-pthread with 2 threads")."""
    if threads > 0:
        torch.set_num_threads(threads)
    blas = f"{torch.get_num_threads()} torch threads, "
    if "BLAS_INFO=mkl" in torch.__config__.show():  # PyPI wheels: MKL, whose threads follow torch's own count
        return blas + "MKL"
    try:  # the OpenBLAS LibTorch loaded (Debian: libopenblas0-pthread or -openmp)
        import ctypes
        ob = ctypes.CDLL("libopenblas.so.0")
        kind = {0: "openblas-serial", 1: "openblas-pthread", 2: "openblas-openmp"}.get(ob.openblas_get_parallel(), "?")
        if threads > 0 and blas_threads != "keep" and kind == "openblas-pthread":
            ob.openblas_set_num_threads(int(blas_threads) if blas_threads else threads)
        return blas + f"{kind} with {ob.openblas_get_num_threads()} threads"
    except OSError:
        return blas + "BLAS ?"

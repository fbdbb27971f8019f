"""onnxruntime sessions: provider selection and checked feeds."""

from __future__ import annotations

import sys

import numpy as np

from graphc.errors import SpecError

PROVIDERS = ("auto", "cpu", "cuda")


def select_providers(choice: str, available: list[str] | None = None) -> tuple[list[str], str | None]:
    """Providers for `choice` and a one-line notice for the user (or None)."""
    import onnxruntime as ort

    available = list(ort.get_available_providers() if available is None else available)
    has_cuda = "CUDAExecutionProvider" in available
    if choice == "cpu":
        return ["CPUExecutionProvider"], None
    if choice == "cuda":
        if not has_cuda:
            raise SpecError("--provider cuda: onnxruntime has no CUDA support here",
                            hint="install onnxruntime-gpu (pip install 'graphc[cuda]') on a machine with an NVIDIA "
                                 "GPU, or use --provider cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], None
    if choice == "auto":
        if has_cuda:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"], None
        return ["CPUExecutionProvider"], "note: running on CPU (no CUDA-enabled onnxruntime found)"
    raise SpecError(f"unknown provider '{choice}'", hint=f"one of {', '.join(PROVIDERS)}")


def make_session(model: bytes | str, provider: str = "auto", quiet: bool = False, threads: int | None = None):
    import onnxruntime as ort

    providers, notice = select_providers(provider)
    if notice and not quiet:
        print(notice, file=sys.stderr)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, options, providers=providers)
    except Exception as e:  # noqa: BLE001 - onnxruntime's own NotImplemented: a kernel it lacks
        if "NOT_IMPLEMENTED" not in str(e):
            raise
        detail = str(e).split("NOT_IMPLEMENTED :")[-1].strip()
        raise SpecError(f"onnxruntime cannot run this model: {detail}",
                        hint="its CPU kernels for convolution, transposed convolution and average pooling "
                             "do not take float64; use dtype float32") from None


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
               "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def _inputs(session) -> list:
    """An onnxruntime session's inputs, or a graphc.runtime.backends.Session's (IOInfo: name, shape, dtype)."""
    return session.inputs if isinstance(getattr(session, "inputs", None), list) else session.get_inputs()


def check_feeds(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match arrays to the session's inputs: names, ranks, fixed dims, consistent symbolic dims, dtypes."""
    expected = {i.name: i for i in _inputs(session)}
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        parts = ([f"missing input(s): {', '.join(missing)}"] if missing else []) + \
                ([f"unknown input(s): {', '.join(extra)}"] if extra else [])
        raise SpecError("; ".join(parts), hint=f"the model's inputs: {', '.join(expected)}")
    symbols: dict[str, tuple[int, str]] = {}
    result = {}
    for name, info in expected.items():
        array = np.asarray(feeds[name])
        want = info.shape
        shown = "[" + ", ".join(str(d) for d in want) + "]"
        if array.ndim != len(want):
            raise SpecError(f"input {name} has shape {list(array.shape)}, the model needs {shown}")
        for axis, (got, dim) in enumerate(zip(array.shape, want)):
            if isinstance(dim, int) and got != dim:
                raise SpecError(f"input {name} has shape {list(array.shape)}, the model needs {shown}")
            if isinstance(dim, str):
                seen = symbols.setdefault(dim, (got, name))
                if seen[0] != got:
                    raise SpecError(f"symbolic dim {dim} is {seen[0]} in input {seen[1]} but {got} in input {name}")
        dtype = _ORT_DTYPES.get(info.type) if hasattr(info, "type") else info.dtype
        if dtype is not None and array.dtype != dtype:
            if np.issubdtype(array.dtype, np.floating) != np.issubdtype(dtype, np.floating):
                raise SpecError(f"input {name} has dtype {array.dtype}, the model needs {np.dtype(dtype).name}")
            array = array.astype(dtype)
        result[name] = array
    return result


def run(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    feeds = check_feeds(session, feeds)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))

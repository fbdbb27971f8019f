"""Python files as specs: `graphc compile model.py` runs the file and uses the `graphc.Model` it
binds to `model` (or the one `--model NAME` names: a model of that spec, or a variable)."""

from __future__ import annotations

import dataclasses
import os
import runpy
import traceback
from typing import Any

from graphc.errors import Location, SpecError, did_you_mean
from graphc.functional.trace import new_session


def _run(path: str) -> dict[str, Any]:
    """Execute the file (as module `__graphc__`, so `if __name__ == "__main__":` parts do not run)."""
    if not os.path.exists(path):
        raise SpecError(f"no such file: {path}")

    new_session()
    try:
        return runpy.run_path(path, run_name="__graphc__")
    except SpecError:
        raise
    except SyntaxError as e:
        raise SpecError(f"Python syntax: {e.msg}", Location(path, e.lineno or 1, e.offset or 1)) from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's script failed: say where, no trace
        line = 1
        for frame in traceback.extract_tb(e.__traceback__):
            if os.path.abspath(frame.filename) == os.path.abspath(path):
                line = frame.lineno or 1
        raise SpecError(f"{type(e).__name__}: {e}", Location(path, line, 1)) from None


def load_python(path: str, params: dict[str, Any] | None = None, seed: int = 0, model: str | None = None):
    """The graphc.Model a Python spec file defines."""
    if params:
        raise SpecError(f"--set {next(iter(params))}: a Python spec has no spec parameters", Location(path, 1, 1),
                        "change the value in the file, or read it from the environment there")
    namespace = _run(path)
    models = {k: v for k, v in namespace.items()  # graphc.Model instances (not imported: api imports this)
              if hasattr(v, "spec") and hasattr(v, "model_name") and hasattr(v, "onnx_bytes")}
    default = models.get("model")
    if model is None:
        if default is None:
            raise SpecError(f"{os.path.basename(path)} defines no 'model' (a graphc.Model)", Location(path, 1, 1),
                            "assign one, model = gc.Model(...), or name one with --model"
                            + (f"; it defines {', '.join(models)}" if models else ""))
        chosen, name = default, default.model_name
    elif default is not None and model in default.spec.models:
        chosen, name = default, model
    elif model in models:
        chosen, name = models[model], models[model].model_name
    else:
        known = sorted(set(models) | (set(default.spec.models) if default is not None else set()))
        raise SpecError(f"no model '{model}' in {path}", Location(path, 1, 1),
                        did_you_mean(model, known) or (f"models: {', '.join(known)}" if known else None))
    if chosen.model_name == name and chosen.spec.seed == seed:
        return chosen
    return type(chosen)(dataclasses.replace(chosen.spec, seed=seed), name)

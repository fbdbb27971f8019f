"""The functional Python front end: `gc.Input`, `gc.layers.*`, `gc.Model`, `gc.scope`, `gc.repeat`.

    import graphc as gc
    x = gc.Input("x", ["N", 784])
    h = gc.layers.dense(x, 64, activation="relu")     # h.shape == ("N", 64)
    model = gc.Model("mlp", inputs=[x], outputs=[gc.layers.dense(h, 10, name="logits")])

See docs/python-api.md.
"""

from graphc.functional.trace import Input, Tensor, repeat, scope

__all__ = ["Input", "Tensor", "repeat", "scope"]

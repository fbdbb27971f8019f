"""Python twin of specs/self_attention.yaml (byte-identical ONNX): Causal self-attention + residual + layernorm, then cross-attention to a memory"""

import graphc as gc


x = gc.Input('x', ['N', 'T', 64])
memory = gc.Input('memory', ['N', 'S', 32])
self_att = gc.layers.attention(x, 4, causal=True, name='self_att')
res = gc.layers.add(x, self_att, name='res')
norm = gc.layers.layernorm(res, name='norm')
cross_att = gc.layers.attention(norm, memory, 4, name='cross_att')
model = gc.Model('self_attention', inputs=[x, memory], outputs=[cross_att], doc='Causal self-attention + residual + layernorm, then cross-attention to a memory')


if __name__ == "__main__":
    print(model.export('self_attention.onnx'))

"""Python twin of specs/mlp_small.yaml (byte-identical ONNX): MLP 64-32-10 on the digits features, giving logits"""

import graphc as gc


x = gc.Input('x', ['N', 64])
hidden = gc.layers.dense(x, 32, activation='relu', name='hidden')
logits = gc.layers.dense(hidden, 10, name='logits')
model = gc.Model('mlp_small', inputs=[x], outputs=[logits], doc='MLP 64-32-10 on the digits features, giving logits')


if __name__ == "__main__":
    print(model.export('mlp_small.onnx'))

"""Python twin of specs/linear_regression.yaml (byte-identical ONNX): Linear regression y = x @ weight.T + bias (one Dense unit) on the 10 diabetes features"""

import graphc as gc


x = gc.Input('x', ['N', 10])
y = gc.layers.dense(x, 1, name='y')
model = gc.Model('linear_regression', inputs=[x], outputs=[y], doc='Linear regression y = x @ weight.T + bias (one Dense unit) on the 10 diabetes features')


if __name__ == "__main__":
    print(model.export('linear_regression.onnx'))

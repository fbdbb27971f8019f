"""Python twin of specs/train_linear_regression.yaml (byte-identical ONNX): y = w x + b fitted by SGD on four points (the answer is w = 2, b = 0)"""

import graphc as gc


x = gc.Input('x', ['N', 1])
y = gc.Input('y', ['N', 1])
out = gc.layers.dense(x, 1, name='out')
model = gc.Model('linear_regression_seed', inputs=[x, y], outputs=[out], doc='y = w x + b fitted by SGD on four points (the answer is w = 2, b = 0)')

model.training(data={'npz': '../../specs/train_linear_regression.npz'}, loss={'mse': {'pred': 'out', 'target': 'y'}}, optimizer={'sgd': {'lr': 0.05}}, batch_size=4, epochs=500, metrics=['mse', 'r2'], shuffle=False)

if __name__ == "__main__":
    print(model.export('linear_regression_seed.onnx'))

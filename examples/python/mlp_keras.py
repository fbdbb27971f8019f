"""Python twin of specs/mlp_keras.yaml (byte-identical ONNX): Keras MNIST MLP 784-64-64-10 with a softmax output"""

import graphc as gc


x = gc.Input('x', ['N', 784])
dense_1 = gc.layers.dense(x, 64, activation='relu')
dense_2 = gc.layers.dense(dense_1, 64, activation='relu')
probs = gc.layers.dense(dense_2, 10, activation='softmax', name='probs')
model = gc.Model('mlp_keras', inputs=[x], outputs=[probs], doc='Keras MNIST MLP 784-64-64-10 with a softmax output')


if __name__ == "__main__":
    print(model.export('mlp_keras.onnx'))

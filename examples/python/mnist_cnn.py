"""Python twin of specs/mnist_cnn.yaml (byte-identical ONNX): Keras MNIST example"""

import graphc as gc


image = gc.Input('image', ['N', 1, 28, 28])
label = gc.Input('label', ['N'], dtype='int64')
conv2d_1 = gc.layers.conv2d(image, 32, 3, activation='relu')
conv2d_2 = gc.layers.conv2d(conv2d_1, 64, 3, activation='relu')
maxpool2d_1 = gc.layers.maxpool2d(conv2d_2, 2)
dropout_1 = gc.layers.dropout(maxpool2d_1, 0.25)
flatten_1 = gc.layers.flatten(dropout_1)
dense_1 = gc.layers.dense(flatten_1, 128, activation='relu')
dropout_2 = gc.layers.dropout(dense_1, 0.5)
logits = gc.layers.dense(dropout_2, 10, name='logits')
model = gc.Model('mnist_cnn', inputs=[image, label], outputs=[logits], doc='Keras MNIST example')


if __name__ == "__main__":
    print(model.export('mnist_cnn.onnx'))

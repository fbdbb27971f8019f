"""Python twin of specs/pytorch_cnn.yaml (byte-identical ONNX): Small PyTorch CNN, Conv16 k3 pad 1 + ReLU, 2x MaxPool 2, Linear 16*7*7 -> 10"""

import graphc as gc


image = gc.Input('image', ['N', 1, 28, 28])
conv = gc.layers.conv2d(image, 16, 3, padding=1, activation='relu', name='conv')
pool1 = gc.layers.maxpool2d(conv, 2, name='pool1')
pool2 = gc.layers.maxpool2d(pool1, 2, name='pool2')
flatten_1 = gc.layers.flatten(pool2)
logits = gc.layers.dense(flatten_1, 10, name='logits')
model = gc.Model('pytorch_cnn', inputs=[image], outputs=[logits], doc='Small PyTorch CNN, Conv16 k3 pad 1 + ReLU, 2x MaxPool 2, Linear 16*7*7 -> 10')


if __name__ == "__main__":
    print(model.export('pytorch_cnn.onnx'))

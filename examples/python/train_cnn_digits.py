"""Python twin of specs/train_cnn_digits.yaml (byte-identical ONNX): Small CNN on the 8x8 digits"""

import graphc as gc


image = gc.Input('image', ['N', 1, 8, 8])
label = gc.Input('label', ['N'], dtype='int64')
conv = gc.layers.conv2d(image, 16, 3, padding=1, activation='relu', name='conv')
pool = gc.layers.maxpool2d(conv, 2, name='pool')
flatten_1 = gc.layers.flatten(pool)
logits = gc.layers.dense(flatten_1, 10, name='logits')
model = gc.Model('cnn_digits', inputs=[image, label], outputs=[logits], doc='Small CNN on the 8x8 digits')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, loss={'cross_entropy': {'logits': 'logits', 'target': 'label'}}, optimizer={'adam': {'lr': 0.001}}, batch_size=64, epochs=30, metrics=['accuracy', 'f1'], seed=0)

if __name__ == "__main__":
    print(model.export('cnn_digits.onnx'))

"""Python twin of specs/train_keras_cnn_digits.yaml (byte-identical ONNX): Keras MNIST CNN on the 8x8 digits, Adadelta + categorical cross-entropy"""

import graphc as gc


image = gc.Input('image', ['N', 1, 8, 8])
label = gc.Input('label', ['N'], dtype='int64')
conv2d_1 = gc.layers.conv2d(image, 32, 3, activation='relu')
conv2d_2 = gc.layers.conv2d(conv2d_1, 64, 3, activation='relu')
maxpool2d_1 = gc.layers.maxpool2d(conv2d_2, 2)
dropout_1 = gc.layers.dropout(maxpool2d_1, 0.25)
flatten_1 = gc.layers.flatten(dropout_1)
dense_1 = gc.layers.dense(flatten_1, 128, activation='relu')
dropout_2 = gc.layers.dropout(dense_1, 0.5)
probs = gc.layers.dense(dropout_2, 10, activation='softmax', name='probs')
model = gc.Model('keras_cnn_digits', inputs=[image, label], outputs=[probs], doc='Keras MNIST CNN on the 8x8 digits, Adadelta + categorical cross-entropy')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, validation={'split': 0.1}, loss={'categorical_crossentropy': {'probs': 'probs', 'target': 'label'}}, optimizer={'adadelta': {'lr': 1.0, 'rho': 0.95, 'eps': 1e-07}}, batch_size=128, epochs=12, metrics=['accuracy', 'precision', 'recall', 'f1', 'confusion_matrix'], seed=0)

if __name__ == "__main__":
    print(model.export('keras_cnn_digits.onnx'))

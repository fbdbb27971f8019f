"""Python twin of specs/train_mlp_digits.yaml (byte-identical ONNX): MLP 64-64-64-10 on the digits features, giving logits"""

import graphc as gc


x = gc.Input('x', ['N', 64])
label = gc.Input('label', ['N'], dtype='int64')
dense_1 = gc.layers.dense(x, 64, activation='relu')
dense_2 = gc.layers.dense(dense_1, 64, activation='relu')
logits = gc.layers.dense(dense_2, 10, name='logits')
model = gc.Model('mlp_digits', inputs=[x, label], outputs=[logits], doc='MLP 64-64-64-10 on the digits features, giving logits')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, validation={'split': 0.1}, loss={'cross_entropy': {'logits': 'logits', 'target': 'label'}}, optimizer={'adam': {'lr': 0.001}}, batch_size=64, epochs=30, metrics=['accuracy', 'precision', 'recall', 'f1'], early_stopping={'monitor': 'val_loss', 'patience': 5}, seed=0)

if __name__ == "__main__":
    print(model.export('mlp_digits.onnx'))

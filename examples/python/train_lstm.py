"""Python twin of specs/train_lstm.yaml (byte-identical ONNX): LSTM(64) over the 8 rows of an 8x8 digit, Dense 10 on the last hidden state"""

import graphc as gc


x = gc.Input('x', ['N', 8, 8])
label = gc.Input('label', ['N'], dtype='int64')
lstm = gc.layers.lstm(x, 64, name='lstm')
logits = gc.layers.dense(lstm[1], 10, name='logits')
model = gc.Model('lstm_digits', inputs=[x, label], outputs=[logits], doc='LSTM(64) over the 8 rows of an 8x8 digit, Dense 10 on the last hidden state')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, loss={'cross_entropy': {'logits': 'logits', 'target': 'label'}}, optimizer={'adam': {'lr': 0.003}}, batch_size=64, epochs=30, metrics=['accuracy', 'f1'], seed=0)

if __name__ == "__main__":
    print(model.export('lstm_digits.onnx'))

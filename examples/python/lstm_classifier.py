"""Python twin of specs/lstm_classifier.yaml (byte-identical ONNX): LSTM(32) over 8 rows of an 8x8 digit, Dense 10 on the last hidden state"""

import graphc as gc


x = gc.Input('x', ['N', 8, 8])
label = gc.Input('label', ['N'], dtype='int64')
lstm = gc.layers.lstm(x, 32, name='lstm')
logits = gc.layers.dense(lstm[1], 10, name='logits')
model = gc.Model('lstm_classifier', inputs=[x, label], outputs=[logits], doc='LSTM(32) over 8 rows of an 8x8 digit, Dense 10 on the last hidden state')


if __name__ == "__main__":
    print(model.export('lstm_classifier.onnx'))

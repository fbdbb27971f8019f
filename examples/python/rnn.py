"""Python twin of specs/rnn.yaml (byte-identical ONNX): Character-level RNN language model; logits for the next character at every step"""

import graphc as gc


chars = gc.Input('chars', ['N', 'T'], dtype='int64')
embed = gc.layers.embedding(chars, 96, 32, name='embed')
rnn = gc.layers.rnn(embed, 128, activation='tanh', name='rnn')
logits = gc.layers.dense(rnn[0], 96, name='logits')
model = gc.Model('char_rnn', inputs=[chars], outputs=[logits, rnn[1]], doc='Character-level RNN language model; logits for the next character at every step')


if __name__ == "__main__":
    print(model.export('char_rnn.onnx'))

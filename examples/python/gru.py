"""Python twin of specs/gru.yaml (byte-identical ONNX): Embedding 64, bidirectional 2-layer GRU(64), Dense 2 on the concatenated final hidden states"""

import graphc as gc


tokens = gc.Input('tokens', ['N', 'T'], dtype='int64')
embed = gc.layers.embedding(tokens, 1000, 64, name='embed')
gru = gc.layers.gru(embed, 64, layers=2, bidirectional=True, name='gru')
logits = gc.layers.dense(gru[1], 2, name='logits')
model = gc.Model('gru_classifier', inputs=[tokens], outputs=[logits], doc='Embedding 64, bidirectional 2-layer GRU(64), Dense 2 on the concatenated final hidden states')


if __name__ == "__main__":
    print(model.export('gru_classifier.onnx'))

"""Python twin of specs/transformer_encoder.yaml (byte-identical ONNX): Token embedding and 6 pre-norm Transformer encoder layers (d_model 128, 4 heads, ff 512)"""

import functools

import graphc as gc


def encoder_layer(x, d_model=128, heads=4, ff=512):
    ln1 = gc.layers.layernorm(x, name='ln1')
    att = gc.layers.attention(ln1, heads, name='att')
    res1 = gc.layers.add(x, att, name='res1')
    ln2 = gc.layers.layernorm(res1, name='ln2')
    dense_1 = gc.layers.dense(ln2, ff, activation='gelu')
    ff_out = gc.layers.dense(dense_1, d_model, name='ff_out')
    add_2 = gc.layers.add(res1, ff_out)
    return add_2


tokens = gc.Input('tokens', ['N', 'T'], dtype='int64')
embedding_1 = gc.layers.embedding(tokens, 1000, 128)
encoder_layer_1 = gc.repeat(functools.partial(encoder_layer, heads=4), 6, block='encoder_layer')(embedding_1)
final_norm = gc.layers.layernorm(encoder_layer_1, name='final_norm')
pooled = gc.layers.mean(final_norm, axis=1, name='pooled')
logits = gc.layers.dense(pooled, 2, name='logits')
model = gc.Model('transformer_encoder', inputs=[tokens], outputs=[logits], doc='Token embedding and 6 pre-norm Transformer encoder layers (d_model 128, 4 heads, ff 512)')


if __name__ == "__main__":
    print(model.export('transformer_encoder.onnx'))

"""Python twin of specs/train_transformer.yaml (byte-identical ONNX): One pre-norm Transformer encoder block (d_model 128, 4 heads, ff 512) classifying digits"""

import graphc as gc


x = gc.Input('x', ['N', 8, 8])
label = gc.Input('label', ['N'], dtype='int64')
embed = gc.layers.dense(x, 128, name='embed')
ln1 = gc.layers.layernorm(embed, name='ln1')
att = gc.layers.attention(ln1, 4, name='att')
res1 = gc.layers.add(embed, att, name='res1')
ln2 = gc.layers.layernorm(res1, name='ln2')
ff_in = gc.layers.dense(ln2, 512, activation='gelu', name='ff_in')
ff_out = gc.layers.dense(ff_in, 128, name='ff_out')
res2 = gc.layers.add(res1, ff_out, name='res2')
flat = gc.layers.flatten(res2, name='flat')
logits = gc.layers.dense(flat, 10, name='logits')
model = gc.Model('transformer_digits', inputs=[x, label], outputs=[logits], doc='One pre-norm Transformer encoder block (d_model 128, 4 heads, ff 512) classifying digits')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, loss={'cross_entropy': {'logits': 'logits', 'target': 'label'}}, optimizer={'adam': {'lr': 0.001}}, batch_size=64, epochs=20, metrics=['accuracy', 'f1'], seed=0)

if __name__ == "__main__":
    print(model.export('transformer_digits.onnx'))

"""Python twin of specs/train_vae.yaml (byte-identical ONNX): VAE 64-128-20-128-64 on the digits pixels"""

import graphc as gc


x = gc.Input('x', ['N', 64])
enc = gc.layers.dense(x, 128, activation='relu', name='enc')
mu = gc.layers.dense(enc, 20, name='mu')
logvar = gc.layers.dense(enc, 20, name='logvar')
z = gc.layers.reparameterize(mu, logvar, name='z')
dec = gc.layers.dense(z, 128, activation='relu', name='dec')
recon = gc.layers.dense(dec, 64, name='recon')
model = gc.Model('vae_digits', inputs=[x], outputs=[recon, mu, logvar], doc='VAE 64-128-20-128-64 on the digits pixels')

model.training(data={'dataset': 'digits', 'test_split': 0.2}, loss=[{'bce_with_logits': {'logits': 'recon', 'target': 'x'}}, {'kl_normal': {'in': ['mu', 'logvar']}, 'weight': 0.015625}], optimizer={'adam': {'lr': 0.001}}, batch_size=64, epochs=30, seed=0)

if __name__ == "__main__":
    print(model.export('vae_digits.onnx'))

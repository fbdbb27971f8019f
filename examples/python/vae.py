"""Python twin of specs/vae.yaml (byte-identical ONNX): Variational autoencoder 784-400-20-400-784"""

import graphc as gc


x = gc.Input('x', ['N', 784])
enc = gc.layers.dense(x, 400, activation='relu', name='enc')
mu = gc.layers.dense(enc, 20, name='mu')
logvar = gc.layers.dense(enc, 20, name='logvar')
z = gc.layers.reparameterize(mu, logvar, sample=False, name='z')
dec = gc.layers.dense(z, 400, activation='relu', name='dec')
recon = gc.layers.dense(dec, 784, activation='sigmoid', name='recon')
model = gc.Model('vae', inputs=[x], outputs=[recon, mu, logvar], doc='Variational autoencoder 784-400-20-400-784')


if __name__ == "__main__":
    print(model.export('vae.onnx'))

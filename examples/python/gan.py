"""Python twin of specs/gan.yaml (byte-identical ONNX): MLP generator and discriminator, and their combination D(G(z))"""

import graphc as gc


z = gc.Input('z', ['N', 100])
dense_1 = gc.layers.dense(z, 128, activation='relu')
dense_2 = gc.layers.dense(dense_1, 784, activation='tanh')
generator = gc.Model('generator', inputs=[z], outputs=[dense_2], doc='MLP generator and discriminator, and their combination D(G(z))', spec_name='gan')

x = gc.Input('x', ['N', 784])
dense_1 = gc.layers.dense(x, 128, activation='leaky_relu')
dense_2 = gc.layers.dense(dense_1, 1, activation='sigmoid')
discriminator = gc.Model('discriminator', inputs=[x], outputs=[dense_2], doc='MLP generator and discriminator, and their combination D(G(z))', spec_name='gan')

z = gc.Input('z', ['N', 100])
fake = generator(z, name='fake')
score = discriminator(fake, name='score')
gan = gc.Model('gan', inputs=[z], outputs=[score], doc='MLP generator and discriminator, and their combination D(G(z))', spec_name='gan')

model = gan  # its spec holds every model: --model generator / discriminator / gan

if __name__ == "__main__":
    print(model.export('gan.onnx'))

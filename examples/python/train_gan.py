"""Python twin of specs/train_gan.yaml (byte-identical ONNX): MLP GAN on the 8x8 digits"""

import graphc as gc


z = gc.Input('z', ['N', 16])
dense_1 = gc.layers.dense(z, 64, activation='relu')
image = gc.layers.dense(dense_1, 64, activation='sigmoid', name='image')
generator = gc.Model('generator', inputs=[z], outputs=[image], doc='MLP GAN on the 8x8 digits', spec_name='gan_digits')

x = gc.Input('x', ['N', 64])
hidden = gc.layers.dense(x, 64, activation='leaky_relu', name='hidden')
real = gc.layers.dense(hidden, 1, activation='sigmoid', name='real')
discriminator = gc.Model('discriminator', inputs=[x], outputs=[real], doc='MLP GAN on the 8x8 digits', spec_name='gan_digits')

z = gc.Input('z', ['N', 16])
fake = generator(z, name='fake')
score = discriminator(fake, name='score')
gan = gc.Model('gan', inputs=[z], outputs=[score], doc='MLP GAN on the 8x8 digits', spec_name='gan_digits')

model = gan  # its spec holds every model: --model generator / discriminator / gan
model.training(gan={'generator': 'generator', 'discriminator': 'discriminator', 'combined': 'gan', 'noise': 'z', 'real': 'x'}, data={'dataset': 'digits'}, optimizer={'adam': {'lr': 0.0005, 'beta1': 0.5}}, batch_size=64, epochs=20, seed=0)

if __name__ == "__main__":
    print(model.export('gan_digits.onnx'))

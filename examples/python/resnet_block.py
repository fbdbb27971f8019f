"""Python twin of specs/resnet_block.yaml (byte-identical ONNX): Stem conv, residual basic blocks repeated $blocks times, global average pool, Dense 10"""

import functools

import graphc as gc


def basic_block(x, channels=16):
    'conv3x3-bn-relu-conv3x3-bn, plus the block input, then relu (shape preserving)'
    conv1 = gc.layers.conv2d(x, channels, 3, padding=1, bias=False, name='conv1')
    bn1 = gc.layers.batchnorm(conv1, name='bn1')
    relu1 = gc.layers.relu(bn1, name='relu1')
    conv2 = gc.layers.conv2d(relu1, channels, 3, padding=1, bias=False, name='conv2')
    bn2 = gc.layers.batchnorm(conv2, name='bn2')
    skip = gc.layers.add(x, bn2, name='skip')
    out = gc.layers.relu(skip, name='out')
    return out


image = gc.Input('image', ['N', 1, 28, 28])
stem = gc.layers.conv2d(image, 16, 3, padding=1, activation='relu', name='stem')
res = gc.repeat(functools.partial(basic_block, channels=16), 2, block='basic_block', name='res')(stem)
pool = gc.layers.global_avgpool(res, name='pool')
logits = gc.layers.dense(pool, 10, name='logits')
model = gc.Model('resnet_block', inputs=[image], outputs=[logits], doc='Stem conv, residual basic blocks repeated $blocks times, global average pool, Dense 10')


if __name__ == "__main__":
    print(model.export('resnet_block.onnx'))

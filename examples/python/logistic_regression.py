"""Python twin of specs/logistic_regression.yaml (byte-identical ONNX): Logistic regression p = sigmoid(x @ weight.T + bias) on the 30 breast_cancer features"""

import graphc as gc


x = gc.Input('x', ['N', 30])
prob = gc.layers.dense(x, 1, activation='sigmoid', name='prob')
model = gc.Model('logistic_regression', inputs=[x], outputs=[prob], doc='Logistic regression p = sigmoid(x @ weight.T + bias) on the 30 breast_cancer features')


if __name__ == "__main__":
    print(model.export('logistic_regression.onnx'))

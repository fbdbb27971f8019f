"""Python twin of specs/train_logistic_breast_cancer.yaml (byte-identical ONNX): Logistic regression on the 30 breast_cancer features"""

import graphc as gc


x = gc.Input('x', ['N', 30])
label = gc.Input('label', ['N'])
prob = gc.layers.dense(x, 1, activation='sigmoid', name='prob')
model = gc.Model('logistic_breast_cancer', inputs=[x, label], outputs=[prob], doc='Logistic regression on the 30 breast_cancer features')

model.training(data={'dataset': 'breast_cancer', 'test_split': 0.2}, validation={'split': 0.1}, loss={'bce': {'probs': 'prob', 'target': 'label'}}, regularization={'l2': 0.0001}, optimizer={'sgd': {'lr': 0.1, 'momentum': 0.9}}, batch_size=32, epochs=30, metrics=['accuracy', 'precision', 'recall', 'f1'], seed=0)

if __name__ == "__main__":
    print(model.export('logistic_breast_cancer.onnx'))

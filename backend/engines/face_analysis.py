"""MediaPipe face mesh (468 landmarks) and selfie segmentation, one instance per worker process."""
import threading

import numpy as np

from backend.face_mesh import Face


class FaceAnalyzer:
    """Face mesh + selfie segmentation; MediaPipe graphs are not thread-safe, so calls are serialized."""

    def __init__(self, max_faces=5):
        try:
            import mediapipe as mp
        except ImportError as error:  # pragma: no cover - mediapipe is a core requirement
            raise ImportError("the classic sticker engine needs mediapipe==0.10.14 "
                              "(pip install --no-deps -r requirements/worker-nodeps.txt)") from error
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, refine_landmarks=False, min_detection_confidence=0.5)
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._lock = threading.Lock()

    def faces(self, rgb):
        """All faces, largest first."""
        height, width = rgb.shape[:2]
        with self._lock:
            result = self._mesh.process(np.ascontiguousarray(rgb))
        found = []
        for face in result.multi_face_landmarks or []:
            points = np.array([(p.x * width, p.y * height) for p in face.landmark[:468]], dtype=np.float32)
            found.append(Face(points))
        return sorted(found, key=lambda f: -f.area)

    def person_mask(self, rgb):
        """Probability (0-1, float32) that each pixel belongs to a person."""
        with self._lock:
            mask = self._segmenter.process(np.ascontiguousarray(rgb)).segmentation_mask
        return np.clip(mask, 0, 1).astype(np.float32)

    def close(self):
        self._mesh.close()
        self._segmenter.close()

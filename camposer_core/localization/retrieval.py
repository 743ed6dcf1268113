"""Global retrieval without a trained model: bag of SIFT words on the map's own descriptors.

The vocabulary (k-means words of the map's SIFT descriptors, :mod:`camposer_core.dataset.retrieval_pairs`,
the same bag of words that finds the SfM loop closures) is learned when the map is built; each
database image keeps its word counts. A query's descriptors are assigned to their nearest word
and its TF-IDF histogram is compared by cosine similarity with the database images' (IDF from
the images present in the map, i.e. after excluding a held-out split).
"""

from __future__ import annotations

import numpy as np

from ..dataset.retrieval_pairs import RetrievalOptions, _kmeans, _nearest_word

__all__ = ["learn_vocabulary", "word_histogram", "RetrievalIndex"]


def learn_vocabulary(descriptors: list[np.ndarray], words: int = 256, per_image: int = 200, seed: int = 0):
    """``(K, 128)`` float32 visual words from at most ``per_image`` descriptors per image."""
    rng = np.random.default_rng(seed)
    per = max(20, min(per_image, RetrievalOptions().max_training_descriptors // max(1, len(descriptors))))
    sample = [d[rng.choice(len(d), min(len(d), per), replace=False)] for d in descriptors if len(d)]
    if not sample:
        return np.zeros((1, 128), np.float32)
    sample = np.concatenate(sample).astype(np.float32)
    k = int(min(words, max(2, len(sample) // 4)))
    return _kmeans(sample, k, rng)


def word_histogram(descriptors: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """``(K,)`` float32 count of ``descriptors``' nearest words."""
    if len(descriptors) == 0:
        return np.zeros(len(vocabulary), np.float32)
    words = _nearest_word(np.asarray(descriptors, np.float32), vocabulary)
    return np.bincount(words, minlength=len(vocabulary)).astype(np.float32)


class RetrievalIndex:
    """TF-IDF cosine retrieval over a map's database images."""

    def __init__(self, vocabulary: np.ndarray, word_counts: np.ndarray):
        self.vocabulary = np.asarray(vocabulary, np.float32)
        counts = np.asarray(word_counts, np.float32)
        df = np.count_nonzero(counts, axis=0)
        self.idf = np.log((len(counts) + 1) / (df + 1)).astype(np.float32)
        self.vectors = self._normalise(counts)

    def _normalise(self, counts: np.ndarray) -> np.ndarray:
        tfidf = counts / np.maximum(counts.sum(axis=-1, keepdims=True), 1) * self.idf
        return tfidf / np.maximum(np.linalg.norm(tfidf, axis=-1, keepdims=True), 1e-12)

    def query(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the ``k`` most similar database images (best first) and their cosine
        similarities."""
        if len(self.vectors) == 0 or len(descriptors) == 0:
            return np.zeros(0, int), np.zeros(0)
        v = self._normalise(word_histogram(descriptors, self.vocabulary))
        sim = self.vectors @ v
        k = min(k, len(sim))
        best = np.argpartition(-sim, k - 1)[:k]
        best = best[np.argsort(-sim[best])]
        return best, sim[best]

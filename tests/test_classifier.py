"""Our numpy prediction path gives exactly scikit-learn's decision scores."""

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier

from bot.nlu.classifier import ClassifierSettings, IntentClassifier, _identity, char_ngrams, word_ngrams

TEXTS = ["让我把钱转到安全账户", "兼职刷单返佣金", "今天天气很好", "客服说要退款让我共享屏幕",
         "贷款要先交解冻费", "孙子说他被拘留了要钱", "明天去公园  散步", "有人高价收银行卡"]
LABELS = ["fake_police", "order_brushing", "not_scam", "fake_customer_service",
          "fake_loan", "impersonate_acquaintance", "not_scam", "bank_card_rental"]


def test_char_ngrams_match_scikit_learn():
    analyzer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).build_analyzer()
    for text in TEXTS + ["ABC  def\tg"]:
        assert char_ngrams(text, 1, 3) == analyzer(text)


def test_scores_equal_decision_function():
    tokens = [list(t) for t in TEXTS]
    settings = ClassifierSettings(epochs=20)
    ours = IntentClassifier.train(TEXTS, tokens, LABELS, settings)
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, lowercase=False, dtype=np.float32)
    features = sp.hstack([chars.fit_transform(TEXTS), words.fit_transform([word_ngrams(t) for t in tokens])]).tocsr()
    model = SGDClassifier(loss="modified_huber", alpha=settings.alpha, max_iter=20, tol=None,
                          class_weight="balanced", random_state=0).fit(features, LABELS)
    queries = ["对方让我转到安全账户", "刷单返利", "新的一天"]
    qtokens = [list(q) for q in queries]
    expected = model.decision_function(
        sp.hstack([chars.transform(queries), words.transform([word_ngrams(t) for t in qtokens])]).tocsr())
    assert ours.labels == list(model.classes_)
    assert np.allclose(ours.scores(queries, qtokens), expected, atol=1e-5)
    probabilities = IntentClassifier.to_probabilities(ours.scores(queries, qtokens))
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_training_matrix_equals_the_serving_vectors():
    from bot.nlu.classifier import Features

    tokens = [list(t) for t in TEXTS]
    features, matrix = Features.fit_matrix(TEXTS, tokens, (1, 3))
    assert np.allclose(matrix.toarray(), features.matrix(TEXTS, tokens).toarray())

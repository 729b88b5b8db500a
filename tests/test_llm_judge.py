"""LLM judge end to end against a local OpenAI-compatible server (started by the test)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from uniad.eval import llm_judge
from uniad.eval.llm_judge import JudgeUnavailable, OpenAIChatBackend, judge_scores, parse_score

PREDS = {"a": "Rachel opens the door.", "b": "Ross sits.", "c": "Monica cooks."}
REFS = {"a": ["Rachel opens a door."], "b": ["Ross sits down."], "c": ["Joey eats."]}


def test_parse_score_variants():
    assert parse_score("{'score': 4}") == 4
    assert parse_score('Sure! {"score": 5}') == 5
    assert parse_score("score: 0") == 0
    assert parse_score(" 3 ") == 3
    assert parse_score("{'score': 7}") is None  # off the 0-5 scale
    assert parse_score("I would say it matches well.") is None
    assert parse_score("between 2 and 3") is None  # ambiguous: two numbers


class _Judge(BaseHTTPRequestHandler):
    """Answers by the prediction's text; 'junk' mode answers prose until a strict re-ask."""

    mode = "good"
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"body": body, "auth": self.headers.get("Authorization")})
        user = body["messages"][-1]["content"]
        strict = "could not be read" in user
        if self.mode == "junk" or (self.mode == "junk-then-ok" and not strict):
            answer = "The prediction is quite close to the reference."
        else:
            answers = {PREDS["a"]: "{'score': 4}", PREDS["b"]: "Answer: {'score': 5}"}
            answer = next((a for p, a in answers.items() if f"Predicted AD: {p}" in user), "{'score': 1}")
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    _Judge.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _backend(httpd) -> OpenAIChatBackend:
    host, port = httpd.server_address[:2]
    return OpenAIChatBackend(f"http://{host}:{port}/v1", "judge-model", api_key="k", timeout=5)


def test_good_answers_are_averaged_with_greedy_requests(server):
    _Judge.mode = "good"
    result = judge_scores(PREDS, REFS, _backend(server))
    assert result.ratings == {"a": 4, "b": 5, "c": 1}
    assert result.scores == {"LLM-judge": pytest.approx(10 / 3), "LLM-judge unparsed": 0.0}
    first = _Judge.requests[0]
    assert first["body"]["temperature"] == 0 and first["body"]["model"] == "judge-model"
    assert first["auth"] == "Bearer k"
    assert "pronoun" in first["body"]["messages"][0]["content"]
    assert len(_Judge.requests) == 3


def test_unparsable_answers_are_retried_then_counted(server):
    _Judge.mode = "junk"
    result = judge_scores(PREDS, REFS, _backend(server), retries=2)
    assert result.unparsed == ["a", "b", "c"] and result.ratings == {}
    assert result.scores == {"LLM-judge unparsed": 3.0}  # no mean, and no zeros
    assert len(_Judge.requests) == 9  # 1 ask + 2 strict re-asks each


def test_strict_reask_recovers_a_score(server):
    _Judge.mode = "junk-then-ok"
    result = judge_scores({"a": PREDS["a"]}, REFS, _backend(server), retries=1)
    assert result.ratings == {"a": 4} and result.unparsed == []
    assert len(_Judge.requests) == 2


def test_server_down_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIChatBackend(f"http://127.0.0.1:{port}/v1", "m", timeout=2)
    with pytest.raises(JudgeUnavailable, match="unreachable"):
        judge_scores(PREDS, REFS, backend)


def test_missing_url_or_model_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("UNIAD_JUDGE_BASE_URL", raising=False)
    with pytest.raises(JudgeUnavailable, match="base URL and a model name"):
        OpenAIChatBackend(None, "m")


def test_local_backend_greedy_with_a_tiny_model():
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, eos_token_id=1, pad_token_id=0))

    class CharTokenizer:
        """Bytes as ids modulo the vocab: enough to drive generate()."""

        chat_template = None
        pad_token_id, eos_token_id = 0, 1

        def __call__(self, text, return_tensors):
            return {"input_ids": torch.tensor([[2 + b % 30 for b in text.encode()[:64]]])}

        def decode(self, ids, skip_special_tokens):
            return "".join(chr(48 + int(i) % 10) for i in ids)

    backend = llm_judge.LocalLMBackend(model, CharTokenizer(), "tiny", max_new_tokens=4)
    messages = llm_judge.judge_messages("a", "b")
    answer = backend.complete(messages)
    assert answer.startswith("{'score': ")  # the answer format is started for the model
    assert backend.complete(messages) == answer  # greedy: reproducible

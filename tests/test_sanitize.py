import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces import sanitize
from traces.sanitize import mask_secrets, repair_json_text

FAKE_SECRETS = {
    "openai_key": "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
    "anthropic_key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
    "google_api_key": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "github_token": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "gitlab_token": "glpat-abcdefghij0123456789",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "slack_token": "xoxb-1234567890-abcdefghij",
    "stripe_key": "sk_live_0123456789abcdefghij",
    "huggingface_token": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
}


@pytest.mark.parametrize(("kind", "secret"), FAKE_SECRETS.items())
def test_provider_keys_are_masked(kind, secret):
    text, count = mask_secrets(f"export KEY_VALUE={secret} # set\nnext line")
    assert secret not in text
    assert f"[REDACTED:{kind}]" in text
    assert text.endswith(" # set\nnext line")
    assert count == 1


def test_a_private_key_block_is_masked_whole():
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\nAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    text, count = mask_secrets(f"$ cat ~/.ssh/id_ed25519\n{block}\n$ ls")
    assert text == "$ cat ~/.ssh/id_ed25519\n[REDACTED:private_key]\n$ ls"
    assert count == 1


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("DB_PASSWORD=hunter2hunter2", "DB_PASSWORD=[REDACTED:assigned_secret]"),
        ('password: "correct horse"', 'password: "[REDACTED:assigned_secret]"'),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
            "aws_secret_access_key = [REDACTED:assigned_secret]",
        ),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
            "Authorization: Bearer [REDACTED:bearer_token]",
        ),
        ('{"api_key": "abcd1234efgh"}', '{"api_key": "[REDACTED:assigned_secret]"}'),
    ],
)
def test_assignments_and_bearer_tokens_keep_their_names(line, masked):
    assert mask_secrets(line)[0] == masked


@pytest.mark.parametrize(
    "text",
    [
        "password = os.environ['DB_PASSWORD']",
        "secret_key = settings.SECRET_KEY",
        "token = None",
        "def check_password(password: str) -> bool:",
        "api_key=$OPENAI_API_KEY",
        "the task-runner keeps a skip list",
        "git checkout -b fix/parser && pytest -q",
        "Look up the keyboard shortcut for the bearer of bad news",
    ],
)
def test_code_that_names_secrets_without_holding_one_is_left_alone(text):
    assert mask_secrets(text) == (text, 0)


@given(st.text())
def test_masking_is_idempotent(text):
    once, _ = mask_secrets(text)
    assert mask_secrets(once) == (once, 0)


def test_repair_replaces_nul_and_lone_surrogates_but_keeps_pairs_and_escaped_backslashes():
    raw = rb'{"a": "x\u0000y \udc00 \ud83d\ude00 \\u0000 \\\ud800"}'
    repaired, count = repair_json_text(raw)
    assert count == 3
    assert json.loads(repaired) == {"a": "x\u2400y \ufffd \U0001f600 \\u0000 \\\ufffd"}


def test_repair_leaves_clean_text_untouched():
    raw = b'{"a": "plain \\n text"}'
    assert repair_json_text(raw) == (raw, 0)


@given(st.text())
def test_any_decoded_string_survives_the_round_trip(text):
    raw = json.dumps({"a": text}).encode()
    repaired, _ = repair_json_text(raw)
    decoded = msgspec.json.decode(repaired)["a"]
    decoded.encode("utf-8")  # storable: no lone surrogates left
    assert "\x00" not in decoded
    assert len(decoded) == len(text)


SECRET_LINES = [
    *(f"export KEY_VALUE={secret}" for secret in FAKE_SECRETS.values()),
    "DB_PASSWORD=hunter2hunter2",
    'config = {"client_secret": "abcdefgh"}',
    "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc'",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
]


@pytest.mark.parametrize("scanner", ["hyperscan", "python"])
@pytest.mark.parametrize("text", SECRET_LINES)
def test_the_document_level_scan_never_rules_out_a_rule_that_would_mask(text, scanner, monkeypatch):
    if scanner == "python":
        monkeypatch.setattr(sanitize, "_trigger_database", lambda: None)
    elif sanitize.hyperscan is None:
        pytest.skip("Hyperscan is not installed on this platform")
    raw = json.dumps({"steps": [{"kind": "tool_result", "content": text}]}).encode()
    needed = {rule.kind for rule in sanitize.SECRET_RULES if rule.pattern.search(text)}
    assert needed
    assert needed <= {rule.kind for rule in sanitize.rules_for_json(raw)}


@pytest.mark.parametrize("scanner", ["hyperscan", "python"])
def test_a_document_without_triggers_needs_no_rules(scanner, monkeypatch):
    if scanner == "python":
        monkeypatch.setattr(sanitize, "_trigger_database", lambda: None)
    elif sanitize.hyperscan is None:
        pytest.skip("Hyperscan is not installed on this platform")
    raw = json.dumps({"content": "the token was parsed; key lookups are cached"}).encode()
    assert sanitize.rules_for_json(raw) == ()


def test_ascii_spelled_as_json_escapes_does_not_hide_a_secret():
    raw = b'{"content": "\\u0073k-proj-Abc123Def456Ghi789Jkl012Mno345"}'
    assert sanitize.rules_for_json(raw) == sanitize.SECRET_RULES


def test_documents_are_scanned_from_many_threads_at_once():
    """Hyperscan's scratch space belongs to one scan at a time: each thread needs its own."""
    from concurrent.futures import ThreadPoolExecutor

    raw = json.dumps({"content": "token = 'abcdefgh' " * 2000}).encode()
    expected = sanitize.rules_for_json(raw)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: sanitize.rules_for_json(raw), range(400)))
    assert all(result == expected for result in results)

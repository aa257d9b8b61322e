"""Signature and API-key verification (`serve --auth sigv4 --credentials FILE`) through boto3:
the right keys pass for every kind of operation (a model id's `:` and an ARN's `/` in the path,
a query string, event streams), and each way of getting it wrong is refused with the code,
status and message AWS's front end answers (emulator/src/auth/). Requests no SDK can send
(no Authorization header, a malformed one) go out through urllib.
"""
import datetime
import hashlib
import json
import re
import subprocess
import urllib.error
import urllib.request

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import RunningEmulator, emulator_binary
from emulator_admin import (
    HAIKU,
    HAIKU_PROFILE,
    admin_ok,
    anthropic_body,
    chunks,
    clear_journal,
    journal,
    stream_events,
    user,
)

ACCESS_KEY = "AKIDAUTHTEST"
SECRET = "auth-test-secret-Zq8"
TEMP_KEY = "ASIAAUTHTEMP"
TEMP_SECRET = "temp-secret-Xy3"
TEMP_TOKEN = "temp-session-token-Pw7"
OLD_KEY = "ASIAAUTHOLD"
OLD_SECRET = "old-secret-Qr5"
OLD_TOKEN = "old-session-token-Lm2"
API_KEY = "bedrock-api-key-known-Vb9"
LONG_TERM_API_KEY = "ABSKknownlongtermkeyNt4"

CREDENTIALS = f"""# credentials for test_auth.py
[default]
aws_access_key_id = {ACCESS_KEY}
aws_secret_access_key = {SECRET}
region = us-east-1

[temporary]
aws_access_key_id = {TEMP_KEY}
aws_secret_access_key = {TEMP_SECRET}
aws_session_token = {TEMP_TOKEN}
expiration = 2099-01-01T00:00:00Z
aws_account_id = 444455556666

[expired]
aws_access_key_id = {OLD_KEY}
aws_secret_access_key = {OLD_SECRET}
aws_session_token = {OLD_TOKEN}
expiration = 2020-01-01T00:00:00Z

[api-keys]
bedrock_api_key = {API_KEY}

[long-term-api-key]
bedrock_api_key = {LONG_TERM_API_KEY}
"""

CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
INVALID_TOKEN = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
MISMATCH_DETAIL = re.compile(
    r"\n\nThe Canonical String for this request should have been\n'(?P<canonical>.*)'\n\n"
    r"The String-to-Sign should have been\n'(?P<to_sign>.*)'\n\Z",
    re.DOTALL,
)
AMZ_DATE = r"\d{8}T\d{6}Z"
ONE_ATTEMPT = {"total_max_attempts": 1, "mode": "standard"}


@pytest.fixture(autouse=True)
def no_ambient_bearer_token(monkeypatch):
    """An AWS_BEARER_TOKEN_BEDROCK in the environment would make botocore send it instead of a
    signature; only the bearer tests set one."""
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "credentials"
    path.write_text(CREDENTIALS)
    return path


@pytest.fixture(scope="module")
def emu(credentials_file):
    running = RunningEmulator("--auth", "sigv4", "--credentials", str(credentials_file))
    yield running
    running.stop()


@pytest.fixture
def url(emu):
    return emu.url


def signed(service, url, key=ACCESS_KEY, secret=SECRET, token=None, region="us-east-1"):
    """A single-attempt client signing with exactly these keys (a fresh session, so that nothing
    from ~/.aws or the environment is mixed in)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries=ONE_ATTEMPT),
    )


class Wire:
    """What one client sent and got back: the last request (after signing) and the raw error
    response, caught from botocore's before-send / before-parse events."""

    def __init__(self, client):
        self.request = None
        self.response = None
        client.meta.events.register("before-send", self._sent)
        client.meta.events.register("before-parse", self._received)

    def _sent(self, request, **_):
        self.request = request

    def _received(self, response_dict, **_):
        self.response = response_dict

    @property
    def body_json(self):
        return json.loads(self.response["body"])


def refused(call, code, status=403):
    """Runs `call`, which must fail with `code`/`status`; returns the error message."""
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response
    assert error["Error"]["Code"] == code, error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status, error
    assert error["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-errortype") == code + CORAL, error
    return error["Error"]["Message"]


def converse(client, text="Hello from the auth suite", model=HAIKU):
    return client.converse(modelId=model, messages=[user(text)], inferenceConfig={"maxTokens": 50})


def amz_time(value):
    return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


# --- 1. the right keys pass --------------------------------------------------------------


def test_converse_with_the_right_keys_is_answered(url):
    client = signed("bedrock-runtime", url)
    wire = Wire(client)
    response = converse(client)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["output"]["message"]["content"][0]["text"]
    # It really was signed, and with the model id's `:` percent-encoded in the path.
    assert wire.request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/".encode())
    assert "%3A0/converse" in wire.request.url


def test_converse_stream_with_the_right_keys_streams_every_event(url):
    response = signed("bedrock-runtime", url).converse_stream(modelId=HAIKU, messages=[user("Stream to me")])
    kinds = [kind for kind, _ in stream_events(response)]
    assert kinds[0] == "messageStart"
    assert "contentBlockDelta" in kinds
    assert kinds[-1] == "metadata"


def test_invoke_model_with_a_colon_in_the_model_id_verifies(url):
    response = signed("bedrock-runtime", url).invoke_model(modelId=HAIKU, body=anthropic_body("Hi there"))
    body = json.loads(response["body"].read())
    assert body["type"] == "message" and body["content"][0]["text"]


def test_invoke_model_with_response_stream_with_the_right_keys_streams(url):
    response = signed("bedrock-runtime", url).invoke_model_with_response_stream(
        modelId=HAIKU, body=anthropic_body("Stream please")
    )
    types = [c["type"] for c in chunks(response)]
    assert types[0] == "message_start" and types[-1] == "message_stop"


def test_count_tokens_with_the_right_keys_counts(url):
    response = signed("bedrock-runtime", url).count_tokens(
        modelId=HAIKU, input={"converse": {"messages": [user("How many tokens is this?")]}}
    )
    assert response["inputTokens"] > 0


def test_a_control_plane_call_with_a_query_string_verifies(url):
    client = signed("bedrock", url)
    wire = Wire(client)
    summaries = client.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    assert "byProvider=Anthropic" in wire.request.url
    assert summaries and {m["providerName"] for m in summaries} == {"Anthropic"}


def test_get_inference_profile_by_arn_verifies(url):
    client = signed("bedrock", url)
    arn = client.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)["inferenceProfileArn"]
    assert ":" in arn and "/" in arn
    wire = Wire(client)
    assert client.get_inference_profile(inferenceProfileIdentifier=arn)["inferenceProfileId"] == HAIKU_PROFILE
    # The ARN went into the path percent-encoded (`:` and `/`), and the signature still matched.
    assert "%3A" in wire.request.url and "%2F" in wire.request.url


def test_temporary_credentials_with_their_session_token_pass(url):
    client = signed("bedrock-runtime", url, TEMP_KEY, TEMP_SECRET, TEMP_TOKEN)
    wire = Wire(client)
    assert converse(client)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert wire.request.headers["X-Amz-Security-Token"] == TEMP_TOKEN.encode()
    stream = client.converse_stream(modelId=HAIKU, messages=[user("temporary stream")])
    assert stream_events(stream)[-1][0] == "metadata"


def test_a_scope_in_another_region_verifies(url):
    # The credential scope's region is part of the signing key; the verifier must use the one sent.
    assert converse(signed("bedrock-runtime", url, region="eu-west-1"))["ResponseMetadata"]["HTTPStatusCode"] == 200


# --- 2. wrong keys are refused as AWS refuses them ----------------------------------------


def test_an_unknown_access_key_is_an_unrecognized_client(url):
    client = signed("bedrock-runtime", url, key="AKIDNOBODYKNOWS", secret=SECRET)
    wire = Wire(client)
    assert refused(lambda: converse(client), "UnrecognizedClientException") == INVALID_TOKEN
    assert wire.body_json == {"message": INVALID_TOKEN}


def test_an_unknown_access_key_on_the_control_plane_is_an_unrecognized_client(url):
    client = signed("bedrock", url, key="AKIDNOBODYKNOWS")
    assert refused(lambda: client.list_foundation_models(byProvider="Anthropic"), "UnrecognizedClientException") == (
        INVALID_TOKEN
    )


def test_temporary_keys_without_their_session_token_are_unrecognized(url):
    client = signed("bedrock-runtime", url, TEMP_KEY, TEMP_SECRET)
    assert refused(lambda: converse(client), "UnrecognizedClientException") == INVALID_TOKEN


def test_temporary_keys_with_another_session_token_are_unrecognized(url):
    client = signed("bedrock-runtime", url, TEMP_KEY, TEMP_SECRET, "not-the-session-token")
    assert refused(lambda: converse(client), "UnrecognizedClientException") == INVALID_TOKEN


def test_a_session_token_on_long_term_keys_is_unrecognized(url):
    client = signed("bedrock-runtime", url, ACCESS_KEY, SECRET, TEMP_TOKEN)
    assert refused(lambda: converse(client), "UnrecognizedClientException") == INVALID_TOKEN


def test_an_expired_session_token_is_an_expired_token(url):
    client = signed("bedrock-runtime", url, OLD_KEY, OLD_SECRET, OLD_TOKEN)
    wire = Wire(client)
    message = refused(lambda: converse(client), "ExpiredTokenException")
    assert message == "The security token included in the request is expired"
    assert wire.body_json == {"message": message}


def test_a_wrong_secret_is_an_invalid_signature_with_the_canonical_request(url, monkeypatch):
    # Record what botocore itself built, to compare with what the emulator says it should have been.
    built = {}
    real_canonical, real_to_sign = botocore.auth.SigV4Auth.canonical_request, botocore.auth.SigV4Auth.string_to_sign

    def canonical_request(self, request):
        built["canonical"] = real_canonical(self, request)
        return built["canonical"]

    def string_to_sign(self, request, canonical):
        built["to_sign"] = real_to_sign(self, request, canonical)
        return built["to_sign"]

    monkeypatch.setattr(botocore.auth.SigV4Auth, "canonical_request", canonical_request)
    monkeypatch.setattr(botocore.auth.SigV4Auth, "string_to_sign", string_to_sign)

    client = signed("bedrock-runtime", url, secret="not-the-secret")
    wire = Wire(client)
    message = refused(lambda: converse(client), "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH), message
    detail = MISMATCH_DETAIL.fullmatch(message[len(SIGNATURE_MISMATCH) :])
    assert detail, message
    canonical = detail["canonical"]
    # The path is encoded once more for the canonical request: `:` → `%3A` on the wire → `%253A`.
    assert canonical.split("\n")[1] == f"/model/{HAIKU.replace(':', '%253A')}/converse"
    assert "%253A" in canonical
    # Only the secret was wrong, so the emulator's canonical request and string to sign are
    # exactly the ones botocore signed.
    assert canonical == built["canonical"]
    assert detail["to_sign"] == built["to_sign"]
    amz_date = wire.request.headers["X-Amz-Date"].decode()
    assert detail["to_sign"].split("\n")[:3] == [
        "AWS4-HMAC-SHA256",
        amz_date,
        f"{amz_date[:8]}/us-east-1/bedrock/aws4_request",
    ]
    assert detail["to_sign"].split("\n")[3] == hashlib.sha256(canonical.encode()).hexdigest()
    assert set(wire.body_json) == {"message"} and wire.body_json["message"] == message


def test_a_wrong_secret_on_the_control_plane_is_an_invalid_signature(url):
    client = signed("bedrock", url, secret="not-the-secret")
    message = refused(lambda: client.list_foundation_models(byProvider="Anthropic"), "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH), message
    canonical = MISMATCH_DETAIL.fullmatch(message[len(SIGNATURE_MISMATCH) :])["canonical"]
    assert canonical.split("\n")[:3] == ["GET", "/foundation-models", "byProvider=Anthropic"]


def test_a_wrong_secret_for_an_arn_in_the_path_shows_it_double_encoded(url):
    arn = signed("bedrock", url).get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)[
        "inferenceProfileArn"
    ]
    client = signed("bedrock", url, secret="not-the-secret")
    message = refused(lambda: client.get_inference_profile(inferenceProfileIdentifier=arn), "InvalidSignatureException")
    canonical = MISMATCH_DETAIL.fullmatch(message[len(SIGNATURE_MISMATCH) :])["canonical"]
    path = canonical.split("\n")[1]
    assert path == "/inference-profiles/" + arn.replace(":", "%253A").replace("/", "%252F"), path


def shift_signing_clock(monkeypatch, delta):
    """botocore 1.44's SigV4Auth takes its time from `get_current_datetime`, imported into
    botocore.auth from botocore.compat (which calls datetime.datetime.now(timezone.utc))."""
    real = botocore.auth.get_current_datetime

    def shifted(remove_tzinfo=True):
        return real(remove_tzinfo) + delta

    monkeypatch.setattr(botocore.auth, "get_current_datetime", shifted)


def test_a_clock_ten_minutes_behind_is_a_signature_expired(url, monkeypatch):
    shift_signing_clock(monkeypatch, -datetime.timedelta(minutes=10))
    client = signed("bedrock-runtime", url)
    wire = Wire(client)
    message = refused(lambda: converse(client), "InvalidSignatureException")
    sent = wire.request.headers["X-Amz-Date"].decode()
    match = re.fullmatch(rf"Signature expired: ({AMZ_DATE}) is now earlier than ({AMZ_DATE}) \(({AMZ_DATE}) - 5 min\.\)", message)
    assert match, message
    assert match[1] == sent
    earliest, now = amz_time(match[2]), amz_time(match[3])
    assert now - earliest == datetime.timedelta(minutes=5)
    real_now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((real_now - now).total_seconds()) < 30, (real_now, now)
    assert abs((now - amz_time(sent)).total_seconds() - 600) < 30


def test_a_clock_ten_minutes_ahead_is_a_signature_not_yet_current(url, monkeypatch):
    shift_signing_clock(monkeypatch, datetime.timedelta(minutes=10))
    client = signed("bedrock-runtime", url)
    wire = Wire(client)
    message = refused(lambda: converse(client), "InvalidSignatureException")
    sent = wire.request.headers["X-Amz-Date"].decode()
    match = re.fullmatch(
        rf"Signature not yet current: ({AMZ_DATE}) is still later than ({AMZ_DATE}) \(({AMZ_DATE}) \+ 5 min\.\)", message
    )
    assert match, message
    assert match[1] == sent
    latest, now = amz_time(match[2]), amz_time(match[3])
    assert latest - now == datetime.timedelta(minutes=5)
    assert abs((amz_time(sent) - now).total_seconds() - 600) < 30


def test_a_clock_four_minutes_off_is_still_accepted(url, monkeypatch):
    shift_signing_clock(monkeypatch, -datetime.timedelta(minutes=4))
    assert converse(signed("bedrock-runtime", url))["ResponseMetadata"]["HTTPStatusCode"] == 200
    shift_signing_clock(monkeypatch, datetime.timedelta(minutes=8))  # -4 + 8 = 4 minutes ahead
    assert converse(signed("bedrock-runtime", url))["ResponseMetadata"]["HTTPStatusCode"] == 200


# --- 3. bearer API keys --------------------------------------------------------------------


def bearer_client(url, monkeypatch, key, service="bedrock-runtime"):
    """botocore (>= 1.39) sends `Authorization: Bearer $AWS_BEARER_TOKEN_BEDROCK` for services
    signing as `bedrock` whose model offers smithy.api#httpBearerAuth, unless the client's code
    sets signature_version or auth_scheme_preference (botocore.handlers
    _set_auth_scheme_preference_signer). The token is read when the client is made and per
    request, so the variable is set first and the client is made in a fresh session.

    botocore's BearerAuth also refuses to put a token on anything but an https:// URL, and the
    emulator listens on plain http, so the client is given the https:// form of the endpoint and
    the URL is turned back to http:// after signing, just before it is sent."""
    assert url.startswith("http://")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    client = boto3.session.Session().client(
        service,
        endpoint_url="https://" + url.removeprefix("http://"),
        region_name="us-east-1",
        config=Config(retries=ONE_ATTEMPT),
    )

    def plain_http(request, **_):
        request.url = "http://" + request.url.removeprefix("https://")

    client.meta.events.register_first("before-send", plain_http)
    return client, Wire(client)


def test_a_known_bearer_api_key_is_accepted(url, monkeypatch):
    client, wire = bearer_client(url, monkeypatch, API_KEY)
    assert converse(client)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert wire.request.headers["Authorization"] == f"Bearer {API_KEY}".encode()
    assert "X-Amz-Date" not in wire.request.headers
    stream = client.converse_stream(modelId=HAIKU, messages=[user("bearer stream")])
    assert stream_events(stream)[-1][0] == "metadata"
    body = json.loads(client.invoke_model(modelId=HAIKU, body=anthropic_body("bearer"))["body"].read())
    assert body["type"] == "message"


def test_a_known_long_term_abs_api_key_is_accepted(url, monkeypatch):
    client, wire = bearer_client(url, monkeypatch, LONG_TERM_API_KEY)
    assert converse(client)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert wire.request.headers["Authorization"] == f"Bearer {LONG_TERM_API_KEY}".encode()


def test_an_unknown_bearer_api_key_with_the_prefix_fails_authentication(url, monkeypatch):
    client, wire = bearer_client(url, monkeypatch, "bedrock-api-key-nobody-issued-this")
    message = refused(lambda: converse(client), "AccessDeniedException")
    assert message == "Authentication failed: Please make sure your API Key is valid."
    assert wire.body_json == {"Message": message}


def test_an_unknown_abs_bearer_api_key_fails_authentication(url, monkeypatch):
    client, _ = bearer_client(url, monkeypatch, "ABSKnobodyissuedthis")
    assert refused(lambda: converse(client), "AccessDeniedException") == (
        "Authentication failed: Please make sure your API Key is valid."
    )


def test_a_bearer_key_without_a_bedrock_prefix_is_an_invalid_format(url, monkeypatch):
    client, wire = bearer_client(url, monkeypatch, "sk-not-a-bedrock-key")
    message = refused(lambda: converse(client), "AccessDeniedException")
    assert message == "Invalid API Key format: Must start with pre-defined prefix"
    assert wire.body_json == {"Message": message}


def test_the_secret_access_key_is_not_a_bearer_api_key(url, monkeypatch):
    client, _ = bearer_client(url, monkeypatch, SECRET)
    assert refused(lambda: converse(client), "AccessDeniedException") == (
        "Invalid API Key format: Must start with pre-defined prefix"
    )


# --- 4. requests no SDK sends ------------------------------------------------------------


def raw_converse(url, headers, query=""):
    body = json.dumps({"messages": [user("raw request")]}).encode()
    request = urllib.request.Request(
        f"{url}/model/{HAIKU.replace(':', '%3A')}/converse{query}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_a_request_without_an_authorization_header_is_access_denied(url):
    status, headers, body = raw_converse(url, {})
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException" + CORAL
    assert json.loads(body) == {"Message": "Authorization header is missing"}


def test_an_authorization_header_without_signed_headers_is_an_incomplete_signature(url):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{now[:8]}/us-east-1/bedrock/aws4_request, "
        "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    status, headers, body = raw_converse(url, {"Authorization": authorization, "X-Amz-Date": now})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "IncompleteSignatureException" + CORAL
    message = json.loads(body)["message"]
    assert "SignedHeaders" in message, message


def test_a_presigned_date_that_decodes_to_a_non_ascii_character_is_an_incomplete_signature(url):
    # Once a panic (found by the sigv4 fuzz target): 16 bytes after decoding, but not digits.
    query = (
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY}%2F20150830%2Fus-east-1%2Fbedrock%2Faws4_request"
        "&X-Amz-Date=20150%80T123000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    status, headers, body = raw_converse(url, {}, query)
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "IncompleteSignatureException" + CORAL
    assert "Date must be in ISO-8601 'basic format'" in json.loads(body)["message"]
    # The server is still answering.
    assert raw_converse(url, {})[0] == 403


def test_an_authorization_header_of_another_scheme_is_an_incomplete_signature(url):
    status, headers, _ = raw_converse(url, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "IncompleteSignatureException" + CORAL


# --- 5. tampering --------------------------------------------------------------------------


def test_a_body_changed_after_signing_is_an_invalid_signature(url):
    client = signed("bedrock-runtime", url)
    originals = []

    def tamper(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        originals.append(body)
        request.body = body.replace(b"Pay Alice 10", b"Pay Mally 99")  # same length

    client.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    message = refused(lambda: converse(client, "Pay Alice 10"), "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH), message
    canonical = MISMATCH_DETAIL.fullmatch(message[len(SIGNATURE_MISMATCH) :])["canonical"]
    (original,) = originals
    tampered = original.replace(b"Pay Alice 10", b"Pay Mally 99")
    assert tampered != original
    # The payload hash the emulator used is that of what arrived.
    assert canonical.split("\n")[-1] == hashlib.sha256(tampered).hexdigest()


def test_a_body_changed_after_signing_with_a_content_sha256_header_is_an_invalid_signature(url):
    # Clients may send (and sign) X-Amz-Content-SHA256 — the JS SDK always does; botocore does
    # when the header is already there. A body that does not hash to it has been tampered with,
    # and the signature must not be taken as covering it.
    client = signed("bedrock-runtime", url)

    def declare_hash(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()

    def tamper(request, **_):
        request.body = request.body.replace(b"Pay Alice 10", b"Pay Mally 99")

    client.meta.events.register("before-sign.bedrock-runtime.Converse", declare_hash)
    client.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    wire = Wire(client)
    with pytest.raises(ClientError) as info:
        converse(client, "Pay Alice 10")
    assert b"Pay Mally 99" in wire.request.body and "X-Amz-Content-SHA256" in wire.request.headers
    error = info.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 403), error
    assert error["Error"]["Message"].startswith(SIGNATURE_MISMATCH)


def test_an_untampered_request_with_a_content_sha256_header_passes(url):
    client = signed("bedrock-runtime", url)

    def declare_hash(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()

    client.meta.events.register("before-sign.bedrock-runtime.Converse", declare_hash)
    assert converse(client)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_query_changed_after_signing_is_an_invalid_signature(url):
    client = signed("bedrock", url)

    def tamper(request, **_):
        request.url = request.url.replace("byProvider=Anthropic", "byProvider=Meta")

    client.meta.events.register("before-send.bedrock.ListFoundationModels", tamper)
    message = refused(lambda: client.list_foundation_models(byProvider="Anthropic"), "InvalidSignatureException")
    canonical = MISMATCH_DETAIL.fullmatch(message[len(SIGNATURE_MISMATCH) :])["canonical"]
    assert canonical.split("\n")[2] == "byProvider=Meta"


def test_a_model_changed_after_signing_is_an_invalid_signature(url):
    client = signed("bedrock-runtime", url)
    other = "anthropic.claude-3-haiku-20240307-v1%3A1"

    def tamper(request, **_):
        request.url = request.url.replace(HAIKU.replace(":", "%3A"), other)

    client.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    message = refused(lambda: converse(client), "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH)


# --- 6. the permissive default -----------------------------------------------------------


def test_the_permissive_default_accepts_any_credentials(endpoint_url):
    runtime = signed("bedrock-runtime", endpoint_url, key="garbage", secret="more garbage")
    assert converse(runtime)["ResponseMetadata"]["HTTPStatusCode"] == 200
    control = signed("bedrock", endpoint_url, key="garbage", secret="more garbage", token="and a token")
    assert control.list_foundation_models(byProvider="Anthropic")["modelSummaries"]


def test_the_permissive_default_accepts_no_authorization_and_any_bearer_key(endpoint_url, monkeypatch):
    status, _, body = raw_converse(endpoint_url, {})
    assert status == 200, body
    client, _ = bearer_client(endpoint_url, monkeypatch, "not-even-a-bedrock-key")
    assert converse(client)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_permissive_default_accepts_a_skewed_clock(endpoint_url, monkeypatch):
    shift_signing_clock(monkeypatch, -datetime.timedelta(hours=2))
    assert converse(signed("bedrock-runtime", endpoint_url))["ResponseMetadata"]["HTTPStatusCode"] == 200


# --- 7. startup errors ---------------------------------------------------------------------


def serve(*args):
    """Runs `serve` expecting it to refuse to start; a server that does start is killed by the
    timeout and the test fails."""
    try:
        return subprocess.run(
            [str(emulator_binary()), "serve", "--port", "0", *args], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"serve {' '.join(args)} started instead of exiting: {e.stdout!r}")


def test_sigv4_without_a_credentials_file_exits_2():
    result = serve("--auth", "sigv4")
    assert result.returncode == 2, result
    assert "--credentials" in result.stderr, result.stderr
    assert not result.stdout.startswith("listening on")


def test_a_credentials_file_without_sigv4_exits_2(credentials_file):
    result = serve("--credentials", str(credentials_file))
    assert result.returncode == 2, result
    assert "--auth sigv4" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("# comment\n\n[broken]\naws_access_key_id = AKID\n", 3, "aws_secret_access_key"),
        ("[ok]\naws_access_key_id = A\naws_secret_access_key = B\n[unclosed\n", 4, "]"),
        ("[a]\naws_access_key_id = A\naws_secret_access_key = B\nexpiration = next tuesday\n", 4, "RFC 3339"),
        ("aws_access_key_id = A\n", 1, "[profile]"),
        ("[a]\njust some words\n", 2, "key = value"),
        ("[a]\naws_access_key_id = A\naws_secret_access_key = B\naws_account_id = 12\n", 4, "twelve digits"),
        ("[k]\nbedrock_api_key = K\naws_account_id = 111122223333\n", 1, "accounts go by access key"),
    ],
)
def test_a_bad_credentials_file_exits_2_naming_the_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad-credentials"
    path.write_text(text)
    result = serve("--auth", "sigv4", "--credentials", str(path))
    assert result.returncode == 2, result
    assert str(path) in result.stderr, result.stderr
    assert f"line {line}" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_an_empty_or_missing_credentials_file_exits_2_naming_it(tmp_path):
    empty = tmp_path / "empty-credentials"
    empty.write_text("# nothing here\n[section-without-keys]\n")
    result = serve("--auth", "sigv4", "--credentials", str(empty))
    assert result.returncode == 2 and str(empty) in result.stderr and "no credentials" in result.stderr, result
    missing = tmp_path / "no-such-file"
    result = serve("--auth", "sigv4", "--credentials", str(missing))
    assert result.returncode == 2 and str(missing) in result.stderr, result


# --- 8. refused requests in the journal -------------------------------------------------------


def test_the_admin_api_stays_open_under_sigv4(url):
    assert admin_ok(url, "GET", "health") is not None


def test_refused_requests_are_journaled_without_their_secrets(url, monkeypatch):
    clear_journal(url)
    refused(lambda: converse(signed("bedrock-runtime", url, secret="not-the-secret")), "InvalidSignatureException")
    refused(lambda: converse(signed("bedrock-runtime", url, key="AKIDNOBODYKNOWS")), "UnrecognizedClientException")
    refused(
        lambda: converse(signed("bedrock-runtime", url, TEMP_KEY, TEMP_SECRET, "wrong-token-Hk4")),
        "UnrecognizedClientException",
    )
    client, _ = bearer_client(url, monkeypatch, "bedrock-api-key-unknown-Jd6")
    refused(lambda: converse(client), "AccessDeniedException")
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    assert raw_converse(url, {})[0] == 403

    listing = journal(url)
    entries = listing["entries"]
    assert [e["status"] for e in entries] == [403] * 5, entries
    assert all(e["operation"] == "Converse" and e["modelId"] == HAIKU for e in entries)
    for entry in entries[:4]:
        headers = dict(entry["headers"])
        assert headers["authorization"] == "REDACTED", headers
    assert dict(entries[2]["headers"])["x-amz-security-token"] == "REDACTED"
    assert "authorization" not in dict(entries[4]["headers"])
    text = json.dumps(listing)
    for secret in ("not-the-secret", SECRET, TEMP_SECRET, "wrong-token-Hk4", "bedrock-api-key-unknown-Jd6", "Signature="):
        assert secret not in text, secret


def test_a_profiles_aws_account_id_is_its_requests_account(url):
    temporary = signed("bedrock", url, key=TEMP_KEY, secret=TEMP_SECRET, token=TEMP_TOKEN)
    made = temporary.create_guardrail(name="temp-guard", blockedInputMessaging="no", blockedOutputsMessaging="no")
    assert made["guardrailArn"].startswith("arn:aws:bedrock:us-east-1:444455556666:guardrail/")
    default = signed("bedrock", url)
    assert "temp-guard" not in [g["name"] for g in default.list_guardrails()["guardrails"]]

"""Image models through boto3's InvokeModel: Titan Image Generator v1/v2 and Nova Canvas answer
real PNGs (opened with Pillow) of the requested size and number, deterministic per request;
editing tasks answer at the input image's size; Bedrock's schema messages and content-filter
refusals for bad or flagged requests."""
import base64
import io
import json

import pytest
from botocore.exceptions import ClientError
from PIL import Image

TITAN_V1 = "amazon.titan-image-generator-v1"
TITAN_V2 = "amazon.titan-image-generator-v2:0"
NOVA = "amazon.nova-canvas-v1:0"


def invoke(runtime, model, body):
    r = runtime.invoke_model(modelId=model, body=json.dumps(body), contentType="application/json", accept="application/json")
    return r, json.loads(r["body"].read())


def images(out):
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in out["images"]]


def text_image(text, **config):
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": text}}
    if config:
        body["imageGenerationConfig"] = config
    return body


@pytest.mark.parametrize("model", [TITAN_V1, TITAN_V2, NOVA])
def test_text_to_image_answers_pngs_of_the_requested_size_and_number(runtime, model):
    r, out = invoke(runtime, model, text_image("a lighthouse at dawn", numberOfImages=2, width=1152, height=768, seed=9))
    assert r["contentType"] == "application/json"
    assert int(r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-invocation-latency"]) > 0
    imgs = images(out)
    assert [(i.format, i.size, i.mode) for i in imgs] == [("PNG", (1152, 768), "RGB")] * 2
    assert imgs[0].getpixel((0, 0)) != imgs[1].getpixel((0, 0)), "each image its own colour"
    if model == NOVA:
        assert set(out) == {"images"}, "Nova leaves error out on success"
    else:
        assert out["error"] is None
    # The same request gives the same images; another seed, others.
    assert invoke(runtime, model, text_image("a lighthouse at dawn", numberOfImages=2, width=1152, height=768, seed=9))[1] == out
    other = invoke(runtime, model, text_image("a lighthouse at dawn", numberOfImages=2, width=1152, height=768, seed=10))[1]
    assert other["images"] != out["images"]


def test_default_size_is_1024_square(runtime):
    _, out = invoke(runtime, NOVA, text_image("a cat"))
    assert [i.size for i in images(out)] == [(1024, 1024)]


def png_b64(w, h):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def jpeg_b64(w, h):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def test_editing_tasks_answer_at_the_input_images_size(runtime):
    _, out = invoke(runtime, TITAN_V2, {"taskType": "INPAINTING",
                                        "inPaintingParams": {"image": png_b64(640, 384), "maskPrompt": "the sky"}})
    assert [i.size for i in images(out)] == [(640, 384)]
    _, out = invoke(runtime, NOVA, {"taskType": "IMAGE_VARIATION",
                                    "imageVariationParams": {"images": [jpeg_b64(512, 320)], "similarityStrength": 0.5},
                                    "imageGenerationConfig": {"numberOfImages": 3}})
    assert [i.size for i in images(out)] == [(512, 320)] * 3
    _, out = invoke(runtime, NOVA, {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": png_b64(320, 320)}})
    (img,) = images(out)
    assert img.mode == "RGBA" and img.size == (320, 320) and img.getpixel((5, 5))[3] == 0


def validation_error(runtime, model, body):
    with pytest.raises(ClientError) as e:
        invoke(runtime, model, body)
    err = e.value.response
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Error"]["Message"]


def test_bad_bodies_are_refused_with_bedrocks_schema_messages(runtime):
    assert validation_error(runtime, TITAN_V2, text_image("a" * 513)) == (
        "Malformed input request: #/textToImageParams/text: expected maxLength: 512, actual: 513, "
        "please reformat your input and try again.")
    assert "expected maxLength: 1024, actual: 1469" in validation_error(runtime, NOVA, text_image("a" * 1469))
    assert "#/textToImageParams: extraneous key [images] is not permitted" in validation_error(
        runtime, NOVA, {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x", "images": []}})
    assert "#/imageGenerationConfig/numberOfImages: 6 is not less or equal to 5" in validation_error(
        runtime, TITAN_V2, text_image("x", numberOfImages=6))
    assert "#/imageGenerationConfig/cfgScale: 11 is not less or equal to 10" in validation_error(
        runtime, NOVA, text_image("x", cfgScale=11))
    assert "#/taskType: COLOR_GUIDED_GENERATION is not a valid enum value" in validation_error(
        runtime, TITAN_V1, {"taskType": "COLOR_GUIDED_GENERATION",
                            "colorGuidedGenerationParams": {"text": "x", "colors": ["#ff0000"]}})
    assert "required key [textToImageParams] not found" in validation_error(runtime, TITAN_V2, {"taskType": "TEXT_IMAGE"})
    assert "exactly one of [maskPrompt, maskImage]" in validation_error(
        runtime, NOVA, {"taskType": "INPAINTING", "inPaintingParams": {"image": png_b64(320, 320)}})


def test_sizes_follow_each_models_rule(runtime):
    assert "1000x1000" in validation_error(runtime, TITAN_V2, text_image("x", width=1000, height=1000))
    invoke(runtime, NOVA, text_image("x", width=1280, height=720))
    for w, h in [(1000, 1008), (320, 1600), (4096, 2048)]:
        assert f"{w}x{h}" in validation_error(runtime, NOVA, text_image("x", width=w, height=h))


def test_flagged_prompts_are_blocked_like_bedrocks_content_filters(runtime):
    assert validation_error(runtime, TITAN_V2, text_image("a nude portrait")).startswith(
        "This request has been blocked by our content filters.")
    assert validation_error(runtime, NOVA, text_image("a nude portrait")) == (
        "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.")


def test_image_models_do_not_stream_or_count_tokens(runtime):
    with pytest.raises(ClientError) as e:
        runtime.invoke_model_with_response_stream(modelId=NOVA, body=json.dumps(text_image("x")))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        runtime.count_tokens(modelId=NOVA, input={"invokeModel": {"body": json.dumps(text_image("x"))}})
    assert e.value.response["Error"]["Code"] == "ValidationException"


SD35 = "stability.sd3-5-large-v1:0"
CORE = "stability.stable-image-core-v1:1"
ULTRA = "stability.stable-image-ultra-v1:1"


@pytest.mark.parametrize("model,fmt,size", [
    (SD35, "png", (1344, 768)), (SD35, "webp", (1344, 768)), (CORE, "jpeg", (2016, 1152)), (ULTRA, "png", (2016, 1152)),
])
def test_stability_answers_one_image_of_the_aspect_ratios_size_in_its_format(runtime, model, fmt, size):
    _, out = invoke(runtime, model, {"prompt": "a fox in the snow", "aspect_ratio": "16:9", "output_format": fmt, "seed": 42})
    assert list(out) == ["seeds", "finish_reasons", "images"]
    assert out["seeds"] == [42] and out["finish_reasons"] == [None]
    (img,) = images(out)
    assert (img.format, img.size) == ({"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt], size)
    img.load()  # the pixel data decodes too, not just the header
    assert len(img.getcolors(maxcolors=4) or []) == 1, "one solid colour"


def test_stability_random_seed_is_reported_and_image_to_image_keeps_the_input_size(runtime):
    _, out = invoke(runtime, CORE, {"prompt": "a fox"})
    assert out["seeds"][0] > 0
    assert images(out)[0].size == (1536, 1536)
    _, out = invoke(runtime, ULTRA, {"prompt": "snow", "image": jpeg_b64(640, 480), "strength": 0.35})
    assert images(out)[0].size == (640, 480)
    assert "#: required key [strength] not found" in validation_error(
        runtime, SD35, {"prompt": "snow", "mode": "image-to-image", "image": png_b64(64, 64)})


def test_stability_validation_and_prompt_filtering(runtime):
    assert "#/aspect_ratio: 4:3 is not a valid enum value" in validation_error(runtime, CORE, {"prompt": "x", "aspect_ratio": "4:3"})
    assert "#: required key [prompt] not found" in validation_error(runtime, SD35, {"seed": 1})
    assert "#/seed: 4294967295 is not less or equal to 4294967294" in validation_error(runtime, SD35, {"prompt": "x", "seed": 4294967295})
    # Filtered prompts are answered 200, with the reason in finish_reasons.
    _, out = invoke(runtime, CORE, {"prompt": "explicit porn"})
    assert out == {"finish_reasons": ["Filter reason: prompt"]}


def test_stability_models_are_listed(control):
    models = control.list_foundation_models(byProvider="Stability AI")["modelSummaries"]
    assert {m["modelId"] for m in models} == {SD35, CORE, ULTRA}
    assert all(m["outputModalities"] == ["IMAGE"] for m in models)

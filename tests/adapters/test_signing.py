"""Every worked signing example of shared/providers/SPEC.md, to the byte."""

from __future__ import annotations

from adapters.core.signing import percent_encode, sha256_hex
from adapters.providers.aliyun_sms.signing import (
    canonical_query,
    sign_v3,
    v2_signature,
    v2_string_to_sign,
)
from adapters.providers.tencent_sms.signing import TC3Signature, sign_tc3
from adapters.providers.wechat_oa.signing import callback_signature, verify_callback

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_percent_encoding_rfc3986() -> None:
    assert percent_encode("a b*/~!'()") == "a%20b%2A%2F~%21%27%28%29"
    assert percent_encode("阿") == "%E9%98%BF"


def test_aliyun_v3_official_runinstances_example() -> None:
    sig = sign_v3(
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        method="POST",
        path="/",
        query={
            "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            "RegionId": "cn-shanghai",
        },
        headers=[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ],
        payload_hash=sha256_hex(b""),
    )
    assert sig.canonical_request == (
        "POST\n/\n"
        "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
        "host:ecs.cn-shanghai.aliyuncs.com\n"
        "x-acs-action:RunInstances\n"
        f"x-acs-content-sha256:{EMPTY_SHA256}\n"
        "x-acs-date:2023-10-26T10:22:32Z\n"
        "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
        "x-acs-version:2014-05-26\n"
        "\n"
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
        f"{EMPTY_SHA256}"
    )
    assert sig.string_to_sign == (
        "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert sig.signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    assert sig.authorization == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def test_aliyun_v3_sdk_vector_merges_duplicate_headers_and_empty_values() -> None:
    sig = sign_v3(
        access_key_id="acesskey",
        access_key_secret="secret",
        method="GET",
        path="/",
        query={"test": "ok", "empty": ""},
        headers=[("x-acs-test", "http"), ("x-acs-TEST", "https")],
        payload_hash="55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
    )
    assert "empty=&test=ok" in sig.canonical_request
    assert "x-acs-test:http,https\n" in sig.canonical_request
    assert sig.authorization == (
        "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
        "Signature=d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"
    )


D2_QUERY = {
    "OutId": "esc-42",
    "PhoneNumbers": "13800000000",
    "SignName": "阿里云短信测试",
    "TemplateCode": "SMS_154950909",
    "TemplateParam": '{"code":"1234"}',
}


def test_aliyun_v3_d2_sendsms_vector() -> None:
    assert canonical_query(D2_QUERY) == (
        "OutId=esc-42&PhoneNumbers=13800000000&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD"
        "%E4%BF%A1%E6%B5%8B%E8%AF%95&TemplateCode=SMS_154950909&TemplateParam=%7B%22code%22"
        "%3A%221234%22%7D"
    )
    sig = sign_v3(
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        method="POST",
        path="/",
        query=D2_QUERY,
        headers=[
            ("host", "dysmsapi.aliyuncs.com"),
            ("x-acs-action", "SendSms"),
            ("x-acs-version", "2017-05-25"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ],
        payload_hash=EMPTY_SHA256,
    )
    assert sig.string_to_sign == (
        "ACS3-HMAC-SHA256\ne972da46f45ec393dfdc3f3bbabd8644c72d59ff0d715d369258ea8d06a2334d"
    )
    assert sig.signature == "39ff5338b4566a8c541fe453067d9f5e3417d8c32ba2e35a03fbeebc10c6cb1e"


def test_aliyun_v2_describe_regions() -> None:
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert v2_string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26"
        "SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D"
        "2014-05-26"
    )
    assert v2_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_v2_describe_dedicated_hosts() -> None:
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeDedicatedHosts",
        "Format": "JSON",
        "RegionId": "cn-beijing",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
        "SignatureVersion": "1.0",
        "Timestamp": "2023-03-13T08:34:30Z",
        "Version": "2014-05-26",
    }
    assert v2_signature("testsecret", "GET", params) == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="


V2_SMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_v2_sms_example() -> None:
    assert canonical_query(V2_SMS) == (
        "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&"
        "RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B"
        "%E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-"
        "4070-8c85-2956eda1b466&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam="
        "%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
    )
    signature = v2_signature("testSecret", "GET", V2_SMS)
    assert signature == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert percent_encode(signature) == "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"


def test_aliyun_v2_sdk_vector() -> None:
    assert v2_signature("secret", "GET", {"query": "test", "body": "test"}) == (
        "XlUyV4sXjOuX5FnjUz9IF9tm5rU="
    )


def test_aliyun_v2_d3_post_vector() -> None:
    params = dict(V2_SMS)
    params.update(
        Format="JSON",
        OutId="esc-42",
        PhoneNumbers="13800000000",
        SignName="阿里云短信测试",
        TemplateCode="SMS_154950909",
        TemplateParam='{"code":"1234"}',
        SignatureNonce="0123456789abcdef0123456789abcdef",
        Timestamp="2024-01-01T00:00:00Z",
    )
    assert v2_signature("testSecret", "POST", params) == "JvDQwALHg4y7PAkFdzxv3Vgg/u0="


TC3_BODY_A = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
CVM_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Host": "cvm.tencentcloudapi.com",
    "X-TC-Action": "DescribeInstances",
}


def test_tencent_tc3_example_a() -> None:
    assert sha256_hex(TC3_BODY_A) == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    sig = sign_tc3(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        timestamp=1551113065,
        method="POST",
        query="",
        headers=CVM_HEADERS,
        signed_headers=["content-type", "host"],
        payload=TC3_BODY_A,
    )
    assert sig.canonical_request == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n\ncontent-type;host\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert sig.string_to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert sig.secret_signing.hex() == (
        "ac658d5dde49e9bfdd14e04e062f66b05d9f637d44b8a8d845327d4a77f666b1"
    )
    assert sig.signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert sig.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_tencent_tc3_example_b() -> None:
    sig = sign_tc3(
        secret_id="AKID" + "*" * 32,
        secret_key="*" * 32,
        service="cvm",
        timestamp=1551113065,
        method="POST",
        query="",
        headers=CVM_HEADERS,
        signed_headers=["content-type", "host", "x-tc-action"],
        payload=TC3_BODY_A,
    )
    assert sig.canonical_request.endswith(
        "x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert sig.string_to_sign.endswith(
        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )
    assert sig.secret_date.hex() == (
        "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
    )
    assert sig.secret_service.hex() == (
        "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
    )
    assert sig.secret_signing.hex() == (
        "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
    )
    assert sig.signature == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"


D1_BODY = (
    '{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400006666","SignName":"腾讯云",'
    '"TemplateId":"1110","TemplateParamSet":["1234"],"SessionContext":"esc-42"}'
).encode()


def test_tencent_d1_sendsms_vector() -> None:
    assert sha256_hex(D1_BODY) == (
        "6a6220f686597cc4a6669e856a24be1c7fc12e1acc70f68d87c7996e89480a95"
    )
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": "sms.tencentcloudapi.com",
        "X-TC-Action": "SendSms",
    }

    def d1(headers: dict[str, str], signed: list[str]) -> TC3Signature:
        return sign_tc3(
            secret_id="AKIDEXAMPLE",
            secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            service="sms",
            timestamp=1700000000,
            method="POST",
            query="",
            headers=headers,
            signed_headers=signed,
            payload=D1_BODY,
        )

    sig = d1(headers, ["content-type", "host", "x-tc-action"])
    assert sig.string_to_sign == (
        "TC3-HMAC-SHA256\n1700000000\n2023-11-14/sms/tc3_request\n"
        "6a151f9c066d6b05597db41fcdab1272a529cd075bf2497706736c0f6dfa694c"
    )
    assert sig.signature == "a94673dcbfff839fc35d255e97acc1b322751805fa45c94ccb1e0c297676a2a1"
    sdk_style = d1({**headers, "Content-Type": "application/json"}, ["content-type", "host"])
    assert sdk_style.signature == (
        "86529559cdc3535a20ee86af4d79ffa4b9bb8969c1791079a86e7022bc6c50dd"
    )


def test_wechat_callback_signature_vector() -> None:
    assert callback_signature("test", "1410685589", "test") == (
        "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    )
    assert verify_callback("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff")
    assert not verify_callback(
        "test", "1410685590", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    )

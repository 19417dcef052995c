#!/usr/bin/env python3
"""The signature Aliyun expects for a request, computed by Aliyun's official
Python SDK (aliyun-python-sdk-core), so the test fake checks our requests
against the provider's own code, not ours.

stdin: {"method": "POST", "secret": "...", "params": {every parameter of the
request, query and form body together, decoded; "Signature" is left out}}
stdout: the signature (base64).
"""
import json
import sys

from aliyunsdkcore.auth.algorithm import sha_hmac1
from aliyunsdkcore.auth.composer import rpc_signature_composer as composer

# The SDK's own helpers behind RpcRequest.get_url (module-private names).
compose = getattr(composer, "__compose_string_to_sign")
sign = getattr(composer, "__get_signature")

req = json.load(sys.stdin)
params = {str(k): str(v) for k, v in req["params"].items() if k != "Signature"}
print(sign(compose(req["method"], params), req["secret"], sha_hmac1))

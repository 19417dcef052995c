#!/usr/bin/env python3
"""The Authorization header Tencent Cloud expects for a request, computed by
Tencent Cloud's official Python SDK (tencentcloud-sdk-python-common), so the
test fake checks our requests against the provider's own code, not ours.

stdin: {"secret_id", "secret_key", "timestamp" (X-TC-Timestamp), "host",
"content_type" (as sent), "payload" (the body, exactly)}
stdout: the Authorization header (TC3-HMAC-SHA256 over content-type;host).
"""
import json
import sys
from datetime import datetime, timezone

from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

r = json.load(sys.stdin)
ts = int(r["timestamp"])
date = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
client = CommonClient(
    "sms",
    "2021-01-11",
    Credential(r["secret_id"], r["secret_key"]),
    "ap-guangzhou",
    profile=ClientProfile(httpProfile=HttpProfile(endpoint=r["host"])),
)
req = RequestInternal(
    r["host"],
    "POST",
    "/",
    header={"Content-Type": r["content_type"], "Host": r["host"], "X-TC-Timestamp": str(ts)},
    data=r["payload"],
)
signature = client._get_tc3_signature(None, req, date, "sms", r["secret_key"])
# Formatted as AbstractClient._build_req_with_tc3_signature formats it.
print(
    "TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, Signature=%s"
    % (r["secret_id"], date, signature)
)
